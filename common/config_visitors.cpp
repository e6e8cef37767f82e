#include "common/config_visitors.h"

#include <cstdlib>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/strings.h"

namespace mha2mla::config {
namespace {

std::string join_key(const std::string& prefix, const char* key) {
  return prefix.empty() ? std::string(key) : prefix + "." + key;
}

std::string format_double(double value) {
  std::string text = fmt::format("{}", value);
  // Keep it recognisably floating point when read back ("1" would parse as an integer and still work,
  // but "1.0" says what the field is).
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

template <typename T>
std::string format_list(const std::vector<T>& values) {
  std::vector<std::string> parts;
  for (const auto& v : values) {
    if constexpr (std::is_same_v<T, double>) {
      parts.push_back(format_double(v));
    } else if constexpr (std::is_same_v<T, std::string>) {
      parts.push_back(v);
    } else {
      parts.push_back(std::to_string(v));
    }
  }
  return "[" + join(parts, ", ") + "]";
}

// ---------------------------------------------------------------------------------------------------
// Reader: YAML -> struct.

std::string expand_environment(const std::string& text, const std::string& where) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      size_t close = text.find('}', i + 2);
      if (close == std::string::npos) fail("{}: unterminated '${{' in '{}'", where, text);
      std::string inner = text.substr(i + 2, close - i - 2);
      std::string name = inner, fallback;
      bool has_fallback = false;
      if (size_t dash = inner.find(":-"); dash != std::string::npos) {
        name = inner.substr(0, dash);
        fallback = inner.substr(dash + 2);
        has_fallback = true;
      }
      const char* value = std::getenv(name.c_str());
      if (value && *value) {
        out += value;
      } else if (has_fallback) {
        out += fallback;
      } else {
        fail_with_hint(fmt::format("set {} or write ${{{}:-default}}", name, name),
                       "{}: environment variable {} used in '{}' is not set", where, name, text);
      }
      i = close + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

class Reader final : public Visitor {
 public:
  Reader(const Tree& tree, YAML::Node node, std::string prefix)
      : tree_(tree), node_(std::move(node)), prefix_(std::move(prefix)) {}

  void field(const char* key, bool& value, const char* doc) override {
    if (auto n = lookup(key)) {
      std::string path = join_key(prefix_, key);
      expect_scalar(n, path, "true or false");
      if (!YAML::convert<bool>::decode(n, value)) mistyped(path, n, "true or false");
    }
  }
  void field(const char* key, int64_t& value, const char* doc, const Constraint& c) override {
    if (auto n = lookup(key)) value = read_integer(n, join_key(prefix_, key), c);
  }
  void field(const char* key, double& value, const char* doc, const Constraint& c) override {
    if (auto n = lookup(key)) value = read_number(n, join_key(prefix_, key), c);
  }
  void field(const char* key, std::string& value, const char* doc, const Constraint& c) override {
    if (auto n = lookup(key)) value = read_string(n, join_key(prefix_, key), c);
  }
  void field(const char* key, std::vector<int64_t>& value, const char* doc, const Constraint& c) override {
    read_list(key, value, [&](const YAML::Node& n, const std::string& p) { return read_integer(n, p, c); });
  }
  void field(const char* key, std::vector<double>& value, const char* doc, const Constraint& c) override {
    read_list(key, value, [&](const YAML::Node& n, const std::string& p) { return read_number(n, p, c); });
  }
  void field(const char* key, std::vector<std::string>& value, const char* doc, const Constraint& c) override {
    read_list(key, value, [&](const YAML::Node& n, const std::string& p) { return read_string(n, p, c); });
  }

  void section(const char* key, const char* doc, const std::function<void(Visitor&)>& body) override {
    std::string path = join_key(prefix_, key);
    YAML::Node n = lookup(key);
    if (n && !n.IsNull() && !n.IsMap()) mistyped(path, n, "a section (a mapping of keys)");
    Reader nested(tree_, n && n.IsMap() ? n : YAML::Node(YAML::NodeType::Map), path);
    body(nested);
    nested.reject_unknown_keys();
  }

  void section_list(const char* key, const char* doc, SectionList& list) override {
    std::string path = join_key(prefix_, key);
    YAML::Node n = lookup(key);
    if (!n || n.IsNull()) return;
    if (!n.IsSequence()) mistyped(path, n, "a list of sections");
    list.resize(n.size());
    for (size_t i = 0; i < n.size(); ++i) {
      std::string item_path = fmt::format("{}[{}]", path, i);
      if (!n[i].IsMap()) mistyped(item_path, n[i], "a section (a mapping of keys)");
      Reader nested(tree_, n[i], item_path);
      list.visit(i, nested);
      nested.reject_unknown_keys();
    }
  }

  void reject_unknown_keys() const {
    if (!node_.IsMap()) return;
    for (const auto& entry : node_) {
      std::string key = entry.first.as<std::string>();
      if (declared_.count(key)) continue;
      std::string path = join_key(prefix_, key.c_str());
      std::vector<std::string> candidates(declared_.begin(), declared_.end());
      std::string nearest = nearest_match(key, candidates);
      std::string hint = nearest.empty()
                             ? fmt::format("valid keys here: {}", join(candidates, ", "))
                             : fmt::format("did you mean '{}'?", join_key(prefix_, nearest.c_str()));
      fail_with_hint(hint, "{}: unknown key '{}'", where(path), path);
    }
  }

 private:
  YAML::Node lookup(const char* key) {
    declared_.insert(key);
    if (!node_.IsMap()) return YAML::Node();
    // Const access: yaml-cpp's non-const operator[] would insert the missing key into the map.
    const YAML::Node& map = node_;
    YAML::Node n = map[key];
    return n.IsDefined() ? n : YAML::Node(YAML::NodeType::Undefined);
  }

  std::string where(const std::string& path) const {
    std::string origin = tree_.origin(path);
    return origin.empty() ? std::string("recipe") : origin;
  }

  [[noreturn]] void mistyped(const std::string& path, const YAML::Node& n, const std::string& expected) const {
    std::string found = n.IsScalar() ? "'" + n.Scalar() + "'" : n.IsSequence() ? "a list" : n.IsMap() ? "a section"
                                                                                                 : "nothing";
    fail("{}: {} expected {}, found {}", where(path), path, expected, found);
  }

  void expect_scalar(const YAML::Node& n, const std::string& path, const std::string& expected) const {
    if (!n.IsScalar()) mistyped(path, n, expected);
  }

  void check(const std::string& path, const Constraint& c, double value, const std::string& text) const {
    std::string problem = c.violation(value);
    if (!problem.empty()) fail("{}: {} = {} is out of range: {}", where(path), path, text, problem);
  }

  int64_t read_integer(const YAML::Node& n, const std::string& path, const Constraint& c) const {
    expect_scalar(n, path, "an integer");
    int64_t value = 0;
    if (!YAML::convert<int64_t>::decode(n, value)) {
      // Accept integral floats written as 1e3 or 4096.0, nothing fractional.
      double d = 0;
      if (!YAML::convert<double>::decode(n, d) || d != static_cast<double>(static_cast<int64_t>(d)))
        mistyped(path, n, "an integer");
      value = static_cast<int64_t>(d);
    }
    check(path, c, static_cast<double>(value), n.Scalar());
    return value;
  }

  double read_number(const YAML::Node& n, const std::string& path, const Constraint& c) const {
    expect_scalar(n, path, "a number");
    double value = 0;
    if (!YAML::convert<double>::decode(n, value)) mistyped(path, n, "a number");
    check(path, c, value, n.Scalar());
    return value;
  }

  std::string read_string(const YAML::Node& n, const std::string& path, const Constraint& c) const {
    if (n.IsNull()) return {};
    expect_scalar(n, path, "a string");
    std::string value = expand_environment(n.Scalar(), where(path) + ": " + path);
    std::string problem = c.violation(value);
    if (!problem.empty()) {
      std::string nearest = nearest_match(value, c.choices);
      fail_with_hint(nearest.empty() ? std::string() : fmt::format("did you mean '{}'?", nearest),
                     "{}: {} = '{}' is not allowed: {}", where(path), path, value, problem);
    }
    return value;
  }

  template <typename T, typename ReadOne>
  void read_list(const char* key, std::vector<T>& value, ReadOne read_one) {
    YAML::Node n = lookup(key);
    if (!n) return;
    std::string path = join_key(prefix_, key);
    if (n.IsNull()) {
      value.clear();
      return;
    }
    if (!n.IsSequence()) mistyped(path, n, "a list ([a, b, ...])");
    std::vector<T> out;
    for (size_t i = 0; i < n.size(); ++i) out.push_back(read_one(n[i], fmt::format("{}[{}]", path, i)));
    value = std::move(out);
  }

  const Tree& tree_;
  YAML::Node node_;
  std::string prefix_;
  std::set<std::string> declared_;
};

// ---------------------------------------------------------------------------------------------------
// Flattener: struct -> (key, value) rows.

class Flattener final : public Visitor {
 public:
  explicit Flattener(std::string prefix, std::vector<std::pair<std::string, std::string>>& rows)
      : prefix_(std::move(prefix)), rows_(rows) {}
  void field(const char* key, bool& v, const char*) override { add(key, v ? "true" : "false"); }
  void field(const char* key, int64_t& v, const char*, const Constraint&) override { add(key, std::to_string(v)); }
  void field(const char* key, double& v, const char*, const Constraint&) override { add(key, format_double(v)); }
  void field(const char* key, std::string& v, const char*, const Constraint&) override { add(key, v); }
  void field(const char* key, std::vector<int64_t>& v, const char*, const Constraint&) override {
    add(key, format_list(v));
  }
  void field(const char* key, std::vector<double>& v, const char*, const Constraint&) override {
    add(key, format_list(v));
  }
  void field(const char* key, std::vector<std::string>& v, const char*, const Constraint&) override {
    add(key, format_list(v));
  }
  void section(const char* key, const char*, const std::function<void(Visitor&)>& body) override {
    Flattener nested(join_key(prefix_, key), rows_);
    body(nested);
  }
  void section_list(const char* key, const char*, SectionList& list) override {
    if (list.size() == 0) add(key, "[]");
    for (size_t i = 0; i < list.size(); ++i) {
      Flattener nested(fmt::format("{}[{}]", join_key(prefix_, key), i), rows_);
      list.visit(i, nested);
    }
  }

 private:
  void add(const char* key, std::string value) { rows_.emplace_back(join_key(prefix_, key), std::move(value)); }
  std::string prefix_;
  std::vector<std::pair<std::string, std::string>>& rows_;
};

// ---------------------------------------------------------------------------------------------------
// Emitter: struct -> YAML.

class Emitter final : public Visitor {
 public:
  explicit Emitter(YAML::Emitter& out) : out_(out) {}
  void field(const char* key, bool& v, const char*) override { out_ << YAML::Key << key << YAML::Value << v; }
  void field(const char* key, int64_t& v, const char*, const Constraint&) override {
    out_ << YAML::Key << key << YAML::Value << v;
  }
  void field(const char* key, double& v, const char*, const Constraint&) override {
    out_ << YAML::Key << key << YAML::Value << format_double(v);
  }
  void field(const char* key, std::string& v, const char*, const Constraint&) override {
    out_ << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << v;
  }
  void field(const char* key, std::vector<int64_t>& v, const char*, const Constraint&) override {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << v;
  }
  void field(const char* key, std::vector<double>& v, const char*, const Constraint&) override {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (double d : v) out_ << format_double(d);
    out_ << YAML::EndSeq;
  }
  void field(const char* key, std::vector<std::string>& v, const char*, const Constraint&) override {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& s : v) out_ << YAML::DoubleQuoted << s;
    out_ << YAML::EndSeq;
  }
  void section(const char* key, const char*, const std::function<void(Visitor&)>& body) override {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    body(*this);
    out_ << YAML::EndMap;
  }
  void section_list(const char* key, const char*, SectionList& list) override {
    out_ << YAML::Key << key << YAML::Value << YAML::BeginSeq;
    for (size_t i = 0; i < list.size(); ++i) {
      out_ << YAML::BeginMap;
      list.visit(i, *this);
      out_ << YAML::EndMap;
    }
    out_ << YAML::EndSeq;
  }

 private:
  YAML::Emitter& out_;
};

// ---------------------------------------------------------------------------------------------------
// Reference: struct -> markdown tables.

class ReferenceWriter final : public Visitor {
 public:
  ReferenceWriter(std::string prefix, std::ostringstream& out, std::vector<std::string>* keys_only)
      : prefix_(std::move(prefix)), out_(out), keys_only_(keys_only) {}

