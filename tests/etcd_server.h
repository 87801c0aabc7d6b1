// Test helper: a real etcd (/usr/bin/etcd) on 127.0.0.1, on free ephemeral ports, with its
// data under /dev/shm (or $TMPDIR), for the etcd client's tests (issue #13).
//
// Contract: the constructor starts etcd and waits (up to 20 s) until /health answers, or
// fails the test (ok() false, error() says why, the log's tail included). The destructor
// kills it (SIGTERM, then SIGKILL after 5 s) and removes its data directory. Pause and
// Resume stop and continue the process (a hung etcd); Kill and Restart end it and start it
// again on the same ports with the same data. Not thread-safe: one test thread drives it.
//
// With EtcdServerTls (issue #14) its client URL is https:// with that certificate, and
// with a CA it asks clients for a certificate that CA signed (--client-cert-auth);
// /health is then asked on a plain metrics URL of its own. EnableAuth turns on etcd's
// user/password authentication with etcdctl (a root user with the given password).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace bale::testing {

struct EtcdServerTls {
  std::string cert, key, ca;  // PEM files; empty cert: plain http://
};

class EtcdServer {
 public:
  static constexpr const char* kBinary = "/usr/bin/etcd";
  static constexpr const char* kCtl = "/usr/bin/etcdctl";

  explicit EtcdServer(EtcdServerTls tls = {}) : tls_(std::move(tls)) {
    dir_ = MakeDir();
    static int counter = 0;
    name_ = "bale-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    for (int attempt = 0; attempt < 3 && !ok_; ++attempt) {
      std::error_code ec;
      std::filesystem::remove_all(dir_ + "/data", ec);  // a failed start's member data
      client_port_ = FreePort();
      peer_port_ = FreePort();
      metrics_port_ = FreePort();
      ok_ = Start();
    }
  }
  ~EtcdServer() {
    Stop(SIGTERM);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string endpoint() const {
    return (tls_.cert.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
           std::to_string(client_port_);
  }

  // Turns on authentication (plain http:// servers only): a root user with `password`;
  // false with etcdctl's output in *log.
  bool EnableAuth(const std::string& password, std::string* log) {
    std::string ctl = std::string(kCtl) + " --endpoints=" + endpoint() + " ";
    return Run(ctl + "user add 'root:" + password + "'", log) &&
           Run(ctl + "user grant-role root root", log) && Run(ctl + "auth enable", log);
  }
  int client_port() const { return client_port_; }

  void Pause() { Signal(SIGSTOP); }
  void Resume() { Signal(SIGCONT); }
  void Kill() { Stop(SIGKILL); }
  // Starts etcd again on the same ports and data directory; false if it does not answer.
  bool Restart() {
    Stop(SIGKILL);
    ok_ = Start();
    return ok_;
  }
  bool running() const { return pid_ > 0; }

  // True when etcd's /health answers 200 within about a second.
  bool Healthy() const {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr = Loopback(tls_.cert.empty() ? client_port_ : metrics_port_);
    bool healthy = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      std::string req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
      if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
        char buf[512];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        healthy = n > 0 && std::string(buf, n).find(" 200 ") != std::string::npos &&
                  std::string(buf, n).find("\"health\":\"true\"") != std::string::npos;
        if (!healthy && n > 0 && std::string(buf, n).find(" 200 ") != std::string::npos) {
          n = read(fd, buf, sizeof buf - 1);  // the body came in a second segment
          healthy = n > 0 && std::string(buf, n).find("\"health\":\"true\"") != std::string::npos;
        }
      }
    }
    close(fd);
    return healthy;
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(0);
    socklen_t len = sizeof addr;
    int port = 0;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    if (fd >= 0) close(fd);
    return port;
  }

  static std::string MakeDir() {
    std::vector<std::string> bases = {"/dev/shm"};
    const char* tmp = getenv("TMPDIR");
    bases.push_back(tmp && *tmp ? tmp : "/tmp");
    for (const std::string& base : bases) {
      std::string tmpl = base + "/bale-etcd-XXXXXX";
      if (mkdtemp(tmpl.data()) != nullptr) return tmpl;
    }
    return "/tmp";  // never reached on a sane machine; Start will fail and say so
  }

  bool Start() {
    std::string client = endpoint();
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {kBinary,
                                     "--name=" + name_,
                                     "--data-dir=" + dir_ + "/data",
                                     "--listen-client-urls=" + client,
                                     "--advertise-client-urls=" + client,
                                     "--listen-peer-urls=" + peer,
                                     "--initial-advertise-peer-urls=" + peer,
                                     "--initial-cluster=" + name_ + "=" + peer,
                                     "--initial-cluster-state=new",
                                     "--initial-cluster-token=" + name_};
    if (!tls_.cert.empty()) {
      args.push_back("--cert-file=" + tls_.cert);
      args.push_back("--key-file=" + tls_.key);
      args.push_back("--listen-metrics-urls=http://127.0.0.1:" + std::to_string(metrics_port_));
      if (!tls_.ca.empty()) {
        args.push_back("--trusted-ca-file=" + tls_.ca);
        args.push_back("--client-cert-auth");
      }
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    std::string log = dir_ + "/etcd.log";
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    int err = posix_spawn(&pid, kBinary, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
      error_ = std::string("cannot start ") + kBinary + ": " + strerror(err);
      return false;
    }
    pid_ = pid;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (Healthy()) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "etcd exited during start; log:\n" + LogTail();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    error_ = "etcd did not answer /health within 20 s; log:\n" + LogTail();
    Stop(SIGKILL);
    return false;
  }

  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }

  void Stop(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);  // a paused etcd cannot handle SIGTERM
    kill(pid_, sig);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  std::string LogTail() const {
    std::ifstream in(dir_ + "/etcd.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string all = ss.str();
    return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
  }

  std::string dir_;
  std::string name_;
  // A command's status (true: exit 0), its output appended to *log.
  static bool Run(const std::string& cmd, std::string* log) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return false;
    char buf[512];
    size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) log->append(buf, n);
    return pclose(p) == 0;
  }

  EtcdServerTls tls_;
  int client_port_ = 0;
  int peer_port_ = 0;
  int metrics_port_ = 0;
  pid_t pid_ = -1;
  bool ok_ = false;
  std::string error_;
};

}  // namespace bale::testing
