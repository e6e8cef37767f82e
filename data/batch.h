// What the data pipeline hands to the trainer: one micro-batch for this data-parallel rank. The tensor fields
// mirror model/model.h's MultimodalBatch (the trainer moves them over; data/ does not include model/).
//
//   input_ids       int64 [B, T]  right-padded with the tokenizer's pad id (else its EOS id, else 0)
//   labels          int64 [B, T]  the token id where supervised, -100 elsewhere (padding included); not shifted:
//                                 the loss compares logits at t with labels at t + 1, as Hugging Face does
//   attention_mask  int64 [B, T]  1 = token, 0 = padding
//   segments        int64 [B, T]  packing only (undefined otherwise): 0, 1, 2, ... per sample in a row; the
//                                 padding after the last sample carries that sample's id (its mask is 0)
//   pixel_values    one tensor per image, in reading order (row by row, left to right in each row)
//   image_grid_thw  Qwen2(.5)-VL: (t, h, w) per image; empty otherwise
//   image_sizes     LLaVA-NeXT: original (height, width) per image; empty otherwise
//
// T is the longest row of the batch (at most data.max_length). A sample's first token is never supervised (it
// is BOS or a role header), so in a packed row no label crosses from one sample into the next.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/record.h"

namespace mha2mla::data {

// Where one sample sits in the batch.
struct BatchSample {
  std::string id;
  RecordRef ref;
  int64_t row = 0;
  int64_t start = 0;   // first token in the row
  int64_t length = 0;  // tokens
  int64_t images = 0;
  bool truncated = false;
};

struct Batch {
  at::Tensor input_ids;
  at::Tensor labels;
  at::Tensor attention_mask;
  at::Tensor segments;
  std::vector<at::Tensor> pixel_values;
  std::vector<std::vector<int64_t>> image_grid_thw;
  std::vector<std::pair<int64_t, int64_t>> image_sizes;

  // Bookkeeping.
  int64_t index = 0;                 // batches this pipeline produced before this one (continues across resumes)
  std::vector<BatchSample> samples;  // row by row
  int64_t tokens = 0;                // non-padding tokens
  int64_t supervised_tokens = 0;
  int64_t epoch = 0;                 // the largest epoch among the samples' datasets
  std::string cursor;                // JSON: where the stream stands after this batch (pass it to resume)

  int64_t rows() const { return input_ids.defined() ? input_ids.size(0) : 0; }
};

}  // namespace mha2mla::data
