// libFuzzer target for the internal frame decoder (proto/internal_frame.h; built and run
// by scripts/fuzz).
//
// The input is a byte stream as a peer might send it. Frames are decoded one after the
// other (each checked to lie within the input, and each typed decoder run on it), then
// the stream is fed again split in two at a position taken from the data, which must
// give the same frames.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proto/internal_frame.h"
#include "proto/stream_fuzz.h"  // FUZZ_CHECK

namespace {

using namespace bale;
using namespace bale::proto;

// Runs every typed decoder on the frame (they must stay within it).
void DecodeTyped(const Frame& f) {
  GetRequest g;
  Mutation m;
  uint32_t when;
  std::vector<BatchPut> items;
  MutationResult r;
  ObjectView v;
  ObjectStats s;
  Hello h;
  (void)DecodeGet(f, &g);
  (void)DecodeMutate(f, &m);
  (void)DecodeFlushAll(f, &when);
  if (DecodePutAtomic(f, &items)) (void)DecodePutAtomicResult(f, &r, items);
  (void)DecodeMutationResult(f, &r);
  (void)DecodeValue(f, &v);
  (void)DecodeStatsReply(f, &s);
  (void)DecodeHello(f, &h);
  (void)ReplyStatus(f);
}

// Decodes `input` as far as it goes: each frame's bytes, then "!" on a bad frame.
std::vector<std::string> Decode(std::string_view input, std::string* rest) {
  FrameLimits limits{1 << 20};
  std::vector<std::string> out;
  for (;;) {
    Frame f;
    DecodeResult r = DecodeFrame(input, limits, &f);
    if (r.status == DecodeStatus::kNeedMore) break;
    if (r.status == DecodeStatus::kBad) {
      out.push_back("!");
      input = {};
      break;
    }
    FUZZ_CHECK(f.size >= kFrameHeaderSize && f.size <= input.size() && f.size <= limits.max_frame);
    FUZZ_CHECK(f.body.data() + f.body.size() == input.data() + f.size);
    DecodeTyped(f);
    out.emplace_back(input.substr(0, f.size));
    input.remove_prefix(f.size);
  }
  *rest = std::string(input);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string rest;
  std::vector<std::string> whole = Decode(input, &rest);
  size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  std::string buffer;
  std::vector<std::string> split = Decode(input.substr(0, cut), &buffer);
  if (split.empty() || split.back() != "!") {
    buffer.append(input.substr(cut));
    std::vector<std::string> more = Decode(buffer, &rest);
    split.insert(split.end(), more.begin(), more.end());
  }
  FUZZ_CHECK(split == whole);
  return 0;
}