  void field(const char* key, bool& v, const char* doc) override { row(key, "bool", v ? "true" : "false", {}, doc); }
  void field(const char* key, int64_t& v, const char* doc, const Constraint& c) override {
    row(key, "int", std::to_string(v), c, doc);
  }
  void field(const char* key, double& v, const char* doc, const Constraint& c) override {
    row(key, "float", format_double(v), c, doc);
  }
  void field(const char* key, std::string& v, const char* doc, const Constraint& c) override {
    row(key, "string", v.empty() ? "\"\"" : v, c, doc);
  }
  void field(const char* key, std::vector<int64_t>& v, const char* doc, const Constraint& c) override {
    row(key, "list of int", format_list(v), c, doc);
  }
  void field(const char* key, std::vector<double>& v, const char* doc, const Constraint& c) override {
    row(key, "list of float", format_list(v), c, doc);
  }
  void field(const char* key, std::vector<std::string>& v, const char* doc, const Constraint& c) override {
    row(key, "list of string", format_list(v), c, doc);
  }
  void section(const char* key, const char* doc, const std::function<void(Visitor&)>& body) override {
    open_section(join_key(prefix_, key), doc, body);
  }
  void section_list(const char* key, const char* doc, SectionList& list) override {
    std::string path = join_key(prefix_, key) + "[]";
    open_section(path, doc, [&](Visitor& v) { list.visit_prototype(v); });
  }

