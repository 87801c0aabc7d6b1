// Test helper: a CA and certificates it signed, made by scripts/make_certs (the openssl
// CLI) into a directory of the test's, for TLS tests (issue #14).
//
// Contract: MakeCerts(dir, {"node", "client"}) leaves dir/ca.pem, dir/ca.key and for
// each name dir/NAME.pem and dir/NAME.key (IP:127.0.0.1 and localhost as alternative
// names); false (the command's output in *log) if the script failed. Each dir is its own
// CA: two dirs make two CAs that do not trust each other.
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>

#ifndef BALE_SOURCE_DIR
#error "BALE_SOURCE_DIR must name the checkout (CMakeLists.txt defines it for the tests)"
#endif

namespace bale::testing {

inline bool MakeCerts(const std::string& dir, std::initializer_list<const char*> names,
                      std::string* log) {
  std::string cmd = std::string(BALE_SOURCE_DIR) + "/scripts/make_certs '" + dir + "'";
  for (const char* n : names) cmd += std::string(" ") + n;
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *log = "popen failed: " + cmd;
    return false;
  }
  char buf[512];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) log->append(buf, n);
  return ::pclose(p) == 0;
}

// The files of one name in a MakeCerts directory.
struct CertFiles {
  std::string cert, key, ca;
};
inline CertFiles CertsOf(const std::string& dir, const std::string& name) {
  return {dir + "/" + name + ".pem", dir + "/" + name + ".key", dir + "/ca.pem"};
}

}  // namespace bale::testing
