#include "data/data_pipeline.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "data/bad_sample_log.h"
#include "data/batching/batch_builder.h"
#include "data/batching/batcher.h"
#include "data/order/sample_planner.h"
#include "data/readers/dataset_files.h"
#include "data/sample_processor.h"

namespace mha2mla::data {

namespace {

struct WorkItem {
  Record record;
  std::shared_ptr<const PlannerState> chunk;  // the planner state before this record, at chunk starts
};

struct WorkResult {
  int64_t seq = -1;
  RecordRef ref;
  std::optional<ProcessedSample> sample;
  BadReason reason = BadReason::kBadSchema;
  std::string message;
  std::shared_ptr<const PlannerState> chunk;
};

struct Output {
  Batch batch;
  DataCounters counters;
};

const char* split_name(StreamSplit split) { return split == StreamSplit::kTrain ? "train" : "held_out"; }

}  // namespace

class DataPipeline::Impl {
 public:
  Impl(const DataConfig& config, const ModelDataSpec& spec, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
       const PipelineOptions& options);
  ~Impl();

  std::optional<Batch> next();
  DataCounters counters() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return delivered_;
  }
  const std::string& start_cursor() const { return start_cursor_; }
  ChatTemplateKind chat_template() const { return conversation_->kind(); }

 private:
  bool plan(WorkItem& item);
  WorkResult process(WorkItem item) const;
  void consume(WorkResult result, std::vector<Output>& produced);
  void finish(std::vector<Output>& produced);
  void emit_ready(std::vector<Output>& produced);
  std::string cursor_json() const;
  std::string location(const RecordRef& ref) const;
  void restore(const std::string& cursor_text);

  void planner_loop();
  void worker_loop();
  void assembler_loop();
  void fail_threads(std::exception_ptr error);

  DataConfig config_;
  PipelineOptions options_;
  std::vector<std::shared_ptr<const DatasetFiles>> datasets_;
  StreamOptions stream_options_;
  int64_t shuffle_capacity_ = 0;
  std::shared_ptr<const ConversationTokenizer> conversation_;
  std::unique_ptr<SampleProcessor> processor_;
  std::unique_ptr<SamplePlanner> planner_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<BadSampleLog> bad_log_;
  int32_t pad_id_ = 0;

  // Assembler state (one thread, or the caller's in synchronous mode).
  DataCounters counters_;
  std::shared_ptr<const PlannerState> chunk_;
  int64_t last_seq_ = -1;
  std::vector<int64_t> epoch_seen_;  // per dataset, the latest epoch a record came from (-1: none yet)
  std::string start_cursor_;

  // Shared state, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<WorkItem> work_;
  std::map<int64_t, WorkResult> results_;
  int64_t expected_seq_ = 0;   // the next seq the assembler consumes
  int64_t planned_end_ = -1;   // one past the last seq, once planning is done
  bool planning_done_ = false;
  std::deque<Output> out_;
  bool ended_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  DataCounters delivered_;
  DataCounters final_counters_;

  bool threaded_ = false;
  int64_t max_in_flight_ = 8;
  size_t prefetch_ = 1;
  std::vector<std::thread> threads_;
};

