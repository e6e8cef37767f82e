#include "data/order/sample_planner.h"

#include "common/error.h"
#include "data/rng.h"

namespace mha2mla::data {

namespace {
constexpr uint64_t kMixTag = 0x4d4958ULL;         // "MIX"
constexpr uint64_t kShuffleTag = 0x53485546ULL;   // "SHUF"
}  // namespace

SamplePlanner::SamplePlanner(std::vector<std::shared_ptr<const DatasetFiles>> datasets, const StreamOptions& options,
                             int64_t shuffle_buffer)
    : files_(std::move(datasets)),
      capacity_(shuffle_buffer > 1 ? static_cast<size_t>(shuffle_buffer) : 0),
      mix_rng_(derive_seed({options.seed, kMixTag, static_cast<uint64_t>(options.rank)})),
      shuffle_rng_(derive_seed({options.seed, kShuffleTag, static_cast<uint64_t>(options.rank)})) {
  MHA2MLA_CHECK(!files_.empty(), "no datasets");
  for (size_t i = 0; i < files_.size(); ++i)
    streams_.push_back(std::make_unique<DatasetStream>(files_[i], static_cast<int32_t>(i), options));
}

bool SamplePlanner::next_mixed(Record& record) {
  while (true) {
    double total = 0;
    for (auto& stream : streams_)
      if (!stream->state().finished) total += stream->files().weight;
    if (total <= 0) return false;
    // One draw per record, even with a single dataset, so that adding a dataset changes nothing else.
    double target = mix_rng_.uniform() * total;
    size_t chosen = streams_.size();
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i]->state().finished) continue;
      chosen = i;
      target -= streams_[i]->files().weight;
      if (target < 0) break;
    }
    if (streams_[chosen]->next(record)) return true;  // a stream that just finished is left out of later draws
  }
}

bool SamplePlanner::next(Record& record) {
  if (capacity_ == 0) {
    if (!next_mixed(record)) return false;
  } else {
    while (!source_done_ && buffer_.size() < capacity_) {
      Record incoming;
      if (!next_mixed(incoming)) {
        source_done_ = true;
        break;
      }
      buffer_.push_back(std::move(incoming));
    }
    if (buffer_.empty()) return false;
    size_t slot = shuffle_rng_.below(buffer_.size());
    record = std::move(buffer_[slot]);
    Record incoming;
    if (!source_done_ && next_mixed(incoming)) {
      buffer_[slot] = std::move(incoming);
    } else {
      source_done_ = true;
      buffer_[slot] = std::move(buffer_.back());
      buffer_.pop_back();
    }
  }
  record.seq = next_seq_++;
  return true;
}

PlannerState SamplePlanner::snapshot() const {
  PlannerState state;
  for (const auto& stream : streams_) state.datasets.push_back(stream->state());
  state.mix_rng = mix_rng_.state();
  state.shuffle_rng = shuffle_rng_.state();
  state.buffer.reserve(buffer_.size());
  for (const Record& r : buffer_) state.buffer.push_back(r.ref);
  state.next_seq = next_seq_;
  return state;
}

void SamplePlanner::restore(const PlannerState& state) {
  MHA2MLA_CHECK(state.datasets.size() == streams_.size(), "planner state for {} datasets, planner has {}",
                state.datasets.size(), streams_.size());
  for (size_t i = 0; i < streams_.size(); ++i) streams_[i]->restore(state.datasets[i]);
  mix_rng_.set_state(state.mix_rng);
  shuffle_rng_.set_state(state.shuffle_rng);
  next_seq_ = state.next_seq;
  buffer_.clear();
  for (const RecordRef& ref : state.buffer) {
    const DatasetFiles& files = *files_.at(ref.dataset);
    buffer_.push_back(read_record_at(files.format, files.shards.at(ref.shard), ref));
  }
  // The mixed source is exhausted exactly when every stream has reported its end (the buffer then drains).
  source_done_ = true;
  for (auto& stream : streams_) source_done_ = source_done_ && stream->state().finished;
}

void SamplePlanner::restore_resharded(const PlannerState& state, int64_t old_world, int64_t old_rank) {
  MHA2MLA_CHECK(state.datasets.size() == streams_.size(), "planner state for {} datasets, planner has {}",
                state.datasets.size(), streams_.size());
  for (size_t i = 0; i < streams_.size(); ++i) streams_[i]->restore_resharded(state.datasets[i], old_world, old_rank);
  buffer_.clear();
  next_seq_ = state.next_seq;
  source_done_ = false;
}

}  // namespace mha2mla::data
