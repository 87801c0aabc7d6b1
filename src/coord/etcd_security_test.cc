// EtcdClient against a real etcd with TLS and with authentication (issue #14): an etcd
// whose client URL is https:// and asks for client certificates (certificates made by
// scripts/make_certs, the openssl CLI), and an etcd with user/password authentication
// turned on by etcdctl. The right credentials connect and work (KV, a watch); another
// CA, no client certificate or a wrong password fail with a clear error; a token etcd
// forgot (it restarted) is replaced without the caller seeing an error.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coord/etcd_client.h"
#include "coord/etcd_watch.h"
#include "etcd_server.h"
#include "test_certs.h"
#include "test_util.h"

namespace bale::coord {
namespace {

using namespace std::chrono_literals;

constexpr char kPassword[] = "a root password";

Status ConnectWith(const EtcdOptions& options, std::unique_ptr<EtcdClient>* client) {
  return EtcdClient::Connect(options, client);
}

// Round trips a key and sees a watch deliver a change.
void ExpectWorks(EtcdClient* client) {
  ASSERT_TRUE(client->Put("/sec/k", "v1").ok());
  std::string value;
  int64_t rev = 0, header = 0;
  ASSERT_TRUE(client->Get("/sec/k", &value, &rev, &header).ok());
  EXPECT_EQ(value, "v1");
  std::unique_ptr<EtcdWatch> watch;
  Status s = client->Watch("/sec/k", false, header + 1, &watch);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(client->Put("/sec/k", "v2").ok());
  std::vector<WatchEvent> events;
  int64_t revision = 0;
  for (int i = 0; i < 10 && events.empty() && s.ok(); i++) s = watch->Next(1s, &events, &revision);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().value, "v2");
}

class EtcdTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new testing::TempDir();
    std::string log;
    ASSERT_TRUE(testing::MakeCerts(tmp_->Sub("ca"), {"etcd", "client"}, &log)) << log;
    ASSERT_TRUE(testing::MakeCerts(tmp_->Sub("other"), {"client"}, &log)) << log;
    testing::CertFiles server = testing::CertsOf(tmp_->Sub("ca"), "etcd");
    etcd_ = new testing::EtcdServer({server.cert, server.key, server.ca});
  }
  static void TearDownTestSuite() {
    delete etcd_;
    delete tmp_;
  }
  void SetUp() override { ASSERT_TRUE(etcd_->ok()) << etcd_->error(); }

  // Options with `name`'s certificate from CA directory `dir`, trusting `ca_dir`'s CA.
  static EtcdOptions Options(const std::string& dir, const std::string& name,
                             const std::string& ca_dir) {
    EtcdOptions o;
    o.endpoints = etcd_->endpoint();
    if (!name.empty()) {
      o.cert_file = tmp_->Sub(dir) + "/" + name + ".pem";
      o.key_file = tmp_->Sub(dir) + "/" + name + ".key";
    }
    o.ca_file = tmp_->Sub(ca_dir) + "/ca.pem";
    o.deadline = 3000ms;
    return o;
  }

  static testing::TempDir* tmp_;
  static testing::EtcdServer* etcd_;
};

testing::TempDir* EtcdTlsTest::tmp_ = nullptr;
testing::EtcdServer* EtcdTlsTest::etcd_ = nullptr;

TEST_F(EtcdTlsTest, ClientCertificateOfTheCaConnects) {
  ASSERT_EQ(etcd_->endpoint().rfind("https://", 0), 0u);
  std::unique_ptr<EtcdClient> client;
  Status s = ConnectWith(Options("ca", "client", "ca"), &client);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectWorks(client.get());
}

