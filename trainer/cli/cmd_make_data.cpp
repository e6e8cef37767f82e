#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/strings.h"
#include "data/synthetic/make_data.h"
#include "trainer/cli/commands.h"

namespace mha2mla::cli {

CommandSpec make_data_command() {
  CommandSpec command;
  command.name = "make-data";
  command.summary = "write a synthetic image-text SFT dataset (coloured shapes, exact answers) for tests and demos";
  command.description =
      "Images of coloured shapes in a 3x3 grid (JPEG and PNG) with questions about colour, shape, count, position "
      "and relative position and their exact answers; some samples are multi-turn, some have two images. "
      "--bad K adds K deliberately broken records of each kind (missing_image, corrupt_image, malformed_json, "
      "unknown_role, placeholder_mismatch, empty_conversation, too_long), listed in OUT/manifest.json. "
      "--task vqa writes single-image, single-question samples with one-word answers (the demo's task). "
      "Deterministic from --seed.";
  command.options = {{"--format", "F", "dataset format", data::make_data_formats(), "", true},
                     {"--out", "DIR", "output folder", {}, "", true},
                     {"--samples", "N", "good samples", {}, "100"},
                     {"--bad", "K", "broken records of each kind", {}, "0"},
                     {"--seed", "S", "random seed", {}, "1234"},
                     {"--shard-size", "N", "wds: records per tar shard", {}, "64"},
                     {"--task", "T", "mixed: sentence answers, multi-turn and two-image samples; vqa: one image, one "
                      "question, a single-word answer", data::make_data_tasks(), "mixed"},
                     {"--min-side", "PX", "smallest image width / height", {}, "96"},
                     {"--max-side", "PX", "largest image width / height", {}, "160"},
                     {"--max-shapes", "N", "shapes per image: 1..N (N <= 9)", {}, "4"},
                     {"--questions", "K,K", "vqa: the question kinds asked (colour, shape, count, total, cell, relative)",
                      {}, "all"}};
  command.run = [](const ParsedArgs& args) {
    data::MakeDataOptions options;
    options.format = args.get("--format");
    options.out = args.get("--out");
    options.samples = args.get_int("--samples");
    options.bad = args.get_int("--bad");
    options.seed = static_cast<uint64_t>(args.get_int("--seed"));
    options.shard_size = args.get_int("--shard-size");
    options.task = args.get("--task");
    options.min_side = args.get_int("--min-side");
    options.max_side = args.get_int("--max-side");
    options.max_shapes = static_cast<int>(args.get_int("--max-shapes"));
    if (args.get("--questions") != "all") options.questions = split(args.get("--questions"), ',');
    if (options.shard_size < 1) fail("make-data: --shard-size must be at least 1, got {}", options.shard_size);
    data::MakeDataReport report = data::make_synthetic_dataset(options);
    int64_t bad = 0;
    for (const auto& [kind, ids] : report.bad_ids) bad += static_cast<int64_t>(ids.size());
    spdlog::info("make-data: {} records ({} good, {} bad) in {} ({})", report.records, options.samples, bad,
                 options.out, join(report.files, ", "));
    return 0;
  };
  return command;
}

}  // namespace mha2mla::cli
