// data/: the streaming image-text SFT pipeline. Datasets of any size are read as streams (never loaded whole),
// split across data-parallel ranks, shuffled deterministically, turned into model-ready batches by background
// threads, and resumable exactly from a cursor saved with each batch. docs/data.md describes formats,
// templates, label masking, packing, sharding, resume and bad-sample handling.
//
//   auto pipeline = data::open_data_pipeline(recipe.data, model_folder, {rank, world, seed});
//   while (auto batch = pipeline->next()) { ...; save batch->cursor with the checkpoint; }
//   // resume: options.cursor = saved cursor text
//
// Stages: reader thread (SamplePlanner: datasets mixed by weight, rank split, shard order, shuffle buffer)
// -> `workers` threads (SampleProcessor: parse, images, template, tokens) -> batch thread (results in stream
// order, Batcher, tensors) -> a queue of `prefetch` batches -> next(). The output does not depend on the
// number of workers or on timing. With workers = 0 everything runs inside next().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "data/batch.h"
#include "data/chat/chat_template.h"
#include "data/cursor.h"
#include "data/data_config.h"
#include "data/model_spec.h"
#include "data/order/dataset_stream.h"
#include "data/tokenizer/tokenizer.h"

namespace mha2mla::data {

struct PipelineOptions {
  int64_t rank = 0;   // data-parallel rank and size (tensor-parallel peers pass the same values)
  int64_t world = 1;
  uint64_t seed = 0;
  StreamSplit split = StreamSplit::kTrain;  // kHeldOut: the data.held_out records, one pass
  int64_t max_epochs = 0;                   // training: 0 = endless; otherwise next() ends after that many passes
  std::string cursor;                       // a Batch::cursor to resume after; "" = from the start
};

class DataPipeline {
 public:
  // Validates the configuration, resolves the datasets, restores the cursor (re-reading what it points to) and
  // starts the threads. Throws Error for configuration problems and cursors that do not fit.
  DataPipeline(const DataConfig& config, const ModelDataSpec& spec,
               std::shared_ptr<const tokenizer::Tokenizer> tokenizer, const PipelineOptions& options);
  ~DataPipeline();
  DataPipeline(const DataPipeline&) = delete;
  DataPipeline& operator=(const DataPipeline&) = delete;

  // The next batch; nullopt once a finite stream (max_epochs, held-out) is exhausted. Rethrows a failure of the
  // background threads (an unreadable dataset, data.max_bad_fraction exceeded) as Error.
  std::optional<Batch> next();

  // Counters as of the last batch next() returned (all records read, once a finite stream has ended).
  DataCounters counters() const;
  // The cursor before the first batch next() returns (what `options.cursor` restored, or the start).
  const std::string& start_cursor() const;
  ChatTemplateKind chat_template() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads the spec and the tokenizer from an HF model folder and opens a pipeline.
std::unique_ptr<DataPipeline> open_data_pipeline(const DataConfig& config, const std::string& model_folder,
                                                 const PipelineOptions& options);

}  // namespace mha2mla::data
