// StatusHttpService: a small HTTP/1.1 face for roles that serve no objects (the
// directory): GET of a few fixed paths, each answered by a callback, keep-alive, and
// nothing else (405 for other methods, 404 for other paths, 400 on bad requests, then
// close). The callback runs on a loop thread: it must be thread-safe and quick.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/service.h"

namespace bale {

struct StatusPage {
  int status = 200;  // 404: no such page
  std::string content_type = "application/json";
  std::string body;
};

class StatusHttpService final : public net::Service {
 public:
  using Pages = std::function<StatusPage(std::string_view path)>;
  explicit StatusHttpService(Pages pages) : pages_(std::move(pages)) {}
  std::unique_ptr<net::Handler> NewHandler(net::Loop& loop, net::Conn& conn) override;

 private:
  Pages pages_;
};

}  // namespace bale
