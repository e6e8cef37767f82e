#include "model/mla/attach.h"

#include "common/error.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {

void attach_mla_students(TextModel& model, const std::vector<MlaLayerLayout>& layouts) {
  if (layouts.size() != model.layers.size())
    fail("the MLA layout lists {} layers but the model has {}", layouts.size(), model.layers.size());
  for (size_t i = 0; i < layouts.size(); ++i)
    model.layers[i].student = std::make_unique<MlaAttention>(layouts[i], *model.layers[i].self_attn, model.options());
}

void drop_teacher_key_values(TextModel& model) {
  for (auto& layer : model.layers) layer.self_attn->drop_key_value_projections();
}

}  // namespace mha2mla
