// Groups processed samples (arriving in stream order) into batches of rows. Deterministic, and its pending
// samples are described by their record positions (BatcherState), so a resumed run rebuilds it exactly.
//
//   padding   one sample per row, batch_size rows per batch.
//   packing   a batch has batch_size rows of at most max_length tokens; each sample goes into the first row of
//             the open batch with room for it (first fit); when no row has room and all rows are used, the open
//             batch is complete and the sample starts the next one.
//   sort_window W > 0: samples are first collected W at a time and fed in order of length (ascending for
//             padding, so that similar lengths share a batch; descending for packing: first-fit decreasing);
//             the batches completed while feeding one window are then emitted in an order shuffled from
//             (seed, rank, window number), so that lengths do not rise steadily through the run.
// Samples of the open batch and of an unfinished window carry over to the next window.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "data/sample_processor.h"

namespace mha2mla::data {

using Row = std::vector<ProcessedSample>;
using PlannedBatch = std::vector<Row>;

struct SampleKey {
  RecordRef ref;
  int64_t seq = -1;
};

struct BatcherState {
  std::vector<std::vector<std::vector<SampleKey>>> ready;  // complete batches not yet handed out: rows of samples
  std::vector<std::vector<SampleKey>> open;                // the batch being filled
  std::vector<SampleKey> window;                           // the sort window being collected
  int64_t window_index = 0;
};

struct BatchingOptions {
  int64_t batch_size = 1;
  int64_t max_length = 4096;
  bool packing = false;
  int64_t sort_window = 0;
  uint64_t seed = 0;
  int64_t rank = 0;
};

class Batcher {
 public:
  explicit Batcher(const BatchingOptions& options);

  void add(ProcessedSample sample);
  // End of a finite stream: the unfinished window is fed and the open batch completed as it is.
  void flush();

  bool has_ready() const { return !ready_.empty(); }
  PlannedBatch take_ready();

  BatcherState state() const;
  // Rebuilds the state with the samples `fetch` recomputes from their keys.
  void restore(const BatcherState& state, const std::function<ProcessedSample(const SampleKey&)>& fetch);

 private:
  void place(ProcessedSample sample);
  void release_window();
  bool fits(const Row& row, int64_t length) const;

  BatchingOptions options_;
  std::deque<PlannedBatch> ready_;
  PlannedBatch open_;
  std::vector<ProcessedSample> window_;
  int64_t window_index_ = 0;
};

}  // namespace mha2mla::data
