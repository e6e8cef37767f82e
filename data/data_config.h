// Recipe section `data`: which SFT datasets, how they become batches (docs/data.md explains the pipeline).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config_schema.h"

namespace mha2mla {

struct DatasetConfig {
  std::string path;                 // a .json/.jsonl file, or a folder / glob of .tar shards
  std::string format = "auto";
  std::string image_root;           // relative image paths resolve against this (default: the file's folder)
  double weight = 1.0;              // mixing weight among datasets

  void describe(config::Visitor& v) {
    v.field("path", path,
            "a dataset file (.json list, .jsonl), a folder (its .tar shards, else its .jsonl/.json files) or a glob "
            "(dir/train-*.tar); files are read in name order (per-epoch shuffled when shuffle_buffer > 1)");
    v.field("format", format,
            "reader; auto: .tar = wds, a file starting with '[' = llava_json, else JSONL (messages_jsonl when its "
            "first record has \"messages\", sharegpt_jsonl otherwise)",
            config::Constraint::one_of({"auto", "llava_json", "sharegpt_jsonl", "messages_jsonl", "wds"}));
    v.field("image_root", image_root, "folder that relative image paths are resolved against; default: the dataset's folder");
    v.field("weight", weight, "mixing weight: each record comes from this dataset with probability weight / sum",
            config::Constraint::positive());
  }
};

struct DataConfig {
  std::vector<DatasetConfig> datasets;
  std::string chat_template = "auto";
  int64_t max_length = 4096;
  std::string truncation = "right";
  int64_t batch_size = 1;           // rows per micro-batch per data-parallel rank
  bool packing = false;
  int64_t shuffle_buffer = 1024;
  int64_t sort_window = 0;          // bucket by length within windows of this many samples; 0 = off
  int64_t prefetch = 4;             // batches prepared ahead by background workers
  int64_t workers = 1;
  double max_bad_fraction = 0.01;
  int64_t log_bad_samples = 5;      // bad samples logged individually per reason before only counting
  int64_t held_out = 0;             // samples at the start of the stream kept for evaluation, never trained on

  void describe(config::Visitor& v) {
    v.section_list("datasets", "SFT datasets, mixed by weight", datasets);
    v.field("chat_template", chat_template,
            "conversation format: vicuna_v1 (LLaVA-1.5), llama3 (LLaVA-NeXT-8B), chatml (Qwen2-VL/2.5-VL); auto "
            "infers it from the tokenizer's chat template, else from config.json's model_type",
            config::Constraint::one_of({"auto", "vicuna_v1", "llama3", "chatml"}));
    v.field("max_length", max_length, "tokens per sample, image tokens included (and per row when packing)",
            config::Constraint::at_least(8));
    v.field("truncation", truncation,
            "over-long samples: right = cut at max_length (never inside an image's tokens; images past the cut are "
            "dropped), drop = skip the sample, counted as too_long",
            config::Constraint::one_of({"right", "drop"}));
    v.field("batch_size", batch_size, "rows per micro-batch per data-parallel rank (one sample per row unless packing)",
            config::Constraint::at_least(1));
    v.field("packing", packing,
            "pack samples into rows of max_length tokens (first fit within the batch's rows); segment ids per "
            "sample give block-diagonal attention and positions restarting per sample");
    v.field("shuffle_buffer", shuffle_buffer,
            "records in the shuffle buffer (> 1 also shuffles the shard order each epoch); 0 or 1 = file order",
            config::Constraint::at_least(0));
    v.field("sort_window", sort_window,
            "sort samples by length within windows of this many samples before batching (descending when packing); "
            "the window's batches are then emitted in shuffled order; 0 = off",
            config::Constraint::at_least(0));
    v.field("prefetch", prefetch, "batches prepared ahead in a bounded queue when workers > 0 (at least 1 is used)",
            config::Constraint::at_least(0));
    v.field("workers", workers,
            "preprocessing threads per rank (parse, decode, preprocess, tokenize) beside one reader and one batch "
            "thread; 0 = all on the caller's thread",
            config::Constraint::at_least(0));
    v.field("max_bad_fraction", max_bad_fraction,
            "abort when more than this fraction of a rank's records is unusable (judged against at least 100 "
            "records); 10000 unusable records in a row stop the run whatever the fraction",
            config::Constraint::range(0, 1));
    v.field("log_bad_samples", log_bad_samples,
            "unusable samples logged (with file and line or byte offset) per reason before they are only counted",
            config::Constraint::at_least(0));
    v.field("held_out", held_out,
            "the first records of each dataset (in file name order) kept for evaluation and never trained on",
            config::Constraint::at_least(0));
  }
};

}  // namespace mha2mla
