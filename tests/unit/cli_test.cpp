// The CLI table: parsing and help come from the same specs.
#include "common/error.h"
#include "tests/unit/test_support.h"
#include "trainer/cli/command_table.h"

namespace mha2mla::cli {
namespace {

CommandSpec example_command() {
  CommandSpec command;
  command.name = "example";
  command.summary = "an example";
  command.takes_recipe = true;
  command.options = {{"--format", "F", "output format", {"a", "b"}, "a"},
                     {"--out", "DIR", "output folder", {}, "", true},
                     {"--verbose", "", "say more", {}, ""}};
  return command;
}

TEST(Cli, ParsesRecipeOverridesOptionsAndFlags) {
  auto parsed = parse_arguments(example_command(),
                                {"r.yaml", "train.steps=3", "--out", "/tmp/x", "--format=b", "--verbose", "a.b=c"});
  EXPECT_EQ(parsed.recipe, "r.yaml");
  EXPECT_EQ(parsed.overrides, (std::vector<std::string>{"train.steps=3", "a.b=c"}));
  EXPECT_EQ(parsed.get("--out"), "/tmp/x");
  EXPECT_EQ(parsed.get("--format"), "b");
  EXPECT_TRUE(parsed.has("--verbose"));
}

TEST(Cli, DefaultsApplyAndRequiredOptionsAreEnforced) {
  auto parsed = parse_arguments(example_command(), {"r.yaml", "--out", "d"});
  EXPECT_EQ(parsed.get("--format"), "a");
  EXPECT_FALSE(parsed.has("--verbose"));
  EXPECT_ERROR_CONTAINS(parse_arguments(example_command(), {"r.yaml"}), "missing required option --out");
}

TEST(Cli, ErrorsSuggestTheNearestOption) {
  EXPECT_ERROR_CONTAINS(parse_arguments(example_command(), {"r.yaml", "--outt", "d"}), "unknown option '--outt'",
                        "did you mean --out?");
  EXPECT_ERROR_CONTAINS(parse_arguments(example_command(), {"r.yaml", "--out", "d", "--format", "c"}),
                        "--format c is not one of a, b");
  EXPECT_ERROR_CONTAINS(parse_arguments(example_command(), {"--out", "d"}), "missing RECIPE");
  EXPECT_ERROR_CONTAINS(parse_arguments(example_command(), {"r.yaml", "--out"}), "--out needs a value");
  EXPECT_ERROR_CONTAINS(parse_arguments(example_command(), {"r.yaml", "--verbose=yes", "--out", "d"}),
                        "--verbose is a flag");
}

TEST(Cli, HelpListsEveryOptionOfTheTable) {
  std::string help = command_help(example_command());
  for (const char* fragment : {"usage: mha2mla example RECIPE [key=value ...]", "--format F", "(a, b)",
                               "[default: a]", "--out DIR", "[required]", "--verbose", "--help"})
    EXPECT_NE(help.find(fragment), std::string::npos) << fragment << "\n" << help;
}

TEST(Cli, ProgramHelpListsExactlyTheRegisteredCommands) {
  std::string help = program_help();
  for (const auto& command : all_commands()) EXPECT_NE(help.find("  " + command.name + " "), std::string::npos);
}

}  // namespace
}  // namespace mha2mla::cli
