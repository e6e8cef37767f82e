// Planned rows of samples -> the Batch tensors (batch.h): right padding, attention mask, segment ids when
// packing, images in reading order, bookkeeping.
#pragma once

#include <cstdint>

#include "data/batch.h"
#include "data/batching/batcher.h"

namespace mha2mla::data {

// `pad_id` fills input_ids past each row's end; `packing` defines `segments`.
Batch build_batch(const PlannedBatch& rows, int32_t pad_id, bool packing);

}  // namespace mha2mla::data
