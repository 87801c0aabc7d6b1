// The cluster secret's flags and the safe default (cli/cluster.h): a role that listens
// beyond loopback without a secret refuses to start unless --insecure. The TLS flags, and
// the etcd client's options (TLS, user and password).
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/cluster.h"

namespace bale::cli {
namespace {

constexpr size_t kMaxSecret = 4096;

// The file's bytes into *text; false with *why.
bool ReadSecretFile(const std::string& path, std::string* text, mode_t* mode, std::string* why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = std::strerror(errno);
    return false;
  }
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (!ok) *why = "not a regular file";
  char buf[1024];
  while (ok) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0) *why = std::strerror(errno);
      ok = n == 0;
      break;
    }
    text->append(buf, static_cast<size_t>(n));
    if (text->size() > kMaxSecret) {
      *why = "longer than " + std::to_string(kMaxSecret) + " bytes";
      ok = false;
    }
  }
  ::close(fd);
  *mode = st.st_mode;
  return ok;
}

// A secret's file (flag `flag`) into *out, trailing newlines trimmed; false (with why
// on stderr, never its bytes) when unreadable or empty. Warns when group or others may
// read it.
bool ReadCredential(const char* role, const char* flag, const std::string& path, std::string* out) {
  mode_t mode = 0;
  std::string why;
  out->clear();
  if (!ReadSecretFile(path, out, &mode, &why)) {
    std::fprintf(stderr, "bale %s: %s %s: %s\n", role, flag, path.c_str(), why.c_str());
    out->clear();
    return false;
  }
  while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
  if (out->empty()) {
    std::fprintf(stderr, "bale %s: %s %s is empty: refusing an empty secret\n", role, flag,
                 path.c_str());
    return false;
  }
  if ((mode & (S_IRGRP | S_IROTH)) != 0) {
    std::fprintf(stderr,
                 "bale %s: warning: %s %s is readable by group or others (mode %03o); chmod 600 "
                 "it\n",
                 role, flag, path.c_str(), static_cast<unsigned>(mode & 0777));
  }
  return true;
}

}  // namespace

bool LoadEtcdOptions(const char* role, const ClusterArgs& a, coord::EtcdOptions* out) {
  out->endpoints = a.etcd;
  out->ca_file = a.etcd_ca;
  out->cert_file = a.etcd_cert;
  out->key_file = a.etcd_key;
  out->user = a.etcd_user;
  out->password.clear();
  if (a.etcd_user.empty() != a.etcd_password_file.empty()) {
    std::fprintf(stderr, "bale %s: --etcd-user and --etcd-password-file go together\n", role);
    return false;
  }
  if (!a.etcd_password_file.empty() &&
      !ReadCredential(role, "--etcd-password-file", a.etcd_password_file, &out->password)) {
    return false;
  }
  std::unique_ptr<coord::EtcdClient> check;  // the endpoints and TLS files, before any use
  Status s = coord::EtcdClient::Create(*out, &check);
  if (!s.ok()) {
    std::fprintf(stderr, "bale %s: --etcd %s: %s\n", role, a.etcd.c_str(), s.ToString().c_str());
    return false;
  }
  return true;
}

void AddSecretFlags(CLI::App* cmd, SecretArgs* a, bool listens) {
  cmd->add_option("--cluster-secret-file", a->secret_file,
                  "file holding the cluster's secret: every internal connection proves it "
                  "(the same file on every store, router and admin)");
  if (!listens) return;
  cmd->add_flag("--insecure", a->insecure,
                "listen beyond loopback without a cluster secret (anyone reaching the "
                "stores' ports can read and write every partition)");
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool LoadClusterSecret(const char* role, const SecretArgs& a, const std::string& listen,
                       std::string* secret) {
  secret->clear();
  if (!a.secret_file.empty()) {
    if (a.insecure) {
      std::fprintf(stderr, "bale %s: --insecure and --cluster-secret-file: give one of them\n",
                   role);
      return false;
    }
    return ReadCredential(role, "--cluster-secret-file", a.secret_file, secret);
  }
  if (listen.empty()) return true;
  if (!a.insecure && !IsLoopbackHost(listen)) {
    std::fprintf(stderr,
                 "bale %s: refusing to listen on %s without a cluster secret: anyone who reaches "
                 "the stores' ports could read and write every partition. Give "
                 "--cluster-secret-file PATH (the same secret on every store, router and admin), "
                 "or --insecure to run without one on a trusted network\n",
                 role, listen.c_str());
    return false;
  }
  if (a.insecure) {
    std::fprintf(stderr,
                 "bale %s: --insecure: listening on %s without a cluster secret; connections "
                 "between routers and stores are not authenticated\n",
                 role, listen.c_str());
  }
  return true;
}

void AddTlsFlags(CLI::App* cmd, TlsArgs* a, bool serves) {
  net::TlsFiles& f = a->files;
  if (serves) {
    cmd->add_option("--tls-cert", f.cert,
                    "PEM certificate (chain) of the internal port: it then accepts TLS only");
    cmd->add_option("--tls-key", f.key, "PEM private key of --tls-cert");
    cmd->add_option("--tls-ca", f.ca, "PEM CA: every client must present a certificate it signed");
    return;
  }
  cmd->add_option("--tls-ca", f.ca,
                  "PEM CA the stores' certificates are checked against: TLS to every store");
  cmd->add_option("--tls-cert", f.cert, "PEM certificate presented to the stores (with --tls-ca)");
  cmd->add_option("--tls-key", f.key, "PEM private key of --tls-cert");
}

bool LoadTls(const char* role, net::TlsContext::Side side, const TlsArgs& a,
             std::shared_ptr<const net::TlsContext>* tls) {
  tls->reset();
  if (!a.files.any()) return true;
  Status s = net::TlsContext::Create(side, a.files, tls);
  if (!s.ok()) {
    std::fprintf(stderr, "bale %s: %s\n", role, std::string(s.message()).c_str());
    return false;
  }
  return true;
}

}  // namespace bale::cli
