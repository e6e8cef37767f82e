#include "data/tokenizer/bpe_model.h"

#include <atomic>
#include <queue>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer/json_fields.h"
#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {
namespace {

constexpr size_t kCacheCapacity = 1 << 16;   // words per thread and model
constexpr size_t kMaxCachedWordBytes = 256;  // longer words are rare and would bloat the cache

std::atomic<uint64_t> next_cache_key{1};

using WordCache = std::unordered_map<std::string, std::vector<int32_t>>;

// Per-thread caches, one per model (keyed by a never-reused number, so a destroyed model's entries can
// never answer for a new one). Tokenizers are shared by data workers; this keeps the hot path lock-free.
WordCache& thread_cache(uint64_t key) {
  thread_local std::unordered_map<uint64_t, WordCache> caches;
  thread_local uint64_t last_key = 0;
  thread_local WordCache* last = nullptr;
  if (key != last_key) {
    last = &caches[key];
    last_key = key;
  }
  return *last;
}

uint64_t mix(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return key;
}

constexpr uint64_t kEmptyKey = ~uint64_t{0};

struct Symbol {
  int32_t id;
  int32_t prev, next;  // linked list over surviving symbols; -1 at the ends
  bool alive;
};

struct MergeCandidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  // std::priority_queue pops the largest: invert so that the lowest rank, then the leftmost, comes first.
  bool operator<(const MergeCandidate& other) const {
    return rank != other.rank ? rank > other.rank : pos > other.pos;
  }
};

}  // namespace

BpeModel::BpeModel(const std::vector<std::pair<std::string, int32_t>>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
                   const std::string& where)
    : options_(std::move(options)), cache_key_(next_cache_key.fetch_add(1)) {
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0) fail("{}: vocab entry '{}' has negative id {}", where, token, id);
    max_id = std::max(max_id, id);
  }
  id_to_token_.assign(static_cast<size_t>(max_id + 1), std::string());
  id_present_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : vocab) {
    vocab_.insert(token, id);
    id_to_token_[id] = token;
    id_present_[id] = true;
  }

  size_t capacity = 16;
  while (capacity < merges.size() * 2) capacity *= 2;
  merge_keys_.assign(capacity, kEmptyKey);
  merge_values_.assign(capacity, Merge{0, 0});
  const size_t prefix_length = options_.continuing_subword_prefix.size();
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    int32_t left_id = vocab_.find(left), right_id = vocab_.find(right);
    std::string merged = left + right.substr(std::min(prefix_length, right.size()));
    int32_t new_id = vocab_.find(merged);
    const std::string* missing = left_id < 0 ? &left : right_id < 0 ? &right : new_id < 0 ? &merged : nullptr;
    if (missing)
      fail("{}: merges[{}] ('{}' + '{}') uses '{}', which is not in model.vocab", where, rank, left, right, *missing);
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left_id)) << 32) | static_cast<uint32_t>(right_id);
    size_t slot = mix(key) & (capacity - 1);
    while (merge_keys_[slot] != kEmptyKey && merge_keys_[slot] != key) slot = (slot + 1) & (capacity - 1);
    merge_keys_[slot] = key;  // a repeated pair takes the later rank, as Hugging Face's map does
    merge_values_[slot] = Merge{static_cast<int32_t>(rank), new_id};
  }

  ascii_ids_.assign(128, -1);
  for (int c = 0; c < 128; ++c) ascii_ids_[c] = vocab_.find(std::string(1, static_cast<char>(c)));
  for (int b = 0; b < 256; ++b) byte_fallback_ids_[b] = vocab_.find(fmt::format("<0x{:02X}>", b));
  if (options_.unk_token) unk_id_ = vocab_.find(*options_.unk_token);
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !id_present_[id]) return nullptr;
  return &id_to_token_[id];
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  size_t mask = merge_keys_.size() - 1;
  for (size_t slot = mix(key) & mask;; slot = (slot + 1) & mask) {
    if (merge_keys_[slot] == key) return &merge_values_[slot];
    if (merge_keys_[slot] == kEmptyKey) return nullptr;
  }
}

