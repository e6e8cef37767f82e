#include "data/synthetic/image_encode.h"

#include <png.h>
#include <turbojpeg.h>

#include "common/error.h"

namespace mha2mla::data {

std::string encode_jpeg(const image::RgbImage& image, int quality) {
  tjhandle handle = tjInitCompress();
  if (!handle) fail("cannot start the JPEG encoder: {}", tjGetErrorStr());
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  int rc = tjCompress2(handle, image.pixels.data(), static_cast<int>(image.width), 0, static_cast<int>(image.height),
                       TJPF_RGB, &buffer, &size, TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  std::string out;
  if (rc == 0) out.assign(reinterpret_cast<const char*>(buffer), size);
  std::string error = rc == 0 ? "" : tjGetErrorStr2(handle);
  tjFree(buffer);
  tjDestroy(handle);
  if (rc != 0) fail("JPEG encoding of a {}x{} image failed: {}", image.width, image.height, error);
  return out;
}

std::string encode_png(const image::RgbImage& image) {
  // libpng's simplified API: no callbacks, no longjmp.
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGB;
  const png_int_32 stride = static_cast<png_int_32>(image.width * 3);
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), stride, nullptr))
    fail("PNG encoding of a {}x{} image failed: {}", image.width, image.height, png.message);
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, image.pixels.data(), stride, nullptr))
    fail("PNG encoding of a {}x{} image failed: {}", image.width, image.height, png.message);
  out.resize(size);
  return out;
}

}  // namespace mha2mla::data
