#include "common/config_tree.h"

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"

namespace mha2mla::config {
namespace {

std::string child_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Records the origin of every key and list element under `node`.
void record_origins(const YAML::Node& node, const std::string& path, const std::string& source,
                    std::map<std::string, std::string>& origins) {
  // Lines mean something in files only; a command-line value is its own origin.
  const bool has_lines = !starts_with(source, "command line");
  auto origin_of = [&](const YAML::Node& n) {
    auto mark = n.Mark();
    return has_lines && mark.line >= 0 ? fmt::format("{}:{}", source, mark.line + 1) : source;
  };
  if (node.IsMap()) {
    for (const auto& entry : node) {
      std::string key = child_path(path, entry.first.as<std::string>());
      origins[key] = origin_of(entry.first);
      record_origins(entry.second, key, source, origins);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      std::string key = fmt::format("{}[{}]", path, i);
      origins[key] = origin_of(node[i]);
      record_origins(node[i], key, source, origins);
    }
  }
}

// Deep merge: maps key by key; anything else replaces.
void merge_nodes(YAML::Node target, const YAML::Node& incoming) {
  for (const auto& entry : incoming) {
    const std::string key = entry.first.as<std::string>();
    YAML::Node existing = target[key];
    if (existing.IsMap() && entry.second.IsMap()) {
      merge_nodes(existing, entry.second);
    } else {
      target[key] = YAML::Clone(entry.second);
    }
  }
}

void forget_origins_below(std::map<std::string, std::string>& origins, const std::string& path) {
  for (auto it = origins.lower_bound(path); it != origins.end() && starts_with(it->first, path);) {
    char next = it->first.size() > path.size() ? it->first[path.size()] : '\0';
    if (it->first.size() > path.size() && next != '.' && next != '[') {
      ++it;
      continue;
    }
    it = origins.erase(it);
  }
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    YAML::Node node = YAML::Load(text);
    if (node.IsNull()) return YAML::Node(YAML::NodeType::Map);
    if (!node.IsMap()) fail("{}: a recipe must be a YAML mapping of sections (model:, data:, ...)", source);
    return node;
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: invalid YAML: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
}

}  // namespace

Tree Tree::load_file(const std::string& path) {
  Tree tree;
  std::vector<std::string> stack;
  load_into(tree, path, stack);
  return tree;
}

Tree Tree::from_string(const std::string& yaml, const std::string& source_name) {
  Tree tree;
  tree.merge(parse_yaml(yaml, source_name), source_name);
  return tree;
}

void Tree::load_into(Tree& tree, const std::string& path, std::vector<std::string>& stack) {
  if (!file_exists(path)) fail("recipe file '{}' not found", path);
  std::string canonical = std::filesystem::weakly_canonical(path).string();
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end())
    fail("recipe '{}': circular `base:` chain ({} -> {})", path, join(stack, " -> "), canonical);
  stack.push_back(canonical);

  YAML::Node node = parse_yaml(read_file(path), path);
  if (YAML::Node base = node["base"]) {
    std::vector<std::string> bases;
    if (base.IsScalar()) {
      bases.push_back(base.as<std::string>());
    } else if (base.IsSequence()) {
      for (const auto& b : base) bases.push_back(b.as<std::string>());
    } else {
      fail("{}:{}: `base:` must be a path or a list of paths", path, base.Mark().line + 1);
    }
    for (const auto& b : bases) load_into(tree, path_join(parent_directory(path), b), stack);
    node.remove("base");
  }
  tree.merge(node, path);
  tree.files_.push_back(path);
  stack.pop_back();
}

void Tree::merge(const YAML::Node& incoming, const std::string& source) {
  // A non-map value replaces everything below its key, origins included.
  for (const auto& entry : incoming) {
    std::string key = entry.first.as<std::string>();
    if (!(entry.second.IsMap() && root_[key].IsMap())) forget_origins_below(origins_, key);
  }
  merge_nodes(root_, incoming);
  record_origins(incoming, "", source, origins_);
}

void Tree::apply_override(const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail("override '{}': expected key.path=value (e.g. train.lr=1e-5)", assignment);
  std::string key_path = trim(assignment.substr(0, eq));
  std::string value_text = assignment.substr(eq + 1);
  std::vector<std::string> keys = split(key_path, '.');
  for (const auto& key : keys)
    if (key.empty()) fail("override '{}': empty key component in '{}'", assignment, key_path);

  YAML::Node value;
  try {
    value = value_text.empty() ? YAML::Node(std::string()) : YAML::Load(value_text);
  } catch (const YAML::Exception& e) {
    fail("override '{}': value is not valid YAML: {}", assignment, e.msg);
  }

  // Build {k1: {k2: ... {kn: value}}} and merge it like a file.
  YAML::Node wrapped = value;
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    YAML::Node map(YAML::NodeType::Map);
    map[*it] = wrapped;
    wrapped = map;
  }
  std::string source = fmt::format("command line ({})", assignment);
  forget_origins_below(origins_, key_path);
  merge_nodes(root_, wrapped);
  std::string path;
  for (const auto& key : keys) {
    path = child_path(path, key);
    if (!origins_.count(path)) origins_[path] = source;
  }
  origins_[key_path] = source;
  record_origins(value, key_path, source, origins_);
}

std::string Tree::origin(const std::string& key_path) const {
  auto it = origins_.find(key_path);
  return it == origins_.end() ? std::string() : it->second;
}

}  // namespace mha2mla::config
