// Minimal .npy writer for test helpers (float32 / int64, C order), read by numpy.load in the oracles.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

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

}  // namespace mha2mla::testing
