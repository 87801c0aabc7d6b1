// RunLoad: `bale bench load` once its flags are parsed.
//
// Contract: resolves and connects every connection first (a server that cannot be
// reached ends the run before it starts, exit 2), sets every key once with --prefill,
// then runs config.threads Workers over the timeline warmup + duration (+ at most
// --timeout to collect the last replies). Each second it writes a progress line on
// `err`; at the end the report on `out` (text, or JSON with config.json). Returns the
// exit code: 0, 1 when a value failed verification or a reply broke the protocol
// (ExitCode), 2 when the run could not start.
#pragma once

#include <ostream>

#include "loadgen/load_config.h"

namespace bale::loadgen {

[[nodiscard]] int RunLoad(const LoadConfig& config, std::ostream& out, std::ostream& err);

}  // namespace bale::loadgen
