// Unicode data for NFC/NFD (generated into unicode_tables.cpp by tools/gen_unicode_tables.py).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mha2mla::tokenizer::unicode_tables {

struct Decomposition {
  uint32_t code_point;
  uint32_t offset;  // into kDecompositionPool; the full canonical decomposition (recursive)
  uint32_t length;
};
struct CombiningClassRange {
  uint32_t first, last;
  uint32_t combining_class;
};
struct Composition {
  uint32_t first, second, composite;
};

extern const char* const kUnicodeVersion;
extern const uint32_t kDecompositionPool[];
extern const Decomposition kDecompositions[];  // sorted by code_point
extern const CombiningClassRange kCombiningClasses[];  // sorted, disjoint
extern const Composition kCompositions[];  // sorted by (first, second)
extern const size_t kDecompositionCount;
extern const size_t kCombiningClassCount;
extern const size_t kCompositionCount;

}  // namespace mha2mla::tokenizer::unicode_tables
