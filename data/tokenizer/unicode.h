// UTF-8 and Unicode helpers for the tokenizers: decoding, repair of invalid input, NFC/NFD.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mha2mla::tokenizer {

// Appends the UTF-8 encoding of `code_point` to `out`.
void append_utf8(std::string& out, uint32_t code_point);

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes).
inline int utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Decodes valid UTF-8 into code points (input must be valid, see to_valid_utf8).
std::vector<uint32_t> decode_utf8(std::string_view text);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool is_valid_utf8(std::string_view text);

// `text` with every ill-formed sequence replaced by U+FFFD, as Rust's String::from_utf8_lossy does.
std::string to_valid_utf8(std::string_view text);

// Unicode normalization forms (canonical only; the compatibility forms are not needed by the families we load).
std::string nfc(std::string_view text);
std::string nfd(std::string_view text);

// The Unicode version of the NFC/NFD tables.
const char* unicode_version();

}  // namespace mha2mla::tokenizer

namespace mha2mla::tokenizer {

// Unicode White_Space (what Rust's char::is_whitespace and regex \s test).
inline bool is_unicode_whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

}  // namespace mha2mla::tokenizer
