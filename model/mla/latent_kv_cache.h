// The decoding cache of one converted layer (shared/method.md sections 2 and 6). Per token it holds
//
//   c      the latent, d_c = kv_heads * latent_rank values (stage-1 layouts: the layer input, hidden values)
//   k_R    the RoPE keys, rope_dims values per KV head, already rotated
//   m      one modality bit (1 = image token), packed eight tokens to a byte
//
// c and k_R are stored as computed or quantised to int8 / int4 (model/mla/kv_quantization.h); readers get
// them back dequantised. bytes() counts what is held for the cached tokens: values (or codes and scales) and
// the packed bits, and latent_cache_bytes() gives the same number from the shapes alone.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/kv_cache.h"
#include "model/mla/kv_quantization.h"
#include "model/mla/mla_layout.h"

namespace mha2mla {

// One bit per token and batch row, eight tokens per byte, growing by doubling.
class PackedBits {
 public:
  void append(const at::Tensor& bits);  // [B, t] bool
  at::Tensor unpack() const;            // [B, length] bool
  int64_t length() const { return length_; }
  int64_t bytes() const;                // B * ceil(length / 8)
  bool any() const { return any_; }

 private:
  at::Tensor storage_;  // uint8 [B, capacity bytes]
  int64_t length_ = 0;
  bool any_ = false;
};

class LatentKvCache final : public LayerCache {
 public:
  explicit LatentKvCache(const LatentCacheOptions& options = {});

  // latent [B, t, width], rope_keys [B, kv_heads, t, rope_dims], image_mask [B, t] bool.
  void append(const at::Tensor& latent, const at::Tensor& rope_keys, const at::Tensor& image_mask);
  at::Tensor latent() const { return latent_.values().squeeze(1); }  // [B, S, width]
  at::Tensor rope_keys() const { return rope_keys_.values(); }       // [B, kv_heads, S, rope_dims]
  at::Tensor image_mask() const { return modality_.unpack(); }       // [B, S] bool
  bool has_image_tokens() const { return modality_.any(); }
  // Where each row's image tokens sit: index [B, N] int64 and valid [B, N] bool, N the most image tokens of any
  // row (shorter rows padded with index 0, valid false). Kept up to date on append, so decoding does not scan.
  std::pair<at::Tensor, at::Tensor> image_positions() const;
  int64_t length() const override { return rope_keys_.length(); }
  int64_t bytes() const override;
  const LatentCacheOptions& options() const { return options_; }

 private:
  LatentCacheOptions options_;
  CachedRows latent_, rope_keys_;
  PackedBits modality_;
  std::vector<std::vector<int64_t>> image_positions_;  // per batch row
  mutable at::Tensor image_index_, image_valid_;        // built from image_positions_ when first asked for
  at::Device device_ = at::kCPU;
};

// Bytes a LatentKvCache holds for `batch` rows of `tokens` tokens: per token and row, the latent row
// (latent_width values) and kv_heads RoPE-key rows (rope_dims values each) as cached_row_bytes() stores them,
// plus ceil(tokens / 8) bytes of modality bits per row. `element_bytes` is the unquantised element size.
int64_t latent_cache_bytes(int64_t latent_width, int64_t kv_heads, int64_t rope_dims, const LatentCacheOptions& options,
                           int64_t element_bytes, int64_t batch, int64_t tokens);

// Per token over all layers, modality bits counted as 1/8 byte per layer (long-sequence limit).
double latent_cache_bytes_per_token(const std::vector<MlaLayerLayout>& layouts, const LatentCacheOptions& options,
                                    int64_t element_bytes);

}  // namespace mha2mla
