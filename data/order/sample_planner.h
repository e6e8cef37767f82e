// The order in which this rank's records are processed: the datasets mixed by weight, then a shuffle buffer.
// Deterministic from the seed, and resumable: its whole state (per-dataset stream states, the two generators,
// the positions of the records in the shuffle buffer) is a PlannerState; restoring one re-reads the buffered
// records from their positions.
//
// Mixing: each record comes from dataset d with probability weight_d / (sum of the weights of the datasets
// not finished), drawn from a generator seeded by (seed, rank). Shuffle buffer of K records: once full, each
// output is a uniformly drawn buffer slot, refilled by the next mixed record; at the end of a finite stream
// the buffer drains in random order. K <= 1 keeps the mixed order.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/order/dataset_stream.h"
#include "data/rng.h"

namespace mha2mla::data {

struct PlannerState {
  std::vector<DatasetStreamState> datasets;
  uint64_t mix_rng = 0;
  uint64_t shuffle_rng = 0;
  std::vector<RecordRef> buffer;  // in slot order
  int64_t next_seq = 0;           // the seq the next record gets
};

class SamplePlanner {
 public:
  SamplePlanner(std::vector<std::shared_ptr<const DatasetFiles>> datasets, const StreamOptions& options,
                int64_t shuffle_buffer);

  // The next record in processing order, with record.seq set; false when every dataset is finished and the
  // buffer is empty (finite streams only).
  bool next(Record& record);

  PlannerState snapshot() const;
  // Restores a snapshot of a planner with the same datasets and options.
  void restore(const PlannerState& state);
  // Continues from a snapshot taken with another world size (see DatasetStream::restore_resharded): the
  // streams continue from the snapshot's positions; its shuffle buffer is dropped, the generators restart.
  void restore_resharded(const PlannerState& state, int64_t old_world, int64_t old_rank);

  int64_t next_seq() const { return next_seq_; }

  const std::vector<std::shared_ptr<const DatasetFiles>>& datasets() const { return files_; }

 private:
  bool next_mixed(Record& record);

  std::vector<std::shared_ptr<const DatasetFiles>> files_;
  std::vector<std::unique_ptr<DatasetStream>> streams_;
  size_t capacity_;
  Rng mix_rng_;
  Rng shuffle_rng_;
  std::vector<Record> buffer_;
  bool source_done_ = false;
  int64_t next_seq_ = 0;
};

}  // namespace mha2mla::data
