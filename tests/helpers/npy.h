// Minimal .npy writer and reader for test helpers (float32 / int64, little-endian, C order), the files numpy.save
// writes and numpy.load reads in the oracles.
#pragma once

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace mha2mla::testing {

inline void write_npy(const std::string& path, const at::Tensor& tensor) {
  at::Tensor t = tensor.contiguous().cpu();
  std::string descr = t.scalar_type() == at::kLong ? "<i8" : "<f4";
  if (t.scalar_type() != at::kLong) t = t.to(at::kFloat);
  std::string shape;
  for (int64_t d : t.sizes()) shape += std::to_string(d) + ", ";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t length = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&length), 2);
  out << header;
  out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
}

// Reads a .npy file of '<f4' or '<i8' values in C order (what numpy.save writes for float32 / int64 arrays).
inline at::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic, 6) != "\x93NUMPY") throw std::runtime_error(path + ": not a .npy file");
  uint32_t header_length = 0;
  if (magic[6] == 1) {
    uint16_t short_length = 0;
    in.read(reinterpret_cast<char*>(&short_length), 2);
    header_length = short_length;
  } else {
    in.read(reinterpret_cast<char*>(&header_length), 4);
  }
  std::string header(header_length, ' ');
  in.read(header.data(), header_length);
  const bool is_float = header.find("'<f4'") != std::string::npos;
  const bool is_long = header.find("'<i8'") != std::string::npos;
  if ((!is_float && !is_long) || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": expected a C-order float32 or int64 array, header " + header);
  const size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
  std::vector<int64_t> shape;
  std::string dims = header.substr(open + 1, close - open - 1);
  for (size_t start = 0; start < dims.size();) {
    size_t comma = dims.find(',', start);
    std::string item = dims.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  at::Tensor t = at::empty(shape, is_float ? at::kFloat : at::kLong);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  if (!in) throw std::runtime_error(path + ": truncated data");
  return t;
}

}  // namespace mha2mla::testing
