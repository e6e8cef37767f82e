// JPEG through libjpeg-turbo's TurboJPEG API, set up to give PIL's pixels: PIL 9.x decodes with libjpeg(-turbo)
// defaults (JDCT_ISLOW accurate integer IDCT, fancy upsampling), which TurboJPEG also uses when decompressing;
// we ask for the accurate IDCT explicitly so that a different TurboJPEG default cannot change the pixels.
#include <turbojpeg.h>

#include <cstring>
#include <memory>

#include "common/error.h"
#include "data/image/decoders.h"

namespace mha2mla::image::detail {

namespace {

struct TurboJpegHandle {
  tjhandle handle = tjInitDecompress();
  ~TurboJpegHandle() {
    if (handle) tjDestroy(handle);
  }
  // After a failed or warned decode libjpeg's state can be left mid-image: the next header on the same handle then
  // reads as 0x0 (a truncated file did that to every later image of a data worker). Start over with a fresh one.
  void renew() {
    if (handle) tjDestroy(handle);
    handle = tjInitDecompress();
  }
};

// One decompressor per thread: the data pipeline decodes on several worker threads, and a handle is not
// thread-safe, but creating one per image would cost an allocation of libjpeg's state every time.
TurboJpegHandle& thread_decompressor() {
  thread_local TurboJpegHandle holder;
  MHA2MLA_CHECK(holder.handle != nullptr, "tjInitDecompress failed: {}", tjGetErrorStr2(nullptr));
  return holder;
}

// PIL reads 4-channel JPEGs as "CMYK;I" (Adobe's inverted convention) and converts CMYK to RGB as
// nk - nk * c / 255 with its rounding MULDIV255; libjpeg hands us the stored (inverted) values.
void cmyk_to_rgb_like_pil(const uint8_t* cmyk, int64_t pixels, uint8_t* rgb) {
  auto muldiv255 = [](int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (int64_t i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
    int nk = cmyk[3];  // 255 - k with k = 255 - stored value
    for (int c = 0; c < 3; ++c) {
      int value = nk - muldiv255(255 - cmyk[c], nk);
      rgb[c] = static_cast<uint8_t>(value < 0 ? 0 : value > 255 ? 255 : value);
    }
  }
}

const char* colorspace_name(int colorspace) {
  switch (colorspace) {
    case TJCS_RGB: return "RGB";
    case TJCS_YCbCr: return "YCbCr";
    case TJCS_GRAY: return "grayscale";
    case TJCS_CMYK: return "CMYK";
    case TJCS_YCCK: return "YCCK";
    default: return "unknown";
  }
}

}  // namespace

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& source) {
  TurboJpegHandle& decompressor = thread_decompressor();
  tjhandle handle = decompressor.handle;
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, data, static_cast<unsigned long>(size), &width, &height, &subsampling,
                          &colorspace) != 0) {
    const std::string message = tjGetErrorStr2(handle);
    decompressor.renew();
    fail("{}: corrupt JPEG: cannot read its header ({}; {} bytes)", source, message, size);
  }
  check_image_size(width, height, "JPEG", source);

  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  RgbImage image(width, height);
  std::unique_ptr<uint8_t[]> cmyk_pixels;
  uint8_t* target = image.pixels.data();
  int pixel_format = TJPF_RGB;  // grayscale JPEGs come out replicated, as PIL's "L" -> "RGB"
  if (cmyk) {
    cmyk_pixels.reset(new uint8_t[static_cast<size_t>(width) * height * 4]);
    target = cmyk_pixels.get();
    pixel_format = TJPF_CMYK;
  }
  // LIMITSCANS refuses progressive files with hundreds of scans (a known denial-of-service shape);
  // no real photograph has them.
  const int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
  if (tjDecompress2(handle, data, static_cast<unsigned long>(size), target, width, 0, height, pixel_format, flags) !=
      0) {
    const std::string message = tjGetErrorStr2(handle);
    const bool fatal = tjGetErrorCode(handle) == TJERR_FATAL;
    decompressor.renew();
    if (fatal)
      fail("{}: corrupt JPEG ({}x{} {}): {}", source, width, height, colorspace_name(colorspace), message);
    // libjpeg fills what is missing with grey and warns; PIL raises "image file is truncated" for the same file.
    if (message.find("Premature end of JPEG file") != std::string::npos)
      fail_with_hint("re-download or re-extract the image; a partial file decodes to a grey band",
                     "{}: truncated JPEG: the data ({} bytes) ends before the {}x{} image is complete", source, size,
                     width, height);
    // Other warnings ("Corrupt JPEG data: N extraneous bytes before marker", ...) are recoverable; PIL
    // decodes such files without complaint, so we keep the pixels too.
  }
  if (cmyk) cmyk_to_rgb_like_pil(cmyk_pixels.get(), static_cast<int64_t>(width) * height, image.pixels.data());
  return image;
}

}  // namespace mha2mla::image::detail
