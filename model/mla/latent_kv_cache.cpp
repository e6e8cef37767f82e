#include "model/mla/latent_kv_cache.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

void PackedBits::append(const at::Tensor& bits) {
  const int64_t B = bits.size(0), t = bits.size(1);
  const int64_t needed = (length_ + t + 7) / 8;
  if (!storage_.defined() || needed > storage_.size(1)) {
    const int64_t capacity = std::max<int64_t>(needed, storage_.defined() ? 2 * storage_.size(1) : 8);
    at::Tensor grown = at::zeros({B, capacity}, bits.options().dtype(at::kByte));
    if (storage_.defined()) grown.narrow(1, 0, storage_.size(1)).copy_(storage_);
    storage_ = grown;
  }
  // Token p sets bit p % 8 of byte p / 8. The bits of new tokens are still zero, so adding is or-ing.
  at::Tensor positions = at::arange(length_, length_ + t, bits.options().dtype(at::kLong));
  at::Tensor weights = at::pow(2, at::remainder(positions, 8)).to(at::kByte);
  storage_.index_add_(1, at::div(positions, 8, "floor"), bits.to(at::kByte) * weights);
  length_ += t;
  any_ = any_ || bits.any().item<bool>();
}

at::Tensor PackedBits::unpack() const {
  MHA2MLA_CHECK(length_ > 0, "reading empty modality bits");
  at::Tensor positions = at::arange(length_, storage_.options().dtype(at::kLong));
  at::Tensor weights = at::pow(2, at::remainder(positions, 8)).to(at::kByte);
  return at::bitwise_and(storage_.index_select(1, at::div(positions, 8, "floor")), weights) != 0;
}

int64_t PackedBits::bytes() const { return storage_.defined() ? storage_.size(0) * ((length_ + 7) / 8) : 0; }

LatentKvCache::LatentKvCache(const LatentCacheOptions& options)
    : options_(options), latent_(options), rope_keys_(options) {}

void LatentKvCache::append(const at::Tensor& latent, const at::Tensor& rope_keys, const at::Tensor& image_mask) {
  const int64_t past = length();
  device_ = latent.device();
  latent_.append(latent.unsqueeze(1));
  rope_keys_.append(rope_keys);
  at::Tensor mask = image_mask.to(at::kBool);
  modality_.append(mask);
  if (!mask.any().item<bool>()) return;
  at::Tensor cpu = mask.cpu().contiguous();
  const int64_t B = cpu.size(0), t = cpu.size(1);
  image_positions_.resize(static_cast<size_t>(B));
  const bool* bits = cpu.data_ptr<bool>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < t; ++i)
      if (bits[b * t + i]) image_positions_[static_cast<size_t>(b)].push_back(past + i);
  image_index_ = at::Tensor();
}

std::pair<at::Tensor, at::Tensor> LatentKvCache::image_positions() const {
  if (!image_index_.defined()) {
    size_t most = 0;
    for (const auto& row : image_positions_) most = std::max(most, row.size());
    const int64_t B = static_cast<int64_t>(image_positions_.size()), N = static_cast<int64_t>(most);
    image_index_ = at::zeros({B, N}, at::kLong);
    image_valid_ = at::zeros({B, N}, at::kBool);
    for (int64_t b = 0; b < B; ++b) {
      const auto& row = image_positions_[static_cast<size_t>(b)];
      const int64_t n = static_cast<int64_t>(row.size());
      if (n == 0) continue;
      image_index_[b].narrow(0, 0, n).copy_(at::tensor(row, at::kLong));
      image_valid_[b].narrow(0, 0, n).fill_(true);
    }
    image_index_ = image_index_.to(device_);
    image_valid_ = image_valid_.to(device_);
  }
  return {image_index_, image_valid_};
}

int64_t LatentKvCache::bytes() const { return latent_.bytes() + rope_keys_.bytes() + modality_.bytes(); }

int64_t latent_cache_bytes(int64_t latent_width, int64_t kv_heads, int64_t rope_dims, const LatentCacheOptions& options,
                           int64_t element_bytes, int64_t batch, int64_t tokens) {
  const int64_t per_token = cached_row_bytes(latent_width, options, element_bytes) +
                            kv_heads * cached_row_bytes(rope_dims, options, element_bytes);
  return batch * (tokens * per_token + (tokens + 7) / 8);
}

double latent_cache_bytes_per_token(const std::vector<MlaLayerLayout>& layouts, const LatentCacheOptions& options,
                                    int64_t element_bytes) {
  double bytes = 0;
  for (const auto& layout : layouts) {
    if (layout.identity_down)
      fail("a stage-1 (partial_rope) layout caches the whole layer input, not a latent; it has no latent cache size");
    bytes += static_cast<double>(cached_row_bytes(layout.latent_width(), options, element_bytes) +
                                 layout.kv_heads * cached_row_bytes(layout.rope_dims, options, element_bytes)) +
             1.0 / 8;
  }
  return bytes;
}

}  // namespace mha2mla
