// What a converted layer's student holds of its own beyond the converted attention.
//
// Student copies: the teacher tensors a converted layer normally shares with its student (q_proj, o_proj, and the
// input_layernorm in front of the attention), duplicated so that the student can train them while the teacher
// stays frozen (the paper's stage-1 and stage-2 trainable sets, trainer/trainable.h).
//
//   q_proj / o_proj     MlaAttention::own_q_proj / own_o_proj; saved as self_attn.student_q_proj.* / student_o_proj.*
//   input_layernorm     DecoderLayer::student_input_layernorm; saved as student_input_layernorm.weight
//
// The list travels in config.json's mla block ("student_copies"), so a trained folder loads back with the copies;
// the hf-mla export writes them under the teacher's names (the export has no teacher).
//
// LoRA adapters on the student's q_proj / o_proj (trainer/trainable.h attaches them for training): a trained folder
// records their shape in the mla block ("lora"), so loading attaches zero adapters for the file to fill.
#pragma once

#include <string>
#include <vector>

#include "model/mla/mla_config.h"
#include "model/text_model.h"

namespace mha2mla {

// The names a student copy may have, in canonical order.
const std::vector<std::string>& student_copy_names();

// Gives every layer's student a copy (a clone of the teacher's tensor) of each of `which`, unless it already holds
// one (a stage-1 copy carried into stage 2 stays as trained), and records them in `mla.student_copies` (canonical
// order, no duplicates). Throws Error naming an unknown entry.
void give_student_copies(TextModel& model, MlaConfig& mla, const std::vector<std::string>& which);

// Attaches zero adapters of `lora`'s shape to every student's targets (q_proj, o_proj) that has none. Throws Error
// naming an unknown target.
void give_student_adapters(TextModel& model, const MlaLora& lora);

}  // namespace mha2mla
