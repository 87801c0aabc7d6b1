// TlsContext, TlsSession: TLS over a non-blocking socket (OpenSSL), for the cluster's
// internal links (issue #14): a store's internal listener (server side, net::Listener's
// `tls`) and a router's or admin's connections to stores (client side,
// router/store_client.h).
//
// Contract:
// - A TlsContext is made once from PEM files and shared (read-only) by every session of
//   its side, on any thread. TLS 1.2 at least (1.3 preferred), no renegotiation, no
//   session tickets.
// - Server side: the certificate and its key are required; with a CA the peer must
//   present a certificate that CA signed (the handshake fails otherwise). Client side:
//   the CA is required and the server's certificate must chain to it (any certificate
//   the CA signed is a cluster member: no host name is checked, so use a CA of the
//   cluster's own); a certificate and key, when given, are presented to servers that
//   ask for one.
// - A TlsSession wraps one connected socket (borrowed: it neither closes nor shuts it
//   down). Every call is non-blocking and reports kWantRead / kWantWrite when the
//   socket must become readable / writable first; a Write that said so must be retried
//   with the same bytes (they may have moved) and at least as many of them.
// - Errors: kFailed with why() (OpenSSL's reason, e.g. "certificate verify failed");
//   kClosed when the peer ended the stream (close_notify or a bare end of file).
// - Sessions and contexts are used by one thread at a time; OpenSSL's error queue is
//   cleared before each call.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace bale::net {

// PEM files. Empty: not given.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
  bool any() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

class TlsContext {
 public:
  enum class Side { kServer, kClient };
  // Loads the files (checking that the key matches the certificate); InvalidArgument
  // naming the file and OpenSSL's reason when one cannot be used.
  [[nodiscard]] static Status Create(Side side, const TlsFiles& files,
                                     std::shared_ptr<const TlsContext>* out);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Side side() const { return side_; }
  bool verifies_peer() const { return verify_peer_; }

 private:
  friend class TlsSession;
  TlsContext(Side side, SSL_CTX* ctx) : side_(side), ctx_(ctx) {}
  Side side_;
  SSL_CTX* ctx_;
  bool verify_peer_ = false;
};

class TlsSession {
 public:
  enum class Io { kDone, kWantRead, kWantWrite, kClosed, kFailed };
  // A session on the connected socket fd; null (with *why) if OpenSSL refuses.
  static std::unique_ptr<TlsSession> New(std::shared_ptr<const TlsContext> ctx, int fd,
                                         std::string* why);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Drives the handshake: kDone once it finished (and then at every call).
  Io Handshake();
  bool handshake_done() const { return done_; }
  // Reads up to cap bytes into buf: kDone with *n > 0, or why it could not.
  Io Read(char* buf, size_t cap, size_t* n);
  // Writes up to len bytes: kDone with *n > 0 written (maybe fewer than len).
  Io Write(const char* buf, size_t len, size_t* n);
  // Decrypted bytes (or a whole record) waiting inside OpenSSL: Read has more to give
  // though the socket may not be readable.
  bool HasPending() const;
  // Sends close_notify, once, without waiting for the peer's.
  void Shutdown();
  const std::string& why() const { return why_; }

 private:
  TlsSession(std::shared_ptr<const TlsContext> ctx, SSL* ssl) : ctx_(std::move(ctx)), ssl_(ssl) {}
  Io Result(int r);  // an OpenSSL call's return value as an Io (sets why_)

  std::shared_ptr<const TlsContext> ctx_;
  SSL* ssl_;
  bool done_ = false;
  bool shut_ = false;
  std::string why_;
};

}  // namespace bale::net
