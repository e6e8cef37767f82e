// PNG through libpng's low-level API. The simplified API (png_image_*) would composite alpha onto a background
// and gamma-correct 16-bit data, neither of which PIL does, so we read the raw samples and convert them the way
// PIL's PngImagePlugin + Image.convert("RGB") do.
//
// libpng reports errors with longjmp. Everything the jump could skip lives in caller-owned objects (PngRead),
// and the function holding setjmp declares no object with a destructor, so the jump is well defined.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "data/image/decoders.h"
#include "data/image/image_decode.h"

namespace mha2mla::image::detail {

namespace {

struct PngRead {
  // input
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t offset = 0;
  // outcome
  bool truncated = false;
  bool size_rejected = false;
  char message[256] = {0};
  // header, after the transforms below
  png_uint_32 width = 0, height = 0;
  int file_bit_depth = 0, file_color_type = -1;  // as stored, for messages
  int bit_depth = 0;
  int color_type = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> samples;
  std::vector<png_bytep> row_pointers;
  int palette_size = 0;
  uint8_t palette[256 * 3] = {0};
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* read = static_cast<PngRead*>(png_get_error_ptr(png));
  std::snprintf(read->message, sizeof(read->message), "%s", message);
  png_longjmp(png, 1);
}

// PIL ignores what libpng warns about (bad ancillary chunks, unknown sRGB profiles, ...), so we do too.
void on_png_warning(png_structp, png_const_charp) {}

void read_from_memory(png_structp png, png_bytep out, size_t count) {
  auto* read = static_cast<PngRead*>(png_get_io_ptr(png));
  if (read->size - read->offset < count) {
    read->truncated = true;
    png_error(png, "unexpected end of data");
  }
  std::memcpy(out, read->data + read->offset, count);
  read->offset += count;
}

// Returns false with read->message set when libpng fails.
bool read_png_samples(PngRead* read) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, read, on_png_error, on_png_warning);
  if (!png) {
    std::snprintf(read->message, sizeof(read->message), "libpng could not allocate a reader");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(read->message, sizeof(read->message), "libpng could not allocate an info struct");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, read, read_from_memory);
  png_read_info(png, info);

  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  read->width = width;
  read->height = height;
  read->file_bit_depth = bit_depth;
  read->file_color_type = color_type;
  if (width == 0 || height == 0 || int64_t{width} * height > kMaxImagePixels) {
    read->size_rejected = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }

  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_colorp palette = nullptr;
    int count = 0;
    if (png_get_PLTE(png, info, &palette, &count) == PNG_INFO_PLTE) {
      read->palette_size = count > 256 ? 256 : count;
      for (int i = 0; i < read->palette_size; ++i) {
        read->palette[i * 3 + 0] = palette[i].red;
        read->palette[i * 3 + 1] = palette[i].green;
        read->palette[i * 3 + 2] = palette[i].blue;
      }
    }
    if (bit_depth < 8) png_set_packing(png);  // one index per byte, values unscaled
  } else if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);  // 1 -> 0/255, 2 -> x85, 4 -> x17, like PIL's "1", "L;2", "L;4"
  }
  // PIL keeps the high byte of 16-bit RGB, RGBA and gray+alpha; 16-bit gray becomes mode "I" and is
  // clipped later, so it stays 16-bit here.
  if (bit_depth == 16 && color_type != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  read->bit_depth = png_get_bit_depth(png, info);
  read->color_type = png_get_color_type(png, info);
  read->row_bytes = png_get_rowbytes(png, info);
  read->samples.resize(read->row_bytes * height);
  read->row_pointers.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) read->row_pointers[y] = read->samples.data() + y * read->row_bytes;
  png_read_image(png, read->row_pointers.data());
  // Chunks after the image data (text, time, IEND) are not read: PIL does not need them either.
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

const char* color_type_name(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return "gray";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return "gray+alpha";
    case PNG_COLOR_TYPE_RGB: return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA: return "RGBA";
    case PNG_COLOR_TYPE_PALETTE: return "palette";
    default: return "unknown";
  }
}

void samples_to_rgb(const PngRead& read, RgbImage& image, const std::string& source) {
  const int64_t width = read.width;
  // PIL's palette starts as a gray ramp and the PLTE entries overwrite its head: an index past the palette
  // gives (i, i, i).
  uint8_t lookup[256 * 3];
  for (int i = 0; i < 256; ++i) lookup[i * 3] = lookup[i * 3 + 1] = lookup[i * 3 + 2] = static_cast<uint8_t>(i);
  std::memcpy(lookup, read.palette, static_cast<size_t>(read.palette_size) * 3);

  for (int64_t y = 0; y < image.height; ++y) {
    const uint8_t* in = read.samples.data() + y * read.row_bytes;
    uint8_t* out = image.row(y);
    switch (read.color_type) {
      case PNG_COLOR_TYPE_GRAY:
        if (read.bit_depth == 16) {
          for (int64_t x = 0; x < width; ++x) {
            int value = (in[2 * x] << 8) | in[2 * x + 1];
            out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = static_cast<uint8_t>(value > 255 ? 255 : value);
          }
        } else {
          for (int64_t x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
        }
        break;
      case PNG_COLOR_TYPE_GRAY_ALPHA:
        for (int64_t x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[2 * x];
        break;
      case PNG_COLOR_TYPE_RGB: std::memcpy(out, in, static_cast<size_t>(width) * 3); break;
      case PNG_COLOR_TYPE_RGB_ALPHA:
        for (int64_t x = 0; x < width; ++x) {
          out[3 * x] = in[4 * x];
          out[3 * x + 1] = in[4 * x + 1];
          out[3 * x + 2] = in[4 * x + 2];
        }
        break;
      case PNG_COLOR_TYPE_PALETTE:
        for (int64_t x = 0; x < width; ++x) std::memcpy(out + 3 * x, lookup + 3 * in[x], 3);
        break;
      default:
        fail("{}: PNG color type {} is not supported", source, read.color_type);
    }
  }
}

}  // namespace

RgbImage decode_png(const uint8_t* data, size_t size, const std::string& source) {
  PngRead read;
  read.data = data;
  read.size = size;
  if (!read_png_samples(&read)) {
    if (read.size_rejected) check_image_size(read.width, read.height, "PNG", source);
    if (read.truncated && read.width == 0)
      fail("{}: truncated PNG: the data ({} bytes) ends inside the header", source, size);
    if (read.truncated)
      fail_with_hint("re-download or re-extract the image",
                     "{}: truncated PNG: the data ({} bytes) ends before the {}x{} image is complete", source, size,
                     read.width, read.height);
    if (read.width == 0) fail("{}: corrupt PNG header ({} bytes): {}", source, size, read.message);
    fail("{}: corrupt PNG ({}x{} {} {}-bit, {} bytes): {}", source, read.width, read.height,
         color_type_name(read.file_color_type), read.file_bit_depth, size, read.message);
  }
  RgbImage image(read.width, read.height);
  samples_to_rgb(read, image, source);
  return image;
}

}  // namespace mha2mla::image::detail
