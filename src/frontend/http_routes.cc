#include "frontend/http_routes.h"

#include <ctime>
#include <exception>
#include <random>

#include "base/decimal.h"
#include "base/expiry.h"
#include "frontend/http_reply.h"
#include "proto/http_fields.h"

namespace bale {
namespace {

constexpr std::string_view kDefaultContentType = "application/octet-stream";

}  // namespace

uint64_t NewObjectId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

bool IsValidKey(std::string_view key) {
  if (key.empty() || key.size() > 250) return false;
  for (char ch : key) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 32 || c == 127) return false;
  }
  return true;
}

uint32_t HttpRoutes::Now() const { return static_cast<uint32_t>(::time(nullptr)); }

Outcome HttpRoutes::Handle(const proto::HttpRequest& req, std::string* out, HttpScratch* scratch) {
  Reply r(&req, out, scratch);
  size_t start = out->size();
  size_t files = scratch->files != nullptr ? scratch->files->size() : 0;
  try {
    Dispatch(req, &r);
  } catch (const std::exception& e) {  // the boundary: nothing escapes to the event loop
    out->resize(start);
    if (scratch->files != nullptr) scratch->files->resize(files);
    r.Error(500, std::string("internal error: ") + e.what());
  }
  ThreadStats::Add(scratch->stats->http_requests[static_cast<size_t>(
      r.route)][ThreadStats::HttpMethodSlot(req.method)][ThreadStats::HttpCodeSlot(r.status)]);
  return r.close ? Outcome::kClose : Outcome::kContinue;
}

void HttpRoutes::AppendError(int status, std::string* out, HttpScratch* scratch) {
  proto::HttpRequest none;  // keep_alive false: the connection closes
  Reply r(&none, out, scratch);
  r.Error(status, status == 503 ? "request bodies in memory have reached --http-body-budget; "
                                  "retry after Retry-After seconds"
                                : proto::StatusText(status));
  ThreadStats::Add(scratch->stats->http_requests[static_cast<size_t>(
      HttpRoute::kOther)][kHttpMethods - 1][ThreadStats::HttpCodeSlot(status)]);
}

void HttpRoutes::Dispatch(const proto::HttpRequest& req, Reply* r) {
  std::string_view target = req.target;
  size_t query = target.find('?');
  std::string_view path = target.substr(0, query);
  std::string_view params = query == std::string_view::npos ? "" : target.substr(query + 1);
  const std::string& m = req.method;
  bool read = m == "GET" || m == "HEAD";

  if (path == "/metrics" || path == "/status") {
    r->route = path == "/metrics" ? HttpRoute::kMetrics : HttpRoute::kStatus;
    if (!read) return r->NotAllowed("GET, HEAD");
    return path == "/metrics" ? Metrics(r) : StatusJson(r);
  }
  if (path.substr(0, 7) == "/admin/") {
    r->route = HttpRoute::kAdmin;
    if (!r->scratch->peer_loopback && !http_->admin_from_any) {
      return r->Error(403, "admin endpoints answer loopback clients only (--admin-from any)");
    }
    if (path == "/admin/compact") {
      if (m != "POST") return r->NotAllowed("POST");
      return AdminCompact(r);
    }
    return r->NotFound();
  }
  if (!http_->public_only) {
    if (path.substr(0, 3) == "/o/") {
      r->route = HttpRoute::kObject;
      std::string& key = r->scratch->key;
      if (!proto::PercentDecode(path.substr(3), &key) || !IsValidKey(key)) {
        return r->Error(400, "invalid key");
      }
      if (read) return ObjectRead(req, key, false, 0, r);
      if (m == "PUT") return ObjectPut(req, key, r);
      if (m == "DELETE") return ObjectDelete(key, r);
      return r->NotAllowed("GET, HEAD, PUT, DELETE");
    }
    if (path == "/o") {
      r->route = HttpRoute::kUpload;
      if (m != "POST") return r->NotAllowed("POST");
      return ObjectPost(req, r);
    }
    if (path == "/batch") {
      r->route = HttpRoute::kBatch;
      if (m != "POST") return r->NotAllowed("POST");
      (void)params;
      return Batch(req, r);
    }
  }
  // The public URL: /{partition}/{key}/{cookie}. Anything that does not name a live
  // object with that cookie is the same 404.
  r->route = HttpRoute::kPublic;
  if (!read) return r->NotFound();
  size_t first = path.find('/', 1), last = path.rfind('/');
  if (path.size() < 2 || first == std::string_view::npos || last <= first) return r->NotFound();
  uint32_t partition = 0;
  uint64_t cookie = 0;
  std::string& key = r->scratch->key;
  if (!ParseDecimal(path.substr(1, first - 1), &partition) ||
      !proto::ParseCookieHex(path.substr(last + 1), &cookie) ||
      !proto::PercentDecode(path.substr(first + 1, last - first - 1), &key) || !IsValidKey(key) ||
      store_->PartitionOf(key) != partition) {
    return r->NotFound();
  }
  ObjectRead(req, key, true, cookie, r);
}

