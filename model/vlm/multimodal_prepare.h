// Model::prepare for the vision-language models: token embeddings with every image's features written over its
// placeholder tokens, the positions the language model rotates by, and the image-token mask MLA routes by.
//   llava / llava_next  placeholders: image_token_index, one per feature; 1-D positions restarting per sample.
//   qwen2_vl / 2_5_vl   placeholders: <|image_pad|> (inside <|vision_start|> ... <|vision_end|>); 3-D M-RoPE
//                       positions per packed sample, with rope_deltas for decoding; the image mask covers the pads,
//                       vision_start and vision_end (and video pads).
// Images are matched to rows in order: row r takes the next images until their features fill its placeholders;
// a row whose placeholders do not add up, or images left without placeholders, are errors naming the row and
// both counts.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace mha2mla {

PreparedInputs prepare_vision_language(const Model& model, const MultimodalBatch& batch);

// For each row, the range [first, last) of images whose features fill its `placeholders[row]` tokens, given each
// image's feature count. `placeholder_name` (e.g. "<image>") is used in errors.
std::vector<std::pair<size_t, size_t>> assign_images_to_rows(const std::vector<int64_t>& placeholders,
                                                             const std::vector<int64_t>& image_features,
                                                             const std::string& placeholder_name);

}  // namespace mha2mla
