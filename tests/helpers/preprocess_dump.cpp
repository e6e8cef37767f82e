// Test-only: runs mha2mla's image decoding / resampling / processors and writes the results as .npy files for
// tests/python/test_image_preprocessing.py to compare with PIL + transformers-equivalent references.
//
//   preprocess_dump COMMAND IMAGE OUT.npy [key=value ...]     one job; errors go to stderr, exit status 1
//   preprocess_dump --jobs FILE                              one job per line; a failed job writes OUT.npy.err
//
// Commands: decode (uint8 [H, W, 3]); resize width= height= filter=bicubic|bilinear (uint8 [h, w, 3]);
// clip shortest_edge= crop= pad=0|1 (float32 [3, H, W]); llava_next (float32 [N, 3, 336, 336]);
// qwen2_vl min_pixels= max_pixels= (float32 [rows, 1176]). Scalars (image size, grid, token counts) go to
// OUT.npy.txt as "key value..." lines.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "common/error.h"
#include "common/files.h"
#include "data/image/image_decode.h"
#include "data/image/image_processing.h"

namespace {

using namespace mha2mla;
using namespace mha2mla::image;

void write_npy(const std::string& path, const char* descr, const std::vector<int64_t>& shape, const void* data,
               size_t bytes) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(data), bytes);
  write_file_atomic(path, out);
}

void write_uint8(const std::string& path, const RgbImage& image) {
  write_npy(path, "|u1", {image.height, image.width, 3}, image.pixels.data(), image.pixels.size());
}

void write_float(const std::string& path, const at::Tensor& tensor) {
  write_npy(path, "<f4", tensor.sizes().vec(), tensor.data_ptr<float>(), tensor.numel() * sizeof(float));
}

int64_t get_int(const std::map<std::string, std::string>& options, const std::string& key, int64_t fallback) {
  auto it = options.find(key);
  return it == options.end() ? fallback : std::stoll(it->second);
}

void run_job(const std::vector<std::string>& words) {
  if (words.size() < 3) fail("a job needs COMMAND IMAGE OUT.npy, got {} words", words.size());
  const std::string& command = words[0];
  const std::string& out = words[2];
  std::map<std::string, std::string> options;
  for (size_t i = 3; i < words.size(); ++i) {
    auto eq = words[i].find('=');
    if (eq == std::string::npos) fail("option '{}' is not key=value", words[i]);
    options[words[i].substr(0, eq)] = words[i].substr(eq + 1);
  }
  RgbImage image = read_image_file(words[1]);
  std::string scalars;
  if (command == "decode") {
    write_uint8(out, image);
  } else if (command == "resize") {
    auto filter = options.count("filter") && options["filter"] == "bilinear" ? ResampleFilter::kBilinear
                                                                              : ResampleFilter::kBicubic;
    write_uint8(out, resize_like_pil(image, get_int(options, "width", 0), get_int(options, "height", 0), filter));
  } else if (command == "clip") {
    ClipImageConfig config;
    config.shortest_edge = get_int(options, "shortest_edge", 336);
    config.crop = {get_int(options, "crop", 336), get_int(options, "crop", 336)};
    config.pad_to_square = get_int(options, "pad", 0) != 0;
    write_float(out, preprocess_clip(image, config));
  } else if (command == "llava_next") {
    LlavaNextImage result = preprocess_llava_next(image, LlavaNextImageConfig{});
    write_float(out, result.pixel_values);
    scalars = fmt::format("image_size {} {}\nnum_image_tokens {}\n", result.image_size.height,
                          result.image_size.width, result.num_image_tokens);
  } else if (command == "qwen2_vl") {
    Qwen2VlImageConfig config;
    config.min_pixels = get_int(options, "min_pixels", config.min_pixels);
    config.max_pixels = get_int(options, "max_pixels", config.max_pixels);
    Qwen2VlImage result = preprocess_qwen2_vl(image, config);
    write_float(out, result.pixel_values);
    scalars = fmt::format("grid_thw {} {} {}\nnum_image_tokens {}\n", result.grid_thw[0], result.grid_thw[1],
                          result.grid_thw[2], result.num_image_tokens);
  } else {
    fail("unknown command '{}'", command);
  }
  if (!scalars.empty()) write_file_atomic(out + ".txt", scalars);
}

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--jobs") {
    std::ifstream jobs(argv[2]);
    int failed = 0;
    for (std::string line; std::getline(jobs, line);) {
      std::vector<std::string> words = split_words(line);
      if (words.empty()) continue;
      try {
        run_job(words);
      } catch (const std::exception& e) {
        ++failed;
        if (words.size() >= 3) mha2mla::write_file_atomic(words[2] + ".err", e.what());
      }
    }
    std::printf("%d job(s) failed\n", failed);
    return 0;
  }
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s COMMAND IMAGE OUT.npy [key=value ...] | --jobs FILE\n", argv[0]);
    return 2;
  }
  try {
    run_job(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const mha2mla::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "---> HINT: %s\n", e.hint().c_str());
    return 1;
  }
  return 0;
}
