// A Hugging Face checkpoint's weights: one model.safetensors, or shards listed by
// model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor name: shard file}}).
//
// Shards are opened lazily, on the first look at one of their tensors, so that a rank loading a slice of
// the model maps only the files it needs. When a shard is opened it is checked against the index: a
// tensor the index places there but the shard lacks is an error; tensors the shard holds that the index
// does not list are reported (warning + unlisted_tensors()) and never served, as HF does. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/io/safetensors.h"

namespace mha2mla::io {

class SafetensorsCheckpoint {
 public:
  // `path`: a folder holding model.safetensors.index.json (preferred) or model.safetensors, an index file,
  // or a .safetensors file. Reads the index and checks that every shard it names exists.
  explicit SafetensorsCheckpoint(const std::string& path);
  ~SafetensorsCheckpoint();
  SafetensorsCheckpoint(SafetensorsCheckpoint&&) noexcept;
  SafetensorsCheckpoint& operator=(SafetensorsCheckpoint&&) noexcept;

  // The index file, or the single .safetensors file.
  const std::string& source() const;
  bool is_sharded() const;
  std::vector<std::string> files() const;  // shard paths, in name order

  // The "__metadata__" of the first file (HF writes the same map into every shard).
  std::map<std::string, std::string> metadata() const;

  std::vector<std::string> names() const;  // sorted
  size_t size() const;
  bool contains(const std::string& name) const;
  // The path of the file holding `name` (without opening it).
  const std::string& file_of(const std::string& name) const;

  // These open the tensor's shard on first use and throw an Error naming the tensor (and the closest
  // existing name) when it is absent.
  TensorInfo info(const std::string& name) const;
  TensorView view(const std::string& name) const;

  // Opens every shard now, so that index/shard disagreements surface at once instead of mid-load.
  void check_all() const;

  // "shard: tensor" for tensors found in the shards opened so far that the index does not list.
  std::vector<std::string> unlisted_tensors() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mha2mla::io
