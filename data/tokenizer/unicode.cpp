#include "data/tokenizer/unicode.h"

#include <algorithm>
#include <array>

#include "data/tokenizer/unicode_tables.h"

namespace mha2mla::tokenizer {
namespace {

namespace tables = unicode_tables;

constexpr uint32_t kReplacementCharacter = 0xFFFD;

// Hangul syllables compose and decompose by arithmetic (Unicode section 3.12), not by table.
constexpr uint32_t kHangulS = 0xAC00, kHangulL = 0x1100, kHangulV = 0x1161, kHangulT = 0x11A7;
constexpr uint32_t kHangulLCount = 19, kHangulVCount = 21, kHangulTCount = 28;
constexpr uint32_t kHangulNCount = kHangulVCount * kHangulTCount, kHangulSCount = kHangulLCount * kHangulNCount;

// Decodes one code point of well-formed UTF-8 at `i` and advances `i`.
inline uint32_t next_code_point(std::string_view text, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(text[k])); };
  uint32_t lead = byte(i);
  if (lead < 0x80) {
    i += 1;
    return lead;
  }
  if (lead < 0xE0) {
    uint32_t cp = ((lead & 0x1F) << 6) | (byte(i + 1) & 0x3F);
    i += 2;
    return cp;
  }
  if (lead < 0xF0) {
    uint32_t cp = ((lead & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F);
    i += 3;
    return cp;
  }
  uint32_t cp = ((lead & 0x07) << 18) | ((byte(i + 1) & 0x3F) << 12) | ((byte(i + 2) & 0x3F) << 6) |
                (byte(i + 3) & 0x3F);
  i += 4;
  return cp;
}

uint32_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = tables::kCombiningClasses;
  const auto* end = begin + tables::kCombiningClassCount;
  auto it = std::upper_bound(begin, end, cp, [](uint32_t v, const tables::CombiningClassRange& r) {
    return v < r.first;
  });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

const tables::Decomposition* find_decomposition(uint32_t cp) {
  const auto* begin = tables::kDecompositions;
  const auto* end = begin + tables::kDecompositionCount;
  auto it = std::lower_bound(begin, end, cp,
                             [](const tables::Decomposition& d, uint32_t v) { return d.code_point < v; });
  return it != end && it->code_point == cp ? it : nullptr;
}

// The primary composite of (first, second), or 0 when they do not compose.
uint32_t compose_pair(uint32_t first, uint32_t second) {
  if (first >= kHangulL && first < kHangulL + kHangulLCount && second >= kHangulV &&
      second < kHangulV + kHangulVCount) {
    return kHangulS + ((first - kHangulL) * kHangulVCount + (second - kHangulV)) * kHangulTCount;
  }
  if (first >= kHangulS && first < kHangulS + kHangulSCount && (first - kHangulS) % kHangulTCount == 0 &&
      second > kHangulT && second < kHangulT + kHangulTCount) {
    return first + (second - kHangulT);
  }
  const auto* begin = tables::kCompositions;
  const auto* end = begin + tables::kCompositionCount;
  auto it = std::lower_bound(begin, end, std::make_pair(first, second),
                             [](const tables::Composition& c, const std::pair<uint32_t, uint32_t>& key) {
                               return c.first != key.first ? c.first < key.first : c.second < key.second;
                             });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

// Bit set for every BMP code point that normalization may touch: it decomposes, is not a starter, or is
// the second half of a composition (Hangul jamo included). A string without such code points (and
// without supplementary-plane ones) is its own NFC and NFD, which spares most text the full algorithm.
struct TouchedByNormalization {
  std::array<uint64_t, 65536 / 64> bits{};
  TouchedByNormalization() {
    auto set = [&](uint32_t cp) {
      if (cp < 65536) bits[cp / 64] |= uint64_t{1} << (cp % 64);
    };
    for (size_t i = 0; i < tables::kDecompositionCount; ++i) set(tables::kDecompositions[i].code_point);
    for (size_t i = 0; i < tables::kCombiningClassCount; ++i)
      for (uint32_t cp = tables::kCombiningClasses[i].first; cp <= tables::kCombiningClasses[i].last; ++cp) set(cp);
    for (size_t i = 0; i < tables::kCompositionCount; ++i) set(tables::kCompositions[i].second);
    for (uint32_t cp = 0x1100; cp < 0x1200; ++cp) set(cp);
    for (uint32_t cp = kHangulS; cp < kHangulS + kHangulSCount; ++cp) set(cp);
  }
  bool touched(uint32_t cp) const { return cp >= 65536 || ((bits[cp / 64] >> (cp % 64)) & 1); }
};

const TouchedByNormalization& touched_table() {
  static const TouchedByNormalization table;
  return table;
}

bool normalization_is_identity(std::string_view text) {
  const auto& table = touched_table();
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    if (table.touched(next_code_point(text, i))) return false;
  }
  return true;
}

std::vector<uint32_t> canonical_decomposition(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = next_code_point(text, i);
    if (cp >= kHangulS && cp < kHangulS + kHangulSCount) {
      uint32_t index = cp - kHangulS;
      out.push_back(kHangulL + index / kHangulNCount);
      out.push_back(kHangulV + (index % kHangulNCount) / kHangulTCount);
      if (index % kHangulTCount != 0) out.push_back(kHangulT + index % kHangulTCount);
    } else if (const auto* d = cp < 0xC0 ? nullptr : find_decomposition(cp)) {
      out.insert(out.end(), tables::kDecompositionPool + d->offset, tables::kDecompositionPool + d->offset + d->length);
    } else {
      out.push_back(cp);
    }
  }
  // Canonical ordering: stable sort of every run of non-starters by combining class.
  for (size_t start = 0; start < out.size();) {
    if (combining_class(out[start]) == 0) {
      ++start;
      continue;
    }
    size_t end = start;
    while (end < out.size() && combining_class(out[end]) != 0) ++end;
    std::stable_sort(out.begin() + start, out.begin() + end,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    start = end;
  }
  return out;
}

void canonical_composition(std::vector<uint32_t>& cps) {
  if (cps.empty()) return;
  size_t starter_pos = 0;
  uint32_t starter = cps[0];
  uint32_t last_class = combining_class(starter) == 0 ? 0 : 256;  // a leading non-starter blocks composition
  size_t write = 1;
  for (size_t read = 1; read < cps.size(); ++read) {
    uint32_t ch = cps[read];
    uint32_t ch_class = combining_class(ch);
    uint32_t composite = compose_pair(starter, ch);
    if (composite != 0 && (last_class < ch_class || last_class == 0)) {
      cps[starter_pos] = composite;
      starter = composite;
      continue;
    }
    if (ch_class == 0) {
      starter_pos = write;
      starter = ch;
    }
    last_class = ch_class;
    cps[write++] = ch;
  }
  cps.resize(write);
}

std::string encode_utf8(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size() * 3);
  for (uint32_t cp : cps) append_utf8(out, cp);
  return out;
}

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) out.push_back(next_code_point(text, i));
  return out;
}

