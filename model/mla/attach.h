// Gives every decoder layer a student MLA attention beside its teacher, sharing q_proj/o_proj tensors.
#pragma once

#include <vector>

#include "model/mla/mla_layout.h"
#include "model/text_model.h"

namespace mha2mla {

void attach_mla_students(TextModel& model, const std::vector<MlaLayerLayout>& layouts);

// For an exported (student-only) checkpoint: every layer's teacher keeps q_proj / o_proj (shared with the
// student) and loses k_proj / v_proj, so loading expects exactly the exported tensors.
void drop_teacher_key_values(TextModel& model);

}  // namespace mha2mla
