#include "common/crc32c.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "common/error.h"

namespace mha2mla {
namespace {

constexpr uint32_t kReflectedPolynomial = 0x82F63B78u;

// table[k][b]: the CRC of byte b followed by k zero bytes (slicing-by-8).
struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  Tables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) ? kReflectedPolynomial : 0u);
      t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b)
      for (size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

uint32_t extend_raw_portable(uint32_t state, const uint8_t* p, size_t n) {
  const auto& t = tables().t;
  while (n >= 8) {
    uint32_t lo = (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24) ^ state;
    uint32_t hi = uint32_t(p[4]) | uint32_t(p[5]) << 8 | uint32_t(p[6]) << 16 | uint32_t(p[7]) << 24;
    state = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) state = (state >> 8) ^ t[0][(state ^ *p++) & 0xFFu];
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t extend_raw_hardware(uint32_t state, const uint8_t* p, size_t n) {
  uint64_t state64 = state;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);  // unaligned load; x86 is little-endian, as the CRC's byte order needs
    state64 = _mm_crc32_u64(state64, word);
    p += 8;
    n -= 8;
  }
  state = static_cast<uint32_t>(state64);
  while (n-- > 0) state = _mm_crc32_u8(state, *p++);
  return state;
}
#endif

bool detect_hardware() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

}  // namespace

bool crc32c_has_hardware() {
  static const bool has = detect_hardware();
  return has;
}

uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size) {
  return ~extend_raw_portable(~crc, static_cast<const uint8_t*>(data), size);
}

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size) {
#if defined(__x86_64__)
  if (crc32c_has_hardware()) return ~extend_raw_hardware(~crc, static_cast<const uint8_t*>(data), size);
#endif
  return crc32c_extend_portable(crc, data, size);
}

uint32_t crc32c_file(const std::string& path, uint64_t* size) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail("cannot open '{}' to checksum it: {}", path, std::strerror(errno));
  std::vector<uint8_t> buffer(1 << 20);
  uint32_t crc = 0;
  uint64_t total = 0;
  for (;;) {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    crc = crc32c_extend(crc, buffer.data(), n);
    total += n;
    if (n < buffer.size()) {
      if (std::ferror(file.get())) fail("error reading '{}' after {} bytes: {}", path, total, std::strerror(errno));
      break;
    }
  }
  if (size) *size = total;
  return crc;
}

std::string crc32c_hex(uint32_t crc) { return fmt::format("{:08x}", crc); }

}  // namespace mha2mla
