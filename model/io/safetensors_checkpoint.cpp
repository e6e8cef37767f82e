#include "model/io/safetensors_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "model/io/safetensors_writer.h"
#include "model/io/strict_json.h"

namespace mha2mla::io {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Shard {
  std::string path;
  std::string name;                 // as the index spells it
  std::vector<std::string> listed;  // tensors the index places here
  std::unique_ptr<SafetensorsFile> file;
};

// Index entries are file names relative to the index's folder; anything that could reach outside it is
// refused (a downloaded index must not make us read arbitrary files).
void check_shard_name(const std::string& index, const std::string& tensor, const std::string& shard) {
  fs::path path(shard);
  bool escapes = shard.empty() || path.is_absolute() ||
                 std::any_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
  if (escapes)
    fail("index '{}' maps tensor '{}' to shard '{}', which is not a file name inside the index's folder", index,
         tensor, shard);
}

}  // namespace

struct SafetensorsCheckpoint::State {
  std::string source;
  bool sharded = false;
  std::vector<Shard> shards;                            // in name order
  std::unordered_map<std::string, size_t> shard_of;     // tensor -> shard
  std::vector<std::string> names;                       // sorted
  std::mutex mutex;
  std::vector<std::string> unlisted;

  void read_index(const std::string& index_path);
  void add_single_file(const std::string& path);
  size_t shard_index(const std::string& name) const;
  const SafetensorsFile& open_shard(size_t i);  // caller holds `mutex`
};

void SafetensorsCheckpoint::State::read_index(const std::string& index_path) {
  source = index_path;
  sharded = true;
  std::string text = read_file(index_path);
  json index = parse_strict_json(text, fmt::format("safetensors index '{}'", index_path));
  if (!index.is_object() || !index.contains("weight_map"))
    fail("safetensors index '{}' has no \"weight_map\" object (expected {{\"metadata\": {{...}}, \"weight_map\": "
         "{{tensor name: shard file}}}})",
         index_path);
  const json& weight_map = index["weight_map"];
  if (!weight_map.is_object())
    fail("safetensors index '{}': \"weight_map\" is a JSON {} but must be an object", index_path,
         weight_map.type_name());
  if (weight_map.empty()) fail("safetensors index '{}': \"weight_map\" lists no tensors", index_path);

  std::string folder = parent_directory(index_path);
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [tensor, shard] : weight_map.items()) {
    if (!shard.is_string())
      fail("safetensors index '{}': tensor '{}' maps to a JSON {} but must map to a shard file name", index_path,
           tensor, shard.type_name());
    check_shard_name(index_path, tensor, shard.get<std::string>());
    by_shard[shard.get<std::string>()].push_back(tensor);
  }
  for (auto& [shard_name, tensors] : by_shard) {
    Shard shard;
    shard.name = shard_name;
    shard.path = path_join(folder, shard_name);
    if (!file_exists(shard.path))
      fail("safetensors index '{}' maps {} tensor(s) (e.g. '{}') to shard '{}', which does not exist", index_path,
           tensors.size(), tensors.front(), shard.path);
    for (const auto& tensor : tensors) shard_of.emplace(tensor, shards.size());
    shard.listed = std::move(tensors);
    shards.push_back(std::move(shard));
  }
}

void SafetensorsCheckpoint::State::add_single_file(const std::string& path) {
  source = path;
  Shard shard;
  shard.path = path;
  shard.name = fs::path(path).filename().string();
  shard.file = std::make_unique<SafetensorsFile>(path);
  shard.listed = shard.file->names();
  for (const auto& tensor : shard.listed) shard_of.emplace(tensor, 0);
  shards.push_back(std::move(shard));
}

size_t SafetensorsCheckpoint::State::shard_index(const std::string& name) const {
  auto it = shard_of.find(name);
  if (it == shard_of.end()) {
    std::string suggestion = nearest_match(name, names);
    fail("checkpoint '{}' has no tensor '{}'{}", source, name,
         suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion));
  }
  return it->second;
}