DataPipeline::Impl::Impl(const DataConfig& config, const ModelDataSpec& spec,
                         std::shared_ptr<const tokenizer::Tokenizer> tokenizer, const PipelineOptions& options)
    : config_(config), options_(options) {
  if (options_.world < 1 || options_.rank < 0 || options_.rank >= options_.world)
    fail("data pipeline: rank {} of {} data-parallel ranks is not a valid position", options_.rank, options_.world);
  if (config_.datasets.empty())
    fail_with_hint("add at least one entry under data.datasets (path, format, weight)", "data.datasets is empty");
  if (!tokenizer) fail("data pipeline: no tokenizer");
  for (size_t i = 0; i < config_.datasets.size(); ++i)
    datasets_.push_back(std::make_shared<const DatasetFiles>(resolve_dataset(config_.datasets[i], i)));
  epoch_seen_.assign(datasets_.size(), -1);

  const ChatTemplateKind kind =
      config_.chat_template == "auto"
          ? infer_chat_template(spec.model_type, spec.chat_template_text, spec.source.empty() ? "model" : spec.source)
          : parse_chat_template(config_.chat_template);
  conversation_ = std::make_shared<const ConversationTokenizer>(tokenizer, kind, spec.image_tokens);
  processor_ = std::make_unique<SampleProcessor>(datasets_, spec, conversation_,
                                                 ProcessingOptions{config_.max_length, config_.truncation == "drop"});
  const bool train = options_.split == StreamSplit::kTrain;
  stream_options_.rank = options_.rank;
  stream_options_.world = options_.world;
  stream_options_.seed = options_.seed;
  stream_options_.shuffle_shards = train && config_.shuffle_buffer > 1;
  stream_options_.held_out = config_.held_out;
  stream_options_.split = options_.split;
  stream_options_.max_epochs = options_.max_epochs;
  shuffle_capacity_ = train ? config_.shuffle_buffer : 0;
  planner_ = std::make_unique<SamplePlanner>(datasets_, stream_options_, shuffle_capacity_);
  batcher_ = std::make_unique<Batcher>(BatchingOptions{config_.batch_size, config_.max_length, config_.packing,
                                                       config_.sort_window, options_.seed, options_.rank});
  bad_log_ = std::make_unique<BadSampleLog>(config_.max_bad_fraction, config_.log_bad_samples, options_.rank);
  pad_id_ = tokenizer->pad_id() >= 0 ? tokenizer->pad_id() : tokenizer->eos_id() >= 0 ? tokenizer->eos_id() : 0;

  chunk_ = std::make_shared<const PlannerState>(planner_->snapshot());
  last_seq_ = chunk_->next_seq - 1;
  if (!options_.cursor.empty()) restore(options_.cursor);
  start_cursor_ = cursor_json();
  delivered_ = counters_;
  expected_seq_ = last_seq_ + 1;
  // A restored batcher may hold finished batches: they come first, before any further record is read.
  std::vector<Output> restored;
  emit_ready(restored);
  for (Output& o : restored) out_.push_back(std::move(o));

  threaded_ = config_.workers > 0;
  if (threaded_) {
    prefetch_ = static_cast<size_t>(std::max<int64_t>(1, config_.prefetch));
    max_in_flight_ = 4 * config_.workers + 4;
    threads_.emplace_back([this] { planner_loop(); });
    for (int64_t w = 0; w < config_.workers; ++w) threads_.emplace_back([this] { worker_loop(); });
    threads_.emplace_back([this] { assembler_loop(); });
  }
}

DataPipeline::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void DataPipeline::Impl::restore(const std::string& cursor_text) {
  Cursor c = cursor_from_json(cursor_text, "data cursor");
  if (c.split != split_name(options_.split))
    fail("data cursor: written for the {} stream, this pipeline reads the {} stream", c.split,
         split_name(options_.split));
  bool same = c.datasets.size() == datasets_.size();
  for (size_t i = 0; same && i < datasets_.size(); ++i)
    same = c.datasets[i].spec == datasets_[i]->spec && c.datasets[i].format == format_name(datasets_[i]->format) &&
           c.datasets[i].shards == static_cast<int64_t>(datasets_[i]->shards.size());
  if (!same)
    fail_with_hint("resume with the data.datasets (and files) the checkpoint was written with",
                   "data cursor: written for other datasets (paths, formats or shard counts differ)");
  if (c.seed != options_.seed)
    fail_with_hint("keep the seed when resuming", "data cursor: written with seed {}, this run has seed {}", c.seed,
                   options_.seed);
  counters_ = c.counters;
  if (c.world != options_.world) {
    if (c.rank < 0 || c.rank >= c.world) fail("data cursor: rank {} of {} is not a valid position", c.rank, c.world);
    // Replay the old rank's planner to the exact position the cursor names, then re-split from there.
    StreamOptions old = stream_options_;
    old.rank = c.rank;
    old.world = c.world;
    SamplePlanner old_planner(datasets_, old, shuffle_capacity_);
    old_planner.restore(c.planner);
    for (int64_t k = 0; k < c.skip; ++k) {
      Record skipped;
      if (!old_planner.next(skipped)) break;
    }
    planner_->restore_resharded(old_planner.snapshot(), c.world, c.rank);
    chunk_ = std::make_shared<const PlannerState>(planner_->snapshot());
    last_seq_ = chunk_->next_seq - 1;
    spdlog::warn("data: resuming a cursor of {} data-parallel ranks on {}: every rank continues from rank {}'s "
                 "positions; its shuffle buffer and pending samples are not replayed (approximate resume)",
                 c.world, options_.world, c.rank);
    return;
  }
  if (c.rank != options_.rank)
    fail("data cursor: belongs to rank {}, this is rank {} (each rank resumes from its own cursor)", c.rank,
         options_.rank);
  planner_->restore(c.planner);
  chunk_ = std::make_shared<const PlannerState>(c.planner);
  for (int64_t k = 0; k < c.skip; ++k) {
    Record skipped;
    if (!planner_->next(skipped))
      fail_with_hint("resume with the dataset files the checkpoint was written with",
                     "data cursor: the stream ends before the saved position (the datasets changed)");
  }
  last_seq_ = c.planner.next_seq + c.skip - 1;
  batcher_->restore(c.batcher, [&](const SampleKey& key) {
    const DatasetFiles& files = *datasets_.at(key.ref.dataset);
    Record record = read_record_at(files.format, files.shards.at(key.ref.shard), key.ref);
    record.seq = key.seq;
    try {
      return processor_->process(record);
    } catch (const BadSampleError& e) {
      fail_with_hint("resume with the dataset files the checkpoint was written with",
                     "data cursor: the sample at {} was usable when the cursor was saved, now it is not ({})",
                     location(key.ref), e.what());
    }
  });
}

