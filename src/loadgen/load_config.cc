#include "loadgen/load_config.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/decimal.h"
#include "loadgen/value_codec.h"

namespace bale::loadgen {

namespace {

constexpr uint64_t kMaxValueSize = 64ULL << 20;
constexpr size_t kMaxKeyLength = 250;  // memcached's
constexpr size_t kMaxIndexDigits = 20;

Status Invalid(std::string_view flag, std::string_view value, std::string_view why) {
  std::string msg(flag);
  msg += " '";
  msg += value;
  msg += "': ";
  msg += why;
  return Status::InvalidArgument(msg);
}

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(*out);
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

Status CheckKeyPrefix(std::string_view prefix) {
  if (prefix.size() + kMaxIndexDigits > kMaxKeyLength) {
    return Invalid("--key-prefix", prefix, "too long for 250-byte keys");
  }
  for (char c : prefix) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return Invalid("--key-prefix", prefix, "keys may hold no spaces or control characters");
    }
  }
  return Status::OK();
}

Status CheckCounts(const LoadFlags& f) {
  if (f.connections < 1) return Status::InvalidArgument("--connections must be at least 1");
  if (f.threads < 1) return Status::InvalidArgument("--threads must be at least 1");
  if (f.threads > f.connections) {
    return Status::InvalidArgument("--threads must not exceed --connections");
  }
  if (f.pipeline < 1 || f.pipeline > 65536) {
    return Status::InvalidArgument("--pipeline must be 1 to 65536");
  }
  if (f.keys < 1) return Status::InvalidArgument("--keys must be at least 1");
  if (!(f.rate >= 0) || !std::isfinite(f.rate)) {
    return Status::InvalidArgument("--rate must be a number, 0 or more (0: flat out)");
  }
  return Status::OK();
}

}  // namespace

Status ParseServers(std::string_view s, std::vector<ServerAddress>* out) {
  out->clear();
  while (true) {
    const size_t comma = s.find(',');
    const std::string_view one = s.substr(0, comma);
    const size_t colon = one.rfind(':');
    ServerAddress a;
    if (colon == std::string_view::npos || colon == 0 ||
        !ParseDecimal(one.substr(colon + 1), &a.port) || a.port == 0) {
      return Invalid("--servers", one, "want HOST:PORT[,HOST:PORT...]");
    }
    a.host = std::string(one.substr(0, colon));
    out->push_back(std::move(a));
    if (comma == std::string_view::npos) return Status::OK();
    s.remove_prefix(comma + 1);
  }
}

Status ParseProtocol(std::string_view s, Protocol* out) {
  for (Protocol p :
       {Protocol::kText, Protocol::kMeta, Protocol::kBinary, Protocol::kHttp, Protocol::kRedis}) {
    if (s == ProtocolName(p)) {
      *out = p;
      return Status::OK();
    }
  }
  return Invalid("--protocol", s, "want text, meta, binary, http or redis");
}

