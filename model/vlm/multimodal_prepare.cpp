#include "model/vlm/multimodal_prepare.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"
#include "model/vlm/mrope_positions.h"
#include "model/vlm/vision_encoder.h"

namespace mha2mla {

std::vector<std::pair<size_t, size_t>> assign_images_to_rows(const std::vector<int64_t>& placeholders,
                                                             const std::vector<int64_t>& image_features,
                                                             const std::string& placeholder_name) {
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t next = 0;
  for (size_t row = 0; row < placeholders.size(); ++row) {
    const size_t first = next;
    int64_t filled = 0;
    while (filled < placeholders[row] && next < image_features.size()) filled += image_features[next++];
    if (filled != placeholders[row]) {
      std::string images = next == first ? std::string("no image is left for it")
                                         : fmt::format("image(s) {}..{} give {} features", first, next - 1, filled);
      fail_with_hint("each image needs exactly as many placeholder tokens as it has features (see the processor's "
                     "token counts, e.g. llava_next_num_image_tokens / Qwen's t*h*w/merge^2)",
                     "batch row {}: {} {} placeholder token(s) but {}", row, placeholders[row], placeholder_name,
                     images);
    }
    ranges.emplace_back(first, next);
  }
  if (next != image_features.size())
    fail("the batch has {} image(s) but its rows' {} placeholder tokens take only {}; image {} has no placeholders",
         image_features.size(), placeholder_name, next, next);
  return ranges;
}

PreparedInputs prepare_vision_language(const Model& model, const MultimodalBatch& batch) {
  const hf::HfConfig& config = model.config;
  const bool llava = hf::is_llava_family(config.model_type);
  const int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
  const at::Device device = model.text->options().device();
  at::Tensor ids = batch.input_ids.to(device, at::kLong);
  const int64_t placeholder = llava ? config.llava.image_token_index : config.qwen_vl.image_token_id;
  const std::string placeholder_name = fmt::format("{} (id {})", llava ? "<image>" : "<|image_pad|>", placeholder);
  if (!llava && (ids == config.qwen_vl.video_token_id).any().item<bool>())
    fail("{}: the batch holds <|video_pad|> tokens (id {}); video inputs are not supported yet, only images",
         model.source.empty() ? "model" : model.source, config.qwen_vl.video_token_id);

  PreparedInputs prepared;
  prepared.embeddings = model.text->embed(ids);
  at::Tensor is_placeholder = ids == placeholder;

  std::vector<at::Tensor> features = model.vision->encode(batch);
  std::vector<int64_t> feature_counts, placeholder_counts;
  for (const at::Tensor& f : features) feature_counts.push_back(f.size(0));
  at::Tensor per_row = is_placeholder.sum(1).to(at::kCPU, at::kLong).contiguous();
  placeholder_counts.assign(per_row.data_ptr<int64_t>(), per_row.data_ptr<int64_t>() + B);
  assign_images_to_rows(placeholder_counts, feature_counts, placeholder_name);
  if (!features.empty()) {
    // Row-major order of the placeholders is the batch's image order, as transformers' masked_scatter fills them.
    at::Tensor flat = at::cat(features, 0).to(prepared.embeddings.scalar_type());
    prepared.embeddings = prepared.embeddings.masked_scatter(is_placeholder.unsqueeze(-1).expand_as(prepared.embeddings), flat);
  }

  prepared.text.attention_mask = batch.attention_mask;
  prepared.text.segments = batch.segments;
  if (llava) {
    prepared.text.positions = positions_per_segment(batch.attention_mask, batch.segments, B, T, device);
    prepared.text.image_mask = is_placeholder;
    return prepared;
  }
  const auto& q = config.qwen_vl;
  MropeTokens tokens;
  tokens.image_token_id = q.image_token_id;
  tokens.video_token_id = q.video_token_id;
  tokens.vision_start_token_id = q.vision_start_token_id;
  tokens.spatial_merge_size = config.qwen_vision->spatial_merge_size;
  tokens.scale_video_time = config.model_type == hf::ModelType::kQwen2_5Vl;
  tokens.tokens_per_second = config.qwen_vision->tokens_per_second;
  VisualGrids grids;
  for (const auto& g : batch.image_grid_thw) grids.images.push_back({g.at(0), g.at(1), g.at(2)});
  MropeIndex index = mrope_position_ids(ids, batch.attention_mask, batch.segments, tokens, grids);
  prepared.text.positions = index.positions;
  prepared.rope_deltas = index.rope_deltas;
  prepared.text.image_mask = is_placeholder | (ids == q.video_token_id) | (ids == q.vision_start_token_id) |
                             (ids == q.vision_end_token_id);
  return prepared;
}

}  // namespace mha2mla
