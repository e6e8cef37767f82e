#include "common/config_schema.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace mha2mla::config {

std::string Constraint::violation(double value) const {
  bool below = min && (min_exclusive ? value <= *min : value < *min);
  bool above = max && value > *max;
  if (below || above) return "expected " + describe();
  return {};
}

std::string Constraint::violation(const std::string& value) const {
  if (choices.empty()) return {};
  for (const auto& choice : choices)
    if (value == choice) return {};
  return "expected " + describe();
}

std::string Constraint::describe() const {
  if (!choices.empty()) return "one of " + join(choices, ", ");
  if (min && max) return fmt::format("in [{}, {}]", *min, *max);
  if (min) return fmt::format("{} {}", min_exclusive ? ">" : ">=", *min);
  if (max) return fmt::format("<= {}", *max);
  return {};
}

}  // namespace mha2mla::config
