// What every recipe-driven command does first: load the recipe with its overrides, apply logging and thread
// settings, print the effective recipe as a table, and know where outputs go.
#pragma once

#include <string>

#include "distributed/launch_environment.h"
#include "trainer/cli/command_table.h"
#include "trainer/recipe.h"

namespace mha2mla::cli {

struct RecipeSession {
  Recipe recipe;
  LaunchEnvironment launch;
  int threads = 1;
};

RecipeSession start_recipe_command(const ParsedArgs& args, const std::string& command);

}  // namespace mha2mla::cli
