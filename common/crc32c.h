// CRC-32C (Castagnoli): the checksum of TensorBoard's record format and of checkpoint files.
// Polynomial 0x1EDC6F41, reflected (0x82F63B78), initial value and final xor 0xFFFFFFFF;
// crc32c("123456789") == 0xE3069283. Uses the SSE4.2 crc32 instruction when the CPU has it, a portable
// slicing-by-8 table otherwise; both give the same value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mha2mla {

// Extends `crc` (the value of the bytes so far; 0 for none) with `size` more bytes.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);

inline uint32_t crc32c(const void* data, size_t size) { return crc32c_extend(0, data, size); }
inline uint32_t crc32c(std::string_view bytes) { return crc32c_extend(0, bytes.data(), bytes.size()); }

// The portable path alone, so tests can check the hardware path against it.
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size);
bool crc32c_has_hardware();

// TensorFlow's masking (record format): rotate right by 15 bits, add a constant, so that a CRC stored
// inside checksummed data does not checksum to itself.
inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

// CRC-32C of a whole file, read in blocks. Throws Error naming the file when it cannot be read.
uint32_t crc32c_file(const std::string& path, uint64_t* size = nullptr);

// "e3069283".
std::string crc32c_hex(uint32_t crc);

}  // namespace mha2mla
