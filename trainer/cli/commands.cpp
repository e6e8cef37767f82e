#include "trainer/cli/commands.h"

namespace mha2mla::cli {

const std::vector<CommandSpec>& all_commands() {
  static const std::vector<CommandSpec> commands = {
      calibrate_command(),
      convert_command(),
      eval_command(),
      export_command(),
      generate_command(),
      info_command(),
      make_tiny_command(),
      make_data_command(),
      reference_command(),
      train_command(),
  };
  return commands;
}

}  // namespace mha2mla::cli
