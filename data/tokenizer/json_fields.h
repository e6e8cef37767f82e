// Typed reads of tokenizer.json / tokenizer_config.json fields whose errors name the file and key.
// `where` is "file: dotted.key.path" of the object being read.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace mha2mla::tokenizer {

inline const nlohmann::json& json_field(const nlohmann::json& object, const char* key, const std::string& where) {
  if (!object.is_object()) fail("{}: expected a JSON object, found {}", where, object.type_name());
  auto it = object.find(key);
  if (it == object.end()) fail("{}: key '{}' is missing", where, key);
  return *it;
}

inline std::string json_string(const nlohmann::json& object, const char* key, const std::string& where) {
  const auto& value = json_field(object, key, where);
  if (!value.is_string()) fail("{}.{}: expected a string, found {}", where, key, value.type_name());
  return value.get<std::string>();
}

// Absent or null -> fallback.
inline bool json_bool(const nlohmann::json& object, const char* key, const std::string& where, bool fallback) {
  if (!object.is_object()) fail("{}: expected a JSON object, found {}", where, object.type_name());
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail("{}.{}: expected true or false, found {}", where, key, it->type_name());
  return it->get<bool>();
}

inline std::string json_string_or(const nlohmann::json& object, const char* key, const std::string& where,
                                  const std::string& fallback) {
  if (!object.is_object()) fail("{}: expected a JSON object, found {}", where, object.type_name());
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_string()) fail("{}.{}: expected a string, found {}", where, key, it->type_name());
  return it->get<std::string>();
}

}  // namespace mha2mla::tokenizer
