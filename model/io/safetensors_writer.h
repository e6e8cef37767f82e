// Hugging Face safetensors, write side: collect tensors and metadata, then write one file or an HF-style
// sharded checkpoint (model-0000i-of-0000N.safetensors + model.safetensors.index.json).
//
// Files are written atomically (temporary sibling + rename) so a crash never leaves a half-written file
// under the final name. The header is padded with spaces so that the data buffer starts at a multiple of
// 8 bytes, and tensors are laid out by decreasing element size, then by name: every tensor then starts at
// a multiple of its own element size, which lets readers alias it without a copy. The output depends only
// on the tensors and metadata added, not on the order they were added in.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/io/safetensors.h"

namespace mha2mla::io {

class SafetensorsWriter {
 public:
  // Free-form string metadata stored under "__metadata__" (HF writes {"format": "pt"}).
  void set_metadata(const std::string& key, const std::string& value);
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Adds a tensor that owns its bytes. Throws Error when the name is taken, empty, "__metadata__" or not
  // UTF-8, or when the byte count does not match dtype and shape.
  void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape, std::vector<uint8_t> bytes);

  // Adds a tensor whose bytes live elsewhere; `owner` keeps them alive until the writer is destroyed.
  // The bytes are read when a file is written, not now.
  void add_borrowed(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const uint8_t* data,
                    uint64_t nbytes, std::shared_ptr<const void> owner);

  // Re-saves a tensor read from another file without copying it; views over caller memory (no owner) are
  // copied, since their lifetime is not known.
  void add(const std::string& name, const TensorView& view);

  bool contains(const std::string& name) const { return tensors_.count(name) > 0; }
  size_t size() const { return tensors_.size(); }
  uint64_t total_bytes() const;  // sum of tensor bytes, HF's index "total_size"
  std::vector<std::string> names() const;  // sorted

  // The whole file in memory (tests, small files).
  std::string to_bytes() const;

  // Writes one .safetensors file at `path` atomically.
  void write(const std::string& path) const;

  // Writes the checkpoint into `folder`: a single model.safetensors when all tensors fit in
  // `max_shard_bytes`, else shards of at most that many tensor bytes (a larger tensor gets a shard of its
  // own) named model-00001-of-0000N.safetensors plus model.safetensors.index.json, which is written last.
  // Tensors are assigned to shards in name order. A stale index or stale shards of another layout left
  // in the folder are removed, so that a reader never mixes two saves. Returns the files written.
  std::vector<std::string> write_sharded(const std::string& folder, uint64_t max_shard_bytes) const;

 private:
  struct Entry {
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> owned;
    const uint8_t* data = nullptr;
    uint64_t nbytes = 0;
    std::shared_ptr<const void> owner;
  };
  using EntryMap = std::map<std::string, Entry>;
  using EntryList = std::vector<EntryMap::const_iterator>;

  void check_new_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                        uint64_t nbytes) const;
  static void sort_for_layout(EntryList& entries);
  EntryList all_entries() const;  // in name order
  std::string header_for(const EntryList& entries) const;
  void write_file(const std::string& path, EntryList entries) const;

  std::map<std::string, std::string> metadata_;
  EntryMap tensors_;
};

// File names HF uses: "model.safetensors", "model.safetensors.index.json", "model-00002-of-00005.safetensors".
inline constexpr const char* kSingleFileName = "model.safetensors";
inline constexpr const char* kIndexFileName = "model.safetensors.index.json";
std::string shard_file_name(size_t shard, size_t shard_count);  // shard counts from 1

}  // namespace mha2mla::io
