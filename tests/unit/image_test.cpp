// data/image: decoding of real JPEG / PNG data built here (PNGs assembled byte by byte from the PNG spec, JPEGs
// encoded with libjpeg-turbo), resampling and size arithmetic against hand computations (and PIL's output for
// the same tiny inputs, noted next to each), processor outputs against closed forms, and error messages.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <ATen/core/Tensor.h>

#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/error.h"
#include "data/image/image_decode.h"
#include "data/image/image_processing.h"
#include "data/synthetic/image_encode.h"

namespace mha2mla::image {
namespace {

// ---- building real image files ---------------------------------------------------------------------------

uint32_t crc32_of(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string big_endian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string png_chunk(const std::string& kind, const std::string& data) {
  return big_endian32(static_cast<uint32_t>(data.size())) + kind + data + big_endian32(crc32_of(kind + data));
}

// A zlib stream of "stored" (uncompressed) deflate blocks: valid input for any inflater, no zlib needed here.
std::string zlib_stored(const std::string& data) {
  std::string out = "\x78\x01";
  size_t offset = 0;
  do {
    const size_t n = std::min<size_t>(65535, data.size() - offset);
    const bool last = offset + n == data.size();
    out += static_cast<char>(last ? 1 : 0);
    out += static_cast<char>(n & 0xFF);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(~n & 0xFF);
    out += static_cast<char>((~n >> 8) & 0xFF);
    out += data.substr(offset, n);
    offset += n;
  } while (offset < data.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : data) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return out + big_endian32((b << 16) | a);
}

// rows: filter-type-0 scanlines without the leading filter byte.
std::string make_png(uint32_t width, uint32_t height, int bit_depth, int color_type, const std::vector<std::string>& rows,
                     const std::string& palette = {}, const std::string& transparency = {}) {
  std::string header = big_endian32(width) + big_endian32(height);
  header += static_cast<char>(bit_depth);
  header += static_cast<char>(color_type);
  header += std::string(3, '\0');
  std::string raw;
  for (const std::string& row : rows) raw += '\0' + row;
  std::string png = std::string("\x89PNG\r\n\x1A\n", 8) + png_chunk("IHDR", header);
  if (!palette.empty()) png += png_chunk("PLTE", palette);
  if (!transparency.empty()) png += png_chunk("tRNS", transparency);
  return png + png_chunk("IDAT", zlib_stored(raw)) + png_chunk("IEND", "");
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

std::string make_jpeg(int width, int height, int pixel_format, int subsampling, const std::vector<uint8_t>& pixels) {
  tjhandle handle = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  int rc = tjCompress2(handle, pixels.data(), width, 0, height, pixel_format, &buffer, &size, subsampling, 95, 0);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(handle);
  std::string out(reinterpret_cast<char*>(buffer), size);
  tjFree(buffer);
  tjDestroy(handle);
  return out;
}

std::vector<uint8_t> pixel(const RgbImage& image, int64_t x, int64_t y) {
  const uint8_t* p = image.row(y) + 3 * x;
  return {p[0], p[1], p[2]};
}

RgbImage constant_image(int64_t width, int64_t height, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage image(width, height);
  for (int64_t i = 0; i < width * height; ++i) {
    image.pixels[3 * i] = r;
    image.pixels[3 * i + 1] = g;
    image.pixels[3 * i + 2] = b;
  }
  return image;
}

// numpy's rescale + normalize of one uint8 value: float32((v * (1/255)) as float64), then (x - mean) / std in float32.
float normalized(int value, int channel) {
  const auto x = static_cast<float>(value * (1.0 / 255.0));
  return (x - static_cast<float>(kOpenAiClipMean[channel])) / static_cast<float>(kOpenAiClipStd[channel]);
}

std::string error_of(const std::string& data, const std::string& source) {
  try {
    decode_image(data, source);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- decoding --------------------------------------------------------------------------------------------

TEST(ImageDecode, DetectsFormatFromMagicBytesNotNames) {
  const std::string png = make_png(1, 1, 8, 0, {bytes({7})});
  EXPECT_EQ(detect_image_format(reinterpret_cast<const uint8_t*>(png.data()), png.size()), ImageFormat::kPng);
  const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0};
  EXPECT_EQ(detect_image_format(jpeg, sizeof(jpeg)), ImageFormat::kJpeg);
  EXPECT_EQ(detect_image_format(jpeg, 2), ImageFormat::kUnknown);
  // A PNG named .jpg decodes as the PNG it is.
  EXPECT_EQ(pixel(decode_image(png, "photo.jpg"), 0, 0), (std::vector<uint8_t>{7, 7, 7}));
}

TEST(ImageDecode, PngColorTypesConvertLikePil) {
  // 8-bit gray: replicated.
  EXPECT_EQ(pixel(decode_image(make_png(2, 1, 8, 0, {bytes({9, 250})}), "g"), 1, 0), (std::vector<uint8_t>{250, 250, 250}));
  // 2-bit gray 0..3 scales by 85, like PIL's "L;2".
  RgbImage two_bit = decode_image(make_png(4, 1, 2, 0, {bytes({0b00011011})}), "g2");
  EXPECT_EQ(pixel(two_bit, 1, 0)[0], 85);
  EXPECT_EQ(pixel(two_bit, 3, 0)[0], 255);
  // 1-bit gray: 0 or 255.
  EXPECT_EQ(pixel(decode_image(make_png(8, 1, 1, 0, {bytes({0b01000000})}), "g1"), 1, 0)[0], 255);
  // Gray + alpha and RGBA: alpha dropped, not composited (alpha 0 keeps the colour).
  EXPECT_EQ(pixel(decode_image(make_png(1, 1, 8, 4, {bytes({77, 0})}), "la"), 0, 0), (std::vector<uint8_t>{77, 77, 77}));
  EXPECT_EQ(pixel(decode_image(make_png(1, 1, 8, 6, {bytes({10, 20, 30, 0})}), "rgba"), 0, 0),
            (std::vector<uint8_t>{10, 20, 30}));
  // 16-bit RGB keeps the high byte; 16-bit gray is clipped at 255 (PIL's mode "I" -> "RGB").
  EXPECT_EQ(pixel(decode_image(make_png(1, 1, 16, 2, {bytes({0x12, 0x34, 0xAB, 0xCD, 0x00, 0xFF})}), "rgb16"), 0, 0),
            (std::vector<uint8_t>{0x12, 0xAB, 0x00}));
  RgbImage gray16 = decode_image(make_png(3, 1, 16, 0, {bytes({0x00, 0x64, 0x00, 0xFF, 0x01, 0x00})}), "g16");
  EXPECT_EQ(pixel(gray16, 0, 0)[0], 100);
  EXPECT_EQ(pixel(gray16, 1, 0)[0], 255);
  EXPECT_EQ(pixel(gray16, 2, 0)[0], 255);  // 256 clips
  // 16-bit gray + alpha: high byte of the gray.
  EXPECT_EQ(pixel(decode_image(make_png(1, 1, 16, 4, {bytes({0x12, 0x34, 0xFF, 0x00})}), "la16"), 0, 0)[0], 0x12);
}

TEST(ImageDecode, PaletteLookupIncludingIndicesPastThePalette) {
  const std::string palette = bytes({10, 20, 30, 40, 50, 60});
  RgbImage image = decode_image(make_png(4, 1, 8, 3, {bytes({0, 1, 2, 200})}, palette, bytes({0})), "p");
  EXPECT_EQ(pixel(image, 0, 0), (std::vector<uint8_t>{10, 20, 30}));
  EXPECT_EQ(pixel(image, 1, 0), (std::vector<uint8_t>{40, 50, 60}));
  EXPECT_EQ(pixel(image, 2, 0), (std::vector<uint8_t>{2, 2, 2}));  // PIL's default palette is a gray ramp
  EXPECT_EQ(pixel(image, 3, 0), (std::vector<uint8_t>{200, 200, 200}));
  // 4-bit indices, two per byte.
  RgbImage packed = decode_image(make_png(2, 1, 4, 3, {bytes({0x10})}, palette), "p4");
  EXPECT_EQ(pixel(packed, 0, 0), (std::vector<uint8_t>{40, 50, 60}));
  EXPECT_EQ(pixel(packed, 1, 0), (std::vector<uint8_t>{10, 20, 30}));
}

TEST(ImageDecode, JpegGrayRgbAndCmyk) {
  // A flat gray JPEG decodes to a flat, replicated image (DCT of a constant block is exact).
  std::vector<uint8_t> gray(16 * 8, 137);
  RgbImage g = decode_image(make_jpeg(16, 8, TJPF_GRAY, TJSAMP_GRAY, gray), "gray.jpg");
  ASSERT_EQ(g.width, 16);
  ASSERT_EQ(g.height, 8);
  for (int64_t i = 0; i < 16 * 8 * 3; ++i) ASSERT_EQ(g.pixels[i], 137);

  std::vector<uint8_t> rgb;
  for (int i = 0; i < 24 * 16; ++i) rgb.insert(rgb.end(), {200, 40, 90});
  RgbImage c = decode_image(make_jpeg(24, 16, TJPF_RGB, TJSAMP_444, rgb), "rgb.jpg");
  for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(pixel(c, 5, 5)[ch], rgb[ch], 2);

  // CMYK stored as Adobe-inverted values s: PIL's RGB is s_k - round(s_k * (255 - s_c) / 255).
  std::vector<uint8_t> cmyk;
  for (int i = 0; i < 16 * 16; ++i) cmyk.insert(cmyk.end(), {255, 128, 0, 200});
  RgbImage k = decode_image(make_jpeg(16, 16, TJPF_CMYK, TJSAMP_444, cmyk), "cmyk.jpg");
  EXPECT_NEAR(pixel(k, 3, 3)[0], 200, 2);  // s_c 255: no cyan
  EXPECT_NEAR(pixel(k, 3, 3)[1], 100, 2);  // 200 - 200 * 127 / 255 = 100.4
  EXPECT_NEAR(pixel(k, 3, 3)[2], 0, 2);
}

TEST(ImageDecode, ErrorsNameTheSourceAndTheProblem) {
  std::vector<uint8_t> rgb(64 * 64 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  const std::string jpeg = make_jpeg(64, 64, TJPF_RGB, TJSAMP_420, rgb);
  const std::string source = "shard-00017.tar:sample_42.jpg";
  std::string message = error_of(jpeg.substr(0, jpeg.size() / 2), source);
  EXPECT_NE(message.find(source), std::string::npos) << message;
  EXPECT_NE(message.find("truncated JPEG"), std::string::npos) << message;

  const std::string png = make_png(2, 2, 8, 2, {std::string(6, 'a'), std::string(6, 'b')});
  message = error_of(png.substr(0, png.size() - 30), "shard:png");
  EXPECT_NE(message.find("shard:png: truncated PNG"), std::string::npos) << message;
  std::string bad_crc = png;
  bad_crc[bad_crc.size() - 20] ^= 0x55;  // inside IDAT: the chunk CRC no longer matches
  EXPECT_NE(error_of(bad_crc, "x.png").find("corrupt PNG"), std::string::npos);

  EXPECT_NE(error_of("GIF89a......", "a.jpg").find("a GIF image"), std::string::npos);
  EXPECT_NE(error_of("", "e.png").find("empty data"), std::string::npos);
  EXPECT_NE(error_of("\xFF\xD8\xFF\xDB garbage", "g.jpg").find("g.jpg: corrupt JPEG"), std::string::npos);
  EXPECT_THROW(read_image_file("/nonexistent/dir/img.png"), Error);
  // 20000 x 20000 is past PIL's decompression-bomb limit: refused from the header, before any allocation.
  message = error_of(make_png(20000, 20000, 8, 2, {}), "huge.png");
  EXPECT_NE(message.find("huge.png: PNG image of 20000x20000 = 400000000 pixels exceeds the limit"),
            std::string::npos)
      << message;
}

// Each thread reuses one TurboJPEG decompressor: a failed decode must leave it fit for the next image (a truncated
// file once made every later JPEG of a data worker "corrupt"). Each case runs on a fresh thread of its own.
TEST(ImageDecode, AFailedJpegLeavesTheThreadsDecoderUsable) {
  std::vector<uint8_t> rgb;
  for (int i = 0; i < 32 * 16; ++i) rgb.insert(rgb.end(), {30, 160, 220});
  const std::string good = make_jpeg(32, 16, TJPF_RGB, TJSAMP_420, rgb);
  const RgbImage expected = decode_image(good, "first.jpg");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"make-data's corrupt JPEG (120 bytes of a blank image)",
       mha2mla::data::encode_jpeg(RgbImage(64, 48), 90).substr(0, 120)},
      {"cut in the header", good.substr(0, 120)},
      {"cut in the data", good.substr(0, good.size() / 2)},
      {"garbage after a marker", std::string("\xFF\xD8\xFF\xDB garbage")},
      {"no end marker", good.substr(0, good.size() - 2)}};
  for (const auto& [what, bad] : cases) {
    std::string outcome;
    std::thread worker([&, bad = bad] {
      decode_image(good, "before.jpg");
      try {
        decode_image(bad, "bad.jpg");
      } catch (const Error&) {
      }
      try {
        outcome = decode_image(good, "again.jpg").pixels == expected.pixels ? "same pixels" : "other pixels";
      } catch (const Error& e) {
        outcome = e.what();
      }
    });
    worker.join();
    EXPECT_EQ(outcome, "same pixels") << "after " << what;
  }
}

// ---- resampling ------------------------------------------------------------------------------------------

TEST(PilResample, HandComputedRows) {
  RgbImage two(2, 1);
  two.pixels = {0, 0, 0, 255, 255, 255};
  // Bilinear 2 -> 4: centres 0.25, 0.75, 1.25, 1.75 give weights (1), (.75, .25), (.25, .75), (1).
  RgbImage up = resize_like_pil(two, 4, 1, ResampleFilter::kBilinear);
  EXPECT_EQ((std::vector<uint8_t>{up.pixels[0], up.pixels[3], up.pixels[6], up.pixels[9]}),
            (std::vector<uint8_t>{0, 64, 191, 255}));  // PIL: [0, 64, 191, 255]
  RgbImage up_cubic = resize_like_pil(two, 4, 1, ResampleFilter::kBicubic);
  EXPECT_EQ((std::vector<uint8_t>{up_cubic.pixels[0], up_cubic.pixels[3], up_cubic.pixels[6], up_cubic.pixels[9]}),
            (std::vector<uint8_t>{0, 53, 202, 255}));  // PIL: [0, 53, 202, 255]; the overshoot clips to 0
  RgbImage four(4, 1);
  four.pixels = {0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255};
  // Bilinear 4 -> 2 widens the kernel to support 2: weights .75 .75 .25 / 1.75 -> 71.4 -> 71.
  RgbImage down = resize_like_pil(four, 2, 1, ResampleFilter::kBilinear);
  EXPECT_EQ(down.pixels[0], 71);   // PIL: [71, 209]
  EXPECT_EQ(down.pixels[3], 209);
}

TEST(PilResample, ConstantStaysConstantAndSameSizeIsACopy) {
  RgbImage flat = constant_image(37, 23, 10, 128, 250);
  for (auto filter : {ResampleFilter::kBilinear, ResampleFilter::kBicubic}) {
    for (auto [w, h] : std::vector<std::pair<int, int>>{{5, 3}, {100, 7}, {37, 91}, {1, 1}}) {
      RgbImage out = resize_like_pil(flat, w, h, filter);
      ASSERT_EQ(out.width, w);
      for (int64_t i = 0; i < w * h; ++i) ASSERT_EQ(pixel(out, i % w, i / w), (std::vector<uint8_t>{10, 128, 250}));
    }
  }
  RgbImage varied(3, 2);
  for (size_t i = 0; i < varied.pixels.size(); ++i) varied.pixels[i] = static_cast<uint8_t>(i * 40);
  EXPECT_EQ(resize_like_pil(varied, 3, 2, ResampleFilter::kBicubic).pixels, varied.pixels);
}

TEST(PilResample, WindowEqualsCropOfTheFullResize) {
  RgbImage image(61, 47);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
  RgbImage full = resize_like_pil(image, 90, 33, ResampleFilter::kBicubic);
  RgbImage window = resize_window_like_pil(image, 90, 33, ResampleFilter::kBicubic, PixelWindow{17, 5, 40, 21});
  for (int64_t y = 0; y < 21; ++y)
    for (int64_t x = 0; x < 40; ++x) ASSERT_EQ(pixel(window, x, y), pixel(full, x + 17, y + 5));
}

// ---- size arithmetic -------------------------------------------------------------------------------------

TEST(ProcessorGeometry, ShortestEdgeAndCenterCrop) {
  EXPECT_EQ(shortest_edge_resize_size({480, 640}, 336), (ImageSize{336, 448}));
  EXPECT_EQ(shortest_edge_resize_size({511, 37}, 336), (ImageSize{4640, 336}));  // int(336 * 511 / 37 = 4640.43)
  CenterCropPlan plan = center_crop_plan({337, 449}, {336, 336});
  EXPECT_EQ(plan.source_y, 0);
  EXPECT_EQ(plan.source_x, 56);  // (449 - 336) // 2
  EXPECT_FALSE(plan.needs_padding);
  plan = center_crop_plan({101, 500}, {336, 336});
  EXPECT_TRUE(plan.needs_padding);
  EXPECT_EQ(plan.target_y, 118);  // ceil((336 - 101) / 2)
  EXPECT_EQ(plan.height, 101);
  EXPECT_EQ(plan.source_x, 82);
  SquarePadPlan square = square_pad_plan({480, 640});
  EXPECT_EQ(square.side, 640);
  EXPECT_EQ(square.offset_y, 80);
  EXPECT_EQ(background_channel_value(kOpenAiClipMean[0]), 122);
  EXPECT_EQ(background_channel_value(kOpenAiClipMean[1]), 116);
  EXPECT_EQ(background_channel_value(kOpenAiClipMean[2]), 104);
}

const std::vector<ImageSize> kPinpoints = {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};

TEST(ProcessorGeometry, LlavaNextResolutionAndFeatureCounts) {
  // 480x640: (672, 672) keeps all 307200 pixels (scale 1.05); the others keep at most 448 * 336.
  EXPECT_EQ(select_best_resolution({480, 640}, kPinpoints), (ImageSize{672, 672}));
  EXPECT_EQ(select_best_resolution({336, 672}, kPinpoints), (ImageSize{336, 672}));  // exact fit, nothing wasted
  EXPECT_EQ(select_best_resolution({1200, 300}, kPinpoints), (ImageSize{1008, 336}));
  EXPECT_EQ(patch_output_size({480, 640}, {672, 672}), (ImageSize{504, 672}));  // ceil(480 * 1.05)
  EXPECT_EQ(patching_pad_offsets({504, 672}, {672, 672}), (std::pair<int64_t, int64_t>{84, 0}));
  EXPECT_EQ(anyres_grid_shape({480, 640}, kPinpoints, 336), (std::pair<int64_t, int64_t>{2, 2}));

  // 480x640 on a 2x2 grid of 24x24 patches: 48x48, unpadded height int(480 * 48 / 640) = 36 -> 36 * 48 + 36
  // newlines, plus the base 576 + CLS 1, minus the CLS for the "default" strategy: 2340.
  EXPECT_EQ(llava_next_unpadded_features({480, 640}, 24, 24, 2, 2), (std::pair<int64_t, int64_t>{1728, 36}));
  LlavaNextImageConfig config;
  EXPECT_EQ(llava_next_num_image_tokens({480, 640}, config), 2340);
  // 511x37 fits (672, 336): 48x24 patches, width int(37 * 48 / 511) = 3 -> padding 10 each side -> 4 columns.
  EXPECT_EQ(llava_next_num_image_tokens({511, 37}, config), 48 * 4 + 48 + 576);
  EXPECT_EQ(python_round_7(35.999999999997), 36.0);
  EXPECT_EQ(python_round_7(2.5), 2.5);
}

TEST(ProcessorGeometry, QwenSmartResize) {
  EXPECT_EQ(qwen_smart_resize({480, 640}, 28, 3136, 1003520), (ImageSize{476, 644}));  // 17 * 28, 23 * 28
  EXPECT_EQ(qwen_smart_resize({42, 70}, 28, 3136, 1003520), (ImageSize{56, 56}));     // 1.5 and 2.5 round to even
  EXPECT_EQ(qwen_smart_resize({13, 17}, 28, 3136, 1003520), (ImageSize{56, 84}));     // min_pixels branch
  EXPECT_EQ(qwen_smart_resize({3000, 4000}, 28, 3136, 1003520), (ImageSize{840, 1148}));  // max_pixels branch
  try {
    qwen_smart_resize({2, 500}, 28, 3136, 1003520);
    FAIL() << "aspect ratio 250 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 200"), std::string::npos) << e.what();
  }
}

// ---- processors ------------------------------------------------------------------------------------------

TEST(ImageProcessing, ClipOfAConstantImageIsTheNormalizedConstant) {
  at::Tensor out = preprocess_clip(constant_image(640, 480, 10, 128, 250), ClipImageConfig{});
  ASSERT_EQ(out.sizes().vec(), (std::vector<int64_t>{3, 336, 336}));
  const float* data = out.data_ptr<float>();
  const int values[3] = {10, 128, 250};
  for (int c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 336 * 336; i += 1013) ASSERT_EQ(data[c * 336 * 336 + i], normalized(values[c], c));
}

TEST(ImageProcessing, PadToSquareFillsWithTheMeanColour) {
  ClipImageConfig config;
  config.pad_to_square = true;
  // An image of exactly the background colour pads into a uniform square.
  at::Tensor out = preprocess_clip(constant_image(100, 40, 122, 116, 104), config);
  const float* data = out.data_ptr<float>();
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(data[c * 336 * 336], normalized(c == 0 ? 122 : c == 1 ? 116 : 104, c));
    EXPECT_EQ(data[c * 336 * 336 + 336 * 336 - 1], data[c * 336 * 336]);
  }
  // A black image keeps black in the middle rows and the background above.
  out = preprocess_clip(constant_image(100, 40, 0, 0, 0), config);
  EXPECT_EQ(out.data_ptr<float>()[0], normalized(122, 0));
  EXPECT_EQ(out.data_ptr<float>()[168 * 336 + 168], normalized(0, 0));
}

TEST(ImageProcessing, LlavaNextTilesAndPadding) {
  LlavaNextImage result = preprocess_llava_next(constant_image(640, 480, 200, 100, 50), LlavaNextImageConfig{});
  ASSERT_EQ(result.pixel_values.sizes().vec(), (std::vector<int64_t>{5, 3, 336, 336}));
  EXPECT_EQ(result.image_size, (ImageSize{480, 640}));
  EXPECT_EQ(result.num_image_tokens, 2340);
  const float* data = result.pixel_values.data_ptr<float>();
  const int64_t tile = 3 * 336 * 336;
  EXPECT_EQ(data[0], normalized(200, 0));             // base image: the whole picture
  EXPECT_EQ(data[tile], normalized(0, 0));             // tile 1, row 0: inside the 84 black rows on top
  EXPECT_EQ(data[tile + 84 * 336], normalized(200, 0));  // row 84: the image starts
  // Tile 3 (bottom left) holds canvas rows 336..671: image rows end at canvas row 587 (tile row 251).
  EXPECT_EQ(data[3 * tile + 251 * 336], normalized(200, 0));
  EXPECT_EQ(data[3 * tile + 252 * 336], normalized(0, 0));
  EXPECT_EQ(data[4 * tile + 2 * 336 * 336 + 100 * 336 + 335], normalized(50, 2));  // tile 4, blue plane
}

TEST(ImageProcessing, QwenPatchOrderAndTokenCount) {
  // 56x56 needs no resize (two 28-pixel merge blocks per side); pixel (x, y) has R = 4x, G = 4y, B = 7.
  RgbImage image(56, 56);
  for (int64_t y = 0; y < 56; ++y)
    for (int64_t x = 0; x < 56; ++x) {
      image.row(y)[3 * x] = static_cast<uint8_t>(4 * x);
      image.row(y)[3 * x + 1] = static_cast<uint8_t>(4 * y);
      image.row(y)[3 * x + 2] = 7;
    }
  Qwen2VlImage result = preprocess_qwen2_vl(image, Qwen2VlImageConfig{});
  EXPECT_EQ(result.grid_thw, (std::array<int64_t, 3>{1, 4, 4}));
  EXPECT_EQ(result.num_image_tokens, 4);
  ASSERT_EQ(result.pixel_values.sizes().vec(), (std::vector<int64_t>{16, 1176}));
  const float* data = result.pixel_values.data_ptr<float>();
  // Row r = ((block_y * 2 + block_x) * 2 + in_y) * 2 + in_x; column = ((c * 2 + frame) * 14 + py) * 14 + px.
  for (int64_t r = 0; r < 16; ++r) {
    const int64_t block_y = r / 8, block_x = (r / 4) % 2, in_y = (r / 2) % 2, in_x = r % 2;
    for (int64_t col = 0; col < 1176; ++col) {
      const int64_t c = col / 392, py = (col / 14) % 14, px = col % 14;
      const int64_t y = (block_y * 2 + in_y) * 14 + py, x = (block_x * 2 + in_x) * 14 + px;
      const int value = c == 0 ? 4 * x : c == 1 ? 4 * y : 7;
      ASSERT_EQ(data[r * 1176 + col], normalized(value, static_cast<int>(c))) << "row " << r << " column " << col;
    }
  }
  // 640x480 -> 476x644: 34 x 46 patches, 391 merged tokens.
  Qwen2VlImage photo = preprocess_qwen2_vl(constant_image(640, 480, 1, 2, 3), Qwen2VlImageConfig{});
  EXPECT_EQ(photo.grid_thw, (std::array<int64_t, 3>{1, 34, 46}));
  EXPECT_EQ(photo.num_image_tokens, 391);
  EXPECT_EQ(photo.pixel_values.size(0), 34 * 46);
}

}  // namespace
}  // namespace mha2mla::image
