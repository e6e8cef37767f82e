// The hf-mla export: the converted folder minus the teacher, LoRA merged. Loading it builds a model whose layers
// hold only the student attention (MlaConfig::student_only, see model/mla/attach.h).
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "model/export/export.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {
namespace {

// Every Linear of the decoder layers that a LoRA adapter may sit on, by canonical name prefix.
std::map<std::string, const Linear*> adaptable_linears(Model& model) {
  std::map<std::string, const Linear*> linears;
  for (size_t l = 0; l < model.text->layers.size(); ++l) {
    auto& layer = model.text->layers[l];
    auto name = [&](const std::string& suffix) { return hf::text_layer_name(static_cast<int64_t>(l), suffix); };
    auto& student = static_cast<MlaAttention&>(*layer.student);
    linears[name(student.own_q_proj ? "self_attn.student_q_proj" : "self_attn.q_proj")] = &student.q_proj;
    linears[name(student.own_o_proj ? "self_attn.student_o_proj" : "self_attn.o_proj")] = &student.o_proj;
    linears[name("self_attn.k_rope_proj")] = &student.k_rope_proj;
    linears[name("mlp.gate_proj")] = &layer.mlp.gate_proj;
    linears[name("mlp.up_proj")] = &layer.mlp.up_proj;
    linears[name("mlp.down_proj")] = &layer.mlp.down_proj;
  }
  return linears;
}

bool is_lora_tensor(const std::string& name) {
  return ends_with(name, ".lora_A.weight") || ends_with(name, ".lora_B.weight");
}

bool is_teacher_key_value(const std::string& name) {
  auto layer = hf::parse_text_layer_name(name);
  return layer && (starts_with(layer->second, "self_attn.k_proj.") || starts_with(layer->second, "self_attn.v_proj."));
}

// The student's own copies (model/mla/student_copies.h) replace the teacher's tensors of the same role: the export
// has no teacher, so they take the teacher's names. Returns the exported name, or "" for a tensor left out.
std::string exported_name(Model& model, const std::string& name) {
  auto layer = hf::parse_text_layer_name(name);
  if (!layer) return name;
  static const std::pair<const char*, const char*> kCopies[] = {{"self_attn.student_q_proj.", "self_attn.q_proj."},
                                                                {"self_attn.student_o_proj.", "self_attn.o_proj."},
                                                                {"student_input_layernorm.", "input_layernorm."}};
  const DecoderLayer& decoder = model.text->layers[static_cast<size_t>(layer->first)];
  const auto& student = static_cast<const MlaAttention&>(*decoder.student);
  const bool owned[] = {student.own_q_proj, student.own_o_proj, decoder.student_input_layernorm.weight.defined()};
  for (size_t i = 0; i < 3; ++i) {
    const std::string copy = kCopies[i].first, shared = kCopies[i].second;
    if (starts_with(layer->second, copy)) return hf::text_layer_name(layer->first, shared + layer->second.substr(copy.size()));
    if (owned[i] && starts_with(layer->second, shared)) return "";  // the teacher's: superseded by the copy
  }
  return name;
}

}  // namespace

std::string torch_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kDouble: return "float64";
    default: fail("cannot export tensors as {}; choose float32, bfloat16 or float16", c10::toString(dtype));
  }
}

void export_hf_mla(Model& model, const std::string& folder, const ExportOptions& options) {
  at::NoGradGuard no_grad;
  const std::string name = model.source.empty() ? "the model" : model.source;
  if (!model.mla) fail_with_hint("run `mha2mla convert RECIPE` first", "{} is not converted to MLA; nothing to export", name);
  if (model.tensor_parallel().enabled())
    fail_with_hint("export from one process: load the trained folder (written whole) without tensor parallelism",
                   "{} is split over {} tensor-parallel ranks; the exporters write whole models", name,
                   model.tensor_parallel().size());
  if (model.mla->partial_rope_only)
    fail_with_hint("convert it to MLA (convert.stage = mla, convert.init_from = this checkpoint) and export that",
                   "{} is a stage-1 (partial_rope) checkpoint: its cache is the whole layer input, not a latent", name);

  ensure_directory(folder);
  MlaConfig mla = *model.mla;
  mla.student_only = true;
  mla.student_copies.clear();  // written under the teacher's names below
  mla.lora = MlaLora{};        // merged into the weights below
  nlohmann::json config = hf::to_json(model.config);
  config["mla"] = to_json(mla);
  config["torch_dtype"] = torch_dtype_name(options.dtype);
  write_file_atomic(path_join(folder, "config.json"), config.dump(2) + "\n");

  const std::map<std::string, const Linear*> linears = adaptable_linears(model);
  std::set<std::string> merged;  // prefixes whose adapters were folded into their weight
  std::vector<std::string> unmerged;
  io::SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  model.visit([&](ParamRef& ref) {
    if (is_teacher_key_value(ref.name)) return;
    const std::string exported = exported_name(model, ref.name);
    if (exported.empty()) return;
    if (is_lora_tensor(ref.name)) {
      std::string prefix = ref.name.substr(0, ref.name.rfind(".lora_"));
      if (!linears.count(prefix)) unmerged.push_back(ref.name);
      return;
    }
    at::Tensor tensor = *ref.tensor;
    if (ends_with(ref.name, ".weight")) {
      auto it = linears.find(ref.name.substr(0, ref.name.size() - std::string(".weight").size()));
      if (it != linears.end() && it->second->lora.defined()) {
        tensor = it->second->merged_weight();
        merged.insert(it->first);
      }
    }
    io::add_tensor(writer, hf::canonical_to_hub(model.config.model_type, model.naming, exported), tensor.to(options.dtype));
  });
  if (!unmerged.empty())
    fail("{}: cannot merge the LoRA adapter {} (the export merges adapters on q_proj, o_proj, k_rope_proj and the MLP)",
         name, unmerged.front());
  writer.write_sharded(folder, options.max_shard_bytes);
  if (!model.source.empty()) copy_side_files(model.source, folder);
  spdlog::info("exported {} as hf-mla to {} ({} tensors, {} LoRA adapters merged, teacher k_proj / v_proj dropped)", name,
               folder, writer.size(), merged.size());
}

}  // namespace mha2mla
