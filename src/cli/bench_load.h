// `bale bench load`: the open-loop load generator (src/loadgen/, docs/bench.md) as a
// subcommand of `bale bench`.
#pragma once

#include <CLI/CLI.hpp>

#include "loadgen/load_config.h"

namespace bale::cli {

// Declares `load` under `bench` with every flag (and --help) writing into *flags.
CLI::App* AddBenchLoadCommand(CLI::App* bench, loadgen::LoadFlags* flags);
// Parses the flags and runs; returns the exit code (2 for bad flags).
int RunBenchLoad(const loadgen::LoadFlags& flags);

}  // namespace bale::cli
