// libFuzzer target for HTTP request handling (built and run by scripts/fuzz): bytes as a
// client might send them go through the HTTP parser, and every request it yields is
// answered by HttpRoutes against a real Store in a temporary directory, as a
// connection would. Checks the responses' framing: one status line, a Content-Length
// that matches the body sent (none for HEAD, 204 and 304), and a close after errors.
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "frontend/http_routes.h"
#include "proto/http_request.h"
#include "proto/stream_fuzz.h"  // FUZZ_CHECK
#include "store/local_object_store.h"
#include "store/store.h"

namespace {

using namespace bale;

class NoStats : public StatsSource {
 public:
  void Sum(ThreadStats*) const override {}
  void Reset() override {}
  uint64_t uptime_s() const override { return 1; }
  uint64_t http_body_bytes() const override { return 0; }
};

struct World {
  std::string dir;
  std::unique_ptr<Store> store;
  MemcacheSettings settings;
  HttpSettings http;
  NoStats stats_source;
  ThreadStats stats;
  std::unique_ptr<LocalObjectStore> objects;
  std::unique_ptr<ObjectSession> session;
  HttpScratch scratch;
  std::unique_ptr<HttpRoutes> routes;
  uint64_t runs = 0;

  void Open() {
    StoreOptions so;
    so.dir = dir + "/data";
    so.partitions = 4;
    so.volume.durability = Durability::kNone;
    so.volume.segment_bytes = 1 << 20;
    FUZZ_CHECK(Store::Open(so, &store).ok());
    objects = std::make_unique<LocalObjectStore>(store.get(), Durability::kNone);
    session = objects->NewSession();
    scratch.session = session.get();
  }
  void Wipe() {
    if (store) FUZZ_CHECK(store->Close().ok());
    store.reset();
    std::string data = dir + "/data";
    nftw(
        data.c_str(), [](const char* p, const struct stat*, int, FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
};

World* TheWorld() {
  static World* w = [] {
    auto* w = new World;
    char tmpl[] = "/tmp/bale-http-fuzz-XXXXXX";
    FUZZ_CHECK(mkdtemp(tmpl) != nullptr);
    w->dir = tmpl;
    w->http.max_body_bytes = 64 << 10;
    w->settings.data_dir = w->dir;
    w->scratch.stats = &w->stats;
    w->Open();
    w->routes =
        std::make_unique<HttpRoutes>(w->objects.get(), &w->http, &w->settings, &w->stats_source);
    std::atexit([] {
      TheWorld()->Wipe();
      ::rmdir(TheWorld()->dir.c_str());
    });
    return w;
  }();
  return w;
}

size_t ContentLength(std::string_view head) {
  constexpr std::string_view kName = "\r\nContent-Length: ";
  size_t at = head.find(kName);
  if (at == std::string_view::npos) return SIZE_MAX;
  return std::strtoull(std::string(head.substr(at + kName.size(), 20)).c_str(), nullptr, 10);
}

void CheckResponse(std::string_view out, const std::string& method) {
  FUZZ_CHECK(out.substr(0, 9) == "HTTP/1.1 ");
  size_t head_end = out.find("\r\n\r\n");
  FUZZ_CHECK(head_end != std::string_view::npos);
  std::string_view head = out.substr(0, head_end + 2);
  int code = std::atoi(std::string(out.substr(9, 3)).c_str());
  FUZZ_CHECK(code >= 200 && code < 600);
  size_t body = out.size() - head_end - 4;
  size_t length = ContentLength(head);
  if (code == 204 || code == 304) {
    FUZZ_CHECK(length == SIZE_MAX && body == 0);
  } else if (method == "HEAD") {
    FUZZ_CHECK(length != SIZE_MAX && body == 0);
  } else {
    FUZZ_CHECK(length == body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World* w = TheWorld();
  if (++w->runs % 5000 == 0) {  // bound the disk a long run uses
    w->Wipe();
    w->Open();
    w->routes =
        std::make_unique<HttpRoutes>(w->objects.get(), &w->http, &w->settings, &w->stats_source);
  }
  proto::HttpLimits limits;
  limits.max_body_bytes = w->http.max_body_bytes;
  proto::HttpRequestParser parser(limits);
  proto::HttpRequest req;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string out;
  while (!input.empty()) {
    proto::HttpParseResult r = parser.Feed(input, &req);
    FUZZ_CHECK(r.consumed <= input.size());
    input.remove_prefix(r.consumed);
    if (r.status == proto::HttpParseStatus::kIncomplete) break;
    out.clear();
    if (r.status == proto::HttpParseStatus::kError) {
      FUZZ_CHECK(r.error_status == 400 || r.error_status == 413 || r.error_status == 431);
      HttpRoutes::AppendError(r.error_status, &out, &w->scratch);
      CheckResponse(out, "");
      FUZZ_CHECK(out.find("\r\nConnection: close\r\n") != std::string::npos);
      break;
    }
    Outcome o = w->routes->Handle(req, &out, &w->scratch);
    CheckResponse(out, req.method);
    if (o == Outcome::kClose) break;
    if (r.consumed == 0) break;
  }
  return 0;
}
