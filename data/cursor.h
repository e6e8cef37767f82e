// The resumable position of one rank's data stream, as saved with a checkpoint (JSON text).
//
//   planner   the sample planner's state at the start of the chunk holding the last record consumed (dataset
//             epochs and positions, generator states, the shuffle buffer as record positions); `skip` records
//             after it were already consumed. Snapshots are taken every kCursorChunk records, so a resume
//             re-reads at most that many records to skip them, and the shuffle buffer's records to refill it.
//   batcher   the samples waiting in the batcher (finished batches not yet handed out, the open batch, the sort
//             window) as record positions; a resume recomputes them.
//   counters  records read, samples used, bad samples per reason, batches and tokens so far.
// Restoring with the same world size gives exactly the batches the uninterrupted run would have given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/bad_sample.h"
#include "data/batching/batcher.h"
#include "data/order/sample_planner.h"

namespace mha2mla::data {

constexpr int64_t kCursorChunk = 64;

struct DataCounters {
  int64_t records = 0;  // records this rank read (processed or found bad)
  int64_t samples = 0;  // records that became samples
  BadCounts bad{};
  int64_t batches = 0;
  int64_t tokens = 0;
  int64_t supervised_tokens = 0;
  int64_t truncated = 0;

  int64_t bad_total() const;
};

struct DatasetFingerprint {
  std::string spec;
  std::string format;
  int64_t shards = 0;
};

struct Cursor {
  int64_t version = 1;
  int64_t rank = 0;
  int64_t world = 1;
  uint64_t seed = 0;
  std::string split = "train";
  std::vector<DatasetFingerprint> datasets;
  PlannerState planner;
  int64_t skip = 0;
  BatcherState batcher;
  DataCounters counters;
};

std::string cursor_to_json(const Cursor& cursor);
// Throws Error naming `source` when the text is not a cursor this version wrote.
Cursor cursor_from_json(const std::string& text, const std::string& source);

}  // namespace mha2mla::data