// Reads without copying where it can: the store's view points into the segment's
// mapping (one copy into the output buffer; unmapped segments are read into the
// session's buffer), and values of kSendfileBytes or more go from the page cache to
// the socket with sendfile.
void HttpRoutes::ObjectRead(const proto::HttpRequest& req, std::string_view key, bool is_public,
                            uint64_t cookie, Reply* r) {
  ThreadStats* st = r->scratch->stats;
  ObjectView& obj = r->scratch->view;
  LookupOptions options;
  if (is_public) options.cookie = &cookie;
  Status s = store_->Get(r->scratch->session, key, options, &obj);
  if (s.IsCorruption()) ThreadStats::Add(st->corrupt_reads);
  if (s.IsNotFound() || s.IsCorruption()) return r->NotFound();
  if (!s.ok()) return r->StoreError(s);
  SendObject(req, obj, is_public, r);
  obj.Release();  // do not keep a compacted-away file open
}

void HttpRoutes::SendObject(const proto::HttpRequest& req, const ObjectView& obj, bool is_public,
                            Reply* r) {
  const ObjectMeta& h = obj.meta;
  std::string etag = "\"";
  proto::AppendHex16(h.version, &etag);
  etag.push_back('"');
  std::string_view value = obj.value;
  std::string_view inm = req.Header("if-none-match");
  if (!inm.empty() && proto::IfNoneMatchMatches(inm, etag)) {
    r->Start(304);
    r->Header("ETag", etag);
    return r->FinishHead();
  }
  proto::ByteRange range{0, value.empty() ? 0 : value.size() - 1};
  proto::RangeKind kind = proto::RangeKind::kNone;
  std::string_view range_header = req.Header("range");
  if (!range_header.empty()) kind = proto::ParseRange(range_header, value.size(), &range);
  if (kind == proto::RangeKind::kUnsatisfiable) {
    r->Start(416);
    r->Header("Content-Range", "bytes */" + std::to_string(value.size()));
    return r->Finish("application/json", "{\"error\":\"range not satisfiable\"}\n");
  }
  // Stored types are checked on write; one that is not valid (older data) is not echoed.
  std::string_view type = obj.content_type.empty() || !IsValidContentType(obj.content_type)
                              ? kDefaultContentType
                              : obj.content_type;
  r->Start(kind == proto::RangeKind::kSatisfiable ? 206 : 200);
  r->Header("ETag", etag);
  r->Header("Last-Modified", r->Date(h.mtime));
  r->Header("Accept-Ranges", "bytes");
  r->Header("X-Bale-Flags", std::to_string(h.flags));
  if (!is_public) {
    std::string hex;
    proto::AppendHex16(h.cookie, &hex);
    r->Header("X-Bale-Cookie", hex);
  }
  uint64_t first = 0;
  if (kind == proto::RangeKind::kSatisfiable) {
    r->Header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                   std::to_string(range.last) + "/" + std::to_string(value.size()));
    first = range.first;
    value = value.substr(range.first, range.last - range.first + 1);
  }
  std::vector<FileSend>* files = r->scratch->files;
  if (files == nullptr || obj.fd < 0 || value.size() < kSendfileBytes || req.method == "HEAD") {
    return r->Finish(type, value);
  }
  r->FinishWithoutBody(type, value.size());
  files->push_back(
      FileSend{r->out->size(), obj.hold, obj.fd, obj.value_offset + first, value.size()});
}

