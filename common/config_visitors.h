// The visitors over config::Visitor tables: read a Tree into typed structs (types, ranges, unknown keys
// with "did you mean"), flatten for the start-up table, emit YAML to save beside outputs, and write the
// recipes reference.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/config_schema.h"
#include "common/config_tree.h"

namespace mha2mla::config {

using Describe = std::function<void(Visitor&)>;

// Fills the described struct from `tree`. Throws Error naming origin, key, what was found and expected.
// `${VAR}` and `${VAR:-default}` in string values expand from the environment.
void read(const Tree& tree, const Describe& describe);

// ("section.key", "value") for every field, in declaration order.
std::vector<std::pair<std::string, std::string>> flatten(const Describe& describe);

// The effective config as a YAML document that `Tree::load_file` reads back to the same values.
std::string to_yaml(const Describe& describe);

// Markdown reference: one table per section with key, type, default, allowed values and description.
std::string reference_markdown(const Describe& describe);

// Every valid key path ("train.lr", "data.datasets[].path").
std::vector<std::string> all_keys(const Describe& describe);

// Prints `rows` as an aligned two-column table (for logs).
std::string format_table(const std::vector<std::pair<std::string, std::string>>& rows,
                         const std::string& title);

}  // namespace mha2mla::config
