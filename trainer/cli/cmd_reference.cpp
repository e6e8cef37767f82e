#include <cstdio>

#include "trainer/cli/commands.h"
#include "trainer/recipe.h"

namespace mha2mla::cli {

CommandSpec reference_command() {
  CommandSpec command;
  command.name = "reference";
  command.summary = "print the recipes reference (every key, type, default and meaning) as Markdown";
  command.description = "docs/recipes.md is this output; a test keeps the two identical.";
  command.run = [](const ParsedArgs&) {
    std::fputs(recipes_reference_markdown().c_str(), stdout);
    return 0;
  };
  return command;
}

}  // namespace mha2mla::cli
