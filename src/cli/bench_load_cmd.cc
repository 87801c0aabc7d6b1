#include <iostream>

#include "cli/bench_load.h"
#include "loadgen/load_run.h"

namespace bale::cli {

CLI::App* AddBenchLoadCommand(CLI::App* bench, loadgen::LoadFlags* f) {
  auto* cmd = bench->add_subcommand(
      "load",
      "load generator for memcached, HTTP and Redis servers, open loop or flat out "
      "(docs/bench.md)");
  cmd->add_option("--servers", f->servers, "HOST:PORT[,HOST:PORT...]")->capture_default_str();
  cmd->add_option("--protocol", f->protocol, "text | meta | binary | http | redis")
      ->check(CLI::IsMember({"text", "meta", "binary", "http", "redis"}))
      ->capture_default_str();
  cmd->add_option("--rate", f->rate, "requests/s over all connections (0: flat out)")
      ->capture_default_str();
  cmd->add_option("--connections", f->connections, "connections in all")->capture_default_str();
  cmd->add_option("--threads", f->threads, "threads, each with its own connections")
      ->capture_default_str();
  cmd->add_option("--duration", f->duration, "measured time: 10s, 500ms, 2m")
      ->capture_default_str();
  cmd->add_option("--warmup", f->warmup, "load before measuring (not counted)")
      ->capture_default_str();
  cmd->add_option("--value-size", f->value_size, "bytes per set: 100, 4k, uniform:MIN-MAX")
      ->capture_default_str();
  cmd->add_option("--mix", f->mix, "operation weights, e.g. get:90,set:10")->capture_default_str();
  cmd->add_option("--keys", f->keys, "how many distinct keys")->capture_default_str();
  cmd->add_option("--key-dist", f->key_dist, "uniform | zipf | zipf:S")->capture_default_str();
  cmd->add_option("--key-prefix", f->key_prefix, "keys are PREFIX<n>")->capture_default_str();
  cmd->add_flag("--prefill", f->prefill, "set every key once before the run, so gets hit");
  cmd->add_option("--pipeline", f->pipeline, "flat out: requests in flight per connection")
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "the final report as JSON on stdout");
  cmd->add_option("--timeout", f->timeout, "a request with no reply by then fails")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed of keys, operations and values")->capture_default_str();
  return cmd;
}

int RunBenchLoad(const loadgen::LoadFlags& flags) {
  loadgen::LoadConfig config;
  const Status s = loadgen::ParseLoadFlags(flags, &config);
  if (!s.ok()) {
    std::cerr << "bale bench load: " << s.message() << "\n";
    return 2;
  }
  return loadgen::RunLoad(config, std::cout, std::cerr);
}

}  // namespace bale::cli
