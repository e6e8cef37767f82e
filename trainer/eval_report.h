// What `mha2mla eval` reports: the totals of trainer/evaluation.h over the evaluated samples, turned into the JSON
// file (docs/user-guide.md describes every key) and the table in the log. The headline is the task accuracy: the
// student's exact-match rate of greedy answers against the reference answers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/kv_cache.h"
#include "model/model.h"
#include "trainer/evaluation.h"

namespace mha2mla {

// Decoding totals of one side over all prompts.
struct GenerationTotals {
  int64_t prompts = 0;
  int64_t generated_tokens = 0;   // end-of-turn tokens included
  int64_t cache_bytes = 0;        // summed over prompts, as held at the end of each
  int64_t cached_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;

  void add(const GeneratedAnswer& answer);
  void add(const GenerationTotals& other);
};

struct AnswerRecord {
  std::string id;
  std::string reference, teacher, student;  // decoded text (not normalised)
  bool scored = true;                       // false: the reference was cut by truncation
};

// KV-cache bytes per token over all layers (modality bits as 1/8 byte per layer).
struct KvBytesPerToken {
  int64_t element_bytes = 0;
  double teacher = 0;               // 2 * kv_heads * head_dim elements per layer
  double student = 0;               // the latent cache as stored (quantised when asked); NaN for stage-1 checkpoints
  double student_unquantized = 0;   // kv_heads * (rope_dims + latent_rank) elements per layer
};

KvBytesPerToken kv_bytes_per_token(const Model& student, const LatentCacheOptions& cache, int64_t element_bytes);

struct EvalReport {
  std::string student_checkpoint, teacher_checkpoint;
  std::string dtype;                  // model.dtype the models ran in
  LatentCacheOptions cache;
  int64_t max_new_tokens = 0;
  TeacherForcedSums sums;
  std::vector<AnswerRecord> answers;
  GenerationTotals teacher_generation, student_generation;
  KvBytesPerToken kv_model_dtype, kv_bf16;
};

struct ExactMatch {
  int64_t scored = 0, student = 0, teacher = 0, agreement = 0;
};
ExactMatch count_exact_matches(const std::vector<AnswerRecord>& answers);

nlohmann::json eval_report_json(const EvalReport& report);
std::string format_eval_table(const EvalReport& report);

// Answers and decoding totals as text, to gather them from every rank.
std::string serialize_answers(const std::vector<AnswerRecord>& answers, const GenerationTotals& teacher,
                              const GenerationTotals& student);
void merge_serialized_answers(const std::string& text, std::vector<AnswerRecord>& answers, GenerationTotals& teacher,
                              GenerationTotals& student);

}  // namespace mha2mla
