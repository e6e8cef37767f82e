// Typed reads from one JSON object of a config file. Every error names the file and the full key path
// ("config.json: key 'text_config.num_attention_heads' must be an integer, found \"32\""), so a user can
// find the line at fault without knowing how the reader walked the document.
//
// Python writes `None` as JSON null; transformers treats a null argument like a missing one in almost
// every config class, so `has()` and the `*_or` readers treat null as absent. Readers that must tell
// null from absent (Qwen2's num_key_value_heads) ask `is_null()` first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mha2mla::hf {

class JsonReader {
 public:
  // `object` must outlive the reader. `path` is the key path of `object` inside the file ("" at the top).
  JsonReader(const nlohmann::json& object, std::string file, std::string path = {});

  // A reader for a nested object; fails naming the key when the value is not an object.
  // Absent or null gives std::nullopt.
  std::optional<JsonReader> object(const char* key) const;

  bool has(const char* key) const;       // present and not null
  bool is_null(const char* key) const;   // present and null
  bool contains(const char* key) const;  // present, null or not

  int64_t required_int(const char* key) const;
  int64_t int_or(const char* key, int64_t fallback) const;
  std::optional<int64_t> optional_int(const char* key) const;
  double number_or(const char* key, double fallback) const;
  std::optional<double> optional_number(const char* key) const;
  bool bool_or(const char* key, bool fallback) const;
  std::optional<bool> optional_bool(const char* key) const;
  std::string string_or(const char* key, const std::string& fallback) const;
  std::string required_string(const char* key) const;
  std::vector<int64_t> int_list(const char* key) const;         // absent -> empty
  std::vector<std::string> string_list(const char* key) const;  // absent -> empty

  // An integer or a list of integers (eos_token_id, vision_feature_layer). Absent -> empty,
  // `was_list` tells which form the file used.
  std::vector<int64_t> int_or_int_list(const char* key, bool* was_list = nullptr) const;

  // A list of [a, b] pairs (image_grid_pinpoints).
  std::vector<std::vector<int64_t>> int_pairs(const char* key) const;

  // "text_config.hidden_size": the key's full path, for messages.
  std::string key_path(const char* key) const;
  const std::string& file() const { return file_; }
  const nlohmann::json& document() const { return *object_; }

  // Fails with "<file>: key '<path>' <what>".
  [[noreturn]] void fail_key(const char* key, const std::string& what) const;
  // Fails with "<file>: missing required key '<path>' (<context>)".
  [[noreturn]] void fail_missing(const char* key, const std::string& context) const;

 private:
  const nlohmann::json* value(const char* key) const;  // nullptr when absent
  int64_t to_int(const char* key, const nlohmann::json& value) const;

  const nlohmann::json* object_;
  std::string file_;
  std::string path_;
};

// A short rendering of a JSON value for messages: strings quoted, long values cut.
std::string describe_json(const nlohmann::json& value);

}  // namespace mha2mla::hf
