#include "trainer/cli/eval_checkpoints.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"

namespace mha2mla::cli {

std::string student_checkpoint(const Recipe& recipe) {
  if (!recipe.eval.student.empty()) {
    require_existing_path(recipe, "eval.student", recipe.eval.student);
    return recipe.eval.student;
  }
  const std::string trained = recipe.output_path(recipe.train.output);
  if (file_exists(path_join(trained, "config.json"))) return trained;
  const std::string converted = recipe.output_path(recipe.convert.output);
  if (!directory_exists(converted))
    fail_with_hint("run `mha2mla convert` (and `mha2mla train`) first, or set eval.student to a converted folder",
                   "{}: no student checkpoint: eval.student is not set, and neither train.output ('{}') nor "
                   "convert.output ('{}') exists",
                   recipe.source.empty() ? "recipe" : recipe.source, trained, converted);
  return converted;
}

EvalCheckpoints load_eval_checkpoints(const Recipe& recipe) {
  const ModelLoadOptions options{parse_dtype(recipe.model.dtype), recipe.model.device};
  EvalCheckpoints c;
  c.student_folder = student_checkpoint(recipe);
  c.student = load_model(c.student_folder, options);
  if (!c.student->mla)
    fail_with_hint("point eval.student at the output of `mha2mla convert`, `mha2mla train` or an hf-mla export",
                   "{}: the student checkpoint is not converted to MLA (its config.json has no mla block)",
                   c.student_folder);
  if (!c.student->mla->student_only) {
    c.teacher_folder = c.student_folder;
    return c;
  }
  // An export: the teacher is the original model.
  require_existing_path(recipe, "model.path", recipe.model.path);
  c.teacher_folder = recipe.model.path;
  c.separate_teacher = load_model(recipe.model.path, options);
  if (c.separate_teacher->text->layers.size() != c.student->text->layers.size() ||
      c.separate_teacher->text->config().vocab_size != c.student->text->config().vocab_size)
    fail("the teacher {} ({} layers, vocabulary {}) does not match the student {} ({} layers, vocabulary {})",
         recipe.model.path, c.separate_teacher->text->layers.size(), c.separate_teacher->text->config().vocab_size,
         c.student_folder, c.student->text->layers.size(), c.student->text->config().vocab_size);
  return c;
}

}  // namespace mha2mla::cli
