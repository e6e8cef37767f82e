// A recipe as YAML, before it becomes typed config: `base:` inheritance, `key.path=value` overrides and
// the origin (file:line, or the command line) of every key, so that errors can point at their source.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace mha2mla::config {

class Tree {
 public:
  // Loads a YAML file. A top-level `base:` (a path or a list of paths, relative to the including file)
  // is loaded first; maps merge key by key, the including file winning; scalars and lists are replaced.
  static Tree load_file(const std::string& path);
  static Tree from_string(const std::string& yaml, const std::string& source_name);

  // Applies "a.b.c=value"; value is parsed as YAML ("3", "1e-5", "[1, 2]", "text").
  void apply_override(const std::string& assignment);

  const YAML::Node& root() const { return root_; }

  // Where `key_path` ("train.lr", "data.datasets[0].path") was set: "file:line", "command line (k=v)",
  // or "" when it was not set at all.
  std::string origin(const std::string& key_path) const;

  // Every file read, base files first.
  const std::vector<std::string>& files() const { return files_; }

 private:
  static void load_into(Tree& tree, const std::string& path, std::vector<std::string>& stack);
  void merge(const YAML::Node& incoming, const std::string& source);

  YAML::Node root_ = YAML::Node(YAML::NodeType::Map);
  std::map<std::string, std::string> origins_;
  std::vector<std::string> files_;
};

}  // namespace mha2mla::config