TEST_F(EtcdTlsTest, WrongCaOrNoCertificateFails) {
  std::unique_ptr<EtcdClient> client;
  // Trusting another CA: etcd's certificate does not verify.
  Status s = ConnectWith(Options("ca", "client", "other"), &client);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.ToString().find("no etcd endpoint answers"), std::string::npos) << s.ToString();
  // A certificate from another CA, and none: etcd refuses the client.
  s = ConnectWith(Options("other", "client", "ca"), &client);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  s = ConnectWith(Options("ca", "", "ca"), &client);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  // Plain http:// to the TLS port.
  EtcdOptions plain;
  plain.endpoints = "http://127.0.0.1:" + std::to_string(etcd_->client_port());
  plain.deadline = 3000ms;
  s = ConnectWith(plain, &client);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
}

TEST_F(EtcdTlsTest, BadTlsOptionsAreRefused) {
  std::unique_ptr<EtcdClient> client;
  EtcdOptions o = Options("ca", "client", "ca");
  o.endpoints = "http://127.0.0.1:2379";
  Status s = EtcdClient::Create(o, &client);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.ToString().find("not https://"), std::string::npos) << s.ToString();
  o = Options("ca", "client", "ca");
  o.key_file.clear();
  EXPECT_TRUE(EtcdClient::Create(o, &client).IsInvalidArgument());
  o = Options("ca", "client", "ca");
  o.ca_file = tmp_->Sub("missing.pem");
  s = EtcdClient::Create(o, &client);
  EXPECT_NE(s.ToString().find("etcd CA " + tmp_->Sub("missing.pem")), std::string::npos)
      << s.ToString();
  std::vector<std::string> out;
  bool tls = false;
  ASSERT_TRUE(ParseEndpoints("https://a:1,https://b:2", &out, &tls).ok());
  EXPECT_TRUE(tls);
  EXPECT_TRUE(ParseEndpoints("https://a:1,http://b:2", &out, &tls).IsInvalidArgument());
}

class EtcdAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    std::string log;
    ASSERT_TRUE(etcd_.EnableAuth(kPassword, &log)) << log;
  }
  EtcdOptions Options(const std::string& user, const std::string& password) {
    EtcdOptions o;
    o.endpoints = etcd_.endpoint();
    o.user = user;
    o.password = password;
    o.deadline = 3000ms;
    return o;
  }

  testing::EtcdServer etcd_;
};

TEST_F(EtcdAuthTest, RightPasswordWorksAndTokenIsRenewed) {
  std::unique_ptr<EtcdClient> client;
  Status s = EtcdClient::Connect(Options("root", kPassword), &client);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectWorks(client.get());
  EXPECT_EQ(client->requests(EtcdRequest::kAuthenticate), 1u);  // one token for every call
  // etcd forgets its simple tokens when it restarts: the next call authenticates again.
  ASSERT_TRUE(etcd_.Restart()) << etcd_.error();
  // A watch first (not a call): it too gets a new token.
  std::unique_ptr<EtcdWatch> watch;
  s = Status::Unavailable("not tried");
  for (int i = 0; i < 50 && !s.ok(); i++) {
    s = client->Watch("/sec/w", false, 0, &watch);
    if (!s.ok()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(client->requests(EtcdRequest::kAuthenticate), 2u);
  s = Status::Unavailable("not tried");
  for (int i = 0; i < 50 && s.IsUnavailable(); i++) {  // until the channel reconnects
    s = client->Put("/sec/after", "restart");
    if (s.IsUnavailable()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(client->requests(EtcdRequest::kAuthenticate), 2u);  // the watch's token served
}

TEST_F(EtcdAuthTest, WrongPasswordOrNoUserFails) {
  std::unique_ptr<EtcdClient> client;
  Status s = EtcdClient::Connect(Options("root", "not the password"), &client);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.ToString().find("authenticate as root"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("invalid user ID or password"), std::string::npos) << s.ToString();
  EXPECT_EQ(s.ToString().find("not the password"), std::string::npos) << s.ToString();
  // Without a user etcd answers status requests but refuses keys.
  ASSERT_TRUE(EtcdClient::Connect(Options("", ""), &client).ok());
  s = client->Put("/sec/k", "v");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("user name is empty"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace bale::coord
