#include "data/batching/batcher.h"

#include <algorithm>

#include "common/error.h"
#include "data/rng.h"

namespace mha2mla::data {

namespace {

constexpr uint64_t kWindowTag = 0x57494e444f57ULL;  // "WINDOW"

int64_t row_length(const Row& row) {
  int64_t n = 0;
  for (const ProcessedSample& s : row) n += s.length();
  return n;
}

SampleKey key_of(const ProcessedSample& s) { return {s.ref, s.seq}; }

}  // namespace

Batcher::Batcher(const BatchingOptions& options) : options_(options) {
  MHA2MLA_CHECK(options_.batch_size >= 1 && options_.max_length >= 1, "batch_size {} max_length {}",
                options_.batch_size, options_.max_length);
}

bool Batcher::fits(const Row& row, int64_t length) const { return row_length(row) + length <= options_.max_length; }

void Batcher::place(ProcessedSample sample) {
  const size_t rows = static_cast<size_t>(options_.batch_size);
  if (!options_.packing) {
    open_.push_back(Row{});
    open_.back().push_back(std::move(sample));
    if (open_.size() == rows) {
      ready_.push_back(std::move(open_));
      open_.clear();
    }
    return;
  }
  const int64_t length = sample.length();
  for (Row& row : open_) {
    if (fits(row, length)) {
      row.push_back(std::move(sample));
      return;
    }
  }
  if (open_.size() < rows) {
    open_.push_back(Row{});
    open_.back().push_back(std::move(sample));
    return;
  }
  ready_.push_back(std::move(open_));
  open_.clear();
  open_.push_back(Row{});
  open_.back().push_back(std::move(sample));
}

void Batcher::release_window() {
  const bool descending = options_.packing;
  std::stable_sort(window_.begin(), window_.end(), [descending](const ProcessedSample& a, const ProcessedSample& b) {
    if (a.length() != b.length()) return descending ? a.length() > b.length() : a.length() < b.length();
    return a.seq < b.seq;
  });
  const size_t before = ready_.size();
  for (ProcessedSample& s : window_) place(std::move(s));
  window_.clear();
  Rng rng(derive_seed({options_.seed, kWindowTag, static_cast<uint64_t>(options_.rank),
                       static_cast<uint64_t>(window_index_)}));
  std::vector<PlannedBatch> completed(std::make_move_iterator(ready_.begin() + before),
                                      std::make_move_iterator(ready_.end()));
  ready_.erase(ready_.begin() + before, ready_.end());
  shuffle_in_place(completed, rng);
  for (PlannedBatch& b : completed) ready_.push_back(std::move(b));
  ++window_index_;
}

void Batcher::add(ProcessedSample sample) {
  if (options_.sort_window <= 0) {
    place(std::move(sample));
    return;
  }
  window_.push_back(std::move(sample));
  if (static_cast<int64_t>(window_.size()) >= options_.sort_window) release_window();
}

void Batcher::flush() {
  if (!window_.empty()) release_window();
  if (!open_.empty()) {
    ready_.push_back(std::move(open_));
    open_.clear();
  }
}

PlannedBatch Batcher::take_ready() {
  MHA2MLA_CHECK(!ready_.empty(), "no batch ready");
  PlannedBatch batch = std::move(ready_.front());
  ready_.pop_front();
  return batch;
}

BatcherState Batcher::state() const {
  BatcherState state;
  auto rows_of = [](const PlannedBatch& batch) {
    std::vector<std::vector<SampleKey>> rows;
    for (const Row& row : batch) {
      rows.emplace_back();
      for (const ProcessedSample& s : row) rows.back().push_back(key_of(s));
    }
    return rows;
  };
  for (const PlannedBatch& b : ready_) state.ready.push_back(rows_of(b));
  state.open = rows_of(open_);
  for (const ProcessedSample& s : window_) state.window.push_back(key_of(s));
  state.window_index = window_index_;
  return state;
}

void Batcher::restore(const BatcherState& state, const std::function<ProcessedSample(const SampleKey&)>& fetch) {
  auto batch_of = [&](const std::vector<std::vector<SampleKey>>& rows) {
    PlannedBatch batch;
    for (const auto& row : rows) {
      batch.emplace_back();
      for (const SampleKey& key : row) batch.back().push_back(fetch(key));
    }
    return batch;
  };
  ready_.clear();
  for (const auto& b : state.ready) ready_.push_back(batch_of(b));
  open_ = batch_of(state.open);
  window_.clear();
  for (const SampleKey& key : state.window) window_.push_back(fetch(key));
  window_index_ = state.window_index;
}

}  // namespace mha2mla::data
