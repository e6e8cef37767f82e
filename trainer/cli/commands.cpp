#include "trainer/cli/commands.h"

namespace mha2mla::cli {

const std::vector<CommandSpec>& all_commands() {
  // In pipeline order: --help lists them this way.
  static const std::vector<CommandSpec> commands = {
      info_command(),
      reference_command(),
      make_tiny_command(),
      make_data_command(),
      calibrate_command(),
      convert_command(),
      train_command(),
      eval_command(),
      generate_command(),
      export_command(),
  };
  return commands;
}

}  // namespace mha2mla::cli
