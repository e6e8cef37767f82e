// Recipe section `data`: which SFT datasets, how they become batches.
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
    v.field("path", path, "dataset file (.json, .jsonl) or WebDataset shard pattern (dir/*.tar)");
    v.field("format", format, "reader; auto picks from the extension and the first record",
            config::Constraint::one_of({"auto", "llava_json", "sharegpt_jsonl", "messages_jsonl", "wds"}));
    v.field("image_root", image_root, "folder that relative image paths are resolved against; default: the dataset's folder");
    v.field("weight", weight, "sampling weight when several datasets are mixed", config::Constraint::positive());
  }
};

struct DataConfig {
  std::vector<DatasetConfig> datasets;
  std::string chat_template = "auto";
  int64_t max_length = 4096;
  std::string truncation = "right";
  int64_t batch_size = 1;           // samples per micro-batch per data-parallel rank
  bool packing = false;
  int64_t shuffle_buffer = 1024;
  int64_t sort_window = 0;          // bucket by length within windows of this many samples; 0 = off
  int64_t prefetch = 4;             // batches prepared ahead by background workers
  int64_t workers = 1;
  double max_bad_fraction = 0.01;
  int64_t held_out = 0;             // samples at the start of the stream kept for evaluation, never trained on

  void describe(config::Visitor& v) {
    v.section_list("datasets", "SFT datasets, mixed by weight", datasets);
    v.field("chat_template", chat_template, "conversation format; auto infers it from the model",
            config::Constraint::one_of({"auto", "vicuna_v1", "llama3", "chatml"}));
    v.field("max_length", max_length, "tokens per sample (or per packed row)", config::Constraint::at_least(8));
    v.field("truncation", truncation, "over-long samples: cut on the right, or drop (counted as bad)",
            config::Constraint::one_of({"right", "drop"}));
    v.field("batch_size", batch_size, "samples per micro-batch per data-parallel rank", config::Constraint::at_least(1));
    v.field("packing", packing, "pack several samples per row (block-diagonal attention, positions reset)");
    v.field("shuffle_buffer", shuffle_buffer, "samples in the shuffle buffer; 0 or 1 = stream order",
            config::Constraint::at_least(0));
    v.field("sort_window", sort_window, "bucket samples by length within windows of this many samples; 0 = off",
            config::Constraint::at_least(0));
    v.field("prefetch", prefetch, "batches prepared ahead by background workers", config::Constraint::at_least(0));
    v.field("workers", workers, "background preprocessing threads per rank", config::Constraint::at_least(0));
    v.field("max_bad_fraction", max_bad_fraction, "abort when more than this fraction of samples is unusable",
            config::Constraint::range(0, 1));
    v.field("held_out", held_out, "samples at the start of the stream kept for evaluation and never trained on",
            config::Constraint::at_least(0));
  }
};

}  // namespace mha2mla
