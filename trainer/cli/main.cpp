// mha2mla: the command-line entry point. Dispatches to the command table; turns errors into a message,
// a hint and a non-zero exit code.
#include <cstdio>
#include <string>
#include <vector>

#include "common/allocator.h"
#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "trainer/cli/command_table.h"
#include "distributed/launch_environment.h"

int main(int argc, char** argv) {
  using namespace mha2mla;
  keep_freed_tensor_memory();
  auto launch = detect_launch_environment();
  logging::init(launch.rank, launch.world_size);

  std::vector<std::string> arguments(argv + 1, argv + argc);
  if (arguments.empty() || arguments[0] == "--help" || arguments[0] == "-h" || arguments[0] == "help") {
    std::fputs(cli::program_help().c_str(), arguments.empty() ? stderr : stdout);
    return arguments.empty() ? 2 : 0;
  }
  if (arguments[0] == "--version") {
    std::puts("mha2mla " MHA2MLA_VERSION);
    return 0;
  }

  const cli::CommandSpec* command = nullptr;
  std::vector<std::string> names;
  for (const auto& candidate : cli::all_commands()) {
    names.push_back(candidate.name);
    if (candidate.name == arguments[0]) command = &candidate;
  }
  if (!command) {
    std::string nearest = nearest_match(arguments[0], names);
    std::fprintf(stderr, "error: unknown command '%s'\n", arguments[0].c_str());
    if (!nearest.empty()) std::fprintf(stderr, "---> HINT: did you mean '%s'?\n", nearest.c_str());
    std::fprintf(stderr, "\n%s", cli::program_help().c_str());
    return 2;
  }

  std::vector<std::string> rest(arguments.begin() + 1, arguments.end());
  for (const auto& argument : rest) {
    if (argument == "--help" || argument == "-h") {
      std::fputs(cli::command_help(*command).c_str(), stdout);
      return 0;
    }
  }

  try {
    cli::ParsedArgs parsed = cli::parse_arguments(*command, rest);
    return command->run(parsed);
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    if (!e.hint().empty()) spdlog::error("---> HINT: {}", e.hint());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
