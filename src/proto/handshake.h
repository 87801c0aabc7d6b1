// Handshake: the cluster handshake on an internal connection (issue #14), pure: its
// messages (HELLO frames, proto/internal_frame.h) and their MACs, no I/O. Both ends prove
// they hold the cluster's secret, over a fresh nonce from each side:
//
//   client -> server  HELLO, features kHelloAuth, body: the client's nonce (32 bytes)
//   server -> client  HELLO reply, features kHelloAuth, body: the server's nonce (32) then
//                     HMAC-SHA256(secret, "bale-server" || client nonce || server nonce)
//   client -> server  HELLO, features kHelloAuth | kHelloAuthProof, body:
//                     HMAC-SHA256(secret, "bale-client" || server nonce || client nonce)
//   server -> client  HELLO reply, features kHelloAuth | kHelloAuthProof, no body: accepted
//
// Request ids are 0, epochs 0, the header's reserved word stays 0, versions are 1..1.
//
// Contract:
// - The client checks the server's proof before it proves anything itself, and the
//   server checks the client's proof against the nonce it drew for this connection: a
//   proof recorded from another connection does not verify (replay). MACs are compared
//   in constant time (CRYPTO_memcmp).
// - Versioning: the kHelloAuth feature bit says a peer authenticates. A node without a
//   secret answers any HELLO with a plain one (features 0), which a client with a secret
//   refuses ("does not authenticate"); a server with a secret refuses a plain HELLO and
//   any frame other than the handshake's before it succeeds.
// - OnFrame answers kContinue (a reply was appended to *out), kDone (the handshake
//   succeeded; the server has appended its acceptance) or kFailed (nothing appended,
//   *why: static text for the log, never the secret).
// - The secret is borrowed: it must outlive the handshake.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "proto/internal_frame.h"

namespace bale::proto {

inline constexpr uint32_t kHelloAuth = 1;       // the HELLO carries the cluster handshake
inline constexpr uint32_t kHelloAuthProof = 2;  // its second step (client's proof, acceptance)
inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kMacSize = 32;
// The largest frame either end accepts during the handshake (its largest is 112 bytes).
inline constexpr uint64_t kMaxHandshakeFrame = 256;

using Nonce = std::array<uint8_t, kNonceSize>;
using Mac = std::array<uint8_t, kMacSize>;

// A fresh nonce from OpenSSL's RAND_bytes; IOError if it has no entropy.
[[nodiscard]] Status NewNonce(Nonce* nonce);
// HMAC-SHA256(secret, "bale-server" || client || server), and the client's counterpart.
Mac ServerProof(std::string_view secret, const Nonce& client, const Nonce& server);
Mac ClientProof(std::string_view secret, const Nonce& server, const Nonce& client);
// Constant time.
bool MacEqual(const Mac& a, const Mac& b);

enum class HandshakeResult : uint8_t { kContinue, kDone, kFailed };

class ServerHandshake {
 public:
  // `nonce`: this connection's, fresh (NewNonce).
  ServerHandshake(std::string_view secret, const Nonce& nonce) : secret_(secret), nonce_(nonce) {}
  // One frame from the client (see the contract).
  HandshakeResult OnFrame(const Frame& f, std::string* out, std::string_view* why);

 private:
  std::string_view secret_;
  Nonce nonce_;
  Nonce client_nonce_{};
  bool challenged_ = false;
};

class ClientHandshake {
 public:
  ClientHandshake(std::string_view secret, const Nonce& nonce) : secret_(secret), nonce_(nonce) {}
  // The first HELLO.
  void Start(std::string* out) const;
  // One frame from the server (see the contract).
  HandshakeResult OnFrame(const Frame& f, std::string* out, std::string_view* why);

 private:
  std::string_view secret_;
  Nonce nonce_;
  bool proved_ = false;
};

}  // namespace bale::proto
