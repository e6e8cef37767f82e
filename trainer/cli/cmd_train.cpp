#include "distributed/distributed_runtime.h"
#include "trainer/cli/commands.h"
#include "trainer/cli/recipe_command.h"
#include "trainer/train_loop.h"

namespace mha2mla::cli {

CommandSpec train_command() {
  CommandSpec command;
  command.name = "train";
  command.summary = "fine-tune: output-activation distillation against the frozen teacher (or SFT), resumable";
  command.description =
      "Trains train.trainable of train.init_from (default convert.output) on the data section's SFT stream; "
      "launch with mpirun / srun for data parallelism. Checkpoints go to checkpoint.dir; checkpoint.resume=auto "
      "continues from the newest complete one. SIGUSR1 / SIGTERM save a checkpoint at the next step and exit 0.";
  command.takes_recipe = true;
  command.run = [](const ParsedArgs& args) {
    RecipeSession session = start_recipe_command(args, "train");
    dist::DistributedRuntime runtime(session.recipe.distributed, session.launch);
    return runtime.run([&] { return run_training(session.recipe, runtime); });
  };
  return command;
}

}  // namespace mha2mla::cli
