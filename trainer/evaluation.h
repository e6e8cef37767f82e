// The measurements of `mha2mla eval` (teacher vs converted student on held-out SFT samples), as pieces that
// add up over batches and data-parallel ranks:
//
//   teacher_forced_sums   one forward pass each over a batch: next-token NLL of both models on the answer
//                         (supervised) tokens, KL(teacher || student) of their next-token distributions on the same
//                         positions, and per layer the student attention's error on the teacher's layer input
//                         (training's local mode), as sums so that ratios over the whole set are exact.
//   split_prompts         a held-out batch cut into one prompt per sample (the tokens before its first supervised
//                         token, with the images they hold) and the reference answer (the first answer's tokens).
//   generate_answer       greedy decoding of one prompt with the model's cache (latent for the student), stopping at
//                         the template's end-of-turn token.
// trainer/eval_report.h turns the totals into the JSON report and the log table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/batch.h"
#include "data/generation_prompt.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace mha2mla {

// The two sides. A converted (or trained) folder holds both, so teacher and student may be the same Model; an
// hf-mla export holds only the student, and the teacher is the original checkpoint.
struct EvalModels {
  Model* teacher = nullptr;  // evaluated on AttentionPath::teacher
  Model* student = nullptr;  // evaluated on AttentionPath::student
};

// Sums over a set of samples. "Answer positions" are the positions whose next label is supervised (each predicts
// one answer token, end-of-turn tokens included); "valid tokens" are all non-padding tokens.
struct TeacherForcedSums {
  double samples = 0;
  double valid_tokens = 0;
  double answer_tokens = 0;
  double teacher_nll = 0;   // sum of -log p_teacher(answer token)
  double student_nll = 0;
  double kl = 0;            // sum of KL(teacher || student) at answer positions (nats)
  std::vector<double> layer_error;   // per layer: sum over valid tokens of ||o_S - o_T||^2
  std::vector<double> layer_energy;  // per layer: sum over valid tokens of ||o_T||^2

  void add(const TeacherForcedSums& other);
  // As one flat vector (for a sum across ranks) and back; `layers` sizes the per-layer parts.
  std::vector<double> pack() const;
  static TeacherForcedSums unpack(const std::vector<double>& values, size_t layers);
};

// One batch (right-padded, no packing) with its labels [B, T] (-100 = not supervised).
TeacherForcedSums teacher_forced_sums(const EvalModels& models, const MultimodalBatch& batch, const at::Tensor& labels);

struct EvalPrompt {
  std::string id;
  MultimodalBatch prompt;            // one row: the tokens before the first supervised token, and its images
  std::vector<int32_t> reference;    // the first answer's tokens, without its end-of-turn token
  bool reference_complete = true;    // false when truncation cut the answer short (such samples are not scored)
};

// One prompt per row of an unpacked batch, on `device`.
std::vector<EvalPrompt> split_prompts(const data::Batch& batch, const data::PromptTokenizer& prompts,
                                      const at::Device& device);

// The first `rows` rows of an unpacked batch, with their images (to cap a sample count).
data::Batch first_rows(const data::Batch& batch, int64_t rows);

struct GeneratedAnswer {
  std::vector<int32_t> tokens;  // the answer, without the end-of-turn token
  bool finished = false;        // ended with the end-of-turn token (else max_new_tokens was reached)
  int64_t generated = 0;        // tokens produced, the end-of-turn token included
  int64_t prompt_tokens = 0;
  int64_t cache_bytes = 0;      // what the cache held at the end
  int64_t cached_tokens = 0;    // tokens it held: the prompt and every generated token fed back
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Greedy decoding of a one-row prompt on `path` with the model's decoding cache (`cache` sets the student's
// latent storage; the teacher's cache takes none).
GeneratedAnswer generate_answer(Model& model, AttentionPath path, const MultimodalBatch& prompt, int64_t max_new_tokens,
                                int64_t end_of_turn_id, const LatentCacheOptions& cache = {});

// Runs of whitespace become one space; leading and trailing whitespace go.
std::string normalize_whitespace(const std::string& text);

}  // namespace mha2mla
