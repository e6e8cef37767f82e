// The CLI's one table: each command's name, summary, options and handler. Parsing and --help are both
// generated from it, so the help text cannot disagree with what is accepted.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mha2mla::cli {

struct OptionSpec {
  std::string name;                  // "--arch"
  std::string metavar;               // "A"; empty for a boolean flag
  std::string help;
  std::vector<std::string> choices;  // allowed values, if restricted
  std::string default_value;         // shown in help; used when absent
  bool required = false;
};

struct ParsedArgs {
  std::string recipe;                      // RECIPE positional, when the command takes one
  std::vector<std::string> overrides;      // key.path=value
  std::map<std::string, std::string> options;  // "--arch" -> "llama" (flags -> "true")

  bool has(const std::string& name) const { return options.count(name) > 0; }
  const std::string& get(const std::string& name) const;
  long long get_int(const std::string& name) const;
};

struct CommandSpec {
  std::string name;
  std::string summary;        // one line, for the command list
  std::string description;    // paragraph, for `mha2mla <command> --help`
  bool takes_recipe = false;  // `RECIPE [key=value ...]`
  std::vector<OptionSpec> options;
  std::function<int(const ParsedArgs&)> run;
};

// Every command this build offers, in the order --help lists them.
const std::vector<CommandSpec>& all_commands();

// Throws Error (with a "did you mean" hint) on unknown options, missing values, bad choices.
ParsedArgs parse_arguments(const CommandSpec& command, const std::vector<std::string>& arguments);

std::string command_help(const CommandSpec& command);
std::string program_help();

}  // namespace mha2mla::cli
