#include "model/io/safetensors_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"

namespace mha2mla::io {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

void check_utf8(const std::string& text, const char* what) {
  size_t bad = utf8_error_offset(text);
  if (bad != std::string_view::npos)
    fail("safetensors writer: {} '{}' is not valid UTF-8 (byte {} is 0x{:02x})", what, text, bad,
         static_cast<unsigned>(static_cast<unsigned char>(text[bad])));
}

// Tensor bytes go to disk through this; every failure names the file (a full disk is the usual cause).
class OutputFile {
 public:
  explicit OutputFile(std::string path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) fail("cannot create '{}': {}", path_, std::strerror(errno));
  }
  ~OutputFile() {
    if (file_) {
      std::fclose(file_);
      std::remove(path_.c_str());  // not committed: an exception is on its way
    }
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, uint64_t nbytes) {
    if (nbytes == 0) return;
    if (std::fwrite(data, 1, nbytes, file_) != nbytes) fail("cannot write '{}': {}", path_, std::strerror(errno));
  }

  // Flushes to disk and renames over `final_path`.
  void commit(const std::string& final_path) {
    bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
    int error = errno;
    ok = (std::fclose(file_) == 0) && ok;
    file_ = nullptr;
    if (!ok) {
      std::remove(path_.c_str());
      fail("cannot write '{}': {}", final_path, std::strerror(error));
    }
    atomic_rename(path_, final_path);
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

bool is_shard_file_name(const std::string& name) {
  // model-DDDDD-of-DDDDD.safetensors
  const std::string prefix = "model-", middle = "-of-", suffix = ".safetensors";
  if (name.size() != prefix.size() + 5 + middle.size() + 5 + suffix.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  if (name.compare(prefix.size() + 5, middle.size(), middle) != 0) return false;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  auto digits = [&](size_t at) {
    return std::all_of(name.begin() + at, name.begin() + at + 5, [](char c) { return c >= '0' && c <= '9'; });
  };
  return digits(prefix.size()) && digits(prefix.size() + 5 + middle.size());
}

void remove_stale(const std::string& folder, const std::vector<std::string>& keep) {
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(folder, ec)) {
    std::string name = item.path().filename().string();
    bool ours = name == kSingleFileName || name == kIndexFileName || is_shard_file_name(name);
    if (!ours || std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    spdlog::info("removing stale checkpoint file '{}' left by an earlier save", item.path().string());
    fs::remove(item.path(), ec);
    if (ec) fail("cannot remove stale checkpoint file '{}': {}", item.path().string(), ec.message());
  }
}

}  // namespace

std::string shard_file_name(size_t shard, size_t shard_count) {
  return fmt::format("model-{:05d}-of-{:05d}.safetensors", shard, shard_count);
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  check_utf8(key, "metadata key");
  check_utf8(value, "metadata value");
  metadata_[key] = value;
}

void SafetensorsWriter::check_new_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                         uint64_t nbytes) const {
  if (name.empty()) fail("safetensors writer: a tensor name is empty");
  if (name == "__metadata__") fail("safetensors writer: '__metadata__' is reserved and cannot name a tensor");
  check_utf8(name, "tensor name");
  if (contains(name)) fail("safetensors writer: tensor '{}' was added twice", name);
  for (int64_t dim : shape)
    if (dim < 0)
      fail("safetensors writer: tensor '{}' has shape {} with a negative dimension", name, format_shape(shape));
  auto expected = tensor_bytes(dtype, shape);
  if (!expected)
    fail("safetensors writer: tensor '{}': shape {} of {} overflows or does not fill whole bytes", name,
         format_shape(shape), dtype_name(dtype));
  if (*expected != nbytes)
    fail("safetensors writer: tensor '{}' has {} bytes but shape {} of {} needs {}", name, nbytes, format_shape(shape),
         dtype_name(dtype), *expected);
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            std::vector<uint8_t> bytes) {
  check_new_tensor(name, dtype, shape, bytes.size());
  Entry& entry = tensors_[name];
  entry.dtype = dtype;
  entry.shape = shape;
  entry.owned = std::move(bytes);
  entry.data = entry.owned.data();
  entry.nbytes = entry.owned.size();
}

void SafetensorsWriter::add_borrowed(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                     const uint8_t* data, uint64_t nbytes, std::shared_ptr<const void> owner) {
  check_new_tensor(name, dtype, shape, nbytes);
  Entry& entry = tensors_[name];
  entry.dtype = dtype;
  entry.shape = shape;
  entry.data = data;
  entry.nbytes = nbytes;
  entry.owner = std::move(owner);
}

void SafetensorsWriter::add(const std::string& name, const TensorView& view) {
  if (view.owner) {
    add_borrowed(name, view.info.dtype, view.info.shape, view.data, view.nbytes, view.owner);
  } else {
    add(name, view.info.dtype, view.info.shape, std::vector<uint8_t>(view.data, view.data + view.nbytes));
  }
}

uint64_t SafetensorsWriter::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, entry] : tensors_) total += entry.nbytes;
  return total;
}