bool HttpRoutes::WriteOptions(const proto::HttpRequest& req, Mutation* m, Reply* r) const {
  std::string_view flags = req.Header("x-bale-flags");
  if (!flags.empty() && !ParseDecimal(flags, &m->flags)) {
    r->Error(400, "X-Bale-Flags must be a 32-bit unsigned number");
    return false;
  }
  std::string_view expires = req.Header("x-bale-expires");
  if (!expires.empty()) {
    int64_t exptime = 0;
    if (!ParseDecimal(expires, &exptime)) {
      r->Error(400, "X-Bale-Expires must be a memcached exptime");
      return false;
    }
    m->expiry = ExpiryFromMemcached(exptime, Now());
  }
  m->content_type = req.Header("content-type");
  if (!IsValidContentType(m->content_type)) {
    r->Error(400, "Content-Type over 255 bytes or with control bytes");
    return false;
  }
  m->value = req.body;  // the store draws the cookie
  return true;
}

void HttpRoutes::ObjectPut(const proto::HttpRequest& req, std::string_view key, Reply* r) {
  Mutation m;
  m.kind = MutationKind::kSet;
  m.key = key;
  if (!WriteOptions(req, &m, r)) return;
  Mutate(store_, r->scratch->session, m, [&](const MutationResult& done) {
    if (done.status != MutationStatus::kOk) return r->StoreError(done);
    ThreadStats::Add(r->scratch->stats->total_items);
    std::string& json = r->scratch->text;
    json.clear();
    ObjectJson(key, m.value.size(), done.meta.version, done.meta.cookie, &json);
    r->Start(200);
    r->Finish("application/json", json);
  });
}

void HttpRoutes::ObjectPost(const proto::HttpRequest& req, Reply* r) {
  Mutation m;
  m.kind = MutationKind::kAdd;
  if (!WriteOptions(req, &m, r)) return;
  // A new 64-bit id that no object has (add semantics); a collision just draws again.
  for (int attempt = 0; attempt < 8; attempt++) {
    std::string key = NewId();
    m.key = key;
    bool taken = false;
    Mutate(store_, r->scratch->session, m, [&](const MutationResult& done) {
      if (done.status == MutationStatus::kNotStored) {
        taken = true;
        return;
      }
      if (done.status != MutationStatus::kOk) return r->StoreError(done);
      ThreadStats::Add(r->scratch->stats->total_items);
      std::string& json = r->scratch->text;
      json.clear();
      ObjectJson(key, m.value.size(), done.meta.version, done.meta.cookie, &json);
      std::string url;
      PublicUrl(key, done.meta.cookie, &url);
      r->Start(201);
      r->Header("Location", url);
      r->Finish("application/json", json);
    });
    if (!taken) return;
  }
  r->StoreError(Status::IOError("could not draw a free object id"));
}

void HttpRoutes::ObjectDelete(std::string_view key, Reply* r) {
  Mutation m;
  m.kind = MutationKind::kDelete;
  m.key = key;
  Mutate(store_, r->scratch->session, m, [&](const MutationResult& done) {
    if (done.status == MutationStatus::kNotFound) return r->NotFound();
    if (done.status != MutationStatus::kOk) return r->StoreError(done);
    r->Start(204);
    r->FinishHead();
  });
}

void HttpRoutes::PublicUrl(std::string_view key, uint64_t cookie, std::string* out) const {
  out->push_back('/');
  out->append(std::to_string(store_->PartitionOf(key)));
  out->push_back('/');
  proto::PercentEncode(key, out);
  out->push_back('/');
  proto::AppendHex16(cookie, out);
}

void HttpRoutes::ObjectJson(std::string_view key, uint64_t size, uint64_t version, uint64_t cookie,
                            std::string* out) const {
  out->append("{\"key\":");
  AppendJsonString(key, out);
  out->append(",\"size\":").append(std::to_string(size));
  out->append(",\"etag\":\"\\\"");
  proto::AppendHex16(version, out);
  out->append("\\\"\",\"cookie\":\"");
  proto::AppendHex16(cookie, out);
  out->append("\",\"url\":");
  std::string url;
  PublicUrl(key, cookie, &url);
  AppendJsonString(url, out);
  out->append(",\"partition\":").append(std::to_string(store_->PartitionOf(key)));
  out->append(",\"version\":").append(std::to_string(version)).append("}");
}

}  // namespace bale
