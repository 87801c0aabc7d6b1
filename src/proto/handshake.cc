#include "proto/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

namespace bale::proto {
namespace {

constexpr std::string_view kServerLabel = "bale-server";
constexpr std::string_view kClientLabel = "bale-client";
constexpr uint32_t kProofStep = kHelloAuth | kHelloAuthProof;

// Nonce and Mac are the same type: 32 bytes.
std::string_view Bytes(const Nonce& n) {
  return std::string_view(reinterpret_cast<const char*>(n.data()), n.size());
}

Mac Proof(std::string_view secret, std::string_view label, const Nonce& a, const Nonce& b) {
  std::string message(label);
  message.append(Bytes(a));
  message.append(Bytes(b));
  Mac mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &len);
  return mac;
}

template <size_t N>
void Copy(std::string_view from, std::array<uint8_t, N>* to) {
  std::memcpy(to->data(), from.data(), N);
}

// A HELLO of version 1 going the given way, its Hello in *h.
bool HelloV1(const Frame& f, bool reply, Hello* h) {
  return f.header.op == FrameOp::kHello && f.header.reply() == reply &&
         f.header.status == WireStatus::kOk && DecodeHello(f, h) &&
         h->min_version <= kFrameVersion && h->max_version >= kFrameVersion;
}

HandshakeResult Failed(std::string_view* why, std::string_view text) {
  *why = text;
  return HandshakeResult::kFailed;
}

}  // namespace

Status NewNonce(Nonce* nonce) {
  if (RAND_bytes(nonce->data(), static_cast<int>(nonce->size())) != 1) {
    return Status::IOError("RAND_bytes could not draw a nonce");
  }
  return Status::OK();
}

Mac ServerProof(std::string_view secret, const Nonce& client, const Nonce& server) {
  return Proof(secret, kServerLabel, client, server);
}

Mac ClientProof(std::string_view secret, const Nonce& server, const Nonce& client) {
  return Proof(secret, kClientLabel, server, client);
}

bool MacEqual(const Mac& a, const Mac& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

HandshakeResult ServerHandshake::OnFrame(const Frame& f, std::string* out, std::string_view* why) {
  if (f.header.op != FrameOp::kHello) return Failed(why, "a frame before the cluster handshake");
  Hello h;
  if (!HelloV1(f, /*reply=*/false, &h)) return Failed(why, "a malformed HELLO");
  if (!challenged_) {
    if ((h.features & kHelloAuth) == 0) {
      return Failed(why, "a HELLO without the cluster handshake (no secret on the peer?)");
    }
    if (h.features != kHelloAuth || f.body.size() != kNonceSize) {
      return Failed(why, "a malformed handshake HELLO");
    }
    Copy(f.body, &client_nonce_);
    challenged_ = true;
    Mac proof = ServerProof(secret_, client_nonce_, nonce_);
    std::string body(Bytes(nonce_));
    body.append(Bytes(proof));
    AppendHello(out, 0, Hello{kFrameVersion, kFrameVersion, kHelloAuth}, /*reply=*/true, body);
    return HandshakeResult::kContinue;
  }
  if (h.features != kProofStep || f.body.size() != kMacSize) {
    return Failed(why, "a malformed handshake proof");
  }
  Mac proof;
  Copy(f.body, &proof);
  if (!MacEqual(proof, ClientProof(secret_, nonce_, client_nonce_))) {
    return Failed(why, "the peer's proof does not verify (another secret, or a replay)");
  }
  AppendHello(out, 0, Hello{kFrameVersion, kFrameVersion, kProofStep}, /*reply=*/true);
  return HandshakeResult::kDone;
}

void ClientHandshake::Start(std::string* out) const {
  AppendHello(out, 0, Hello{kFrameVersion, kFrameVersion, kHelloAuth}, /*reply=*/false,
              Bytes(nonce_));
}

HandshakeResult ClientHandshake::OnFrame(const Frame& f, std::string* out, std::string_view* why) {
  if (f.header.op == FrameOp::kError || f.header.status != WireStatus::kOk) {
    return Failed(why, "it answered the handshake with an error");
  }
  Hello h;
  if (!HelloV1(f, /*reply=*/true, &h)) return Failed(why, "a malformed handshake reply");
  if ((h.features & kHelloAuth) == 0) {
    return Failed(why, "it does not authenticate (started without a cluster secret?)");
  }
  if (!proved_) {
    if (h.features != kHelloAuth || f.body.size() != kNonceSize + kMacSize) {
      return Failed(why, "a malformed handshake reply");
    }
    Nonce server;
    Mac proof;
    Copy(f.body.substr(0, kNonceSize), &server);
    Copy(f.body.substr(kNonceSize), &proof);
    if (!MacEqual(proof, ServerProof(secret_, nonce_, server))) {
      return Failed(why, "its proof does not verify (another cluster secret?)");
    }
    proved_ = true;
    Mac mine = ClientProof(secret_, server, nonce_);
    AppendHello(out, 0, Hello{kFrameVersion, kFrameVersion, kProofStep}, /*reply=*/false,
                Bytes(mine));
    return HandshakeResult::kContinue;
  }
  if (h.features != kProofStep || !f.body.empty()) {
    return Failed(why, "a malformed handshake acceptance");
  }
  return HandshakeResult::kDone;
}

}  // namespace bale::proto
