#include "data/image/pil_resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/error.h"

namespace mha2mla::image {

namespace {

// PIL's Resample.c: coefficients are scaled by 2^22 so that a sum of 255 * coefficient fits in int32.
constexpr int kPrecisionBits = 32 - 8 - 2;

// The expressions keep PIL's operation order: the coefficients must round exactly as PIL's do.
double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double bilinear_kernel(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

// For each output position along one axis: the first input index, how many inputs it reads, and their
// fixed-point weights (taps_per_output slots, unused ones zero).
struct AxisCoefficients {
  int taps_per_output = 0;
  std::vector<int32_t> first;
  std::vector<int32_t> count;
  std::vector<int32_t> weights;
};

AxisCoefficients precompute_axis(int64_t in_size, int64_t out_size, ResampleFilter filter) {
  const bool bicubic = filter == ResampleFilter::kBicubic;
  const double kernel_support = bicubic ? 2.0 : 1.0;
  // PIL passes the box edges as float; (in1 - in0) is exact for any realistic size.
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / static_cast<double>(out_size);
  const double filter_scale = scale < 1.0 ? 1.0 : scale;
  const double support = kernel_support * filter_scale;
  const int taps = static_cast<int>(std::ceil(support)) * 2 + 1;

  AxisCoefficients axis;
  axis.taps_per_output = taps;
  axis.first.resize(out_size);
  axis.count.resize(out_size);
  axis.weights.assign(static_cast<size_t>(out_size) * taps, 0);
  std::vector<double> k(taps);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (static_cast<double>(xx) + 0.5) * scale;
    const double inverse_scale = 1.0 / filter_scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = static_cast<int>(in_size);
    xmax -= xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double arg = (static_cast<double>(x + xmin) - center + 0.5) * inverse_scale;
      k[x] = bicubic ? bicubic_kernel(arg) : bilinear_kernel(arg);
      total += k[x];
    }
    int32_t* w = &axis.weights[static_cast<size_t>(xx) * taps];
    for (int x = 0; x < xmax; ++x) {
      double normalized = total != 0.0 ? k[x] / total : k[x];
      w[x] = normalized < 0 ? static_cast<int32_t>(-0.5 + normalized * (1 << kPrecisionBits))
                            : static_cast<int32_t>(0.5 + normalized * (1 << kPrecisionBits));
    }
    axis.first[xx] = xmin;
    axis.count[xx] = xmax;
  }
  return axis;
}

inline uint8_t clip_fixed_point(int32_t value) {
  int32_t shifted = value >> kPrecisionBits;  // arithmetic shift, as PIL's clip8
  return static_cast<uint8_t>(shifted < 0 ? 0 : shifted > 255 ? 255 : shifted);
}

// Read-only RGB rows with a column offset: either the source image or the horizontal pass's output.
struct RowView {
  const uint8_t* base = nullptr;
  int64_t stride = 0;       // bytes per row
  int64_t first_row = 0;    // image row held in base's row 0
  int64_t first_col = 0;    // image column held at base's column 0
  const uint8_t* row(int64_t image_row) const { return base + (image_row - first_row) * stride; }
};

// The two passes below are integer multiply-accumulate loops written so that the compiler vectorizes them; an
// AVX2 clone is picked at load time where the CPU has it. Integer sums are exact in any order, so every clone
// gives PIL's result.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define MHA2MLA_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MHA2MLA_VECTOR_CLONES
#endif

// Rows are resampled horizontally kRowBlock at a time from a transposed copy holding, for each source column,
// the kRowBlock rows' RGB side by side: one output column of the block is then a sum over taps of contiguous
// kRowBlock * 3 values times one weight.
constexpr int kRowBlock = 8;
constexpr int kBlockValues = kRowBlock * 3;

MHA2MLA_VECTOR_CLONES
void resample_block_columns(const uint8_t* block, const AxisCoefficients& axis, int64_t col_begin, int64_t col_end,
                            int32_t* sums) {
  const int taps = axis.taps_per_output;
  for (int64_t xx = col_begin; xx < col_end; ++xx, sums += kBlockValues) {
    int32_t acc[kBlockValues];
    for (int i = 0; i < kBlockValues; ++i) acc[i] = 1 << (kPrecisionBits - 1);
    const int32_t* w = &axis.weights[static_cast<size_t>(xx) * taps];
    const uint8_t* column = block + static_cast<int64_t>(axis.first[xx]) * kBlockValues;
    for (int t = 0; t < axis.count[xx]; ++t, column += kBlockValues) {
      const int32_t weight = w[t];
      for (int i = 0; i < kBlockValues; ++i) acc[i] += column[i] * weight;
    }
    std::memcpy(sums, acc, sizeof(acc));
  }
}

// Horizontal pass over source rows [row_begin, row_end), producing output columns [col_begin, col_end).
RgbImage resample_rows(const RgbImage& source, const AxisCoefficients& axis, int64_t row_begin, int64_t row_end,
                       int64_t col_begin, int64_t col_end) {
  RgbImage out(col_end - col_begin, row_end - row_begin);
  const int64_t columns = col_end - col_begin;
  // Source columns the wanted outputs read.
  const int64_t x_begin = axis.first[col_begin];
  const int64_t x_end = static_cast<int64_t>(axis.first[col_end - 1]) + axis.count[col_end - 1];
  std::vector<uint8_t> block(static_cast<size_t>(source.width) * kBlockValues, 0);
  std::vector<int32_t> sums(static_cast<size_t>(columns) * kBlockValues);
  for (int64_t y0 = row_begin; y0 < row_end; y0 += kRowBlock) {
    const int rows = static_cast<int>(std::min<int64_t>(kRowBlock, row_end - y0));
    const uint8_t* in[kRowBlock];
    for (int r = 0; r < kRowBlock; ++r) in[r] = source.row(y0 + std::min(r, rows - 1));  // repeats are ignored
    for (int64_t x = x_begin; x < x_end; ++x) {
      uint8_t* cell = &block[static_cast<size_t>(x) * kBlockValues];
      for (int r = 0; r < kRowBlock; ++r, cell += 3) std::memcpy(cell, in[r] + 3 * x, 3);
    }
    resample_block_columns(block.data(), axis, col_begin, col_end, sums.data());
    for (int r = 0; r < rows; ++r) {
      uint8_t* o = out.row(y0 + r - row_begin);
      const int32_t* s = sums.data() + r * 3;
      for (int64_t x = 0; x < columns; ++x, s += kBlockValues) {
        o[3 * x] = clip_fixed_point(s[0]);
        o[3 * x + 1] = clip_fixed_point(s[1]);
        o[3 * x + 2] = clip_fixed_point(s[2]);
      }
    }
  }
  return out;
}

MHA2MLA_VECTOR_CLONES
void accumulate_row(const uint8_t* in, int32_t weight, int64_t values, int32_t* sums) {
  for (int64_t i = 0; i < values; ++i) sums[i] += in[i] * weight;
}

// Vertical pass producing output rows [row_begin, row_end), for `columns` columns starting at view.first_col.
RgbImage resample_columns(const RowView& view, const AxisCoefficients& axis, int64_t row_begin, int64_t row_end,
                          int64_t columns) {
  RgbImage out(columns, row_end - row_begin);
  const int taps = axis.taps_per_output;
  const int64_t values = columns * 3;
  std::vector<int32_t> sums(values);
  for (int64_t yy = row_begin; yy < row_end; ++yy) {
    std::fill(sums.begin(), sums.end(), 1 << (kPrecisionBits - 1));
    const int32_t* w = &axis.weights[static_cast<size_t>(yy) * taps];
    for (int t = 0; t < axis.count[yy]; ++t)
      accumulate_row(view.row(axis.first[yy] + t) + view.first_col * 3, w[t], values, sums.data());
    uint8_t* o = out.row(yy - row_begin);
    for (int64_t i = 0; i < values; ++i) o[i] = clip_fixed_point(sums[i]);
  }
  return out;
}

RgbImage copy_window(const RgbImage& source, const PixelWindow& window) {
  RgbImage out(window.width, window.height);
  for (int64_t y = 0; y < window.height; ++y)
    std::memcpy(out.row(y), source.row(window.y + y) + window.x * 3, static_cast<size_t>(window.width) * 3);
  return out;
}

}  // namespace

