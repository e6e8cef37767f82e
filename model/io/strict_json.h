// JSON parsing for files we do not trust (safetensors headers, index files): nlohmann keeps the last of two
// equal keys silently, which would let a file hide a tensor; this parser rejects duplicates at any depth.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mha2mla::io {

// Parses `text`; throws Error "<what> is not valid JSON: ..." or "<what>: key 'k' appears twice in
// <the top-level object|a nested object>" followed by `duplicate_note` when given.
nlohmann::json parse_strict_json(std::string_view text, const std::string& what,
                                 const std::string& duplicate_note = {});

}  // namespace mha2mla::io
