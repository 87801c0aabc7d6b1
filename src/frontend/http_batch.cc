// HttpRoutes::Batch: POST /batch, many objects in one multipart/form-data request,
// checked first, then written all or nothing (ObjectStore::PutAtomic; in kSync, one
// group commit for the whole request, done by the event loop).
#include <vector>

#include "frontend/http_reply.h"
#include "proto/multipart.h"

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
  std::vector<BatchPut> items(parts.size());
  // A generated id is drawn again until it is kept with the first part's (in a cluster,
  // on one node: ObjectStore::Colocated), so that the batch can be all or nothing.
  auto draw = [&](size_t i) {
    std::string id = NewId();
    for (int tries = 0; i > 0 && tries < 256 && !store_->Colocated(keys[0], id); tries++) {
      id = NewId();
    }
    return id;
  };
  for (size_t i = 0; i < parts.size(); i++) {
    keys[i] = named ? parts[i].name : draw(i);
    if (!IsValidKey(keys[i])) return r->Error(400, "invalid key in part " + std::to_string(i));
    if (!IsValidContentType(parts[i].content_type)) {
      return r->Error(
          400, "bad Content-Type (over 255 bytes or control bytes) in part " + std::to_string(i));
    }
    BatchPut& item = items[i];
    item.key = keys[i];
    item.value = parts[i].body;
    item.content_type = parts[i].content_type;
    item.only_if_absent = !named;  // a generated id never replaces an object
  }
  // All parts or none (ObjectStore::PutAtomic; locally one append per partition, and a
  // failure in one partition takes back what the others appended). A generated id that
  // is taken (by a stored object or another part) is drawn again; nothing was written
  // then.
  MutationResult result;
  CallbackCompletion done([&](const MutationResult& m) { result = m; });
  for (int attempt = 0;; attempt++) {
    store_->PutAtomic(items, r->scratch->session, &done);
    if (result.status != MutationStatus::kExists || named) break;
    if (attempt == 7) return r->StoreError(Status::IOError("could not draw free object ids"));
    for (size_t i = 0; i < items.size(); i++) {
      if (!items[i].taken) continue;
      keys[i] = draw(i);
      items[i].key = keys[i];
      items[i].cookie = 0;
    }
  }
  if (result.status != MutationStatus::kOk) {
    return r->StoreError(result.status == MutationStatus::kExists ? Status::Exists()
                                                                  : result.error);
  }
  ThreadStats* st = r->scratch->stats;
  std::string& json = r->scratch->text;
  json.assign("{\"objects\":[");
  for (size_t i = 0; i < parts.size(); i++) {
    ThreadStats::Add(st->total_items);
    const BatchPut& stored = items[i];
    if (i > 0) json.push_back(',');
    std::string object;
    ObjectJson(keys[i], stored.value.size(), stored.version, stored.cookie, &object);
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
