#include "loadgen/load_config.h"

#include <gtest/gtest.h>

#include <string>

namespace bale::loadgen {
namespace {

// Every input in `bad` is refused by `parse` as an invalid argument.
template <class T>
void ExpectRefused(Status (*parse)(std::string_view, T*), std::initializer_list<const char*> bad) {
  T out{};
  for (const char* input : bad) EXPECT_TRUE(parse(input, &out).IsInvalidArgument()) << input;
}

TEST(LoadgenConfig, DefaultsParse) {
  LoadConfig c;
  ASSERT_TRUE(ParseLoadFlags(LoadFlags(), &c).ok());
  ASSERT_EQ(c.servers.size(), 1u);
  EXPECT_EQ(c.servers[0].ToString(), "127.0.0.1:11211");
  EXPECT_EQ(c.protocol, Protocol::kText);
  EXPECT_EQ(c.duration_s, 10);
  EXPECT_EQ(MixName(c.mix), "get:90,set:10");
}

TEST(LoadgenConfig, Servers) {
  std::vector<ServerAddress> s;
  ASSERT_TRUE(ParseServers("a:1,[::1]:2,localhost:11211", &s).ok());
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[1].host, "[::1]");
  EXPECT_EQ(s[2].port, 11211);
  ExpectRefused(ParseServers, {"", "a", "a:", ":1", "a:0", "a:x", "a:70000", "a:1,", "a:1,,b:2"});
}

TEST(LoadgenConfig, Protocols) {
  Protocol p = Protocol::kText;
  for (Protocol want :
       {Protocol::kText, Protocol::kMeta, Protocol::kBinary, Protocol::kHttp, Protocol::kRedis}) {
    ASSERT_TRUE(ParseProtocol(ProtocolName(want), &p).ok()) << ProtocolName(want);
    EXPECT_EQ(p, want);
  }
  EXPECT_EQ(ProtocolName(Protocol::kRedis), "redis");
  ExpectRefused(ParseProtocol, {"", "Redis", "resp", "text "});
}

TEST(LoadgenConfig, Durations) {
  double s = 0;
  const std::pair<const char*, double> good[] = {
      {"10s", 10}, {"1.5s", 1.5}, {"500ms", 0.5}, {"2m", 120}, {"1h", 3600}, {"3", 3}, {"0s", 0}};
  for (const auto& [text, want] : good) {
    ASSERT_TRUE(ParseDuration(text, &s).ok()) << text;
    EXPECT_DOUBLE_EQ(s, want) << text;
  }
  ExpectRefused(ParseDuration, {"", "s", "x", "-1s", "10x", "1e400s", "nan"});
}

TEST(LoadgenConfig, ValueSizes) {
  ValueSizeDist d;
  ASSERT_TRUE(ParseValueSize("4k", &d).ok());
  EXPECT_EQ(d.min, 4096u);
  EXPECT_EQ(d.max, 4096u);
  ASSERT_TRUE(ParseValueSize("uniform:16-1m", &d).ok());
  EXPECT_EQ(d.min, 16u);
  EXPECT_EQ(d.max, 1u << 20);
  EXPECT_EQ(ValueSizeName(d), "uniform:16-1048576");
  ExpectRefused(ParseValueSize, {"", "8", "15", "x", "65m", "uniform:100-50", "uniform:100",
                                 "uniform:-100", "normal:1-2", "uniform:8-100"});
}

TEST(LoadgenConfig, Mix) {
  OpMix m;
  ASSERT_TRUE(ParseMix("get:90,set:10", &m).ok());
  EXPECT_EQ(m.get, 90u);
  EXPECT_EQ(m.set, 10u);
  ASSERT_TRUE(ParseMix("set:1", &m).ok());
  EXPECT_EQ(m.get, 0u);
  Rng rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(m.Next(rng), Op::kSet);
  ExpectRefused(ParseMix,
                {"", "get", "get:", "get:x", "get:0,set:0", "del:5", "get:-1", "get:90;set:10"});
}

TEST(LoadgenConfig, KeyDist) {
  KeyDist d;
  ASSERT_TRUE(ParseKeyDist("zipf", &d).ok());
  EXPECT_EQ(d.kind, KeyDist::Kind::kZipf);
  EXPECT_DOUBLE_EQ(d.exponent, 0.99);
  ASSERT_TRUE(ParseKeyDist("zipf:1.2", &d).ok());
  EXPECT_DOUBLE_EQ(d.exponent, 1.2);
  EXPECT_EQ(KeyDistName(d), "zipf:1.2");
  ASSERT_TRUE(ParseKeyDist("uniform", &d).ok());
  EXPECT_EQ(d.kind, KeyDist::Kind::kUniform);
  ExpectRefused(ParseKeyDist, {"", "zipf:", "zipf:0", "zipf:-1", "zipf:x", "normal", "Uniform"});
}

TEST(LoadgenConfig, FlagsThatDoNotFitTogetherAreRefusedByName) {
  const auto refused = [](LoadFlags f, std::string_view flag) {
    LoadConfig c;
    const Status s = ParseLoadFlags(f, &c);
    EXPECT_TRUE(s.IsInvalidArgument());
    EXPECT_NE(s.message().find(flag), std::string_view::npos) << s.message();
  };
  LoadFlags f;
  f.threads = 5;
  refused(f, "--threads");
  f = LoadFlags();
  f.connections = 0;
  refused(f, "--connections");
  f = LoadFlags();
  f.pipeline = 0;
  refused(f, "--pipeline");
  f = LoadFlags();
  f.duration = "0s";
  refused(f, "--duration");
  f = LoadFlags();
  f.timeout = "0";
  refused(f, "--timeout");
  f = LoadFlags();
  f.rate = -1;
  refused(f, "--rate");
  f = LoadFlags();
  f.keys = 0;
  refused(f, "--keys");
  f = LoadFlags();
  f.key_prefix = "a b";
  refused(f, "--key-prefix");
  f.key_prefix = std::string(240, 'k');
  refused(f, "--key-prefix");
  f = LoadFlags();
  f.protocol = "gopher";
  refused(f, "--protocol");
  f = LoadFlags();
  f.mix = "put:1";
  refused(f, "--mix");
}

}  // namespace
}  // namespace bale::loadgen
