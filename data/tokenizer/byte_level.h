// GPT-2's byte-to-character table: every byte maps to one printable code point so that byte-level BPE
// vocabularies are plain strings ("Ġ" is the space byte 0x20, "Ċ" is '\n').
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mha2mla::tokenizer {

// The code point that stands for `byte`.
uint32_t byte_to_char(uint8_t byte);

// UTF-8 of byte_to_char for all 256 bytes (index = byte).
const std::array<std::string, 256>& byte_level_alphabet();

// Maps each byte of `bytes` to its character and appends the UTF-8 to `out`.
void append_byte_level(std::string& out, std::string_view bytes);

// Inverse of append_byte_level for one token: false when a character is not in the table (the caller
// then uses the token's own bytes, as Hugging Face's ByteLevel decoder does).
bool byte_level_to_bytes(std::string_view token, std::string& out);

}  // namespace mha2mla::tokenizer
