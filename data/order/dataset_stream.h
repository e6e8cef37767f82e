// One dataset as this data-parallel rank sees it: epoch after epoch, shards in a per-epoch order, only this
// rank's records, resumable from a small state.
//
// Shard order: sorted by name; with shuffling on, permuted per epoch from (seed, dataset, epoch).
// Rank split (disjoint and complete within every epoch):
//   by shard   (wds with at least as many shards as ranks): the shard at order position p belongs to rank
//              p % world; a rank opens only its own shards.
//   by record  (JSON formats, or wds with fewer shards than ranks): the epoch's training records are numbered
//              0, 1, 2, ... in shard order; record i belongs to rank i % world. Every rank scans the files but
//              copies and parses only its own records.
// Held-out records (data.held_out): the first N records of the dataset in sorted shard order. Training streams
// never yield them; a held-out stream yields only them, once, in order, split by record.
#pragma once

#include <cstdint>
#include <memory>

#include "data/readers/dataset_files.h"
#include "data/readers/shard_reader.h"

namespace mha2mla::data {

enum class StreamSplit { kTrain, kHeldOut };

struct StreamOptions {
  int64_t rank = 0;
  int64_t world = 1;
  uint64_t seed = 0;
  bool shuffle_shards = true;
  int64_t held_out = 0;
  StreamSplit split = StreamSplit::kTrain;
  int64_t max_epochs = 0;  // 0 = endless (training); a held-out stream always reads one pass
};

struct DatasetStreamState {
  int64_t epoch = 0;
  int64_t order_pos = 0;       // position in this epoch's shard order
  ShardPosition shard_pos;     // inside the shard at order_pos
  int64_t index = 0;           // records of this epoch read so far, held-out ones included
  int64_t shard_record = 0;    // records of the current shard read so far
  int64_t split_index = 0;     // records of this epoch's stream (training or held-out) so far: the modulo counter
  int64_t kept_this_epoch = 0; // records this rank took in this epoch (an epoch with none is an error)
  int64_t reshard_skip = 0;    // records still to pass over after a resume on another world size
  bool finished = false;
};

class DatasetStream {
 public:
  DatasetStream(std::shared_ptr<const DatasetFiles> files, int32_t dataset_index, const StreamOptions& options);

  // This rank's next record (with content); false when the stream is finished (finite streams only).
  bool next(Record& record);

  const DatasetStreamState& state() const { return state_; }
  void restore(const DatasetStreamState& state);
  // Continues the epoch of a state saved by rank `old_rank` of `old_world` ranks, re-split for this rank, from
  // the point all old ranks would have reached in lockstep: by record, the global record index
  // old_world * (records old_rank took); by shard, the shard after the one old_rank was reading (the rest of it
  // is skipped). Records other old ranks had buffered, or had not reached, before that point are not seen
  // again in this epoch; records they had read past it are seen again.
  void restore_resharded(const DatasetStreamState& state, int64_t old_world, int64_t old_rank);

  bool split_by_shard() const { return by_shard_; }
  const DatasetFiles& files() const { return *files_; }

 private:
  std::vector<int32_t> full_shard_order(int64_t epoch) const;  // every shard, before the rank filter
  std::vector<int32_t> shard_order(int64_t epoch) const;
  bool is_held_out(int32_t shard, int64_t record_in_shard) const;
  void start_epoch();
  void advance_shard();

  std::shared_ptr<const DatasetFiles> files_;
  int32_t dataset_index_;
  StreamOptions options_;
  bool by_shard_ = false;
  // The held-out part ends in shard held_out_shard_ (sorted index) after held_out_in_shard_ of its records;
  // (0, 0) when nothing is held out.
  int32_t held_out_shard_ = 0;
  int64_t held_out_in_shard_ = 0;

  DatasetStreamState state_;
  std::vector<int32_t> order_;            // this epoch's shard order
  std::unique_ptr<ShardReader> reader_;   // open on order_[state_.order_pos], when reading
};

}  // namespace mha2mla::data