int32_t BpeModel::char_id(std::string_view character) const {
  if (character.size() == 1 && static_cast<unsigned char>(character[0]) < 128)
    return ascii_ids_[static_cast<unsigned char>(character[0])];
  return vocab_.find(character);
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& ids) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id) {
    int32_t index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, true});
  };

  // Pending unknown run: Hugging Face emits it only when the next known character (or the end) arrives.
  int32_t pending_unk = -1;
  const bool affix = !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
  std::string affixed;
  for (size_t i = 0; i < word.size();) {
    size_t length = std::min<size_t>(utf8_sequence_length(static_cast<unsigned char>(word[i])), word.size() - i);
    std::string_view character = word.substr(i, length);
    const bool first = i == 0;
    i += length;
    const bool last = i >= word.size();
    if (affix && ((!first && !options_.continuing_subword_prefix.empty()) ||
                  (last && !options_.end_of_word_suffix.empty()))) {
      affixed.assign(first ? std::string_view() : std::string_view(options_.continuing_subword_prefix));
      affixed.append(character);
      if (last) affixed.append(options_.end_of_word_suffix);
      character = affixed;
    }

    int32_t id = char_id(character);
    if (id >= 0) {
      if (pending_unk >= 0) add(pending_unk);
      pending_unk = -1;
      add(id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all_bytes = true;
      for (unsigned char b : character) all_bytes = all_bytes && byte_fallback_ids_[b] >= 0;
      if (all_bytes) {
        for (unsigned char b : character) add(byte_fallback_ids_[b]);
        continue;
      }
    }
    if (options_.unk_token) {
      if (unk_id_ < 0)
        fail("tokenizer.json: model.unk_token '{}' is not in model.vocab, but the input needs it",
             *options_.unk_token);
      if (pending_unk >= 0 && !options_.fuse_unk) add(pending_unk);
      pending_unk = unk_id_;
    }
  }
  if (pending_unk >= 0) add(pending_unk);

  std::priority_queue<MergeCandidate> queue;
  for (size_t pos = 0; pos + 1 < symbols.size(); ++pos) {
    if (const Merge* m = find_merge(symbols[pos].id, symbols[pos + 1].id))
      queue.push({m->rank, static_cast<int32_t>(pos), m->new_id});
  }
  while (!queue.empty()) {
    MergeCandidate top = queue.top();
    queue.pop();
    Symbol& current = symbols[top.pos];
    if (!current.alive || current.next < 0) continue;
    Symbol& right = symbols[current.next];
    const Merge* m = find_merge(current.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale: a neighbour changed since it was queued

    current.id = top.new_id;
    right.alive = false;
    current.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (current.prev >= 0) {
      if (const Merge* left = find_merge(symbols[current.prev].id, current.id))
        queue.push({left->rank, current.prev, left->new_id});
    }
    if (current.next >= 0) {
      if (const Merge* next = find_merge(current.id, symbols[current.next].id))
        queue.push({next->rank, top.pos, next->new_id});
    }
  }
  for (const Symbol& s : symbols)
    if (s.alive) ids.push_back(s.id);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    int32_t whole = vocab_.find(word);
    if (whole >= 0) {
      ids.push_back(whole);
      return;
    }
  }
  if (word.size() >= kMaxCachedWordBytes) {
    merge_word(word, ids);
    return;
  }
  WordCache& cache = thread_cache(cache_key_);
  thread_local std::string key;
  key.assign(word.data(), word.size());
  auto hit = cache.find(key);
  if (hit != cache.end()) {
    ids.insert(ids.end(), hit->second.begin(), hit->second.end());
    return;
  }
  size_t start = ids.size();
  merge_word(word, ids);
  if (cache.size() < kCacheCapacity) cache.emplace(key, std::vector<int32_t>(ids.begin() + start, ids.end()));
}

BpeModel parse_bpe_model(const nlohmann::json& spec, const std::string& where) {
  const auto& vocab_json = json_field(spec, "vocab", where);
  if (!vocab_json.is_object())
    fail("{}.vocab: expected an object of token -> id, found {}", where, vocab_json.type_name());
  std::vector<std::pair<std::string, int32_t>> vocab;
  vocab.reserve(vocab_json.size());
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    if (!it.value().is_number_integer())
      fail("{}.vocab['{}']: expected an integer id, found {}", where, it.key(), it.value().type_name());
    vocab.emplace_back(it.key(), it.value().get<int32_t>());
  }

  std::vector<std::pair<std::string, std::string>> merges;
  if (spec.contains("merges") && !spec["merges"].is_null()) {
    const auto& list = spec["merges"];
    if (!list.is_array()) fail("{}.merges: expected a list, found {}", where, list.type_name());
    merges.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& m = list[i];
      if (m.is_string()) {  // "left right" (files written before tokenizers 0.20)
        const std::string& line = m.get_ref<const std::string&>();
        size_t space = line.find(' ');
        if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
          fail("{}.merges[{}]: '{}' is not two tokens separated by one space", where, i, line);
        merges.emplace_back(line.substr(0, space), line.substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        fail("{}.merges[{}]: expected \"left right\" or [\"left\", \"right\"], found {}", where, i, m.dump());
      }
    }
  }

  if (spec.contains("dropout") && spec["dropout"].is_number() && spec["dropout"].get<double>() != 0.0)
    fail_with_hint("set model.dropout to null", "{}.dropout: BPE dropout is random and not supported", where);
  BpeOptions options;
  if (spec.contains("unk_token") && spec["unk_token"].is_string())
    options.unk_token = spec["unk_token"].get<std::string>();
  options.continuing_subword_prefix = json_string_or(spec, "continuing_subword_prefix", where, "");
  options.end_of_word_suffix = json_string_or(spec, "end_of_word_suffix", where, "");
  options.fuse_unk = json_bool(spec, "fuse_unk", where, false);
  options.byte_fallback = json_bool(spec, "byte_fallback", where, false);
  options.ignore_merges = json_bool(spec, "ignore_merges", where, false);
  return BpeModel(vocab, merges, std::move(options), where);
}

}  // namespace mha2mla::tokenizer
