// Per-layer decoding caches. The teacher caches post-RoPE keys and values; the MLA student (model/mla/)
// caches its latent instead. Both grow in place with amortised doubling, so decoding long contexts does not
// copy the whole cache at every step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mha2mla {

// How the MLA student stores its latent cache (model/mla/latent_kv_cache.h): as computed, or as int8 / int4
// codes in per-token groups of `group_size` elements with one float16 scale per group. The teacher's cache
// takes no options (quantising it is refused).
enum class KvQuantization { none, int8, int4 };
KvQuantization parse_kv_quantization(const std::string& name);  // "none" | "int8" | "int4"
std::string to_string(KvQuantization quantization);
int kv_quantization_bits(KvQuantization quantization);          // 0 (none), 8, 4

struct LatentCacheOptions {
  KvQuantization quantization = KvQuantization::none;
  int64_t group_size = 32;
};

class LayerCache {
 public:
  virtual ~LayerCache() = default;
  virtual int64_t length() const = 0;      // cached tokens (per sequence; sequences are aligned)
  virtual int64_t bytes() const = 0;       // bytes actually used by cached tokens (not capacity)
};

// A growable [B, H, capacity, d] buffer along dim 2.
class GrowingBuffer {
 public:
  // Appends `x` [B, H, t, d]; returns the view of everything cached so far [B, H, length, d].
  at::Tensor append(const at::Tensor& x);
  at::Tensor view() const;
  int64_t length() const { return length_; }
  int64_t bytes() const;

 private:
  at::Tensor storage_;
  int64_t length_ = 0;
};

class TeacherKvCache final : public LayerCache {
 public:
  // Appends the new keys/values and returns all cached ones.
  std::pair<at::Tensor, at::Tensor> append(const at::Tensor& k, const at::Tensor& v);
  int64_t length() const override { return keys_.length(); }
  int64_t bytes() const override { return keys_.bytes() + values_.bytes(); }

 private:
  GrowingBuffer keys_, values_;
};

// The caches of every layer plus the validity of cached key positions (padding), for one batch.
struct ModelCache {
  std::vector<std::unique_ptr<LayerCache>> layers;
  at::Tensor key_valid;   // [B, S] bool over every cached + new position
  int64_t length() const { return layers.empty() || !layers[0] ? 0 : layers[0]->length(); }
  int64_t bytes() const;
};

}  // namespace mha2mla