namespace {
// Length of the well-formed sequence at `i`, or 0 with `bad_length` = bytes of its maximal ill-formed
// prefix (at least 1), following Unicode's "maximal subpart" rule that Rust's from_utf8_lossy applies.
size_t well_formed_length(std::string_view text, size_t i, size_t& bad_length) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  bad_length = 1;
  if (lead < 0x80) return 1;
  size_t need;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < need; ++k) {
    if (i + k >= text.size()) {
      bad_length = k;
      return 0;
    }
    unsigned char b = byte(i + k);
    unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
    if (b < lo || b > hi) {
      bad_length = k;
      return 0;
    }
  }
  return need;
}
}  // namespace

bool is_valid_utf8(std::string_view text) {
  size_t i = 0, bad = 0;
  while (i < text.size()) {
    size_t n = well_formed_length(text, i, bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_valid_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  size_t i = 0, bad = 0;
  while (i < text.size()) {
    size_t n = well_formed_length(text, i, bad);
    if (n == 0) {
      append_utf8(out, kReplacementCharacter);
      i += bad;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string nfd(std::string_view text) {
  if (normalization_is_identity(text)) return std::string(text);
  return encode_utf8(canonical_decomposition(text));
}

std::string nfc(std::string_view text) {
  if (normalization_is_identity(text)) return std::string(text);
  std::vector<uint32_t> cps = canonical_decomposition(text);
  canonical_composition(cps);
  return encode_utf8(cps);
}

const char* unicode_version() { return tables::kUnicodeVersion; }

}  // namespace mha2mla::tokenizer
