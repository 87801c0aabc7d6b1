#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

#include <csignal>
#include <mutex>
#include <utility>

namespace bale::net {
namespace {

// OpenSSL's reason for the last error on this thread ("certificate verify failed"),
// or `fallback` when the queue is empty.
std::string LastError(const char* fallback) {
  unsigned long e = ERR_peek_last_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  std::string why = reason != nullptr ? reason : fallback;
  ERR_clear_error();
  return why;
}

Status Refused(const std::string& flag, const std::string& path, const char* what) {
  return Status::InvalidArgument(flag + " " + path + ": " + what + " (" + LastError("unreadable") +
                                 ")");
}

// Settings both sides share; then the files.
Status Configure(SSL_CTX* ctx, TlsContext::Side side, const TlsFiles& f) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read(2) for as many records as have arrived (up to 64 KiB), not two per record
  // (header, body): what it read beyond the caller's buffer is HasPending.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 64 << 10);
  if (!f.cert.empty() && SSL_CTX_use_certificate_chain_file(ctx, f.cert.c_str()) != 1) {
    return Refused("--tls-cert", f.cert, "not a PEM certificate");
  }
  if (!f.key.empty() && SSL_CTX_use_PrivateKey_file(ctx, f.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    return Refused("--tls-key", f.key,
                   mismatch ? "does not match --tls-cert" : "not a PEM private key");
  }
  if (!f.cert.empty() && SSL_CTX_check_private_key(ctx) != 1) {
    return Refused("--tls-key", f.key, "does not match --tls-cert");
  }
  if (f.ca.empty()) return Status::OK();
  if (SSL_CTX_load_verify_locations(ctx, f.ca.c_str(), nullptr) != 1) {
    return Refused("--tls-ca", f.ca, "not a PEM certificate");
  }
  int mode = SSL_VERIFY_PEER;
  if (side == TlsContext::Side::kServer) {
    mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(f.ca.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
  }
  SSL_CTX_set_verify(ctx, mode, nullptr);
  return Status::OK();
}

}  // namespace

Status TlsContext::Create(Side side, const TlsFiles& files,
                          std::shared_ptr<const TlsContext>* out) {
  if (files.cert.empty() != files.key.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together: give both or neither");
  }
  if (side == Side::kServer && files.cert.empty()) {
    return Status::InvalidArgument("a TLS listener needs --tls-cert and --tls-key");
  }
  if (side == Side::kClient && files.ca.empty()) {
    return Status::InvalidArgument(
        "TLS to the stores needs --tls-ca, the CA their certificates are checked against");
  }
  // OpenSSL's socket writes are write(2), which raises SIGPIPE on a closed peer.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(side == Side::kServer ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) return Status::IOError("SSL_CTX_new: " + LastError("out of memory"));
  std::shared_ptr<TlsContext> c(new TlsContext(side, ctx));
  BALE_RETURN_IF_ERROR(Configure(ctx, side, files));
  c->verify_peer_ = !files.ca.empty();
  *out = std::move(c);
  return Status::OK();
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsSession> TlsSession::New(std::shared_ptr<const TlsContext> ctx, int fd,
                                            std::string* why) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx->ctx_);
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
    *why = "SSL_new: " + LastError("out of memory");
    SSL_free(ssl);
    return nullptr;
  }
  if (ctx->side() == TlsContext::Side::kServer) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return std::unique_ptr<TlsSession>(new TlsSession(std::move(ctx), ssl));
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TlsSession::Io TlsSession::Result(int r) {
  int e = SSL_get_error(ssl_, r);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return Io::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Io::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      why_ = "the peer closed the TLS stream";
      return Io::kClosed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {  // a bare end of file or a reset
        why_ = done_ ? "the peer closed the connection" : "the peer closed during the handshake";
        ERR_clear_error();
        return done_ ? Io::kClosed : Io::kFailed;
      }
      break;
    default:
      break;
  }
  why_ = LastError("TLS error");
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) why_ += std::string(": ") + X509_verify_cert_error_string(verify);
  return Io::kFailed;
}

TlsSession::Io TlsSession::Handshake() {
  if (done_) return Io::kDone;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    done_ = true;
    return Io::kDone;
  }
  return Result(r);
}

TlsSession::Io TlsSession::Read(char* buf, size_t cap, size_t* n) {
  *n = 0;
  ERR_clear_error();
  int r = SSL_read_ex(ssl_, buf, cap, n);
  if (r == 1) {
    done_ = true;
    return Io::kDone;
  }
  return Result(r);
}

TlsSession::Io TlsSession::Write(const char* buf, size_t len, size_t* n) {
  *n = 0;
  ERR_clear_error();
  int r = SSL_write_ex(ssl_, buf, len, n);
  if (r == 1) {
    done_ = true;
    return Io::kDone;
  }
  return Result(r);
}

bool TlsSession::HasPending() const { return SSL_has_pending(ssl_) == 1; }

void TlsSession::Shutdown() {
  if (shut_ || !done_) return;
  shut_ = true;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace bale::net
