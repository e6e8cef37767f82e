// The checkpoints `mha2mla eval` and `mha2mla generate` compare. The student is eval.student, else train.output
// once training wrote it, else convert.output. A converted or trained folder also holds the teacher's tensors and
// serves as both; an hf-mla export holds only the student, and the teacher is then the original model.path.
#pragma once

#include <memory>
#include <string>

#include "model/model.h"
#include "trainer/recipe.h"

namespace mha2mla::cli {

// The student folder (throws Error naming the recipe key when it does not exist).
std::string student_checkpoint(const Recipe& recipe);

struct EvalCheckpoints {
  std::string student_folder, teacher_folder;
  std::unique_ptr<Model> student;
  std::unique_ptr<Model> separate_teacher;  // null when the student folder holds the teacher too

  Model& teacher() { return separate_teacher ? *separate_teacher : *student; }
};

// Loads the student (it must be converted) and its teacher, in model.dtype on model.device.
EvalCheckpoints load_eval_checkpoints(const Recipe& recipe);

}  // namespace mha2mla::cli
