// One factory per command; each lives in its own cmd_<name>.cpp.
#pragma once

#include "trainer/cli/command_table.h"

namespace mha2mla::cli {

CommandSpec calibrate_command();
CommandSpec convert_command();
CommandSpec eval_command();
CommandSpec export_command();
CommandSpec generate_command();
CommandSpec info_command();
CommandSpec make_data_command();
CommandSpec make_tiny_command();
CommandSpec reference_command();
CommandSpec train_command();

}  // namespace mha2mla::cli
