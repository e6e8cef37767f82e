// CRC-32C against the published check value and the iSCSI test vectors (RFC 3720, appendix B.4), the
// hardware path against the portable one, incremental extension, and TensorFlow's masking (inverted by
// hand here).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "common/files.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

TEST(Crc32c, CheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_extend_portable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32c, Rfc3720Vectors) {
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<uint8_t>(i);
    down[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(down.data(), 32), 0x113FDB5Cu);
}

TEST(Crc32c, HardwareAgreesWithPortableAndExtendsIncrementally) {
  std::mt19937 rng(7);
  std::vector<uint8_t> data(4099);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t length : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 1000u, 4099u}) {
    uint32_t whole = crc32c(data.data(), length);
    EXPECT_EQ(whole, crc32c_extend_portable(0, data.data(), length)) << length;
    for (size_t cut : {size_t{0}, length / 3, length}) {
      uint32_t first = crc32c(data.data(), cut);
      EXPECT_EQ(crc32c_extend(first, data.data() + cut, length - cut), whole) << length << " cut " << cut;
    }
  }
}

TEST(Crc32c, MaskIsTensorFlowsRotationPlusConstant) {
  // Unmasking as TensorFlow's crc32c::Unmask does: subtract the constant, rotate left by 15.
  auto unmask = [](uint32_t masked) {
    uint32_t rot = masked - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
  };
  for (uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u}) EXPECT_EQ(unmask(crc32c_mask(crc)), crc);
  EXPECT_EQ(crc32c_mask(0), 0xa282ead8u);
}

TEST(Crc32c, FileChecksumEqualsBytesChecksum) {
  std::string dir = testing::scratch_dir();
  std::string bytes(3 << 20, '\0');  // spans several read blocks
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::string path = testing::write_text(path_join(dir, "blob"), bytes);
  uint64_t size = 0;
  EXPECT_EQ(crc32c_file(path, &size), crc32c(bytes));
  EXPECT_EQ(size, bytes.size());
  EXPECT_ERROR_CONTAINS(crc32c_file(path_join(dir, "absent")), "absent");
}

}  // namespace
}  // namespace mha2mla
