// Tests for the cluster handshake's messages (no I/O): a full exchange with the right
// secret, the MACs against a known HMAC-SHA256 vector, a wrong secret on either side,
// a replayed client proof, a plain HELLO, other frames, truncated and garbage HELLOs.
#include "proto/handshake.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace bale::proto {
namespace {

Frame DecodeOne(std::string_view bytes) {
  Frame f;
  FrameLimits limits{kMaxHandshakeFrame};
  DecodeResult r = DecodeFrame(bytes, limits, &f);
  EXPECT_EQ(r.status, DecodeStatus::kFrame) << r.message;
  EXPECT_EQ(f.size, bytes.size());
  return f;
}

Nonce Filled(uint8_t b) {
  Nonce n;
  n.fill(b);
  return n;
}

// The client's first HELLO, the server's challenge, the client's proof, the acceptance.
struct Exchange {
  std::string hello, challenge, proof, accepted;
  HandshakeResult server_end = HandshakeResult::kFailed;
  HandshakeResult client_end = HandshakeResult::kFailed;
  std::string_view why;
};

Exchange Exchanged(std::string_view client_secret, std::string_view server_secret, const Nonce& cn,
                   const Nonce& sn) {
  Exchange e;
  ClientHandshake client(client_secret, cn);
  ServerHandshake server(server_secret, sn);
  client.Start(&e.hello);
  if (server.OnFrame(DecodeOne(e.hello), &e.challenge, &e.why) != HandshakeResult::kContinue) {
    return e;
  }
  if (client.OnFrame(DecodeOne(e.challenge), &e.proof, &e.why) != HandshakeResult::kContinue) {
    return e;
  }
  e.server_end = server.OnFrame(DecodeOne(e.proof), &e.accepted, &e.why);
  if (e.server_end != HandshakeResult::kDone) return e;
  std::string none;
  e.client_end = client.OnFrame(DecodeOne(e.accepted), &none, &e.why);
  EXPECT_TRUE(none.empty());
  return e;
}

TEST(HandshakeTest, RightSecretCompletes) {
  Nonce cn, sn;
  ASSERT_TRUE(NewNonce(&cn).ok());
  ASSERT_TRUE(NewNonce(&sn).ok());
  EXPECT_NE(cn, sn);
  Exchange e = Exchanged("s3cret", "s3cret", cn, sn);
  EXPECT_EQ(e.server_end, HandshakeResult::kDone) << e.why;
  EXPECT_EQ(e.client_end, HandshakeResult::kDone) << e.why;
  // Every step is a HELLO of version 1, id 0, with the auth feature bits.
  Frame hello = DecodeOne(e.hello), challenge = DecodeOne(e.challenge);
  Frame proof = DecodeOne(e.proof), accepted = DecodeOne(e.accepted);
  Hello h;
  ASSERT_TRUE(DecodeHello(hello, &h));
  EXPECT_EQ(h.features, kHelloAuth);
  EXPECT_EQ(hello.body.size(), kNonceSize);
  EXPECT_FALSE(hello.header.reply());
  ASSERT_TRUE(DecodeHello(challenge, &h));
  EXPECT_TRUE(challenge.header.reply());
  EXPECT_EQ(challenge.body.size(), kNonceSize + kMacSize);
  ASSERT_TRUE(DecodeHello(proof, &h));
  EXPECT_EQ(h.features, kHelloAuth | kHelloAuthProof);
  EXPECT_EQ(proof.body.size(), kMacSize);
  ASSERT_TRUE(DecodeHello(accepted, &h));
  EXPECT_EQ(h.features, kHelloAuth | kHelloAuthProof);
  EXPECT_TRUE(accepted.body.empty());
  // The proofs on the wire are the documented MACs.
  Mac server_mac, client_mac;
  std::memcpy(server_mac.data(), challenge.body.data() + kNonceSize, kMacSize);
  std::memcpy(client_mac.data(), proof.body.data(), kMacSize);
  EXPECT_TRUE(MacEqual(server_mac, ServerProof("s3cret", cn, sn)));
  EXPECT_TRUE(MacEqual(client_mac, ClientProof("s3cret", sn, cn)));
}

TEST(HandshakeTest, MacsAreHmacSha256OfLabelAndNonces) {
  // HMAC-SHA256("key", "bale-server" || 32 x 0x01 || 32 x 0x02), computed with
  // python3: hmac.new(b"key", b"bale-server" + b"\1"*32 + b"\2"*32, "sha256").
  Mac m = ServerProof("key", Filled(1), Filled(2));
  std::string hex;
  for (uint8_t b : m) {
    char buf[3];
    std::snprintf(buf, sizeof(buf), "%02x", b);
    hex += buf;
  }
  EXPECT_EQ(hex, "e2ef4bf67853abfaee88b7cdbfaa1873e7e0e39de091b9e00de1ba2d4b827cd6");
  // The two directions differ (labels), and each depends on the secret and both nonces.
  EXPECT_FALSE(
      MacEqual(ServerProof("key", Filled(1), Filled(2)), ClientProof("key", Filled(1), Filled(2))));
  EXPECT_FALSE(MacEqual(m, ServerProof("key2", Filled(1), Filled(2))));
  EXPECT_FALSE(MacEqual(m, ServerProof("key", Filled(1), Filled(3))));
  EXPECT_FALSE(MacEqual(m, ServerProof("key", Filled(3), Filled(2))));
  EXPECT_TRUE(MacEqual(m, ServerProof("key", Filled(1), Filled(2))));
}

TEST(HandshakeTest, ClientRefusesServerWithAnotherSecret) {
  Exchange e = Exchanged("right", "wrong", Filled(1), Filled(2));
  EXPECT_TRUE(e.proof.empty());  // the client proves nothing to a server that did not
  EXPECT_NE(e.why.find("does not verify"), std::string_view::npos) << e.why;
}

TEST(HandshakeTest, ServerRefusesClientProofOfAnotherSecret) {
  // A client that skips the check of the server's proof (a forger) and proves "wrong".
  ServerHandshake server("right", Filled(2));
  std::string hello, challenge, accepted;
  ClientHandshake("wrong", Filled(1)).Start(&hello);
  std::string_view why;
  ASSERT_EQ(server.OnFrame(DecodeOne(hello), &challenge, &why), HandshakeResult::kContinue);
  Mac forged = ClientProof("wrong", Filled(2), Filled(1));
  std::string proof;
  AppendHello(&proof, 0, Hello{1, 1, kHelloAuth | kHelloAuthProof}, false,
              std::string_view(reinterpret_cast<const char*>(forged.data()), forged.size()));
  EXPECT_EQ(server.OnFrame(DecodeOne(proof), &accepted, &why), HandshakeResult::kFailed);
  EXPECT_TRUE(accepted.empty());
  EXPECT_NE(why.find("does not verify"), std::string_view::npos) << why;
}

TEST(HandshakeTest, ReplayedProofFailsOnAFreshServerNonce) {
  Exchange recorded = Exchanged("s", "s", Filled(1), Filled(2));
  ASSERT_EQ(recorded.server_end, HandshakeResult::kDone);
  // The attacker replays the recorded HELLO and proof on a new connection: the server's
  // nonce is fresh, so the recorded proof does not verify.
  ServerHandshake server("s", Filled(9));
  std::string challenge, accepted;
  std::string_view why;
  ASSERT_EQ(server.OnFrame(DecodeOne(recorded.hello), &challenge, &why),
            HandshakeResult::kContinue);
  EXPECT_EQ(server.OnFrame(DecodeOne(recorded.proof), &accepted, &why), HandshakeResult::kFailed);
  EXPECT_TRUE(accepted.empty());
  // Nor does a proof sent in place of the first HELLO.
  ServerHandshake again("s", Filled(10));
  EXPECT_EQ(again.OnFrame(DecodeOne(recorded.proof), &challenge, &why), HandshakeResult::kFailed);
}

TEST(HandshakeTest, ServerRefusesPlainHelloAndOtherFrames) {
  std::string_view why;
  std::string out, plain, stats, reply;
  AppendHello(&plain, 0, Hello{}, false);
  EXPECT_EQ(ServerHandshake("s", Filled(2)).OnFrame(DecodeOne(plain), &out, &why),
            HandshakeResult::kFailed);
  EXPECT_NE(why.find("without the cluster handshake"), std::string_view::npos) << why;
  AppendStats(&stats, 1, 0);
  EXPECT_EQ(ServerHandshake("s", Filled(2)).OnFrame(DecodeOne(stats), &out, &why),
            HandshakeResult::kFailed);
  EXPECT_NE(why.find("before the cluster handshake"), std::string_view::npos) << why;
  // A reply sent to the server, and a HELLO of another version only.
  AppendHello(&reply, 0, Hello{1, 1, kHelloAuth}, true, std::string(kNonceSize, 'n'));
  EXPECT_EQ(ServerHandshake("s", Filled(2)).OnFrame(DecodeOne(reply), &out, &why),
            HandshakeResult::kFailed);
  std::string v2;
  AppendHello(&v2, 0, Hello{2, 3, kHelloAuth}, false, std::string(kNonceSize, 'n'));
  EXPECT_EQ(ServerHandshake("s", Filled(2)).OnFrame(DecodeOne(v2), &out, &why),
            HandshakeResult::kFailed);
  EXPECT_TRUE(out.empty());
}

TEST(HandshakeTest, TruncatedAndGarbageHellos) {
  std::string_view why;
  std::string out;
  for (size_t n : {size_t{0}, size_t{1}, kNonceSize - 1, kNonceSize + 1, size_t{100}}) {
    std::string hello;
    AppendHello(&hello, 0, Hello{1, 1, kHelloAuth}, false, std::string(n, 'x'));
    EXPECT_EQ(ServerHandshake("s", Filled(2)).OnFrame(DecodeOne(hello), &out, &why),
              HandshakeResult::kFailed)
        << n;
  }
  // Unknown feature bits, and a proof bit on the first HELLO.
  for (uint32_t features : {kHelloAuth | 4u, kHelloAuth | kHelloAuthProof}) {
    std::string hello;
    AppendHello(&hello, 0, Hello{1, 1, features}, false, std::string(kNonceSize, 'x'));
    EXPECT_EQ(ServerHandshake("s", Filled(2)).OnFrame(DecodeOne(hello), &out, &why),
              HandshakeResult::kFailed);
  }
  EXPECT_TRUE(out.empty());
  // A proof of the wrong length after a good HELLO.
  ServerHandshake server("s", Filled(2));
  std::string hello, proof;
  ClientHandshake("s", Filled(1)).Start(&hello);
  ASSERT_EQ(server.OnFrame(DecodeOne(hello), &out, &why), HandshakeResult::kContinue);
  AppendHello(&proof, 0, Hello{1, 1, kHelloAuth | kHelloAuthProof}, false, std::string(31, 'p'));
  std::string after;
  EXPECT_EQ(server.OnFrame(DecodeOne(proof), &after, &why), HandshakeResult::kFailed);
  EXPECT_TRUE(after.empty());
  // Garbage bytes are no frame at all: the decoder refuses them (the service then fails
  // the connection), and a large announced length is refused from the header alone.
  Frame f;
  EXPECT_EQ(DecodeFrame("GET / HTTP/1.1\r\n\r\n", FrameLimits{kMaxHandshakeFrame}, &f).status,
            DecodeStatus::kBad);
  std::string big;
  AppendHello(&big, 0, Hello{1, 1, kHelloAuth}, false, std::string(kMaxHandshakeFrame, 'x'));
  EXPECT_EQ(DecodeFrame(big, FrameLimits{kMaxHandshakeFrame}, &f).status, DecodeStatus::kBad);
}

TEST(HandshakeTest, ClientRefusesServerThatDoesNotAuthenticate) {
  ClientHandshake client("s", Filled(1));
  std::string plain, out;
  AppendHello(&plain, 0, Hello{}, true);  // what a node without a secret answers
  std::string_view why;
  EXPECT_EQ(client.OnFrame(DecodeOne(plain), &out, &why), HandshakeResult::kFailed);
  EXPECT_NE(why.find("does not authenticate"), std::string_view::npos) << why;
  std::string error;
  AppendError(&error, 0, 0, WireStatus::kBadFrame, "no");
  EXPECT_EQ(ClientHandshake("s", Filled(1)).OnFrame(DecodeOne(error), &out, &why),
            HandshakeResult::kFailed);
  // A challenge cut short.
  std::string shortc;
  AppendHello(&shortc, 0, Hello{1, 1, kHelloAuth}, true, std::string(40, 'c'));
  EXPECT_EQ(ClientHandshake("s", Filled(1)).OnFrame(DecodeOne(shortc), &out, &why),
            HandshakeResult::kFailed);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace bale::proto
