// Round batching over the router's session (frontend/object_store.h): calls made while
// speculating change nothing and are sent once, together, by SendRound; the replay takes
// their replies in order; a call the speculative run did not make is made then, without
// spoiling the replies of the round still to be read. Through the memcached face: a
// multi-get is answered a part (a round) at a time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frontend/memcache_commands.h"
#include "memcache_face_server.h"
#include "router_fixture.h"

namespace bale {
namespace {

using namespace ::bale::testing;  // the fixture and its constants

class RoundBatchingTest : public RemoteObjectStoreTest {
 protected:
  // Runs `body` speculating; returns the numbers of the calls it recorded.
  template <class F>
  std::vector<uint32_t> Speculated(F body) {
    uint32_t first = session_->recorded();
    session_->Speculate(true);
    body();
    session_->Speculate(false);
    std::vector<uint32_t> calls;
    for (uint32_t i = first; i < session_->recorded(); i++) calls.push_back(i);
    return calls;
  }
  MutationResult Incr(const std::string& key) {
    Mutation m;
    m.kind = MutationKind::kIncr;
    m.key = key;
    m.delta = 1;
    return RouterMutate(m);
  }
  MutationResult Set(const std::string& key, const std::string& value) {
    Mutation m;
    m.key = key;
    m.value = value;
    return RouterMutate(m);
  }
};

TEST_F(RoundBatchingTest, SpeculatingChangesNothing) {
  ASSERT_TRUE(session_->batches_rounds());
  std::string key = KeyIn(0);
  ASSERT_EQ(Set(key, "before").status, MutationStatus::kOk);
  uint64_t calls = session_->speculated_calls();
  std::vector<uint32_t> recorded = Speculated([&] {
    EXPECT_EQ(Set(key, "after").status, MutationStatus::kUnavailable);
    EXPECT_TRUE(RouterValue(key).find("NotFound") != std::string::npos);
    MutationResult flushed;
    CallbackCompletion done([&](const MutationResult& r) { flushed = r; });
    router_->FlushAll(0, session_.get(), &done);
    EXPECT_EQ(flushed.status, MutationStatus::kUnavailable);
  });
  EXPECT_EQ(recorded.size(), 2u);                      // the set and the get
  EXPECT_EQ(session_->speculated_calls(), calls + 3);  // and the flush_all, not recorded
  session_->EndRound();                                // never sent
  ExpectOnlyOnOwner(key, "before");
  EXPECT_EQ(RouterValue(key), "before");
}

TEST_F(RoundBatchingTest, EachRecordedCallIsSentOnceAndRepliedInOrder) {
  std::string counter = KeyIn(1), value = KeyIn(2);
  ASSERT_EQ(Set(counter, "0").status, MutationStatus::kOk);
  // One connection's pipeline, then another's: incr, set, get, incr.
  std::vector<uint32_t> a = Speculated([&] {
    (void)Incr(counter);
    (void)Set(value, "v1");
    (void)RouterValue(value);
  });
  std::vector<uint32_t> b = Speculated([&] { (void)Incr(counter); });
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 1u);
  session_->SendRound();
  session_->Replay(a);
  EXPECT_EQ(Incr(counter).number, 1u);
  EXPECT_EQ(Set(value, "v1").status, MutationStatus::kOk);
  EXPECT_EQ(RouterValue(value), "v1");  // sent after the set on the same connection
  session_->Replay(b);
  EXPECT_EQ(Incr(counter).number, 2u);
  session_->EndRound();
  ExpectOnlyOnOwner(counter, "2");  // each incr was carried out once
}

TEST_F(RoundBatchingTest, CallsNotRecordedAreMadeWhenReplayedKeepingTheRoundsReplies) {
  std::string k1 = KeyIn(0), k2 = KeyIn(0, 1), other = KeyIn(3), counter = KeyIn(4);
  SetAll({k1, k2, other});
  ASSERT_EQ(Set(counter, "10").status, MutationStatus::kOk);
  std::vector<uint32_t> calls = Speculated([&] {
    (void)RouterValue(k1);
    (void)RouterValue(k2);
  });
  session_->SendRound();
  session_->Replay(calls);
  ObjectView v1;
  ASSERT_TRUE(router_->Get(session_.get(), k1, LookupOptions(), &v1).ok());
  // Not recorded: made now, on the same node's connection as k2's reply, still unread.
  EXPECT_EQ(Incr(counter).number, 11u);
  EXPECT_EQ(RouterValue(other), "v-" + other);
  EXPECT_EQ(std::string(v1.value), "v-" + k1);  // the round's replies stay readable
  EXPECT_EQ(RouterValue(k2), "v-" + k2);
  session_->EndRound();
  ExpectOnlyOnOwner(counter, "11");
}

TEST_F(RoundBatchingTest, AReplayThatCallsOtherwiseMakesItsOwnCalls) {
  std::string key = KeyIn(5);
  ASSERT_EQ(Set(key, "5").status, MutationStatus::kOk);
  std::vector<uint32_t> calls = Speculated([&] { (void)RouterValue(key); });
  session_->SendRound();
  session_->Replay(calls);
  // A different call than the one recorded (an incr, not a get): made now, once.
  EXPECT_EQ(Incr(key).number, 6u);
  session_->EndRound();
  ExpectOnlyOnOwner(key, "6");
}

TEST_F(RoundBatchingTest, AStoppedNodeFailsOnlyItsCalls) {
  std::string down = KeyIn(0), up = KeyIn(1);
  ASSERT_EQ(OwnerOf(down), 0u);
  ASSERT_NE(OwnerOf(up), 0u);
  SetAll({down, up});
  UseStoreTimeout(kTimeoutMs);
  nodes_[0]->Stop();
  std::vector<uint32_t> calls = Speculated([&] {
    (void)RouterValue(down);
    (void)RouterValue(up);
  });
  session_->SendRound();
  session_->Replay(calls);
  std::string answer = RouterValue(down);
  EXPECT_NE(answer.find("Unavailable"), std::string::npos) << answer;
  EXPECT_NE(answer.find(NodeId(0)), std::string::npos) << answer;
  EXPECT_EQ(RouterValue(up), "v-" + up);
  session_->EndRound();
}

// A multi-get of more keys than a part takes runs a part a round, each part's calls
// sent together: kMultiGetFirstPartKeys keys first, then as many as the values seen say
// fit (here kMultiGetPartKeys). A key of a stopped node in a part ends the reply with
// the error (the parts sent before stand), the keys after it go unanswered, and the
// connection goes on.
TEST_F(RoundBatchingTest, AMultiGetThroughTheFaceIsAnsweredAPartARound) {
  std::vector<std::string> up;  // on nodes 1 and 2
  for (int i = 0; up.size() < 2 * kMultiGetPartKeys + 10; i++) {
    std::string key = "up" + std::to_string(i);
    if (OwnerOf(key) != 0) up.push_back(key);
  }
  std::string down = KeyIn(0);
  ASSERT_EQ(OwnerOf(down), 0u);
  SetAll(up);
  SetAll({down});
  testing::MemcacheFaceServer server(router_.get());
  testing::TextClient c(server.port());
  auto value = [](const std::string& key) {
    return "VALUE " + key + " 0 " + std::to_string(key.size() + 2) + "\r\nv-" + key + "\r\n";
  };
  std::string get = "get", want;
  for (const std::string& key : up) {
    get += " " + key;
    want += value(key);
  }
  c.Send(get + " " + down + "\r\n");
  EXPECT_EQ(c.ReadThrough("END\r\n"), want + value(down) + "END\r\n");

  nodes_[0]->Stop();
  get = "get";
  want.clear();
  const size_t sent = kMultiGetFirstPartKeys + kMultiGetPartKeys;  // before the third part
  for (size_t i = 0; i < up.size(); i++) {
    if (i == sent + 1) get += " " + down;
    get += " " + up[i];
    if (i < sent) want += value(up[i]);
  }
  c.Send(get + "\r\nget " + up[0] + "\r\n");
  EXPECT_EQ(c.Read(want.size()), want);
  std::string error = c.Line();
  EXPECT_EQ(error.rfind("SERVER_ERROR ", 0), 0u) << error;
  EXPECT_NE(error.find(NodeId(0)), std::string::npos) << error;
  EXPECT_EQ(c.ReadThrough("END\r\n"), value(up[0]) + "END\r\n");  // the next request's
}

}  // namespace
}  // namespace bale
