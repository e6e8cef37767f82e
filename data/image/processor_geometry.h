// The size arithmetic of the Hugging Face image processors, reproduced with Python's semantics (float division,
// int() truncation, round-half-even, floor division), so that every output size, crop offset, grid and token
// count is the one transformers computes. Torch-free and pixel-free: easy to test against hand computations.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mha2mla::image {

struct ImageSize {
  int64_t height = 0;
  int64_t width = 0;
  bool operator==(const ImageSize& other) const { return height == other.height && width == other.width; }
};

// transformers get_resize_output_image_size(size=shortest_edge, default_to_square=False): the short side
// becomes `shortest_edge`, the long side int(shortest_edge * long / short) (truncated).
ImageSize shortest_edge_resize_size(ImageSize image, int64_t shortest_edge);

// transformers center_crop to `crop`, per axis: a side at least as long as the crop is cut at offset
// (side - crop) // 2; a shorter side is zero-padded, the image placed at ceil((crop - side) / 2).
struct CenterCropPlan {
  int64_t source_y = 0, source_x = 0;  // top-left of the kept part of the image
  int64_t target_y = 0, target_x = 0;  // where it lands in the crop
  int64_t height = 0, width = 0;       // size of the kept part
  bool needs_padding = false;          // the crop is larger than the image on some axis
};
CenterCropPlan center_crop_plan(ImageSize image, ImageSize crop);

// LLaVA pad-to-square: the square side and where the image sits ((side - h) // 2, (side - w) // 2).
struct SquarePadPlan {
  int64_t side = 0;
  int64_t offset_y = 0, offset_x = 0;
};
SquarePadPlan square_pad_plan(ImageSize image);

// LLaVA's pad-to-square fill colour: int(mean * 255) per channel (truncated).
int background_channel_value(double mean);

// transformers select_best_resolution: the pinpoint (height, width) that keeps the most of the image's
// resolution when fitted inside it, ties broken by the least wasted area; the first wins among equals.
ImageSize select_best_resolution(ImageSize image, const std::vector<ImageSize>& pinpoints);

// transformers get_patch_output_size: the aspect-preserving size inside `target` (ceil, clipped to target).
ImageSize patch_output_size(ImageSize image, ImageSize target);

// _pad_for_patching: zero padding (top, left) around a resized image of `resized` inside `target`;
// the remainder of an odd difference goes to the bottom / right.
std::pair<int64_t, int64_t> patching_pad_offsets(ImageSize resized, ImageSize target);

// modeling_llava_next get_anyres_image_grid_shape: (rows, columns) of crop-size tiles of the best resolution.
std::pair<int64_t, int64_t> anyres_grid_shape(ImageSize image, const std::vector<ImageSize>& pinpoints,
                                              int64_t tile_size);

// LlavaNextProcessor._get_unpadded_features: (unpadded features, newline features) after the model's
// unpad_image removes the rows / columns that only hold padding.
std::pair<int64_t, int64_t> llava_next_unpadded_features(ImageSize image, int64_t patches_height,
                                                         int64_t patches_width, int64_t scale_height,
                                                         int64_t scale_width);

// LlavaNextProcessor._get_number_of_features for an original image, with `tile` the processed patch size
// (pixel_values' last two dims), `patch_size` the vision patch size, `num_additional_image_tokens` (1 for a
// CLS token). Callers subtract 1 more for vision_feature_select_strategy == "default", as the processor does.
int64_t llava_next_number_of_features(ImageSize image, ImageSize tile, const std::vector<ImageSize>& pinpoints,
                                      int64_t patch_size, int64_t num_additional_image_tokens);

// Qwen2-VL smart_resize: both sides multiples of `factor` (round-half-even), area clamped into
// [min_pixels, max_pixels] keeping the aspect ratio. Throws Error for an aspect ratio above 200.
ImageSize qwen_smart_resize(ImageSize image, int64_t factor, int64_t min_pixels, int64_t max_pixels);

// Python's round(value, 7) for a finite value (correctly rounded, like CPython's float formatting).
double python_round_7(double value);

}  // namespace mha2mla::image
