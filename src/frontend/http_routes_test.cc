#include "frontend/http_routes.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "format/needle.h"
#include "proto/http_request.h"
#include "store/local_object_store.h"
#include "test_util.h"
#include "unavailable_partition.h"

namespace bale {
namespace {

class NoStats : public StatsSource {
 public:
  void Sum(ThreadStats*) const override {}
  void Reset() override {}
  uint64_t uptime_s() const override { return 7; }
  uint64_t http_body_bytes() const override { return body_bytes; }
  uint64_t body_bytes = 0;
};

struct Response {
  int code = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  bool close = false;
};

class HttpRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    so_.dir = dir_.path() + "/data";
    so_.partitions = 8;
    so_.volume.durability = Durability::kNone;
    so_.volume.env = &fault_;
    ASSERT_TRUE(Store::Open(so_, &store_).ok());
    settings_.data_dir = so_.dir;
    scratch_.stats = &stats_;
    OpenRoutes();
  }
  void OpenRoutes() {
    objects_ = std::make_unique<LocalObjectStore>(store_.get(), Durability::kNone);
    session_ = objects_->NewSession();
    scratch_.session = session_.get();
    routes_ = std::make_unique<HttpRoutes>(objects_.get(), &http_, &settings_, &no_stats_);
  }

  // Closes the store and opens it again (the FaultEnv's write budget unlimited again).
  void Reopen() {
    fault_.write_budget = -1;
    routes_.reset();
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    ASSERT_TRUE(Store::Open(so_, &store_).ok());
    OpenRoutes();
  }
  // Opens a copy of the data directory as it is now, as a restart after a crash would.
  std::unique_ptr<Store> OpenCrashCopy() {
    StoreOptions o = so_;
    o.dir = dir_.path() + "/crash-" + std::to_string(copies_++);
    o.volume.env = Env::Default();
    std::filesystem::copy(so_.dir, o.dir, std::filesystem::copy_options::recursive);
    std::unique_ptr<Store> s;
    EXPECT_TRUE(Store::Open(o, &s).ok());
    return s;
  }
  static std::string Read(Store* s, const std::string& key) {
    ReadResult r;
    Status st = s->VolumeFor(key)->Get(key, &r);
    if (st.IsNotFound()) return "<missing>";
    EXPECT_TRUE(st.ok()) << st.ToString();
    return std::string(r.value());
  }
  Response Batch(const std::string& target, const std::string& body) {
    return Send("POST " + target +
                " HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  // Sends raw request bytes (one request) and parses the one response.
  Response Send(const std::string& raw) {
    proto::HttpRequestParser parser;
    proto::HttpRequest req;
    proto::HttpParseResult r = parser.Feed(raw, &req);
    EXPECT_EQ(r.status, proto::HttpParseStatus::kRequest) << raw;
    std::string out;
    Response resp;
    resp.close = routes_->Handle(req, &out, &scratch_) == Outcome::kClose;
    size_t head_end = out.find("\r\n\r\n");
    EXPECT_NE(head_end, std::string::npos);
    resp.code = std::stoi(out.substr(9, 3));
    size_t pos = out.find("\r\n") + 2;
    while (pos < head_end) {
      size_t eol = out.find("\r\n", pos);
      std::string line = out.substr(pos, eol - pos);
      size_t colon = line.find(':');
      resp.headers[line.substr(0, colon)] = line.substr(colon + 2);
      pos = eol + 2;
    }
    resp.body = out.substr(head_end + 4);
    return resp;
  }
  Response Put(const std::string& path, const std::string& body, const std::string& extra = "") {
    return Send("PUT " + path + " HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n" + extra + "\r\n" + body);
  }
  Response Get(const std::string& path, const std::string& extra = "") {
    return Send("GET " + path + " HTTP/1.1\r\n" + extra + "\r\n");
  }
  static std::string JsonField(const std::string& json, const std::string& name) {
    size_t at = json.find("\"" + name + "\":");
    if (at == std::string::npos) return "";
    at += name.size() + 3;
    if (json[at] == '"') {
      size_t end = json.find('"', at + 1);
      while (json[end - 1] == '\\') end = json.find('"', end + 1);
      return json.substr(at + 1, end - at - 1);
    }
    return json.substr(at, json.find_first_of(",}", at) - at);
  }

  testing::TempDir dir_;
  testing::FaultEnv fault_;
  StoreOptions so_;
  int copies_ = 0;
  std::unique_ptr<Store> store_;
  MemcacheSettings settings_;
  HttpSettings http_;
  NoStats no_stats_;
  ThreadStats stats_;
  std::unique_ptr<LocalObjectStore> objects_;
  std::unique_ptr<ObjectSession> session_;
  HttpScratch scratch_;
  std::unique_ptr<HttpRoutes> routes_;
};

TEST_F(HttpRoutesTest, PutThenGetKeepsBytesAndType) {
  Response put = Put("/o/a%2Fb", std::string("x\0y", 3), "Content-Type: image/png\r\n");
  ASSERT_EQ(put.code, 200) << put.body;
  EXPECT_EQ(JsonField(put.body, "key"), "a/b");
  EXPECT_EQ(JsonField(put.body, "size"), "3");
  Response get = Get("/o/a%2Fb");
  ASSERT_EQ(get.code, 200);
  EXPECT_EQ(get.body, std::string("x\0y", 3));
  EXPECT_EQ(get.headers["Content-Type"], "image/png");
  EXPECT_EQ(get.headers["Content-Length"], "3");
  EXPECT_EQ(get.headers["X-Bale-Cookie"], JsonField(put.body, "cookie"));
  Response head = Send("HEAD /o/a%2Fb HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.code, 200);
  EXPECT_EQ(head.headers["Content-Length"], "3");
  EXPECT_EQ(head.body, "");
}

TEST_F(HttpRoutesTest, PublicUrlNeedsTheCookie) {
  Response put = Put("/o/photo", "jpegbytes");
  std::string url = JsonField(put.body, "url");
  ASSERT_EQ(url.substr(0, 1), "/");
  Response ok = Get(url);
  ASSERT_EQ(ok.code, 200);
  EXPECT_EQ(ok.body, "jpegbytes");
  EXPECT_EQ(ok.headers.count("X-Bale-Cookie"), 0u);
  Response missing = Get("/o/nothing-here");
  ASSERT_EQ(missing.code, 404);
  std::string wrong = url;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  Response bad = Get(wrong);
  EXPECT_EQ(bad.code, 404);
  EXPECT_EQ(bad.body, missing.body);
  std::string other_partition = url;
  other_partition[1] = other_partition[1] == '0' ? '1' : '0';
  EXPECT_EQ(Get(other_partition).body, missing.body);
  EXPECT_EQ(Get(url + "0").code, 404);
  EXPECT_EQ(Get("/x").code, 404);
}

TEST_F(HttpRoutesTest, RangesAndEtags) {
  Response put = Put("/o/r", "0123456789");
  std::string etag = JsonField(put.body, "etag");
  ASSERT_EQ(etag.size(), 20u);  // \"16 hex\" as escaped in JSON
  Response part = Get("/o/r", "Range: bytes=2-4\r\n");
  EXPECT_EQ(part.code, 206);
  EXPECT_EQ(part.body, "234");
  EXPECT_EQ(part.headers["Content-Range"], "bytes 2-4/10");
  EXPECT_EQ(Get("/o/r", "Range: bytes=-3\r\n").body, "789");
  Response past = Get("/o/r", "Range: bytes=10-\r\n");
  EXPECT_EQ(past.code, 416);
  EXPECT_EQ(past.headers["Content-Range"], "bytes */10");
  Response full = Get("/o/r");
  EXPECT_EQ(Get("/o/r", "If-None-Match: " + full.headers["ETag"] + "\r\n").code, 304);
  EXPECT_EQ(Get("/o/r", "If-None-Match: \"0\"\r\n").code, 200);
  Put("/o/r", "changed");
  EXPECT_NE(Get("/o/r").headers["ETag"], full.headers["ETag"]);
}

TEST_F(HttpRoutesTest, PostDeleteAndErrors) {
  Response post = Send("POST /o HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_EQ(post.code, 201);
  EXPECT_EQ(post.headers["Location"], JsonField(post.body, "url"));
  std::string key = JsonField(post.body, "key");
  EXPECT_EQ(Get("/o/" + key).body, "hi");
  EXPECT_EQ(Send("DELETE /o/" + key + " HTTP/1.1\r\n\r\n").code, 204);
  EXPECT_EQ(Send("DELETE /o/" + key + " HTTP/1.1\r\n\r\n").code, 404);
  EXPECT_EQ(Get("/o/" + key).code, 404);
  Response bad_key = Put("/o/has%20space", "v");
  EXPECT_EQ(bad_key.code, 400);
  EXPECT_TRUE(bad_key.close);
  EXPECT_EQ(Put("/o/" + std::string(251, 'k'), "v").code, 400);
  Response not_allowed = Send("POST /o/k HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(not_allowed.code, 405);
  EXPECT_EQ(not_allowed.headers["Allow"], "GET, HEAD, PUT, DELETE");
  EXPECT_EQ(Put("/o/k", "v", "X-Bale-Flags: nope\r\n").code, 400);
  EXPECT_EQ(Put("/o/k", "v", "Content-Type: " + std::string(256, 't') + "\r\n").code, 400);
}

TEST_F(HttpRoutesTest, ExpiresAndFlags) {
  ASSERT_EQ(Put("/o/e", "v", "X-Bale-Expires: -1\r\n").code, 200);
  EXPECT_EQ(Get("/o/e").code, 404);
  ASSERT_EQ(Put("/o/f", "v", "X-Bale-Flags: 4294967295\r\n").code, 200);
  EXPECT_EQ(Get("/o/f").headers["X-Bale-Flags"], "4294967295");
}

TEST_F(HttpRoutesTest, BatchStoresAllOrNothing) {
  std::string body =
      "--B\r\nContent-Disposition: form-data; name=\"one\"\r\nContent-Type: text/plain\r\n\r\n"
      "first\r\n--B\r\nContent-Disposition: form-data; name=\"two\"\r\n\r\nsecond\r\n--B--\r\n";
  auto batch = [&](const std::string& target, const std::string& b) {
    return Send("POST " + target +
                " HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                "Content-Length: " +
                std::to_string(b.size()) + "\r\n\r\n" + b);
  };
  Response named = batch("/batch?keys=names", body);
  ASSERT_EQ(named.code, 201) << named.body;
  EXPECT_EQ(Get("/o/one").body, "first");
  EXPECT_EQ(Get("/o/one").headers["Content-Type"], "text/plain");
  EXPECT_EQ(Get("/o/two").body, "second");
  Response generated = batch("/batch", body);
  ASSERT_EQ(generated.code, 201);
  std::string first_url = JsonField(generated.body, "url");
  EXPECT_EQ(Get(first_url).body, "first");
  std::string bad = body;
  bad.replace(bad.find("name=\"two\""), 10, "name=\"t o\"");
  bad.replace(bad.find("first"), 5, "FIRST");
  EXPECT_EQ(batch("/batch?keys=names", bad).code, 400);
  EXPECT_EQ(Get("/o/one").body, "first");  // nothing of the bad batch was stored
  EXPECT_EQ(batch("/batch", "garbage").code, 400);
}

// Issue 10: a batch whose write failed part-way answered 507 with some parts stored.
// An error must leave none readable, now and after a restart, and a key the batch
// would have overwritten keeps its previous value.
TEST_F(HttpRoutesTest, BatchThatFailsPartWayStoresNoPart) {
  constexpr int kParts = 20;
  auto key = [](int i) { return "k" + std::to_string(i); };
  auto value = [](int i) { return std::string(200, static_cast<char>('a' + i)); };
  for (int i : {3, 7, 12}) ASSERT_EQ(Put("/o/" + key(i), "old" + std::to_string(i)).code, 200);
  std::string body;
  int64_t thirteen = 0;  // bytes of the first 13 parts' needles
  for (int i = 0; i < kParts; i++) {
    body += "--B\r\nContent-Disposition: form-data; name=\"" + key(i) + "\"\r\n\r\n" + value(i) +
            "\r\n";
    if (i < 13) thirteen += format::NeedleSize(key(i).size(), 0, value(i).size());
  }
  body += "--B--\r\n";
  auto expect_none = [&](Store* s, const char* when) {
    for (int i = 0; i < kParts; i++) {
      bool old = i == 3 || i == 7 || i == 12;
      EXPECT_EQ(Read(s, key(i)), old ? "old" + std::to_string(i) : "<missing>") << when << " " << i;
    }
  };
  uint64_t objects = store_->Stats().total.objects;

  fault_.write_budget = thirteen + 8;  // the disk fills up in the 14th part
  uint64_t appends = fault_.pwrites + fault_.pwritevs;
  Response r = Batch("/batch?keys=names", body);
  EXPECT_EQ(r.code, 507) << r.body;
  EXPECT_GT(fault_.pwrites + fault_.pwritevs - appends, 1u);  // some partitions were written
  expect_none(store_.get(), "now");
  expect_none(OpenCrashCopy().get(), "after a crash");
  // Server-named parts: none may linger as an orphan no reply names.
  fault_.write_budget = thirteen + 8;
  EXPECT_EQ(Batch("/batch", body).code, 507);
  EXPECT_EQ(store_->Stats().total.objects, objects);
  EXPECT_EQ(OpenCrashCopy()->Stats().total.objects, objects);
  Reopen();
  expect_none(store_.get(), "after a restart");
  EXPECT_EQ(store_->Stats().total.objects, objects);

  // Space is back: the same batch stores every part.
  r = Batch("/batch?keys=names", body);
  ASSERT_EQ(r.code, 201) << r.body;
  for (int i = 0; i < kParts; i++) EXPECT_EQ(Get("/o/" + key(i)).body, value(i));
  Reopen();
  for (int i = 0; i < kParts; i++) EXPECT_EQ(Read(store_.get(), key(i)), value(i));
}

// Server-chosen ids never replace an object, nor each other within one batch.
TEST_F(HttpRoutesTest, BatchIdsNeverCollideWithStoredKeys) {
  ASSERT_EQ(Put("/o/5", "mine").code, 200);
  std::vector<uint64_t> ids = {5, 6, 6};  // then 7, 8, ...
  size_t drawn = 0;
  routes_->set_id_source([&] { return drawn < ids.size() ? ids[drawn++] : 4 + drawn++; });
  std::string body;
  for (const char* v : {"x", "y", "z"}) {
    body += std::string("--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n") + v + "\r\n";
  }
  body += "--B--\r\n";
  Response r = Batch("/batch", body);
  ASSERT_EQ(r.code, 201) << r.body;
  EXPECT_EQ(Get("/o/5").body, "mine");
  std::set<std::string> keys;
  for (size_t at = r.body.find("\"key\":"); at != std::string::npos;
       at = r.body.find("\"key\":", at + 1)) {
    keys.insert(JsonField(r.body.substr(at), "key"));
  }
  EXPECT_EQ(keys.size(), 3u) << r.body;
  EXPECT_EQ(keys.count("5"), 0u) << r.body;
  for (const std::string& k : keys) EXPECT_NE(Get("/o/" + k).code, 404) << k;
  EXPECT_GT(drawn, 3u);
}

TEST_F(HttpRoutesTest, MetricsAndStatus) {
  Put("/o/m", "v");
  Response m = Get("/metrics");
  ASSERT_EQ(m.code, 200);
  EXPECT_NE(m.body.find("# TYPE bale_objects gauge\nbale_objects 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("bale_request_duration_seconds_bucket{protocol=\"http\",le=\"+Inf\"}"),
            std::string::npos);
  Response s = Get("/status");
  ASSERT_EQ(s.code, 200);
  EXPECT_NE(s.body.find("\"partitions\": 8"), std::string::npos);
  EXPECT_NE(s.body.find("\"uptime_seconds\": 7"), std::string::npos);
  EXPECT_EQ(Send("PUT /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").code, 405);
}

TEST_F(HttpRoutesTest, MetricsAndStatusShowTheBodyBudget) {
  no_stats_.body_bytes = 12345;
  http_.body_budget_bytes = 3 << 20;
  Response m = Get("/metrics");
  ASSERT_EQ(m.code, 200);
  EXPECT_NE(m.body.find("# TYPE bale_http_body_bytes gauge\nbale_http_body_bytes 12345\n"),
            std::string::npos);
  EXPECT_NE(m.body.find("# TYPE bale_http_body_budget_refusals_total counter\n"
                        "bale_http_body_budget_refusals_total 0\n"),
            std::string::npos);
  Response s = Get("/status");
  ASSERT_EQ(s.code, 200);
  EXPECT_NE(s.body.find("\"http_body_budget\": 3145728"), std::string::npos) << s.body;
}

TEST_F(HttpRoutesTest, BudgetRefusalSaysWhenToRetryAndCloses) {
  std::string out;
  HttpRoutes::AppendError(503, &out, &scratch_);
  ASSERT_EQ(out.substr(0, 13), "HTTP/1.1 503 ") << out;
  size_t head_end = out.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  std::string head = out.substr(0, head_end + 2);
  EXPECT_NE(head.find("\r\nRetry-After: 1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << head;
  std::string body = out.substr(head_end + 4);
  EXPECT_EQ(body.substr(0, 10), "{\"error\":\"") << body;
  EXPECT_NE(head.find("Content-Length: " + std::to_string(body.size())), std::string::npos);
  EXPECT_EQ(stats_
                .http_requests[static_cast<size_t>(HttpRoute::kOther)][kHttpMethods - 1]
                              [ThreadStats::HttpCodeSlot(503)]
                .load(),
            1u);
  EXPECT_NE(ThreadStats::HttpCodeSlot(503), ThreadStats::HttpCodeSlot(0));  // labelled 503
}

TEST_F(HttpRoutesTest, PublicOnlyHidesTheApi) {
  Response put = Put("/o/p", "v");
  http_.public_only = true;
  EXPECT_EQ(Get("/o/p").code, 404);
  EXPECT_EQ(Get(JsonField(put.body, "url")).code, 200);
  EXPECT_EQ(Put("/o/p", "w").code, 404);
}

TEST_F(HttpRoutesTest, ControlBytesNeverReachAResponseHead) {
  // A part's headers end at CRLF only, so a bare LF could ride inside its Content-Type.
  std::string body =
      "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n"
      "Content-Type: text/html\nSet-Cookie: a=b\r\n\r\nv\r\n--B--\r\n";
  Response r = Send(
      "POST /batch?keys=names HTTP/1.1\r\nContent-Type: multipart/form-data; "
      "boundary=B\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(Get("/o/x").code, 404);
  WriteOp op;
  op.key = "direct";
  op.value = "v";
  op.content_type = "text/plain\r\nX: y";
  EXPECT_TRUE(store_->VolumeFor("direct")->Put(op).IsInvalidArgument());
  op.content_type = "text/plain;\tcharset=utf-8";  // HTAB is allowed in field values
  EXPECT_TRUE(store_->VolumeFor("direct")->Put(op).ok());
}

TEST_F(HttpRoutesTest, BatchPartCountIsBounded) {
  std::string part = "--B\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\n\r\n";
  std::string body;
  for (size_t i = 0; i <= kMaxBatchParts; i++) body += part;
  body += "--B--\r\n";
  Response r = Send(
      "POST /batch HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=B\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(r.code, 400);
  EXPECT_NE(r.body.find("parts"), std::string::npos);
}

TEST_F(HttpRoutesTest, StatusSurvivesANonUtf8DataDir) {
  settings_.data_dir = "/tmp/bale-\xff\xfe";
  Response s = Get("/status");
  EXPECT_EQ(s.code, 200);
}

TEST_F(HttpRoutesTest, AdminCompactIsForLoopbackAndPostOnly) {
  for (int i = 0; i < 20; i++) {
    ASSERT_LT(Send("PUT /o/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello").code, 300);
  }
  EXPECT_GT(store_->Stats().total.dead_bytes, 0u);
  EXPECT_EQ(Send("GET /admin/compact HTTP/1.1\r\nHost: x\r\n\r\n").code, 405);
  EXPECT_EQ(Send("POST /admin/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").code, 404);
  scratch_.peer_loopback = false;
  Response refused = Send("POST /admin/compact HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(refused.code, 403);
  http_.admin_from_any = true;  // --admin-from any
  EXPECT_EQ(Send("POST /admin/compact HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").code, 202);
  http_.admin_from_any = false;
  scratch_.peer_loopback = true;
  Response ok = Send("POST /admin/compact HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(ok.code, 202);
  EXPECT_NE(ok.body.find("\"requested\":true"), std::string::npos) << ok.body;
  // The store's compactor thread carries the request out.
  // Dead bytes reach zero inside the compaction, a moment before the compactor counts it.
  for (int i = 0; i < 3000 && (store_->Stats().total.dead_bytes > 0 ||
                               store_->Stats().compactor.compactions == 0);
       i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(store_->Stats().total.dead_bytes, 0u);
  EXPECT_GT(store_->Stats().compactor.compactions, 0u);
  EXPECT_EQ(Send("GET /o/k HTTP/1.1\r\nHost: x\r\n\r\n").body, "hello");
}

// A key of a partition that cannot answer (here: its FLUSH marker is damaged) is 503
// with the reason, not 404; other keys are served; /status and /metrics report it.
TEST_F(HttpRoutesTest, UnavailablePartitionIs503AndReported) {
  std::string in0, in1;
  for (int i = 0; in0.empty() || in1.empty(); i++) {
    std::string k = "k" + std::to_string(i);
    uint32_t p = store_->PartitionOf(k);
    if (p == 0 && in0.empty()) in0 = k;
    if (p == 1 && in1.empty()) in1 = k;
  }
  ASSERT_EQ(Put("/o/" + in0, "zero").code, 200);
  ASSERT_EQ(Put("/o/" + in1, "one").code, 200);
  routes_.reset();
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  const std::string partition = dir_.path() + "/data/p-00001";
  ASSERT_NO_FATAL_FAILURE(testing::DamageFlushMarker(partition, 5));
  StoreOptions so;
  so.dir = dir_.path() + "/data";
  so.volume.durability = Durability::kNone;
  ASSERT_TRUE(Store::Open(so, &store_).ok());
  OpenRoutes();

  EXPECT_EQ(Get("/o/" + in0).body, "zero");
  Response r = Get("/o/" + in1);
  EXPECT_EQ(r.code, 503);
  EXPECT_NE(r.body.find("partition 1 unavailable"), std::string::npos) << r.body;
  EXPECT_FALSE(r.close);
  EXPECT_EQ(Put("/o/" + in1, "new").code, 503);
  EXPECT_EQ(Send("DELETE /o/" + in1 + " HTTP/1.1\r\n\r\n").code, 503);
  Response status = Get("/status");
  ASSERT_EQ(status.code, 200);
  EXPECT_NE(status.body.find("\"unavailable_partitions\": [\n      1\n    ]"), std::string::npos)
      << status.body;
  EXPECT_NE(status.body.find("\"kind\": \"bad_flush_marker\""), std::string::npos) << status.body;
  EXPECT_NE(status.body.find(partition + "/FLUSH"), std::string::npos) << status.body;
  Response metrics = Get("/metrics");
  EXPECT_NE(metrics.body.find("\nbale_unavailable_partitions 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nbale_damaged_partitions 1\n"), std::string::npos);
}

}  // namespace
}  // namespace bale
