#include "model/mla/mla_layout.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "common/error.h"
#include "common/strings.h"

namespace mha2mla {

MlaVariant parse_mla_variant(const std::string& name) {
  if (name == "joint") return MlaVariant::joint;
  if (name == "split") return MlaVariant::split;
  if (name == "shared") return MlaVariant::shared;
  fail("unknown MLA variant '{}'; expected joint, split or shared", name);
}

std::string to_string(MlaVariant variant) {
  switch (variant) {
    case MlaVariant::joint: return "joint";
    case MlaVariant::split: return "split";
    case MlaVariant::shared: return "shared";
  }
  return "?";
}

std::vector<int64_t> MlaLayerLayout::rope_dim_indices(int64_t kv_head) const {
  const auto& pairs = rope_pairs.at(static_cast<size_t>(kv_head));
  std::vector<int64_t> dims(pairs.begin(), pairs.end());
  for (int64_t j : pairs) dims.push_back(j + head_dim / 2);
  return dims;
}

std::vector<int64_t> MlaLayerLayout::nope_dim_indices(int64_t kv_head) const {
  std::vector<bool> kept(static_cast<size_t>(head_dim), false);
  for (int64_t d : rope_dim_indices(kv_head)) kept[static_cast<size_t>(d)] = true;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < head_dim; ++d)
    if (!kept[static_cast<size_t>(d)]) dims.push_back(d);
  return dims;
}

at::Tensor MlaLayerLayout::query_permutation() const {
  std::vector<int64_t> index;
  const int64_t group = heads / kv_heads;
  for (int64_t h = 0; h < heads; ++h) {
    auto rope = rope_dim_indices(h / group), nope = nope_dim_indices(h / group);
    index.insert(index.end(), rope.begin(), rope.end());
    index.insert(index.end(), nope.begin(), nope.end());
  }
  return at::tensor(index, at::kLong).view({heads, head_dim});
}

at::Tensor MlaLayerLayout::rope_index() const {
  std::vector<int64_t> index;
  for (int64_t g = 0; g < kv_heads; ++g) {
    auto rope = rope_dim_indices(g);
    index.insert(index.end(), rope.begin(), rope.end());
  }
  return at::tensor(index, at::kLong).view({kv_heads, rope_dims});
}

void MlaLayerLayout::validate(const std::string& where) const {
  if (rope_dims % 2 != 0 || rope_dims < 0 || rope_dims > head_dim)
    fail("{}: rope_dims {} must be even and in [0, head_dim {}]", where, rope_dims, head_dim);
  if (heads % kv_heads != 0) fail("{}: {} heads are not a multiple of {} KV heads", where, heads, kv_heads);
  if (static_cast<int64_t>(rope_pairs.size()) != kv_heads)
    fail("{}: rope_pairs lists {} KV heads, expected {}", where, rope_pairs.size(), kv_heads);
  for (size_t g = 0; g < rope_pairs.size(); ++g) {
    const auto& pairs = rope_pairs[g];
    if (static_cast<int64_t>(pairs.size()) != rope_dims / 2)
      fail("{}: KV head {} keeps {} RoPE pairs, expected rope_dims/2 = {}", where, g, pairs.size(), rope_dims / 2);
    for (size_t i = 0; i < pairs.size(); ++i) {
      if (pairs[i] < 0 || pairs[i] >= head_dim / 2)
        fail("{}: KV head {} pair {} is outside [0, {})", where, g, pairs[i], head_dim / 2);
      if (i && pairs[i] <= pairs[i - 1])
        fail("{}: KV head {} pairs must be strictly ascending, got {} after {}", where, g, pairs[i], pairs[i - 1]);
    }
  }
  if (variant == MlaVariant::split && latent_rank % 2 != 0)
    fail("{}: the split variant halves latent_rank {} between keys and values; it must be even", where, latent_rank);
}

int64_t teacher_cache_elements(int64_t kv_heads, int64_t head_dim) { return 2 * kv_heads * head_dim; }

int64_t mla_cache_elements(const MlaLayerLayout& layout) {
  return layout.kv_heads * (layout.rope_dims + (layout.identity_down ? 0 : layout.latent_rank));
}

}  // namespace mha2mla
