// Small string helpers shared by every folder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mha2mla {

std::vector<std::string> split(std::string_view text, char separator);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
std::string trim(std::string_view text);
bool starts_with(std::string_view text, std::string_view prefix);
bool ends_with(std::string_view text, std::string_view suffix);

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, or "" when none is plausibly meant (distance above ~1/3 of the length).
std::string nearest_match(std::string_view word, const std::vector<std::string>& candidates);

// "1.50 MiB", "512 B".
std::string format_bytes(double bytes);

// "1h02m03s", "4.2s".
std::string format_duration(double seconds);

}  // namespace mha2mla
