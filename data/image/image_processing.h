// The image processors of the supported vision-language models, equal to Hugging Face's (slow, PIL-based)
// ones on the same decoded image:
//   CLIPImageProcessor (LLaVA-1.5 as llava-hf ships it): shortest edge -> crop -> rescale -> normalize.
//   LlavaImageProcessor with do_pad (original LLaVA-1.5 "pad"): pad to square with int(mean * 255), then CLIP.
//   LlavaNextImageProcessor (anyres): best pinpoint, aspect-preserving resize + zero pad, tiles of the crop
//     size, plus the whole image squashed to the base size; all tiles through the CLIP steps.
//   Qwen2VLImageProcessor (also Qwen2.5-VL): smart_resize, rescale, normalize, temporal repeat, patch flatten.
// Pixels are resized exactly as PIL does (pil_resample.h) and normalized through exact lookup tables, in
// plain loops; only the final buffer is a tensor (float32, CPU).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/image/pil_resample.h"
#include "data/image/pixel_normalize.h"
#include "data/image/processor_geometry.h"
#include "data/image/rgb_image.h"

namespace mha2mla::image {

struct ClipImageConfig {
  int64_t shortest_edge = 336;  // size["shortest_edge"]
  ImageSize crop{336, 336};     // crop_size
  ResampleFilter resample = ResampleFilter::kBicubic;
  bool pad_to_square = false;   // LLaVA-1.5 "pad": expand to a square filled with int(mean * 255) first
  ImageNormalization normalization;
};

// [3, crop.height, crop.width]
at::Tensor preprocess_clip(const RgbImage& image, const ClipImageConfig& config);

// The uint8 image the CLIP steps hand to rescale/normalize (after optional pad, resize, crop).
RgbImage clip_resize_and_crop(const RgbImage& image, const ClipImageConfig& config);

struct LlavaNextImageConfig {
  ClipImageConfig clip;  // shortest_edge, crop (the tile size), resample, normalization; pad_to_square unused
  std::vector<ImageSize> grid_pinpoints = {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};
  int64_t vision_patch_size = 14;            // LlavaNextProcessor.patch_size
  int64_t num_additional_image_tokens = 1;   // 1 when the vision tower emits a CLS token
  bool drop_cls_feature = true;              // vision_feature_select_strategy == "default"
};

struct LlavaNextImage {
  at::Tensor pixel_values;  // [1 + tiles, 3, crop.height, crop.width]; [0] is the whole image
  ImageSize image_size;     // image_sizes entry: the original (height, width)
  int64_t num_image_tokens = 0;
};

LlavaNextImage preprocess_llava_next(const RgbImage& image, const LlavaNextImageConfig& config);

// The <image> placeholder count LlavaNextProcessor inserts for an image of `original` size.
int64_t llava_next_num_image_tokens(ImageSize original, const LlavaNextImageConfig& config);

struct Qwen2VlImageConfig {
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t merge_size = 2;
  int64_t min_pixels = 56 * 56;
  int64_t max_pixels = 28 * 28 * 1280;
  ResampleFilter resample = ResampleFilter::kBicubic;
  ImageNormalization normalization;
};

struct Qwen2VlImage {
  at::Tensor pixel_values;            // [t * h * w, 3 * temporal_patch_size * patch_size^2]
  std::array<int64_t, 3> grid_thw{};  // image_grid_thw
  int64_t num_image_tokens = 0;       // <|image_pad|> count: t * h * w / merge_size^2
};

Qwen2VlImage preprocess_qwen2_vl(const RgbImage& image, const Qwen2VlImageConfig& config);

}  // namespace mha2mla::image
