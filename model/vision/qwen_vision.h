// The Qwen2.5-VL vision transformer (and Qwen2-VL's, its predecessor), as transformers'
// Qwen2_5_VisionTransformerPretrainedModel computes it:
//   patch_embed   a Conv3d over (temporal_patch_size, patch, patch) with stride = kernel and no bias, done here
//                 as one matmul over the processor's already flattened patches;
//   rotary        2-D RoPE: half of each head's frequency pairs turn with the patch row, half with the column;
//   blocks        pre-norm transformer blocks; Qwen2.5-VL: RMSNorm, SwiGLU MLP with bias, attention inside
//                 windows except in fullatt_block_indexes; Qwen2-VL: LayerNorm, fc1 -> act -> fc2, attention
//                 over each whole frame;
//   merger        norm (ln_q), then every spatial_merge_size^2 neighbouring patches concatenated and mapped by
//                 mlp.0 -> GELU -> mlp.2 to the language model's width.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/io/hf_config.h"
#include "model/layers/layer_norm.h"
#include "model/layers/linear.h"
#include "model/layers/mlp.h"
#include "model/layers/rms_norm.h"
#include "model/vision/qwen_vision_layout.h"

namespace mha2mla {

struct QwenVisionBlock {
  RmsNorm norm1, norm2;             // qwen2_5_vl
  LayerNorm layer_norm1, layer_norm2;  // qwen2_vl (also named norm1 / norm2 in the checkpoint)
  Linear qkv, proj;
  GatedMlp mlp;                     // qwen2_5_vl: gate_proj, up_proj, down_proj (with bias)
  Linear fc1, fc2;                  // qwen2_vl
};

class QwenVisionTower {
 public:
  QwenVisionTower(const hf::QwenVisionConfig& config, const at::TensorOptions& options);

  // patches [sum of t*h*w, channels * temporal_patch_size * patch^2] (images concatenated in order, as the
  // processor flattens them); returns the merged features [sum of t*h*w / merge^2, out_hidden_size].
  at::Tensor forward(const at::Tensor& patches, const std::vector<PatchGrid>& grids) const;

  // HF names below visual: patch_embed.proj.weight, blocks.N.{norm1,norm2,attn.qkv,attn.proj,mlp.*},
  // merger.{ln_q,mlp.0,mlp.2}.
  void visit(const std::string& prefix, const ParamVisitor& visitor);

  const hf::QwenVisionConfig& config() const { return config_; }
  bool windowed() const { return config_.variant == "qwen2_5_vl"; }

  at::Tensor patch_embed;  // [hidden, channels, temporal_patch_size, patch, patch]
  std::vector<QwenVisionBlock> blocks;
  RmsNorm merger_norm;         // qwen2_5_vl ln_q
  LayerNorm merger_layer_norm;  // qwen2_vl ln_q
  Linear merger_fc1, merger_fc2;  // mlp.0, mlp.2

 private:
  at::Tensor block_forward(const QwenVisionBlock& block, const at::Tensor& x, const at::Tensor& cos,
                           const at::Tensor& sin, const std::vector<int64_t>& boundaries) const;

  hf::QwenVisionConfig config_;
};

}  // namespace mha2mla
