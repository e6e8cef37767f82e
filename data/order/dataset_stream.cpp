#include "data/order/dataset_stream.h"

#include <numeric>

#include "common/error.h"
#include "data/rng.h"

namespace mha2mla::data {

namespace {
constexpr uint64_t kShardOrderTag = 0x5348415244ULL;  // "SHARD"
}

DatasetStream::DatasetStream(std::shared_ptr<const DatasetFiles> files, int32_t dataset_index,
                             const StreamOptions& options)
    : files_(std::move(files)), dataset_index_(dataset_index), options_(options) {
  MHA2MLA_CHECK(options_.world >= 1 && options_.rank >= 0 && options_.rank < options_.world, "rank {} of {}",
                options_.rank, options_.world);
  by_shard_ = options_.split == StreamSplit::kTrain && files_->format == DatasetFormat::kWebDataset &&
              static_cast<int64_t>(files_->shards.size()) >= options_.world;
  if (options_.held_out > 0) {
    // Count the first held_out records in sorted order; the boundary is the shard they end in.
    int64_t remaining = options_.held_out;
    held_out_shard_ = static_cast<int32_t>(files_->shards.size());
    for (size_t s = 0; s < files_->shards.size() && remaining > 0; ++s) {
      auto reader = open_shard_reader(files_->format, files_->shards[s]);
      Record skipped;
      int64_t in_shard = 0;
      while (remaining > 0 && reader->next(skipped, false)) {
        ++in_shard;
        --remaining;
      }
      if (remaining == 0) {
        held_out_shard_ = static_cast<int32_t>(s);
        held_out_in_shard_ = in_shard;
      }
    }
  }
  start_epoch();
}

bool DatasetStream::is_held_out(int32_t shard, int64_t record_in_shard) const {
  if (options_.held_out <= 0) return false;
  return shard < held_out_shard_ || (shard == held_out_shard_ && record_in_shard < held_out_in_shard_);
}

std::vector<int32_t> DatasetStream::full_shard_order(int64_t epoch) const {
  const int32_t n = static_cast<int32_t>(files_->shards.size());
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (options_.split == StreamSplit::kHeldOut) {
    order.resize(std::min<int32_t>(n, held_out_shard_ + 1));
    return order;
  }
  if (options_.shuffle_shards) {
    Rng rng(derive_seed({options_.seed, kShardOrderTag, static_cast<uint64_t>(dataset_index_),
                         static_cast<uint64_t>(epoch)}));
    shuffle_in_place(order, rng);
  }
  return order;
}

std::vector<int32_t> DatasetStream::shard_order(int64_t epoch) const {
  std::vector<int32_t> order = full_shard_order(epoch);
  const int32_t n = static_cast<int32_t>(order.size());
  if (by_shard_) {
    std::vector<int32_t> mine;
    for (int32_t p = 0; p < n; ++p)
      if (p % options_.world == options_.rank) mine.push_back(order[p]);
    order = std::move(mine);
  }
  return order;
}

void DatasetStream::start_epoch() {
  order_ = shard_order(state_.epoch);
  state_.order_pos = 0;
  state_.shard_pos = {};
  state_.index = 0;
  state_.shard_record = 0;
  state_.split_index = 0;
  state_.kept_this_epoch = 0;
  reader_.reset();
}

void DatasetStream::restore(const DatasetStreamState& state) {
  state_ = state;
  order_ = shard_order(state_.epoch);
  reader_.reset();
}

void DatasetStream::restore_resharded(const DatasetStreamState& old, int64_t old_world, int64_t old_rank) {
  const int64_t shards = static_cast<int64_t>(files_->shards.size());
  const bool old_by_shard = options_.split == StreamSplit::kTrain &&
                            files_->format == DatasetFormat::kWebDataset && shards >= old_world;
  const bool started_shard = old.shard_record > 0 || old.shard_pos.offset > 0;
  // The next shard to start, as a position in the epoch's full shard order.
  int64_t next_global = old_by_shard ? old_rank + old.order_pos * old_world : old.order_pos;
  if (started_shard) ++next_global;
  DatasetStreamState state;
  state.epoch = old.epoch;
  state.finished = old.finished;
  state.kept_this_epoch = 1;  // a partial epoch: having no record left in it is not an error
  if (!by_shard_ && !old_by_shard) {
    // The old rank's next record is the first index >= split_index it owns; the lockstep point is that index
    // minus old_rank. Continue from the saved file position, passing over the records before that point.
    state = old;
    state.kept_this_epoch = 1;
    int64_t next_owned = old.split_index;
    while (next_owned % old_world != old_rank) ++next_owned;
    state.reshard_skip = std::max<int64_t>(0, next_owned - old_rank - old.split_index) + old.reshard_skip;
  } else if (by_shard_) {
    int64_t mine_before = 0;
    for (int64_t p = 0; p < std::min(next_global, shards); ++p) mine_before += p % options_.world == options_.rank;
    state.order_pos = mine_before;
  } else {
    state.order_pos = next_global;
  }
  restore(state);
}

void DatasetStream::advance_shard() {
  reader_.reset();
  ++state_.order_pos;
  state_.shard_pos = {};
  state_.shard_record = 0;
}

bool DatasetStream::next(Record& record) {
  const bool held_out_split = options_.split == StreamSplit::kHeldOut;
  while (!state_.finished) {
    if (!reader_) {
      if (state_.order_pos >= static_cast<int64_t>(order_.size())) {
        const bool endless = !held_out_split && options_.max_epochs == 0;
        if (state_.kept_this_epoch == 0 && endless)
          fail_with_hint("use fewer data-parallel ranks, a smaller data.held_out, or more data",
                         "dataset '{}': rank {} of {} received no records in epoch {} ({} records read, {} held out)",
                         files_->spec, options_.rank, options_.world, state_.epoch, state_.index, options_.held_out);
        ++state_.epoch;
        if (held_out_split || (options_.max_epochs > 0 && state_.epoch >= options_.max_epochs)) {
          state_.finished = true;
          return false;
        }
        start_epoch();
        continue;
      }
      reader_ = open_shard_reader(files_->format, files_->shards[order_[state_.order_pos]], state_.shard_pos);
    }
    const int32_t shard = order_[state_.order_pos];
    const bool held = is_held_out(shard, state_.shard_record);
    if (held_out_split && !held) {  // past the held-out part: one pass is over
      state_.finished = true;
      reader_.reset();
      return false;
    }
    const bool in_split = held_out_split ? held : !held;
    bool mine = in_split && (by_shard_ || state_.split_index % options_.world == options_.rank);
    if (in_split && state_.reshard_skip > 0) mine = false;
    if (!reader_->next(record, mine)) {
      advance_shard();
      continue;
    }
    state_.shard_pos = reader_->position();
    record.ref.dataset = dataset_index_;
    record.ref.shard = shard;
    record.ref.epoch = state_.epoch;
    record.ref.index = state_.index;
    ++state_.index;
    ++state_.shard_record;
    if (in_split) {
      if (state_.reshard_skip > 0 && !mine) --state_.reshard_skip;
      ++state_.split_index;
    }
    if (!mine) continue;
    ++state_.kept_this_epoch;
    return true;
  }
  return false;
}

}  // namespace mha2mla::data
