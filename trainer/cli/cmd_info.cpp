#include <cstdio>

#include "common/config_visitors.h"
#include "distributed/launch_environment.h"
#include "trainer/cli/commands.h"
#include "trainer/runtime.h"

namespace mha2mla::cli {

CommandSpec info_command() {
  CommandSpec command;
  command.name = "info";
  command.summary = "print build and runtime facts: versions, BLAS, threads, MPI, CUDA/NCCL";
  command.options = {{"--threads", "N", "intra-op threads to report (default: as a run would pick)", {}, "0"}};
  command.run = [](const ParsedArgs& args) {
    auto launch = detect_launch_environment();
    configure_threads(args.get_int("--threads"), launch.local_size);
    auto rows = runtime_facts();
    rows.emplace_back("launch", launch.describe());
    std::fputs(config::format_table(rows, "mha2mla info").c_str(), stdout);
    return 0;
  };
  return command;
}

}  // namespace mha2mla::cli
