// The last steps of every Hugging Face image processor, rescale then normalize, done through a 256-entry table
// per channel: the result for a uint8 value is fixed, so computing it once reproduces numpy's arithmetic
// exactly (float64 multiply by rescale_factor, cast to float32, then (x - mean) / std in float32) at the cost
// of a lookup per value.
#pragma once

#include <array>
#include <cstdint>

#include "data/image/rgb_image.h"

namespace mha2mla::image {

// transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD, used by CLIP, LLaVA, LLaVA-NeXT and Qwen2(.5)-VL.
constexpr std::array<double, 3> kOpenAiClipMean = {0.48145466, 0.4578275, 0.40821073};
constexpr std::array<double, 3> kOpenAiClipStd = {0.26862954, 0.26130258, 0.27577711};

struct ImageNormalization {
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> mean = kOpenAiClipMean;
  std::array<double, 3> std = kOpenAiClipStd;
};

class NormalizationTable {
 public:
  explicit NormalizationTable(const ImageNormalization& normalization);
  float operator()(int channel, uint8_t value) const { return table_[channel][value]; }
  const float* channel(int c) const { return table_[c].data(); }

 private:
  std::array<std::array<float, 256>, 3> table_{};
};

// Writes `image` as float planes [3, height, width] (channels first, as the processors return).
void write_channels_first(const RgbImage& image, const NormalizationTable& table, float* out);

// Qwen2-VL's flattening of one image: the frame repeated `temporal_patch_size` times, cut into
// patch_size x patch_size patches, ordered by (merge block row, merge block column, row in block, column in
// block), each flattened as (channel, frame, y, x). `out` holds (h / patch) * (w / patch) rows of
// 3 * temporal_patch_size * patch_size^2 values; the image sides must be multiples of patch_size * merge_size.
void write_qwen_vl_patches(const RgbImage& image, const NormalizationTable& table, int64_t patch_size,
                           int64_t temporal_patch_size, int64_t merge_size, float* out);

}  // namespace mha2mla::image