std::string DataPipeline::Impl::location(const RecordRef& ref) const {
  const DatasetFiles& files = *datasets_.at(ref.dataset);
  const std::string& path = files.shards.at(ref.shard);
  if (files.format == DatasetFormat::kWebDataset) return fmt::format("{}@{}", path, ref.offset);
  return fmt::format("{}:{}", path, ref.line);
}

std::string DataPipeline::Impl::cursor_json() const {
  Cursor c;
  c.rank = options_.rank;
  c.world = options_.world;
  c.seed = options_.seed;
  c.split = split_name(options_.split);
  for (const auto& d : datasets_)
    c.datasets.push_back({d->spec, format_name(d->format), static_cast<int64_t>(d->shards.size())});
  c.planner = *chunk_;
  c.skip = last_seq_ + 1 - chunk_->next_seq;
  c.batcher = batcher_->state();
  c.counters = counters_;
  return cursor_to_json(c);
}

bool DataPipeline::Impl::plan(WorkItem& item) {
  std::shared_ptr<const PlannerState> snapshot;
  if (planner_->next_seq() % kCursorChunk == 0) snapshot = std::make_shared<const PlannerState>(planner_->snapshot());
  if (!planner_->next(item.record)) return false;
  item.chunk = std::move(snapshot);
  return true;
}

WorkResult DataPipeline::Impl::process(WorkItem item) const {
  WorkResult result;
  result.seq = item.record.seq;
  result.ref = item.record.ref;
  result.chunk = std::move(item.chunk);
  try {
    result.sample = processor_->process(item.record);
  } catch (const BadSampleError& e) {
    result.reason = e.reason();
    result.message = e.what();
  }
  return result;
}

void DataPipeline::Impl::emit_ready(std::vector<Output>& produced) {
  while (batcher_->has_ready()) {
    PlannedBatch planned = batcher_->take_ready();
    Batch batch = build_batch(planned, pad_id_, config_.packing);
    batch.index = counters_.batches++;
    counters_.tokens += batch.tokens;
    counters_.supervised_tokens += batch.supervised_tokens;
    batch.cursor = cursor_json();
    produced.push_back({std::move(batch), counters_});
  }
}

void DataPipeline::Impl::consume(WorkResult result, std::vector<Output>& produced) {
  if (result.chunk) chunk_ = std::move(result.chunk);
  MHA2MLA_CHECK(result.seq == last_seq_ + 1, "record {} arrived after {}", result.seq, last_seq_);
  last_seq_ = result.seq;
  // A dataset entering a new epoch is the moment for a summary of what was skipped so far.
  int64_t& epoch = epoch_seen_.at(result.ref.dataset);
  if (result.ref.epoch > epoch) {
    if (epoch >= 0 && counters_.bad_total() > 0)
      spdlog::info("data: rank {}: dataset {} starts epoch {}; {} of {} records so far unusable: {}", options_.rank,
                   datasets_[result.ref.dataset]->spec, result.ref.epoch, counters_.bad_total(), counters_.records,
                   BadSampleLog::summary(counters_));
    epoch = result.ref.epoch;
  }
  ++counters_.records;
  if (!result.sample) {
    bad_log_->record(counters_, result.reason, location(result.ref), result.message);
  } else {
    bad_log_->record_good();
    ++counters_.samples;
    counters_.truncated += result.sample->truncated;
    batcher_->add(std::move(*result.sample));
  }
  emit_ready(produced);
}

