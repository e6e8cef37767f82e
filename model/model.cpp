#include "model/model.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "model/io/load_parameters.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "model/mla/attach.h"
#include "model/tensor_parallel.h"
#include "model/mla/student_copies.h"
#include "model/vlm/multimodal_prepare.h"
#include "model/vlm/vision_encoder.h"

namespace mha2mla {

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "float") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16" || name == "half") return at::kHalf;
  if (name == "float64" || name == "double") return at::kDouble;
  fail("unknown dtype '{}'; expected float32, bfloat16 or float16", name);
}

DecoderConfig decoder_config_from(const hf::TextConfig& t) {
  DecoderConfig c;
  c.vocab_size = t.vocab_size;
  c.hidden = t.hidden_size;
  c.intermediate = t.intermediate_size;
  c.layers = t.num_hidden_layers;
  c.heads = t.num_attention_heads;
  c.kv_heads = t.num_key_value_heads;
  c.head_dim = t.head_dim;
  c.rms_eps = t.rms_norm_eps;
  c.qkv_bias = t.qkv_bias;
  c.o_bias = t.o_proj_bias;
  c.mlp_bias = t.mlp_bias;
  c.tie_embeddings = t.tie_word_embeddings;
  c.activation = t.hidden_act;
  c.rope.head_dim = t.head_dim;
  c.rope.theta = t.rope_theta;
  const auto& s = t.rope_scaling;
  if (s.type == "llama3") {
    c.rope.scaling = "llama3";
    c.rope.factor = s.factor.value_or(1.0);
    c.rope.low_freq_factor = s.low_freq_factor.value_or(1.0);
    c.rope.high_freq_factor = s.high_freq_factor.value_or(4.0);
    c.rope.original_max_position = s.original_max_position_embeddings.value_or(8192);
  } else if (s.type == "linear") {
    c.rope.scaling = "linear";
    c.rope.factor = s.factor.value_or(1.0);
  } else if (s.type == "mrope") {
    c.rope.mrope_section = s.mrope_section;
  } else if (s.type != "default") {
    fail("rope_scaling type '{}' is not supported by mha2mla (default, linear, llama3, mrope)", s.type);
  }
  return c;
}

at::Tensor positions_per_segment(const at::Tensor& attention_mask, const at::Tensor& segments, int64_t batch,
                                 int64_t tokens, const at::Device& device) {
  at::Tensor mask = attention_mask.defined()
                        ? attention_mask.to(at::kLong)
                        : at::ones({batch, tokens}, at::TensorOptions().dtype(at::kLong).device(device));
  at::Tensor running = mask.cumsum(-1);  // tokens so far, 1-based
  if (segments.defined()) {
    // Subtract the count reached before each segment starts: positions restart at 0 in every segment.
    at::Tensor starts = at::ones_like(segments, at::kBool);
    starts.narrow(1, 1, tokens - 1).copy_(segments.narrow(1, 1, tokens - 1) != segments.narrow(1, 0, tokens - 1));
    at::Tensor offset_at_start = at::where(starts, running - mask, at::zeros_like(running));
    // Carry each segment's offset forward (cummax works because offsets only grow along a row).
    at::Tensor offset = std::get<0>(at::cummax(offset_at_start, 1));
    running = running - offset;
  }
  return (running - 1).masked_fill(mask == 0, 1);
}

Model::Model() = default;
Model::~Model() = default;

void Model::attach_mla(const MlaConfig& mla_config) {
  attach_mla_students(*text, mla_config.layouts(text->config()));
  if (mla_config.student_only) drop_teacher_key_values(*text);
  mla = mla_config;
  if (!mla->student_copies.empty()) give_student_copies(*text, *mla, mla->student_copies);
  give_student_adapters(*text, mla->lora);
}

PreparedInputs Model::prepare(const MultimodalBatch& batch) const {
  if (vision) return prepare_vision_language(*this, batch);
  if (!batch.pixel_values.empty())
    fail("{}: this batch has {} image(s) but {} is a text-only model", source.empty() ? "model" : source,
         batch.pixel_values.size(), hf::model_type_name(config.model_type));
  const int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
  PreparedInputs prepared;
  prepared.embeddings = text->embed(batch.input_ids.to(text->options().device()));
  prepared.text.attention_mask = batch.attention_mask;
  prepared.text.segments = batch.segments;
  prepared.text.positions = positions_per_segment(batch.attention_mask, batch.segments, B, T, text->options().device());
  return prepared;
}

