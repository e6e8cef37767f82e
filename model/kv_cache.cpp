#include "model/kv_cache.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

KvQuantization parse_kv_quantization(const std::string& name) {
  if (name == "none") return KvQuantization::none;
  if (name == "int8") return KvQuantization::int8;
  if (name == "int4") return KvQuantization::int4;
  fail("unknown KV-cache quantization '{}'; expected none, int8 or int4", name);
}

std::string to_string(KvQuantization quantization) {
  switch (quantization) {
    case KvQuantization::none: return "none";
    case KvQuantization::int8: return "int8";
    case KvQuantization::int4: return "int4";
  }
  return "?";
}

int kv_quantization_bits(KvQuantization quantization) {
  switch (quantization) {
    case KvQuantization::none: return 0;
    case KvQuantization::int8: return 8;
    case KvQuantization::int4: return 4;
  }
  return 0;
}

at::Tensor GrowingBuffer::append(const at::Tensor& x) {
  const int64_t t = x.size(2);
  if (!storage_.defined() || length_ + t > storage_.size(2)) {
    int64_t capacity = std::max<int64_t>(length_ + t, storage_.defined() ? 2 * storage_.size(2) : 2 * t);
    auto sizes = x.sizes().vec();
    sizes[2] = capacity;
    at::Tensor grown = at::empty(sizes, x.options());
    if (length_ > 0) grown.narrow(2, 0, length_).copy_(storage_.narrow(2, 0, length_));
    storage_ = grown;
  }
  storage_.narrow(2, length_, t).copy_(x);
  length_ += t;
  return view();
}

at::Tensor GrowingBuffer::view() const { return storage_.narrow(2, 0, length_); }

int64_t GrowingBuffer::bytes() const {
  if (!storage_.defined()) return 0;
  return storage_.size(0) * storage_.size(1) * length_ * storage_.size(3) * static_cast<int64_t>(storage_.element_size());
}

std::pair<at::Tensor, at::Tensor> TeacherKvCache::append(const at::Tensor& k, const at::Tensor& v) {
  return {keys_.append(k), values_.append(v)};
}

int64_t ModelCache::bytes() const {
  int64_t total = 0;
  for (const auto& layer : layers)
    if (layer) total += layer->bytes();
  return total;
}

}  // namespace mha2mla
