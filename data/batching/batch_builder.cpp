#include "data/batching/batch_builder.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "common/error.h"
#include "data/chat/conversation_tokenizer.h"

namespace mha2mla::data {

Batch build_batch(const PlannedBatch& rows, int32_t pad_id, bool packing) {
  MHA2MLA_CHECK(!rows.empty(), "empty batch");
  const int64_t B = static_cast<int64_t>(rows.size());
  int64_t T = 0;
  for (const Row& row : rows) {
    int64_t length = 0;
    for (const ProcessedSample& s : row) length += s.length();
    T = std::max(T, length);
  }
  Batch batch;
  batch.input_ids = at::full({B, T}, pad_id, at::kLong);
  batch.labels = at::full({B, T}, kIgnoreLabel, at::kLong);
  batch.attention_mask = at::zeros({B, T}, at::kLong);
  if (packing) batch.segments = at::zeros({B, T}, at::kLong);
  int64_t* ids = batch.input_ids.data_ptr<int64_t>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  int64_t* mask = batch.attention_mask.data_ptr<int64_t>();
  int64_t* segments = packing ? batch.segments.data_ptr<int64_t>() : nullptr;

  for (int64_t r = 0; r < B; ++r) {
    int64_t at = 0;
    int64_t segment = 0;
    for (const ProcessedSample& s : rows[r]) {
      MHA2MLA_CHECK(s.length() > 0 && s.labels.front() == kIgnoreLabel,
                    "sample {}: the first token must not be supervised", s.id);
      for (int64_t t = 0; t < s.length(); ++t) {
        ids[r * T + at + t] = s.input_ids[t];
        labels[r * T + at + t] = s.labels[t];
        mask[r * T + at + t] = 1;
        if (segments) segments[r * T + at + t] = segment;
      }
      BatchSample info;
      info.id = s.id;
      info.ref = s.ref;
      info.row = r;
      info.start = at;
      info.length = s.length();
      info.images = static_cast<int64_t>(s.pixel_values.size());
      info.truncated = s.truncated;
      batch.samples.push_back(std::move(info));
      batch.tokens += s.length();
      batch.supervised_tokens += s.supervised_tokens();
      batch.epoch = std::max(batch.epoch, s.ref.epoch);
      batch.pixel_values.insert(batch.pixel_values.end(), s.pixel_values.begin(), s.pixel_values.end());
      batch.image_grid_thw.insert(batch.image_grid_thw.end(), s.image_grid_thw.begin(), s.image_grid_thw.end());
      batch.image_sizes.insert(batch.image_sizes.end(), s.image_sizes.begin(), s.image_sizes.end());
      at += s.length();
      ++segment;
    }
    // Padding continues the last sample's segment (masked out by attention_mask).
    if (segments)
      for (int64_t t = at; t < T; ++t) segments[r * T + t] = std::max<int64_t>(segment - 1, 0);
  }
  return batch;
}

}  // namespace mha2mla::data
