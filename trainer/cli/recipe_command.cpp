#include "trainer/cli/recipe_command.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "trainer/runtime.h"

namespace mha2mla::cli {

RecipeSession start_recipe_command(const ParsedArgs& args, const std::string& command) {
  RecipeSession session;
  session.launch = detect_launch_environment();
  session.recipe = load_recipe(args.recipe, args.overrides);
  logging::configure(session.recipe.log.level, session.recipe.log.dir);
  session.threads = configure_threads(session.recipe.model.threads, session.launch.local_size);
  if (session.launch.rank == 0) {
    spdlog::info("mha2mla {} ({}), {} thread(s) per rank", command, session.launch.describe(), session.threads);
    spdlog::info("{}", session.recipe.to_table());
  }
  return session;
}

}  // namespace mha2mla::cli