Status ParseDuration(std::string_view s, double* seconds) {
  const std::string_view original = s;
  struct Unit {
    std::string_view suffix;
    double seconds;
  };
  static constexpr Unit kUnits[] = {{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
  double scale = 1;
  for (const Unit& u : kUnits) {
    if (s.ends_with(u.suffix)) {
      scale = u.seconds;
      s.remove_suffix(u.suffix.size());
      break;
    }
  }
  double v = 0;
  if (!ParseDouble(s, &v) || v < 0) {
    return Status::InvalidArgument("bad duration '" + std::string(original) +
                                   "': want e.g. 10s, 1.5s, 500ms, 2m");
  }
  *seconds = v * scale;
  return Status::OK();
}

Status ParseValueSize(std::string_view s, ValueSizeDist* out) {
  const std::string_view original = s;
  ValueSizeDist d;
  if (s.starts_with("uniform:")) {
    s.remove_prefix(8);
    const size_t dash = s.find('-');
    if (dash == std::string_view::npos || !ParseByteSize(s.substr(0, dash), &d.min) ||
        !ParseByteSize(s.substr(dash + 1), &d.max) || d.min > d.max) {
      return Invalid("--value-size", original, "want SIZE or uniform:MIN-MAX with MIN <= MAX");
    }
  } else if (!ParseByteSize(s, &d.min)) {
    return Invalid("--value-size", original, "want SIZE (100, 4k, 1m) or uniform:MIN-MAX");
  } else {
    d.max = d.min;
  }
  if (d.min < kMinValueSize || d.max > kMaxValueSize) {
    return Invalid("--value-size", original,
                   "sizes must be 16 bytes (a value's check and serial) to 64 MiB");
  }
  *out = d;
  return Status::OK();
}

Status ParseMix(std::string_view s, OpMix* out) {
  const std::string_view original = s;
  OpMix m{0, 0};
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view part = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    const size_t colon = part.find(':');
    uint32_t weight = 0;
    if (colon == std::string_view::npos || !ParseDecimal(part.substr(colon + 1), &weight) ||
        weight > 1000000) {
      return Invalid("--mix", original, "want OP:WEIGHT[,OP:WEIGHT], e.g. get:90,set:10");
    }
    const std::string_view op = part.substr(0, colon);
    if (op == "get") {
      m.get += weight;
    } else if (op == "set") {
      m.set += weight;
    } else {
      return Invalid("--mix", original, "operations are get and set");
    }
  }
  if (m.get + m.set == 0) return Invalid("--mix", original, "the weights add up to nothing");
  *out = m;
  return Status::OK();
}

Status ParseKeyDist(std::string_view s, KeyDist* out) {
  if (s == "uniform") {
    *out = KeyDist{KeyDist::Kind::kUniform, 0};
    return Status::OK();
  }
  KeyDist d{KeyDist::Kind::kZipf, 0.99};
  if (s != "zipf" && (!s.starts_with("zipf:") || !ParseDouble(s.substr(5), &d.exponent) ||
                      !(d.exponent > 0) || d.exponent > 100)) {
    return Invalid("--key-dist", s, "want uniform, zipf or zipf:S with 0 < S <= 100");
  }
  *out = d;
  return Status::OK();
}

Status ParseLoadFlags(const LoadFlags& f, LoadConfig* c) {
  BALE_RETURN_IF_ERROR(CheckCounts(f));
  BALE_RETURN_IF_ERROR(ParseServers(f.servers, &c->servers));
  BALE_RETURN_IF_ERROR(ParseProtocol(f.protocol, &c->protocol));
  BALE_RETURN_IF_ERROR(ParseDuration(f.duration, &c->duration_s));
  if (c->duration_s <= 0) return Status::InvalidArgument("--duration must be more than 0");
  BALE_RETURN_IF_ERROR(ParseDuration(f.warmup, &c->warmup_s));
  BALE_RETURN_IF_ERROR(ParseDuration(f.timeout, &c->timeout_s));
  if (c->timeout_s <= 0) return Status::InvalidArgument("--timeout must be more than 0");
  BALE_RETURN_IF_ERROR(ParseValueSize(f.value_size, &c->value_size));
  BALE_RETURN_IF_ERROR(ParseMix(f.mix, &c->mix));
  BALE_RETURN_IF_ERROR(ParseKeyDist(f.key_dist, &c->key_dist));
  BALE_RETURN_IF_ERROR(CheckKeyPrefix(f.key_prefix));
  c->rate = f.rate;
  c->connections = f.connections;
  c->threads = f.threads;
  c->keys = f.keys;
  c->key_prefix = f.key_prefix;
  c->prefill = f.prefill;
  c->pipeline = f.pipeline;
  c->json = f.json;
  c->seed = f.seed;
  return Status::OK();
}

std::string ValueSizeName(const ValueSizeDist& d) {
  if (d.min == d.max) return std::to_string(d.min);
  return "uniform:" + std::to_string(d.min) + "-" + std::to_string(d.max);
}

std::string MixName(const OpMix& m) {
  return "get:" + std::to_string(m.get) + ",set:" + std::to_string(m.set);
}

std::string KeyDistName(const KeyDist& d) {
  return d.kind == KeyDist::Kind::kUniform ? "uniform" : "zipf:" + Number(d.exponent);
}

}  // namespace bale::loadgen
