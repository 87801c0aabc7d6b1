// `bale bench engine`: loads N objects into one bale volume, then measures random gets,
// the RSS the load cost, a clean reopen and the disk used per object.
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "store/syncer.h"

namespace bale::bench {
namespace {

VolumeOptions OptionsFor(const BenchArgs& args) {
  VolumeOptions o;
  o.dir = args.dir;
  o.durability = args.durability;
  o.interval_ms = args.interval_ms;
  return o;
}

// Runs fn(thread, begin, end) on `threads` threads over [0, n).
template <typename Fn>
void Split(int threads, uint64_t n, Fn fn) {
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) {
    uint64_t b = n * t / threads, e = n * (t + 1) / threads;
    ts.emplace_back([=] { fn(t, b, e); });
  }
  for (auto& t : ts) t.join();
}

bool Load(Volume* v, const BenchArgs& args) {
  std::atomic<bool> ok{true};
  Split(args.threads, args.objects, [&](int, uint64_t b, uint64_t e) {
    std::string key, value;
    for (uint64_t i = b; i < e && ok; i++) {
      key = KeyOf(i);
      ValueOf(i, args.value_size, &value);
      WriteOp op;
      op.key = key;
      op.value = value;
      Status s = v->Put(op);
      if (!s.ok()) {
        std::fprintf(stderr, "put %s: %s\n", key.c_str(), s.ToString().c_str());
        ok = false;
      }
    }
  });
  return ok;
}

bool RandomGets(Volume* v, const BenchArgs& args, uint64_t gets) {
  std::atomic<uint64_t> bad{0};
  Split(args.threads, gets, [&](int t, uint64_t b, uint64_t e) {
    std::mt19937_64 rng(42 + t);
    ReadResult r;
    std::string want;
    for (uint64_t n = b; n < e; n++) {
      uint64_t i = rng() % args.objects;
      Status s = v->Get(KeyOf(i), &r);
      ValueOf(i, args.value_size, &want);
      if (!s.ok() || r.value() != want) {
        if (bad++ == 0)
          std::fprintf(stderr, "get %llu: %s\n", (unsigned long long)i, s.ToString().c_str());
      }
    }
  });
  return bad == 0;
}

}  // namespace

int RunEngineBench(const BenchArgs& args) {
  RemoveTree(args.dir);
  uint64_t gets = args.gets != 0 ? args.gets : std::min<uint64_t>(args.objects, 2000000);
  std::unique_ptr<Volume> v;
  uint64_t rss_before = RssBytes(), anon_before = RssAnonBytes();
  Status s = Volume::Open(OptionsFor(args), &v);
  if (!s.ok()) {
    std::fprintf(stderr, "open %s: %s\n", args.dir.c_str(), s.ToString().c_str());
    return 1;
  }
  Stopwatch put_time;
  if (!Load(v.get(), args)) return 1;
  double put_s = put_time.Seconds();
  uint64_t rss_after = RssBytes(), anon_after = RssAnonBytes();
  VolumeStats st = v->Stats();
  s = v->Close();
  v.reset();
  if (!s.ok()) {
    std::fprintf(stderr, "close: %s\n", s.ToString().c_str());
    return 1;
  }
  Stopwatch reopen_time;
  s = Volume::Open(OptionsFor(args), &v);
  double reopen_s = reopen_time.Seconds();
  if (!s.ok() || v->Stats().objects != args.objects) {
    std::fprintf(stderr, "reopen: %s\n", s.ToString().c_str());
    return 1;
  }
  Stopwatch get_time;
  if (!RandomGets(v.get(), args, gets)) return 1;
  double get_s = get_time.Seconds();
  (void)v->Close();
  v.reset();

  Report("objects", static_cast<double>(args.objects));
  Report("value_size", static_cast<double>(args.value_size));
  Report("put_per_s", args.objects / put_s);
  Report("get_per_s", gets / get_s);
  Report("rss_bytes_per_object", static_cast<double>(rss_after - rss_before) / args.objects);
  Report("rss_anon_bytes_per_object", static_cast<double>(anon_after - anon_before) / args.objects);
  Report("index_bytes_per_object", static_cast<double>(st.index_bytes) / args.objects);
  Report("reopen_s", reopen_s);
  Report("disk_bytes_per_object", static_cast<double>(DiskBytes(args.dir)) / args.objects);
  if (!args.keep) RemoveTree(args.dir);
  return 0;
}

}  // namespace bale::bench