void DataPipeline::Impl::finish(std::vector<Output>& produced) {
  batcher_->flush();
  emit_ready(produced);
  if (counters_.bad_total() > 0)
    spdlog::info("data: rank {} read {} records, {} unusable: {}", options_.rank, counters_.records,
                 counters_.bad_total(), BadSampleLog::summary(counters_));
}

std::optional<Batch> DataPipeline::Impl::next() {
  if (!threaded_) {
    if (error_) std::rethrow_exception(error_);
    try {
      std::vector<Output> produced;
      while (out_.empty() && !ended_) {
        WorkItem item;
        if (!plan(item)) {
          finish(produced);
          ended_ = true;
          final_counters_ = counters_;
        } else {
          consume(process(std::move(item)), produced);
        }
        for (Output& o : produced) out_.push_back(std::move(o));
        produced.clear();
      }
    } catch (...) {
      error_ = std::current_exception();
      throw;
    }
  }
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return error_ || !out_.empty() || ended_; });
  if (error_) std::rethrow_exception(error_);
  if (out_.empty()) {
    delivered_ = final_counters_;
    return std::nullopt;
  }
  Output o = std::move(out_.front());
  out_.pop_front();
  delivered_ = o.counters;
  lock.unlock();
  cv_.notify_all();
  return std::move(o.batch);
}

void DataPipeline::Impl::fail_threads(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = error;
    stop_ = true;
  }
  cv_.notify_all();
}

void DataPipeline::Impl::planner_loop() {
  try {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || planner_->next_seq() - expected_seq_ < max_in_flight_; });
        if (stop_) return;
      }
      WorkItem item;
      const bool more = plan(item);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!more) {
          planning_done_ = true;
          planned_end_ = planner_->next_seq();
        } else {
          work_.push_back(std::move(item));
        }
      }
      cv_.notify_all();
      if (!more) return;
    }
  } catch (...) {
    fail_threads(std::current_exception());
  }
}

void DataPipeline::Impl::worker_loop() {
  try {
    while (true) {
      WorkItem item;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || !work_.empty() || planning_done_; });
        if (stop_ || work_.empty()) return;  // stopped, or planning is done and nothing is left
        item = std::move(work_.front());
        work_.pop_front();
      }
      WorkResult result = process(std::move(item));
      {
        std::lock_guard<std::mutex> lock(mutex_);
        const int64_t seq = result.seq;
        results_.emplace(seq, std::move(result));
      }
      cv_.notify_all();
    }
  } catch (...) {
    fail_threads(std::current_exception());
  }
}

void DataPipeline::Impl::assembler_loop() {
  try {
    while (true) {
      WorkResult result;
      bool end = false;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] {
          return stop_ || results_.count(expected_seq_) > 0 || (planning_done_ && expected_seq_ == planned_end_);
        });
        if (stop_) return;
        auto it = results_.find(expected_seq_);
        if (it == results_.end()) {
          end = true;
        } else {
          result = std::move(it->second);
          results_.erase(it);
          ++expected_seq_;
        }
      }
      cv_.notify_all();  // the planner may run further ahead
      std::vector<Output> produced;
      if (end) finish(produced);
      else consume(std::move(result), produced);
      for (Output& o : produced) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || out_.size() < prefetch_; });
        if (stop_) return;
        out_.push_back(std::move(o));
        lock.unlock();
        cv_.notify_all();
      }
      if (end) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          ended_ = true;
          final_counters_ = counters_;
        }
        cv_.notify_all();
        return;
      }
    }
  } catch (...) {
    fail_threads(std::current_exception());
  }
}

DataPipeline::DataPipeline(const DataConfig& config, const ModelDataSpec& spec,
                           std::shared_ptr<const tokenizer::Tokenizer> tokenizer, const PipelineOptions& options)
    : impl_(std::make_unique<Impl>(config, spec, std::move(tokenizer), options)) {}
DataPipeline::~DataPipeline() = default;
std::optional<Batch> DataPipeline::next() { return impl_->next(); }
DataCounters DataPipeline::counters() const { return impl_->counters(); }
const std::string& DataPipeline::start_cursor() const { return impl_->start_cursor(); }
ChatTemplateKind DataPipeline::chat_template() const { return impl_->chat_template(); }

std::unique_ptr<DataPipeline> open_data_pipeline(const DataConfig& config, const std::string& model_folder,
                                                 const PipelineOptions& options) {
  ModelDataSpec spec = read_model_data_spec(model_folder);
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer = tokenizer::load_tokenizer(model_folder);
  return std::make_unique<DataPipeline>(config, spec, std::move(tokenizer), options);
}

}  // namespace mha2mla::data
