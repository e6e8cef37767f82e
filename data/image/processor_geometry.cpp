#include "data/image/processor_geometry.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/error.h"

namespace mha2mla::image {

namespace {

// Python's a // b for b > 0.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Python's true division of two ints: exact operands (below 2^53), one correctly rounded division.
double true_div(int64_t a, int64_t b) { return static_cast<double>(a) / static_cast<double>(b); }

}  // namespace

ImageSize shortest_edge_resize_size(ImageSize image, int64_t shortest_edge) {
  const bool portrait = image.width <= image.height;
  const int64_t short_side = portrait ? image.width : image.height;
  const int64_t long_side = portrait ? image.height : image.width;
  const int64_t new_long = static_cast<int64_t>(true_div(shortest_edge * long_side, short_side));
  return portrait ? ImageSize{new_long, shortest_edge} : ImageSize{shortest_edge, new_long};
}

CenterCropPlan center_crop_plan(ImageSize image, ImageSize crop) {
  CenterCropPlan plan;
  auto axis = [](int64_t side, int64_t wanted, int64_t& source, int64_t& target, int64_t& length) {
    if (side >= wanted) {
      source = floor_div(side - wanted, 2);
      target = 0;
      length = wanted;
    } else {
      source = 0;
      target = (wanted - side + 1) / 2;  // ceil
      length = side;
    }
  };
  axis(image.height, crop.height, plan.source_y, plan.target_y, plan.height);
  axis(image.width, crop.width, plan.source_x, plan.target_x, plan.width);
  plan.needs_padding = image.height < crop.height || image.width < crop.width;
  return plan;
}

SquarePadPlan square_pad_plan(ImageSize image) {
  SquarePadPlan plan;
  plan.side = std::max(image.height, image.width);
  plan.offset_y = (plan.side - image.height) / 2;
  plan.offset_x = (plan.side - image.width) / 2;
  return plan;
}

int background_channel_value(double mean) { return static_cast<int>(mean * 255); }

ImageSize select_best_resolution(ImageSize image, const std::vector<ImageSize>& pinpoints) {
  MHA2MLA_CHECK(!pinpoints.empty(), "select_best_resolution needs at least one pinpoint");
  ImageSize best{};
  int64_t max_effective = 0;
  int64_t min_wasted = INT64_MAX;
  bool found = false;
  for (const ImageSize& candidate : pinpoints) {
    const double scale =
        std::min(true_div(candidate.width, image.width), true_div(candidate.height, image.height));
    const auto downscaled_width = static_cast<int64_t>(static_cast<double>(image.width) * scale);
    const auto downscaled_height = static_cast<int64_t>(static_cast<double>(image.height) * scale);
    const int64_t effective = std::min(downscaled_width * downscaled_height, image.width * image.height);
    const int64_t wasted = candidate.width * candidate.height - effective;
    if (effective > max_effective || (effective == max_effective && wasted < min_wasted)) {
      max_effective = effective;
      min_wasted = wasted;
      best = candidate;
      found = true;
    }
  }
  MHA2MLA_CHECK(found, "no pinpoint fits a {}x{} image", image.width, image.height);
  return best;
}

ImageSize patch_output_size(ImageSize image, ImageSize target) {
  const double scale_w = true_div(target.width, image.width);
  const double scale_h = true_div(target.height, image.height);
  if (scale_w < scale_h) {
    const auto height = static_cast<int64_t>(std::ceil(static_cast<double>(image.height) * scale_w));
    return {std::min(height, target.height), target.width};
  }
  const auto width = static_cast<int64_t>(std::ceil(static_cast<double>(image.width) * scale_h));
  return {target.height, std::min(width, target.width)};
}

std::pair<int64_t, int64_t> patching_pad_offsets(ImageSize resized, ImageSize target) {
  return {(target.height - resized.height) / 2, (target.width - resized.width) / 2};
}

std::pair<int64_t, int64_t> anyres_grid_shape(ImageSize image, const std::vector<ImageSize>& pinpoints,
                                              int64_t tile_size) {
  ImageSize best = select_best_resolution(image, pinpoints);
  return {best.height / tile_size, best.width / tile_size};
}

double python_round_7(double value) {
  // CPython's round(x, n) is the correctly rounded n-digit decimal of x's exact binary value; glibc's printf
  // rounds the same way, so formatting and parsing back reproduces it.
  char text[64];
  std::snprintf(text, sizeof(text), "%.7f", value);
  return std::strtod(text, nullptr);
}

std::pair<int64_t, int64_t> llava_next_unpadded_features(ImageSize image, int64_t patches_height,
                                                         int64_t patches_width, int64_t scale_height,
                                                         int64_t scale_width) {
  int64_t current_height = patches_height * scale_height;
  int64_t current_width = patches_width * scale_width;
  const double original_aspect = true_div(image.width, image.height);
  const double current_aspect = true_div(current_width, current_height);
  if (original_aspect > current_aspect) {
    const double scaled = static_cast<double>(image.height) * true_div(current_width, image.width);
    const auto new_height = static_cast<int64_t>(python_round_7(scaled));
    current_height -= floor_div(current_height - new_height, 2) * 2;
  } else {
    const double scaled = static_cast<double>(image.width) * true_div(current_height, image.height);
    const auto new_width = static_cast<int64_t>(python_round_7(scaled));
    current_width -= floor_div(current_width - new_width, 2) * 2;
  }
  return {current_height * current_width, current_height};
}

int64_t llava_next_number_of_features(ImageSize image, ImageSize tile, const std::vector<ImageSize>& pinpoints,
                                      int64_t patch_size, int64_t num_additional_image_tokens) {
  const ImageSize best = select_best_resolution(image, pinpoints);
  const int64_t scale_height = best.height / tile.height;
  const int64_t scale_width = best.width / tile.width;
  const int64_t patches_height = tile.height / patch_size;
  const int64_t patches_width = tile.width / patch_size;
  const auto [unpadded, newlines] =
      llava_next_unpadded_features(image, patches_height, patches_width, scale_height, scale_width);
  return unpadded + newlines + patches_height * patches_width + num_additional_image_tokens;
}

ImageSize qwen_smart_resize(ImageSize image, int64_t factor, int64_t min_pixels, int64_t max_pixels) {
  const int64_t h = image.height, w = image.width;
  MHA2MLA_CHECK(h > 0 && w > 0 && factor > 0, "smart_resize of a {}x{} image with factor {}", w, h, factor);
  const double aspect = true_div(std::max(h, w), std::min(h, w));
  if (aspect > 200)
    fail_with_hint("crop or pad the image; Qwen2-VL's processor refuses it too",
                   "image of {}x{} has an aspect ratio of {:.1f}; Qwen2-VL's smart_resize requires at most 200", w,
                   h, aspect);
  // round() in Python rounds half to even: std::nearbyint in the default rounding mode does the same.
  int64_t h_bar = static_cast<int64_t>(std::nearbyint(true_div(h, factor))) * factor;
  int64_t w_bar = static_cast<int64_t>(std::nearbyint(true_div(w, factor))) * factor;
  if (h_bar * w_bar > max_pixels) {
    const double beta = std::sqrt(true_div(h * w, max_pixels));
    h_bar = std::max(factor, static_cast<int64_t>(std::floor(static_cast<double>(h) / beta / factor)) * factor);
    w_bar = std::max(factor, static_cast<int64_t>(std::floor(static_cast<double>(w) / beta / factor)) * factor);
  } else if (h_bar * w_bar < min_pixels) {
    const double beta = std::sqrt(true_div(min_pixels, h * w));
    h_bar = static_cast<int64_t>(std::ceil(static_cast<double>(h) * beta / factor)) * factor;
    w_bar = static_cast<int64_t>(std::ceil(static_cast<double>(w) * beta / factor)) * factor;
  }
  return {h_bar, w_bar};
}

}  // namespace mha2mla::image
