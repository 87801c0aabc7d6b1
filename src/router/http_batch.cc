// HttpRoutes::Batch: POST /batch, many objects in one multipart/form-data request,
// checked first, then written with one append per partition (and, in kSync, one group
// commit for the whole request, done by the event loop).
#include <unordered_map>
#include <vector>

#include "proto/multipart.h"
#include "router/http_reply.h"

namespace bale {

void HttpRoutes::Batch(const proto::HttpRequest& req, Reply* r) {
  std::string boundary;
  if (!proto::MultipartBoundary(req.Header("content-type"), &boundary)) {
    return r->Error(400, "POST /batch takes multipart/form-data with a boundary");
  }
  std::vector<proto::MultipartPart> parts;
  Status s = proto::ParseMultipart(req.body, boundary, &parts);
  if (!s.ok()) return r->Error(400, s.message());
  if (parts.empty()) return r->Error(400, "no parts in the batch");
  if (parts.size() > kMaxBatchParts) {
    return r->Error(400, "more than " + std::to_string(kMaxBatchParts) + " parts in one batch");
  }
  std::string_view target = req.target;
  size_t q = target.find('?');
  bool named = q != std::string_view::npos && target.substr(q + 1) == "keys=names";

  // Everything is checked before anything is written: a bad batch stores nothing.
  std::vector<std::string> keys(parts.size());
  for (size_t i = 0; i < parts.size(); i++) {
    // Generated ids are 64 random bits: a clash with a stored object is as unlikely as
    // guessing a cookie.
    keys[i] = named ? parts[i].name : std::to_string(RandomU64());
    if (!IsValidKey(keys[i])) return r->Error(400, "invalid key in part " + std::to_string(i));
    if (!format::IsValidContentType(parts[i].content_type)) {
      return r->Error(
          400, "bad Content-Type (over 255 bytes or control bytes) in part " + std::to_string(i));
    }
  }
  // One append per partition, in part order within each.
  std::unordered_map<Volume*, std::vector<WriteOp>> by_volume;
  std::vector<std::pair<Volume*, size_t>> where(parts.size());
  for (size_t i = 0; i < parts.size(); i++) {
    Volume* v = store_->VolumeFor(keys[i]);
    where[i] = {v, by_volume[v].size()};
    WriteOp& op = by_volume[v].emplace_back();
    op.key = keys[i];
    op.value = parts[i].body;
    op.content_type = parts[i].content_type;
    op.cookie = NewCookie();
  }
  bool sync = settings_->durability == Durability::kSync;
  for (auto& [v, batch] : by_volume) {
    s = v->WriteNoWait(batch);
    if (!s.ok()) return r->StoreError(s);
    if (sync) r->scratch->dirty->Add(v);
  }
  ThreadStats* st = r->scratch->stats;
  std::string& json = r->scratch->text;
  json.assign("{\"objects\":[");
  for (size_t i = 0; i < parts.size(); i++) {
    ThreadStats::Add(st->total_items);
    const WriteOp& done = by_volume[where[i].first][where[i].second];
    if (i > 0) json.push_back(',');
    std::string object;
    ObjectJson(keys[i], done.value.size(), done.version, done.cookie, &object);
    // {"name":..,"filename":.., then the object's own fields.
    json.append("{\"name\":");
    AppendJsonString(parts[i].name, &json);
    json.append(",\"filename\":");
    AppendJsonString(parts[i].filename, &json);
    json.push_back(',');
    json.append(object, 1);
  }
  json.append("]}\n");
  r->Start(201);
  r->Finish("application/json", json);
}

}  // namespace bale