 private:
  void open_section(const std::string& path, const char* doc,
                    const std::function<void(Visitor&)>& body) {
    // Fields of this section first (one table), then its subsections, each with its own heading.
    std::ostringstream fields;
    ReferenceWriter nested(path, fields, keys_only_);
    body(nested);
    if (keys_only_) return;
    out_ << "\n## `" << path << "`\n\n" << doc << "\n";
    if (!nested.rows_.empty()) {
      out_ << "\n| key | type | default | allowed | description |\n|---|---|---|---|---|\n" << nested.rows_;
    }
    out_ << fields.str();
  }

  void row(const char* key, const char* type, const std::string& default_value, const Constraint& c,
           const char* doc) {
    std::string path = join_key(prefix_, key);
    if (keys_only_) {
      keys_only_->push_back(path);
      return;
    }
    rows_ += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", path, type, default_value, c.describe(), doc);
  }

  std::string prefix_;
  std::ostringstream& out_;
  std::vector<std::string>* keys_only_;
  std::string rows_;
};

}  // namespace

void read(const Tree& tree, const Describe& describe) {
  Reader reader(tree, tree.root(), "");
  describe(reader);
  reader.reject_unknown_keys();
}

std::vector<std::pair<std::string, std::string>> flatten(const Describe& describe) {
  std::vector<std::pair<std::string, std::string>> rows;
  Flattener flattener("", rows);
  describe(flattener);
  return rows;
}

std::string to_yaml(const Describe& describe) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Emitter emitter(out);
  describe(emitter);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string reference_markdown(const Describe& describe) {
  std::ostringstream out;
  ReferenceWriter writer("", out, nullptr);
  describe(writer);
  return out.str();
}

std::vector<std::string> all_keys(const Describe& describe) {
  std::ostringstream unused;
  std::vector<std::string> keys;
  ReferenceWriter writer("", unused, &keys);
  describe(writer);
  return keys;
}

std::string format_table(const std::vector<std::pair<std::string, std::string>>& rows, const std::string& title) {
  size_t width = 0;
  for (const auto& [key, value] : rows) width = std::max(width, key.size());
  std::string out = title + "\n";
  for (const auto& [key, value] : rows) out += fmt::format("  {:<{}}  {}\n", key, width, value);
  return out;
}

}  // namespace mha2mla::config
