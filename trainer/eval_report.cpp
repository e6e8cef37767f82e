#include "trainer/eval_report.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/mla/latent_kv_cache.h"

namespace mha2mla {
namespace {

using json = nlohmann::json;

double ratio(double a, double b) { return b > 0 ? a / b : std::numeric_limits<double>::quiet_NaN(); }

json generation_json(const GenerationTotals& g) {
  const double seconds = g.prefill_seconds + g.decode_seconds;
  return {{"prompts", g.prompts},
          {"generated_tokens", g.generated_tokens},
          {"prefill_seconds", g.prefill_seconds},
          {"decode_seconds", g.decode_seconds},
          {"tokens_per_second", ratio(static_cast<double>(g.generated_tokens), seconds)},
          {"decode_tokens_per_second", ratio(static_cast<double>(g.generated_tokens), g.decode_seconds)}};
}

json kv_json(const KvBytesPerToken& kv) {
  return {{"element_bytes", kv.element_bytes},
          {"teacher_bytes_per_token", kv.teacher},
          {"student_bytes_per_token", kv.student},
          {"student_unquantized_bytes_per_token", kv.student_unquantized},
          {"student_over_teacher", ratio(kv.student, kv.teacher)}};
}

json totals_json(const GenerationTotals& g) {
  return {g.prompts, g.generated_tokens, g.cache_bytes, g.cached_tokens, g.prefill_seconds, g.decode_seconds};
}

GenerationTotals totals_from(const json& j) {
  GenerationTotals g;
  g.prompts = j.at(0).get<int64_t>();
  g.generated_tokens = j.at(1).get<int64_t>();
  g.cache_bytes = j.at(2).get<int64_t>();
  g.cached_tokens = j.at(3).get<int64_t>();
  g.prefill_seconds = j.at(4).get<double>();
  g.decode_seconds = j.at(5).get<double>();
  return g;
}

std::string percent(int64_t part, int64_t whole) {
  return whole > 0 ? fmt::format("{}/{} ({:.1f}%)", part, whole, 100.0 * static_cast<double>(part) / static_cast<double>(whole))
                   : std::string("-");
}

std::string number(double x, const char* format = "{:.4f}") {
  return std::isnan(x) ? std::string("-") : fmt::format(fmt::runtime(format), x);
}

}  // namespace

void GenerationTotals::add(const GeneratedAnswer& answer) {
  ++prompts;
  generated_tokens += answer.generated;
  cache_bytes += answer.cache_bytes;
  cached_tokens += answer.cached_tokens;
  prefill_seconds += answer.prefill_seconds;
  decode_seconds += answer.decode_seconds;
}

void GenerationTotals::add(const GenerationTotals& other) {
  prompts += other.prompts;
  generated_tokens += other.generated_tokens;
  cache_bytes += other.cache_bytes;
  cached_tokens += other.cached_tokens;
  prefill_seconds += other.prefill_seconds;
  decode_seconds += other.decode_seconds;
}

KvBytesPerToken kv_bytes_per_token(const Model& student, const LatentCacheOptions& cache, int64_t element_bytes) {
  MHA2MLA_CHECK(student.mla.has_value(), "KV bytes of an unconverted student");
  const DecoderConfig& decoder = student.text->config();
  const std::vector<MlaLayerLayout> layouts = student.mla->layouts(decoder);
  KvBytesPerToken kv;
  kv.element_bytes = element_bytes;
  kv.teacher = teacher_kv_bytes_per_token(decoder, element_bytes);
  if (student.mla->partial_rope_only) {
    // Stage 1 caches its whole layer input: no latent size to quote (the measured bytes still are).
    kv.student = kv.student_unquantized = std::numeric_limits<double>::quiet_NaN();
  } else {
    kv.student = latent_cache_bytes_per_token(layouts, cache, element_bytes);
    kv.student_unquantized = mla_kv_bytes_per_token(layouts, element_bytes);
  }
  return kv;
}

ExactMatch count_exact_matches(const std::vector<AnswerRecord>& answers) {
  ExactMatch m;
  for (const AnswerRecord& a : answers) {
    if (!a.scored) continue;
    const std::string reference = normalize_whitespace(a.reference);
    const std::string teacher = normalize_whitespace(a.teacher), student = normalize_whitespace(a.student);
    ++m.scored;
    m.student += student == reference;
    m.teacher += teacher == reference;
    m.agreement += student == teacher;
  }
  return m;
}

json eval_report_json(const EvalReport& r) {
  const TeacherForcedSums& s = r.sums;
  const ExactMatch m = count_exact_matches(r.answers);
  const auto scored = static_cast<double>(m.scored);
  auto rate = [&](int64_t n) { return ratio(static_cast<double>(n), scored); };
  const double teacher_ce = ratio(s.teacher_nll, s.answer_tokens), student_ce = ratio(s.student_nll, s.answer_tokens);

  json layers = json::array();
  double mean_error = 0;
  for (size_t l = 0; l < s.layer_error.size(); ++l) {
    layers.push_back(ratio(s.layer_error[l], s.layer_energy[l]));
    mean_error += layers.back().get<double>() / static_cast<double>(s.layer_error.size());
  }
  json answers = json::array();
  for (const AnswerRecord& a : r.answers) {
    const std::string reference = normalize_whitespace(a.reference);
    answers.push_back({{"id", a.id},
                       {"reference", a.reference},
                       {"teacher", a.teacher},
                       {"student", a.student},
                       {"scored", a.scored},
                       {"teacher_correct", a.scored && normalize_whitespace(a.teacher) == reference},
                       {"student_correct", a.scored && normalize_whitespace(a.student) == reference},
                       {"agree", normalize_whitespace(a.teacher) == normalize_whitespace(a.student)}});
  }
  const double measured_teacher = ratio(static_cast<double>(r.teacher_generation.cache_bytes),
                                        static_cast<double>(r.teacher_generation.cached_tokens));
  const double measured_student = ratio(static_cast<double>(r.student_generation.cache_bytes),
                                        static_cast<double>(r.student_generation.cached_tokens));
  return {
      {"task_accuracy", {{"student", rate(m.student)}, {"teacher", rate(m.teacher)}}},
      {"checkpoints", {{"student", r.student_checkpoint}, {"teacher", r.teacher_checkpoint}}},
      {"dtype", r.dtype},
      {"samples", static_cast<int64_t>(s.samples)},
      {"valid_tokens", static_cast<int64_t>(s.valid_tokens)},
      {"answer_tokens", static_cast<int64_t>(s.answer_tokens)},
      {"teacher", {{"ce", teacher_ce}, {"perplexity", std::exp(teacher_ce)}}},
      {"student", {{"ce", student_ce}, {"perplexity", std::exp(student_ce)}}},
      {"kl_teacher_student", ratio(s.kl, s.answer_tokens)},
      {"activation_error", {{"mean", s.layer_error.empty() ? std::numeric_limits<double>::quiet_NaN() : mean_error},
                            {"layers", layers}}},
      {"exact_match",
       {{"scored", m.scored},
        {"unscored", static_cast<int64_t>(r.answers.size()) - m.scored},
        {"max_new_tokens", r.max_new_tokens},
        {"student_correct", m.student},
        {"teacher_correct", m.teacher},
        {"agreements", m.agreement},
        {"student", rate(m.student)},
        {"teacher", rate(m.teacher)},
        {"student_teacher_agreement", rate(m.agreement)}}},
      {"kv_cache",
       {{"quantization", to_string(r.cache.quantization)},
        {"group_size", r.cache.group_size},
        {"model_dtype", kv_json(r.kv_model_dtype)},
        {"bfloat16", kv_json(r.kv_bf16)},
        {"measured_bytes_per_token", {{"teacher", measured_teacher}, {"student", measured_student}}}}},
      {"generation",
       {{"max_new_tokens", r.max_new_tokens},
        {"teacher", generation_json(r.teacher_generation)},
        {"student", generation_json(r.student_generation)}}},
      {"answers", answers}};
}

std::string format_eval_table(const EvalReport& r) {
  const json j = eval_report_json(r);
  const ExactMatch m = count_exact_matches(r.answers);
  auto value = [](const json& x) { return x.is_number() ? x.get<double>() : std::numeric_limits<double>::quiet_NaN(); };
  auto row = [](const std::string& name, const std::string& teacher, const std::string& student) {
    return fmt::format("{:<34} {:>18} {:>18}\n", name, teacher, student);
  };
  std::string out = fmt::format("{} held-out samples, {} answer tokens; student {} vs teacher {}\n",
                                j["samples"].get<int64_t>(), j["answer_tokens"].get<int64_t>(), r.student_checkpoint,
                                r.teacher_checkpoint);
  out += row("", "teacher", "student");
  out += row("task accuracy (exact match)", percent(m.teacher, m.scored), percent(m.student, m.scored));
  out += row("answer CE (nats/token)", number(value(j["teacher"]["ce"])), number(value(j["student"]["ce"])));
  out += row("answer perplexity", number(value(j["teacher"]["perplexity"]), "{:.3f}"),
             number(value(j["student"]["perplexity"]), "{:.3f}"));
  out += row("decode tokens/s", number(value(j["generation"]["teacher"]["decode_tokens_per_second"]), "{:.1f}"),
             number(value(j["generation"]["student"]["decode_tokens_per_second"]), "{:.1f}"));
  const std::string quantization = to_string(r.cache.quantization);
  for (const char* key : {"model_dtype", "bfloat16"}) {
    const json& kv = j["kv_cache"][key];
    out += row(fmt::format("KV bytes/token ({}-byte elements{})", kv["element_bytes"].get<int64_t>(),
                           quantization == "none" ? "" : ", " + quantization),
               number(value(kv["teacher_bytes_per_token"]), "{:.1f}"), number(value(kv["student_bytes_per_token"]), "{:.2f}"));
  }
  out += row("KV bytes/token measured", number(value(j["kv_cache"]["measured_bytes_per_token"]["teacher"]), "{:.1f}"),
             number(value(j["kv_cache"]["measured_bytes_per_token"]["student"]), "{:.2f}"));
  out += fmt::format("KL(teacher || student) on answer tokens: {} nats/token; student-teacher agreement {}\n",
                     number(value(j["kl_teacher_student"]), "{:.5f}"), percent(m.agreement, m.scored));
  std::vector<std::string> layers;
  for (const json& e : j["activation_error"]["layers"]) layers.push_back(number(value(e), "{:.4f}"));
  out += fmt::format("activation error per layer (teacher-forced): {} (mean {})", fmt::join(layers, " "),
                     number(value(j["activation_error"]["mean"])));
  if (static_cast<int64_t>(r.answers.size()) > m.scored)
    out += fmt::format("\n{} answer(s) cut by data.max_length were not scored", static_cast<int64_t>(r.answers.size()) - m.scored);
  return out;
}

std::string serialize_answers(const std::vector<AnswerRecord>& answers, const GenerationTotals& teacher,
                              const GenerationTotals& student) {
  json list = json::array();
  for (const AnswerRecord& a : answers) list.push_back({a.id, a.reference, a.teacher, a.student, a.scored});
  return json{{"answers", list}, {"teacher", totals_json(teacher)}, {"student", totals_json(student)}}
      .dump(-1, ' ', false, json::error_handler_t::replace);  // a random model may decode to broken UTF-8
}

void merge_serialized_answers(const std::string& text, std::vector<AnswerRecord>& answers, GenerationTotals& teacher,
                              GenerationTotals& student) {
  const json j = json::parse(text);
  for (const json& a : j.at("answers"))
    answers.push_back({a.at(0).get<std::string>(), a.at(1).get<std::string>(), a.at(2).get<std::string>(),
                       a.at(3).get<std::string>(), a.at(4).get<bool>()});
  teacher.add(totals_from(j.at("teacher")));
  student.add(totals_from(j.at("student")));
}

}  // namespace mha2mla