std::vector<std::string> SafetensorsWriter::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : tensors_) out.push_back(name);
  return out;
}

std::string SafetensorsWriter::header_for(const EntryList& entries) const {
  json header = json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const auto& it : entries) {
    const Entry& entry = it->second;
    header[it->first] = {{"dtype", std::string(dtype_name(entry.dtype))},
                         {"shape", entry.shape},
                         {"data_offsets", {offset, offset + entry.nbytes}}};
    offset += entry.nbytes;
  }
  std::string text = header.dump();
  // Spaces up to a multiple of 8 bytes (prefix included): the data buffer then starts 8-byte aligned.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  return text;
}

// Decreasing element size, then name: after the 8-aligned header each tensor starts at a multiple of its
// own element size, since every tensor before it spans a multiple of a larger or equal power of two.
void SafetensorsWriter::sort_for_layout(EntryList& entries) {
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    int bits_a = dtype_bits(a->second.dtype), bits_b = dtype_bits(b->second.dtype);
    if (bits_a != bits_b) return bits_a > bits_b;
    return a->first < b->first;
  });
}

SafetensorsWriter::EntryList SafetensorsWriter::all_entries() const {
  EntryList entries;
  for (auto it = tensors_.begin(); it != tensors_.end(); ++it) entries.push_back(it);
  return entries;
}

void SafetensorsWriter::write_file(const std::string& path, EntryList entries) const {
  sort_for_layout(entries);
  std::string header = header_for(entries);
  uint64_t length = header.size();
  OutputFile out(temporary_sibling(path));
  out.write(&length, 8);  // little-endian host (see safetensors.cpp)
  out.write(header.data(), header.size());
  for (const auto& it : entries) out.write(it->second.data, it->second.nbytes);
  out.commit(path);
}

std::string SafetensorsWriter::to_bytes() const {
  EntryList entries = all_entries();
  sort_for_layout(entries);
  std::string header = header_for(entries);
  uint64_t length = header.size();
  std::string out(reinterpret_cast<const char*>(&length), 8);
  out += header;
  for (const auto& it : entries) out.append(reinterpret_cast<const char*>(it->second.data), it->second.nbytes);
  return out;
}

void SafetensorsWriter::write(const std::string& path) const { write_file(path, all_entries()); }

std::vector<std::string> SafetensorsWriter::write_sharded(const std::string& folder, uint64_t max_shard_bytes) const {
  if (max_shard_bytes == 0) fail("safetensors writer: the maximum shard size must be positive");
  ensure_directory(folder);

  // Greedy in name order, as HF does in its state-dict order: a new shard starts when the next tensor
  // would overflow the current one.
  std::vector<EntryList> shards(1);
  uint64_t shard_bytes = 0;
  for (auto it = tensors_.begin(); it != tensors_.end(); ++it) {
    if (!shards.back().empty() && shard_bytes + it->second.nbytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(it);
    shard_bytes += it->second.nbytes;
  }

  if (shards.size() == 1) {
    write_file(path_join(folder, kSingleFileName), shards.front());
    remove_stale(folder, {kSingleFileName});
    return {path_join(folder, kSingleFileName)};
  }

  std::vector<std::string> written, kept;
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string name = shard_file_name(i + 1, shards.size());
    write_file(path_join(folder, name), shards[i]);
    for (const auto& it : shards[i]) weight_map[it->first] = name;
    written.push_back(path_join(folder, name));
    kept.push_back(name);
  }
  json index = {{"metadata", {{"total_size", total_bytes()}}}, {"weight_map", weight_map}};
  std::string index_path = path_join(folder, kIndexFileName);
  write_file_atomic(index_path, index.dump(2) + "\n");
  written.push_back(index_path);
  kept.push_back(kIndexFileName);
  remove_stale(folder, kept);
  return written;
}

}  // namespace mha2mla::io
