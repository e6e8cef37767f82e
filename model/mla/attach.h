// Gives every decoder layer a student MLA attention beside its teacher, sharing q_proj/o_proj tensors.
#pragma once

#include <vector>

#include "model/mla/mla_layout.h"
#include "model/text_model.h"

namespace mha2mla {

void attach_mla_students(TextModel& model, const std::vector<MlaLayerLayout>& layouts);

}  // namespace mha2mla