RgbImage resize_window_like_pil(const RgbImage& source, int64_t out_width, int64_t out_height, ResampleFilter filter,
                                const PixelWindow& window) {
  MHA2MLA_CHECK(source.width > 0 && source.height > 0 && out_width > 0 && out_height > 0,
                "resize of a {}x{} image to {}x{}", source.width, source.height, out_width, out_height);
  MHA2MLA_CHECK(window.x >= 0 && window.y >= 0 && window.width > 0 && window.height > 0 &&
                    window.x + window.width <= out_width && window.y + window.height <= out_height,
                "window {}x{}+{}+{} outside a {}x{} resize", window.width, window.height, window.x, window.y,
                out_width, out_height);
  const bool horizontal = out_width != source.width;
  const bool vertical = out_height != source.height;
  if (!horizontal && !vertical) return copy_window(source, window);

  AxisCoefficients rows_axis;
  int64_t row_begin = window.y, row_end = window.y + window.height;  // source rows the vertical pass reads
  if (vertical) {
    rows_axis = precompute_axis(source.height, out_height, filter);
    const int64_t last = window.y + window.height - 1;
    row_begin = rows_axis.first[window.y];
    row_end = static_cast<int64_t>(rows_axis.first[last]) + rows_axis.count[last];
  }

  RgbImage horizontal_pass;
  RowView view{source.pixels.data(), source.width * 3, 0, window.x};
  if (horizontal) {
    AxisCoefficients columns_axis = precompute_axis(source.width, out_width, filter);
    horizontal_pass = resample_rows(source, columns_axis, row_begin, row_end, window.x, window.x + window.width);
    if (!vertical) return horizontal_pass;
    view = RowView{horizontal_pass.pixels.data(), horizontal_pass.width * 3, row_begin, 0};
  }
  return resample_columns(view, rows_axis, window.y, window.y + window.height, window.width);
}

RgbImage resize_like_pil(const RgbImage& source, int64_t out_width, int64_t out_height, ResampleFilter filter) {
  return resize_window_like_pil(source, out_width, out_height, filter, PixelWindow{0, 0, out_width, out_height});
}

}  // namespace mha2mla::image
