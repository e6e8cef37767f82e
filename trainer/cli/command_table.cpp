#include "trainer/cli/command_table.h"

#include <fmt/format.h>

#include "common/error.h"
#include "common/strings.h"

namespace mha2mla::cli {

const std::string& ParsedArgs::get(const std::string& name) const {
  auto it = options.find(name);
  MHA2MLA_CHECK(it != options.end(), "option {} was not parsed", name);
  return it->second;
}

long long ParsedArgs::get_int(const std::string& name) const {
  const std::string& text = get(name);
  try {
    size_t used = 0;
    long long value = std::stoll(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  fail("{} expects an integer, got '{}'", name, text);
}

ParsedArgs parse_arguments(const CommandSpec& command, const std::vector<std::string>& arguments) {
  ParsedArgs parsed;
  std::vector<std::string> option_names;
  for (const auto& option : command.options) option_names.push_back(option.name);

  for (size_t i = 0; i < arguments.size(); ++i) {
    const std::string& argument = arguments[i];
    if (starts_with(argument, "--")) {
      std::string name = argument, value;
      bool inline_value = false;
      if (size_t eq = argument.find('='); eq != std::string::npos) {
        name = argument.substr(0, eq);
        value = argument.substr(eq + 1);
        inline_value = true;
      }
      const OptionSpec* spec = nullptr;
      for (const auto& option : command.options)
        if (option.name == name) spec = &option;
      if (!spec) {
        std::string nearest = nearest_match(name, option_names);
        fail_with_hint(nearest.empty() ? fmt::format("see `mha2mla {} --help`", command.name)
                                       : fmt::format("did you mean {}?", nearest),
                       "mha2mla {}: unknown option '{}'", command.name, name);
      }
      if (spec->metavar.empty()) {
        if (inline_value) fail("mha2mla {}: {} is a flag and takes no value", command.name, name);
        value = "true";
      } else if (!inline_value) {
        if (i + 1 >= arguments.size()) fail("mha2mla {}: {} needs a value ({})", command.name, name, spec->metavar);
        value = arguments[++i];
      }
      if (!spec->choices.empty() && std::find(spec->choices.begin(), spec->choices.end(), value) == spec->choices.end())
        fail_with_hint(nearest_match(value, spec->choices).empty()
                           ? std::string()
                           : fmt::format("did you mean {}?", nearest_match(value, spec->choices)),
                       "mha2mla {}: {} {} is not one of {}", command.name, name, value, join(spec->choices, ", "));
      parsed.options[name] = value;
    } else if (command.takes_recipe && parsed.recipe.empty() && argument.find('=') == std::string::npos) {
      parsed.recipe = argument;
    } else if (command.takes_recipe && argument.find('=') != std::string::npos) {
      parsed.overrides.push_back(argument);
    } else {
      fail_with_hint(fmt::format("see `mha2mla {} --help`", command.name),
                     "mha2mla {}: unexpected argument '{}'", command.name, argument);
    }
  }

  if (command.takes_recipe && parsed.recipe.empty())
    fail_with_hint(fmt::format("usage: mha2mla {} RECIPE [key=value ...]", command.name),
                   "mha2mla {}: missing RECIPE (a YAML file, e.g. recipes/tiny/qwen2_5_vl.yaml)", command.name);
  for (const auto& option : command.options) {
    if (parsed.options.count(option.name)) continue;
    if (option.required) fail("mha2mla {}: missing required option {} {}", command.name, option.name, option.metavar);
    if (!option.default_value.empty()) parsed.options[option.name] = option.default_value;
  }
  return parsed;
}

std::string command_help(const CommandSpec& command) {
  std::string usage = "usage: mha2mla " + command.name;
  if (command.takes_recipe) usage += " RECIPE [key=value ...]";
  for (const auto& option : command.options) {
    std::string item = option.name + (option.metavar.empty() ? "" : " " + option.metavar);
    usage += option.required ? " " + item : " [" + item + "]";
  }
  std::string out = usage + "\n\n" + command.summary + "\n";
  if (!command.description.empty()) out += "\n" + command.description + "\n";
  if (command.takes_recipe)
    out += "\n  RECIPE             YAML recipe (see docs/recipes.md)\n"
           "  key=value          override any recipe key, e.g. train.optimizer.lr=1e-5\n";
  if (!command.options.empty()) out += "\noptions:\n";
  for (const auto& option : command.options) {
    std::string left = option.name + (option.metavar.empty() ? "" : " " + option.metavar);
    std::string right = option.help;
    if (!option.choices.empty()) right += " (" + join(option.choices, ", ") + ")";
    if (option.required) right += " [required]";
    if (!option.default_value.empty()) right += " [default: " + option.default_value + "]";
    out += fmt::format("  {:<18} {}\n", left, right);
  }
  out += fmt::format("  {:<18} {}\n", "--help", "show this help");
  return out;
}

std::string program_help() {
  std::string out =
      "mha2mla " MHA2MLA_VERSION ": convert vision-language models from MHA/GQA to Multi-Head Latent Attention\n\n"
      "usage: mha2mla <command> [RECIPE] [key=value ...] [options]\n\ncommands:\n";
  for (const auto& command : all_commands()) out += fmt::format("  {:<12} {}\n", command.name, command.summary);
  out += "\n`mha2mla <command> --help` describes a command. Recipes: docs/recipes.md.\n";
  return out;
}

}  // namespace mha2mla::cli
