#include "data/tokenizer/byte_level.h"

#include <unordered_map>

#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {
namespace {

struct ByteLevelTables {
  std::array<uint32_t, 256> byte_to_code_point{};
  std::array<std::string, 256> byte_to_utf8;
  std::unordered_map<uint32_t, uint8_t> code_point_to_byte;

  ByteLevelTables() {
    // Printable bytes keep their own code point; the others (controls, space, 0x7F-0xA0, 0xAD) are moved to
    // 256, 257, ... in byte order.
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      uint32_t cp = printable(b) ? static_cast<uint32_t>(b) : next++;
      byte_to_code_point[b] = cp;
      append_utf8(byte_to_utf8[b], cp);
      code_point_to_byte[cp] = static_cast<uint8_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

uint32_t byte_to_char(uint8_t byte) { return tables().byte_to_code_point[byte]; }

const std::array<std::string, 256>& byte_level_alphabet() { return tables().byte_to_utf8; }

void append_byte_level(std::string& out, std::string_view bytes) {
  const auto& utf8 = tables().byte_to_utf8;
  for (char c : bytes) out += utf8[static_cast<uint8_t>(c)];
}

bool byte_level_to_bytes(std::string_view token, std::string& out) {
  const auto& map = tables().code_point_to_byte;
  size_t start = out.size();
  for (uint32_t cp : decode_utf8(token)) {
    auto it = map.find(cp);
    if (it == map.end()) {
      out.resize(start);
      return false;
    }
    out.push_back(static_cast<char>(it->second));
  }
  return true;
}

}  // namespace mha2mla::tokenizer