const SafetensorsFile& SafetensorsCheckpoint::State::open_shard(size_t i) {
  Shard& shard = shards[i];
  if (shard.file) return *shard.file;
  auto file = std::make_unique<SafetensorsFile>(shard.path);
  for (const auto& tensor : shard.listed) {
    if (!file->contains(tensor))
      fail("safetensors index '{}' maps tensor '{}' to '{}', which does not contain it ({} holds {} tensors)", source,
           tensor, shard.path, shard.name, file->size());
  }
  std::vector<std::string> extra;
  for (const auto& tensor : file->names()) {
    auto it = shard_of.find(tensor);
    if (it == shard_of.end() || it->second != i) extra.push_back(tensor);
  }
  if (!extra.empty()) {
    spdlog::warn("'{}' holds {} tensor(s) that index '{}' does not place there (e.g. '{}'); they are ignored",
                 shard.path, extra.size(), source, extra.front());
    for (const auto& tensor : extra) unlisted.push_back(shard.name + ": " + tensor);
  }
  shard.file = std::move(file);
  return *shard.file;
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& path) : state_(std::make_unique<State>()) {
  if (directory_exists(path)) {
    std::string index = path_join(path, kIndexFileName), single = path_join(path, kSingleFileName);
    if (file_exists(index)) {
      state_->read_index(index);
    } else if (file_exists(single)) {
      state_->add_single_file(single);
    } else {
      std::vector<std::string> found;
      std::error_code ec;
      for (const auto& item : fs::directory_iterator(path, ec))
        if (ends_with(item.path().filename().string(), ".safetensors")) found.push_back(item.path().filename());
      std::sort(found.begin(), found.end());
      fail_with_hint(found.empty() ? "point model.path at a Hugging Face model folder"
                                   : "found " + join(found, ", ") + "; pass one of them as the path",
                     "checkpoint folder '{}' holds neither {} nor {}", path, kIndexFileName, kSingleFileName);
    }
  } else if (file_exists(path)) {
    if (ends_with(path, ".json")) {
      state_->read_index(path);
    } else {
      state_->add_single_file(path);
    }
  } else {
    fail("checkpoint '{}' does not exist", path);
  }
  for (const auto& [tensor, shard] : state_->shard_of) state_->names.push_back(tensor);
  std::sort(state_->names.begin(), state_->names.end());
}

SafetensorsCheckpoint::~SafetensorsCheckpoint() = default;
SafetensorsCheckpoint::SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept = default;
SafetensorsCheckpoint& SafetensorsCheckpoint::operator=(SafetensorsCheckpoint&&) noexcept = default;

const std::string& SafetensorsCheckpoint::source() const { return state_->source; }
bool SafetensorsCheckpoint::is_sharded() const { return state_->sharded; }

std::vector<std::string> SafetensorsCheckpoint::files() const {
  std::vector<std::string> out;
  for (const auto& shard : state_->shards) out.push_back(shard.path);
  return out;
}

std::map<std::string, std::string> SafetensorsCheckpoint::metadata() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->open_shard(0).metadata();
}

std::vector<std::string> SafetensorsCheckpoint::names() const { return state_->names; }
size_t SafetensorsCheckpoint::size() const { return state_->names.size(); }
bool SafetensorsCheckpoint::contains(const std::string& name) const { return state_->shard_of.count(name) > 0; }

const std::string& SafetensorsCheckpoint::file_of(const std::string& name) const {
  return state_->shards[state_->shard_index(name)].path;
}

TensorInfo SafetensorsCheckpoint::info(const std::string& name) const {
  size_t shard = state_->shard_index(name);
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->open_shard(shard).info(name);
}

TensorView SafetensorsCheckpoint::view(const std::string& name) const {
  size_t shard = state_->shard_index(name);
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->open_shard(shard).view(name);
}

void SafetensorsCheckpoint::check_all() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  for (size_t i = 0; i < state_->shards.size(); ++i) state_->open_shard(i);
}

std::vector<std::string> SafetensorsCheckpoint::unlisted_tensors() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->unlisted;
}

}  // namespace mha2mla::io
