// The bale executable: wires the roles in src/ to subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "bench/bench_util.h"
#include "cli/bench_load.h"
#include "cli/cluster.h"
#include "cli/serve.h"
#include "store/verify.h"

namespace {

int Verify(const std::string& dir) {
  bale::VerifyReport r;
  bale::Status s = bale::VerifyTree(bale::Env::Default(), dir, std::cout, &r);
  if (!s.ok()) {
    std::cerr << "bale verify: " << s.ToString() << "\n";
    return 2;
  }
  std::cout << "segments=" << r.segments << " needles=" << r.needles << " bytes=" << r.bytes
            << " problems=" << r.problems << "\n";
  return r.problems == 0 ? 0 : 1;
}

void AddBenchFlags(CLI::App* cmd, bale::bench::BenchArgs* a, std::string* durability) {
  cmd->add_option("--objects", a->objects, "objects to write")->capture_default_str();
  cmd->add_option("--value-size", a->value_size, "bytes per value")->capture_default_str();
  cmd->add_option("--gets", a->gets, "random gets to time (0 = min(objects, 2M))");
  cmd->add_option("--dir", a->dir, "scratch directory (emptied first)")->required();
  cmd->add_option("--durability", *durability, "sync | interval | none")
      ->check(CLI::IsMember({"sync", "interval", "none"}))
      ->capture_default_str();
  cmd->add_option("--interval-ms", a->interval_ms, "fdatasync period for interval")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "writer and reader threads")->capture_default_str();
  cmd->add_flag("--keep", a->keep, "keep the data afterwards");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bale: a durable, memcached-compatible object store built on Haystack's design"};
  app.require_subcommand(1);

  bale::cli::ServeArgs serve_args;
  bale::cli::AddServeCommand(&app, &serve_args);

  bale::cli::DirectoryArgs directory_args;
  auto* directory = bale::cli::AddDirectoryCommand(&app, &directory_args);
  bale::cli::StoreArgs store_args;
  auto* store = bale::cli::AddStoreCommand(&app, &store_args);
  bale::cli::RouterArgs router_args;
  auto* router = bale::cli::AddRouterCommand(&app, &router_args);
  bale::cli::AdminArgs admin_args;
  auto* admin = bale::cli::AddAdminCommand(&app, &admin_args);

  std::string verify_dir = "./data";
  auto* verify = app.add_subcommand("verify", "check every segment's checksums under a directory");
  verify->add_option("--data", verify_dir, "data directory")->capture_default_str();

  auto* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  bale::bench::BenchArgs engine_args, files_args;
  std::string engine_dur = "interval", files_dur = "interval";
  auto* engine = bench->add_subcommand("engine", "bale's store engine: puts, gets, RSS, reopen");
  AddBenchFlags(engine, &engine_args, &engine_dur);
  auto* files = bench->add_subcommand("files", "baseline: one file per object");
  AddBenchFlags(files, &files_args, &files_dur);
  bale::loadgen::LoadFlags load_flags;
  auto* load = bale::cli::AddBenchLoadCommand(bench, &load_flags);

  CLI11_PARSE(app, argc, argv);

  if (app.got_subcommand("serve")) return bale::cli::RunServe(serve_args);
  if (directory->parsed()) return bale::cli::RunDirectory(directory_args);
  if (store->parsed()) return bale::cli::RunStore(store_args);
  if (router->parsed()) return bale::cli::RunRouter(router_args);
  if (admin->parsed()) return bale::cli::RunAdmin(admin_args);
  if (verify->parsed()) return Verify(verify_dir);
  if (engine->parsed()) {
    bale::ParseDurability(engine_dur, &engine_args.durability);
    return bale::bench::RunEngineBench(engine_args);
  }
  if (load->parsed()) return bale::cli::RunBenchLoad(load_flags);
  if (files->parsed()) {
    bale::ParseDurability(files_dur, &files_args.durability);
    return bale::bench::RunFilePerObjectBench(files_args);
  }
  return 0;
}
