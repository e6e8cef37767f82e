// Open-addressing hash table from token strings to ids. Lookups take a string_view without building a
// std::string (C++17's unordered_map cannot), which matters on the BPE hot path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mha2mla::tokenizer {

class StringIdMap {
 public:
  // Inserts or overwrites. Keys are copied into the map.
  void insert(std::string_view key, int32_t id) {
    if ((entries_.size() + 1) * 4 > slots_.size() * 3) rehash(slots_.empty() ? 64 : slots_.size() * 2);
    size_t slot = probe(key);
    if (slots_[slot] >= 0) {
      entries_[slots_[slot]].id = id;
      return;
    }
    slots_[slot] = static_cast<int32_t>(entries_.size());
    entries_.push_back({std::string(key), id});
  }

  // The id of `key`, or -1.
  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    int32_t entry = slots_[probe(key)];
    return entry >= 0 ? entries_[entry].id : -1;
  }

  size_t size() const { return entries_.size(); }

  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const auto& e : entries_) visit(e.key, e.id);
  }

  static uint64_t hash(std::string_view key) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a, then a final mix so that short keys spread well
    for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
  }

 private:
  struct Entry {
    std::string key;
    int32_t id;
  };

  size_t probe(std::string_view key) const {
    size_t mask = slots_.size() - 1;
    size_t slot = hash(key) & mask;
    while (slots_[slot] >= 0 && entries_[slots_[slot]].key != key) slot = (slot + 1) & mask;
    return slot;
  }

  void rehash(size_t capacity) {
    slots_.assign(capacity, -1);
    for (size_t i = 0; i < entries_.size(); ++i) slots_[probe(entries_[i].key)] = static_cast<int32_t>(i);
  }

  std::vector<Entry> entries_;
  std::vector<int32_t> slots_;  // -1 = empty, else index into entries_
};

}  // namespace mha2mla::tokenizer
