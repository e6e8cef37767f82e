#include "data/readers/dataset_files.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "data/readers/buffered_file.h"

namespace mha2mla::data {
namespace fs = std::filesystem;

DatasetFormat parse_format(const std::string& name, const std::string& where) {
  if (name == "llava_json") return DatasetFormat::kLlavaJson;
  if (name == "sharegpt_jsonl") return DatasetFormat::kSharegptJsonl;
  if (name == "messages_jsonl") return DatasetFormat::kMessagesJsonl;
  if (name == "wds") return DatasetFormat::kWebDataset;
  fail("{}: unknown dataset format '{}'; expected llava_json, sharegpt_jsonl, messages_jsonl or wds", where, name);
}

std::string DatasetFiles::image_root_for(int32_t shard) const {
  if (!image_root.empty()) return image_root;
  std::string dir = parent_directory(shards.at(shard));
  return dir.empty() ? "." : dir;
}

namespace {

std::vector<std::string> glob_files(const std::string& pattern) {
  glob_t matches{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i)
      if (fs::is_regular_file(matches.gl_pathv[i])) out.emplace_back(matches.gl_pathv[i]);
  }
  ::globfree(&matches);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> folder_files(const std::string& dir) {
  for (const char* extension : {".tar", ".jsonl", ".json"}) {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && entry.path().extension() == extension) out.push_back(entry.path().string());
    if (!out.empty()) {
      std::sort(out.begin(), out.end());
      return out;
    }
  }
  return {};
}

// The first non-blank line (at most 1 MiB of it) of a text file.
std::string first_line(const std::string& path) {
  BufferedFile file(path);
  std::string line;
  while (file.fill()) {
    char c = *file.data();
    file.consume(1);
    if (c == '\n') {
      if (!trim(line).empty()) break;
      line.clear();
      continue;
    }
    line.push_back(c);
    if (line.size() > (size_t{1} << 20)) break;
  }
  return trim(line);
}

DatasetFormat detect_format(const std::string& path, const std::string& where) {
  if (ends_with(path, ".tar")) return DatasetFormat::kWebDataset;
  std::string line = first_line(path);
  if (starts_with(line, "\xEF\xBB\xBF")) line = line.substr(3);
  if (starts_with(line, "[")) return DatasetFormat::kLlavaJson;
  if (starts_with(line, "{")) {
    nlohmann::json first = nlohmann::json::parse(line, nullptr, false);
    if (first.is_object() && first.contains("messages")) return DatasetFormat::kMessagesJsonl;
    return DatasetFormat::kSharegptJsonl;
  }
  fail_with_hint("set the dataset's format: llava_json, sharegpt_jsonl, messages_jsonl or wds",
                 "{}: cannot tell the format of '{}' (it starts with neither '[' nor '{{')", where, path);
}

}  // namespace

DatasetFiles resolve_dataset(const DatasetConfig& config, size_t index) {
  const std::string where = fmt::format("data.datasets[{}].path = '{}'", index, config.path);
  if (config.path.empty()) fail("data.datasets[{}].path is empty; expected a dataset file, folder or glob", index);
  DatasetFiles files;
  files.spec = config.path;
  files.weight = config.weight;
  files.image_root = config.image_root;
  if (directory_exists(config.path)) files.shards = folder_files(config.path);
  else if (config.path.find_first_of("*?[") != std::string::npos) files.shards = glob_files(config.path);
  else if (file_exists(config.path)) files.shards = {config.path};
  else fail("{}: no such file or folder", where);
  if (files.shards.empty()) fail("{}: matches no dataset files (.tar, .jsonl or .json)", where);
  if (!files.image_root.empty() && !directory_exists(files.image_root))
    fail("data.datasets[{}].image_root = '{}': folder not found", index, files.image_root);

  files.format = config.format == "auto" ? detect_format(files.shards.front(), where)
                                         : parse_format(config.format, fmt::format("data.datasets[{}].format", index));
  for (const std::string& shard : files.shards) {
    bool tar = ends_with(shard, ".tar");
    if (tar != (files.format == DatasetFormat::kWebDataset))
      fail("{}: '{}' does not fit format {} (WebDataset shards are .tar files, the JSON formats are not)", where,
           shard, format_name(files.format));
  }
  return files;
}

}  // namespace mha2mla::data
