// The bridge from the data pipeline's batches to the model's inputs (data/ and model/ do not know each other).
#pragma once

#include "data/batch.h"
#include "model/model.h"

namespace mha2mla {

// Moves the tensors to `device` and hands the images over in reading order.
MultimodalBatch to_model_batch(const data::Batch& batch, const at::Device& device);

}  // namespace mha2mla