void Model::visit(const ParamVisitor& visitor) {
  text->visit([&](ParamRef& ref) {
    ref.name = starts_with(ref.name, "lm_head.") ? ref.name : "text." + ref.name;
    visitor(ref);
  });
  if (vision) vision->visit(visitor);
}

std::unique_ptr<Model> build_model(const hf::HfConfig& config, const ModelLoadOptions& options) {
  if (config.model_type == hf::ModelType::kDeepseekV3)
    fail("{}: deepseek_v3 checkpoints are an export target, not a model mha2mla converts", config.source);
  auto model = std::make_unique<Model>();
  model->config = config;
  DecoderConfig decoder = decoder_config_from(config.text);
  decoder.tie_embeddings = config.ties_word_embeddings();
  auto tensor_options = at::TensorOptions().dtype(options.dtype).device(at::Device(options.device));
  model->text = std::make_unique<TextModel>(decoder, tensor_options, options.tensor_parallel);
  if (hf::is_vision_language(config.model_type)) model->vision = make_vision_encoder(config, tensor_options);
  if (config.raw && config.raw->contains("mla"))
    model->attach_mla(mla_config_from_json(config.raw->at("mla"), config.source));
  return model;
}

std::unique_ptr<Model> load_model(const std::string& folder, const ModelLoadOptions& options) {
  if (!directory_exists(folder)) fail("model folder '{}' not found", folder);
  hf::HfConfig config = hf::load_hf_config(folder);
  auto model = build_model(config, options);
  model->source = folder;
  io::SafetensorsCheckpoint checkpoint(folder);
  std::map<std::string, std::string> canonical_to_file =
      hf::canonical_names(config.model_type, checkpoint.names(), checkpoint.source(), &model->naming);
  LoadSpec spec;
  spec.file_name = [&](const std::string& canonical) {
    auto it = canonical_to_file.find(canonical);
    return it == canonical_to_file.end() ? hf::canonical_to_hub(config.model_type, model->naming, canonical) : it->second;
  };
  // Old exports carry buffers that are recomputed here: rotary frequencies, and CLIP's position_ids (persistent
  // before transformers 4.31).
  spec.ignorable = [](const std::string& name) {
    return ends_with(name, "rotary_emb.inv_freq") || ends_with(name, "embeddings.position_ids");
  };
  load_parameters(checkpoint, [&](const ParamVisitor& v) { model->visit(v); }, spec);
  spdlog::info("loaded {} ({}, {} layers, {} naming)", folder, hf::model_type_name(config.model_type),
               config.text.num_hidden_layers, hf::hub_naming_name(model->naming));
  return model;
}

void save_model(Model& model, const std::string& folder, at::ScalarType dtype, uint64_t max_shard_bytes) {
  const dist::TensorParallel& tp = model.tensor_parallel();
  const bool writes = tp.rank() == 0;
  io::SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  // Every rank of a tensor-parallel group walks the same parameters in the same order: one gather per slice.
  model.visit([&](ParamRef& ref) {
    at::Tensor full = gather_full(ref, tp);
    if (writes)
      io::add_tensor(writer, hf::canonical_to_hub(model.config.model_type, model.naming, ref.name), full.to(dtype));
  });
  if (!writes) return;
  ensure_directory(folder);
  nlohmann::json config = hf::to_json(model.config);
  if (model.mla) config["mla"] = to_json(*model.mla);
  write_file_atomic(path_join(folder, "config.json"), config.dump(2) + "\n");
  writer.write_sharded(folder, max_shard_bytes);
}

void copy_side_files(const std::string& from, const std::string& to) {
  static const char* const kSideFiles[] = {"tokenizer.json",          "tokenizer_config.json", "special_tokens_map.json",
                                           "tokenizer.model",         "vocab.json",            "merges.txt",
                                           "added_tokens.json",       "chat_template.json",    "chat_template.jinja",
                                           "preprocessor_config.json", "processor_config.json", "generation_config.json"};
  ensure_directory(to);
  for (const char* name : kSideFiles) {
    std::string source = path_join(from, name);
    if (file_exists(source)) write_file_atomic(path_join(to, name), read_file(source));
  }
}

}  // namespace mha2mla
