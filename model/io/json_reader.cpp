#include "model/io/json_reader.h"

#include <cmath>

#include "common/error.h"

namespace mha2mla::hf {

using nlohmann::json;

std::string describe_json(const json& value) {
  std::string text = value.dump();
  constexpr size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  const char* kind = value.is_string()    ? "string"
                     : value.is_boolean() ? "boolean"
                     : value.is_number()  ? "number"
                     : value.is_array()   ? "list"
                     : value.is_object()  ? "object"
                                          : "null";
  return fmt::format("{} {}", kind, text);
}

JsonReader::JsonReader(const json& object, std::string file, std::string path)
    : object_(&object), file_(std::move(file)), path_(std::move(path)) {
  if (!object.is_object()) {
    if (path_.empty()) fail("{}: the top level must be a JSON object, found {}", file_, describe_json(object));
    fail("{}: key '{}' must be an object, found {}", file_, path_, describe_json(object));
  }
}

std::string JsonReader::key_path(const char* key) const { return path_.empty() ? std::string(key) : path_ + "." + key; }

void JsonReader::fail_key(const char* key, const std::string& what) const {
  fail("{}: key '{}' {}", file_, key_path(key), what);
}

void JsonReader::fail_missing(const char* key, const std::string& context) const {
  fail("{}: missing required key '{}' ({})", file_, key_path(key), context);
}

const json* JsonReader::value(const char* key) const {
  auto it = object_->find(key);
  return it == object_->end() ? nullptr : &*it;
}

bool JsonReader::contains(const char* key) const { return value(key) != nullptr; }

bool JsonReader::has(const char* key) const {
  const json* v = value(key);
  return v && !v->is_null();
}

bool JsonReader::is_null(const char* key) const {
  const json* v = value(key);
  return v && v->is_null();
}

std::optional<JsonReader> JsonReader::object(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_object()) fail_key(key, "must be an object, found " + describe_json(*v));
  return JsonReader(*v, file_, key_path(key));
}

int64_t JsonReader::to_int(const char* key, const json& v) const {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) fail_key(key, "is out of range: " + v.dump());
    return static_cast<int64_t>(u);
  }
  // Python would accept 4096.0 where an int is meant; so do we, but nothing with a fraction.
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
  }
  fail_key(key, "must be an integer, found " + describe_json(v));
}

int64_t JsonReader::required_int(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) fail_missing(key, "an integer");
  return to_int(key, *v);
}

int64_t JsonReader::int_or(const char* key, int64_t fallback) const {
  const json* v = value(key);
  return (!v || v->is_null()) ? fallback : to_int(key, *v);
}

std::optional<int64_t> JsonReader::optional_int(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) return std::nullopt;
  return to_int(key, *v);
}

std::optional<double> JsonReader::optional_number(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_number()) fail_key(key, "must be a number, found " + describe_json(*v));
  return v->get<double>();
}

double JsonReader::number_or(const char* key, double fallback) const { return optional_number(key).value_or(fallback); }

std::optional<bool> JsonReader::optional_bool(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_boolean()) fail_key(key, "must be true or false, found " + describe_json(*v));
  return v->get<bool>();
}

bool JsonReader::bool_or(const char* key, bool fallback) const { return optional_bool(key).value_or(fallback); }

std::string JsonReader::string_or(const char* key, const std::string& fallback) const {
  const json* v = value(key);
  if (!v || v->is_null()) return fallback;
  if (!v->is_string()) fail_key(key, "must be a string, found " + describe_json(*v));
  return v->get<std::string>();
}

std::string JsonReader::required_string(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) fail_missing(key, "a string");
  return string_or(key, {});
}

std::vector<int64_t> JsonReader::int_list(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) return {};
  if (!v->is_array()) fail_key(key, "must be a list of integers, found " + describe_json(*v));
  std::vector<int64_t> out;
  for (const json& item : *v) {
    if (!item.is_number()) fail_key(key, "must be a list of integers, found an element " + describe_json(item));
    out.push_back(to_int(key, item));
  }
  return out;
}

std::vector<std::string> JsonReader::string_list(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) return {};
  if (!v->is_array()) fail_key(key, "must be a list of strings, found " + describe_json(*v));
  std::vector<std::string> out;
  for (const json& item : *v) {
    if (!item.is_string()) fail_key(key, "must be a list of strings, found an element " + describe_json(item));
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<int64_t> JsonReader::int_or_int_list(const char* key, bool* was_list) const {
  if (was_list) *was_list = false;
  const json* v = value(key);
  if (!v || v->is_null()) return {};
  if (v->is_array()) {
    if (was_list) *was_list = true;
    return int_list(key);
  }
  if (!v->is_number()) fail_key(key, "must be an integer or a list of integers, found " + describe_json(*v));
  return {to_int(key, *v)};
}

std::vector<std::vector<int64_t>> JsonReader::int_pairs(const char* key) const {
  const json* v = value(key);
  if (!v || v->is_null()) return {};
  const std::string expected = "must be a list of [height, width] pairs of integers, found ";
  if (!v->is_array()) fail_key(key, expected + describe_json(*v));
  std::vector<std::vector<int64_t>> out;
  for (const json& pair : *v) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number() || !pair[1].is_number())
      fail_key(key, expected + "an element " + describe_json(pair));
    out.push_back({to_int(key, pair[0]), to_int(key, pair[1])});
  }
  return out;
}

}  // namespace mha2mla::hf
