#include "trainer/evaluation.h"

#include <algorithm>
#include <cctype>

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/generation.h"
#include "trainer/losses.h"

namespace mha2mla {

void TeacherForcedSums::add(const TeacherForcedSums& other) {
  samples += other.samples;
  valid_tokens += other.valid_tokens;
  answer_tokens += other.answer_tokens;
  teacher_nll += other.teacher_nll;
  student_nll += other.student_nll;
  kl += other.kl;
  if (layer_error.empty()) {
    layer_error.assign(other.layer_error.size(), 0.0);
    layer_energy.assign(other.layer_energy.size(), 0.0);
  }
  MHA2MLA_CHECK(layer_error.size() == other.layer_error.size(), "adding sums of {} and {} layers", layer_error.size(),
                other.layer_error.size());
  for (size_t l = 0; l < layer_error.size(); ++l) {
    layer_error[l] += other.layer_error[l];
    layer_energy[l] += other.layer_energy[l];
  }
}

std::vector<double> TeacherForcedSums::pack() const {
  std::vector<double> out = {samples, valid_tokens, answer_tokens, teacher_nll, student_nll, kl};
  out.insert(out.end(), layer_error.begin(), layer_error.end());
  out.insert(out.end(), layer_energy.begin(), layer_energy.end());
  return out;
}

TeacherForcedSums TeacherForcedSums::unpack(const std::vector<double>& values, size_t layers) {
  MHA2MLA_CHECK(values.size() == 6 + 2 * layers, "{} packed values for {} layers", values.size(), layers);
  TeacherForcedSums s;
  s.samples = values[0];
  s.valid_tokens = values[1];
  s.answer_tokens = values[2];
  s.teacher_nll = values[3];
  s.student_nll = values[4];
  s.kl = values[5];
  s.layer_error.assign(values.begin() + 6, values.begin() + 6 + static_cast<std::ptrdiff_t>(layers));
  s.layer_energy.assign(values.begin() + 6 + static_cast<std::ptrdiff_t>(layers), values.end());
  return s;
}

TeacherForcedSums teacher_forced_sums(const EvalModels& models, const MultimodalBatch& batch, const at::Tensor& labels) {
  at::NoGradGuard no_grad;
  Model& teacher = *models.teacher;
  Model& student = *models.student;
  if (teacher.text->layers.size() != student.text->layers.size())
    fail("the teacher ({}) has {} layers but the student ({}) has {}", teacher.source, teacher.text->layers.size(),
         student.source, student.text->layers.size());
  const PreparedInputs teacher_in = teacher.prepare(batch);
  const PreparedInputs student_in = &teacher == &student ? teacher_in : student.prepare(batch);
  const int64_t B = teacher_in.embeddings.size(0), T = teacher_in.embeddings.size(1);
  const at::Tensor valid =
      batch.attention_mask.defined()
          ? batch.attention_mask.to(teacher_in.embeddings.device()).to(at::kBool)
          : at::ones({B, T}, at::TensorOptions().dtype(at::kBool).device(teacher_in.embeddings.device()));

  // Teacher: logits, and every layer's attention input and output.
  std::vector<at::Tensor> layer_inputs, layer_outputs;
  ForwardOptions teacher_options;
  teacher_options.path = AttentionPath::teacher;
  teacher_options.observer = [&](int64_t, const at::Tensor& x, const at::Tensor& o) {
    layer_inputs.push_back(x);
    layer_outputs.push_back(o);
  };
  const at::Tensor teacher_logits =
      teacher.text->logits(teacher.text->forward(teacher_in.embeddings, teacher_in.text, teacher_options));
  ForwardOptions student_options;
  student_options.path = AttentionPath::student;
  const at::Tensor student_logits =
      student.text->logits(student.text->forward(student_in.embeddings, student_in.text, student_options));

  TeacherForcedSums sums;
  sums.samples = static_cast<double>(B);
  sums.valid_tokens = valid.sum().item<double>();
  const at::Tensor targets = labels.to(teacher_logits.device());
  auto [teacher_nll, counted] = next_token_cross_entropy(teacher_logits, targets);
  auto student_nll = next_token_cross_entropy(student_logits, targets).first;
  sums.answer_tokens = counted.sum().item<double>();
  sums.teacher_nll = teacher_nll.to(at::kDouble).sum().item<double>();
  sums.student_nll = student_nll.to(at::kDouble).sum().item<double>();

  // KL(teacher || student) of the distributions that predict the answer tokens.
  const at::ScalarType accumulate = teacher_logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor log_t = at::log_softmax(teacher_logits.narrow(1, 0, T - 1).to(accumulate), -1);
  const at::Tensor log_s = at::log_softmax(student_logits.narrow(1, 0, T - 1).to(accumulate), -1);
  sums.kl = (log_t.exp() * (log_t - log_s)).sum(-1).masked_select(counted).to(at::kDouble).sum().item<double>();

  // Each student attention on the teacher's layer input, against the teacher's layer output.
  const AttentionInputs attention = student.text->attention_inputs(student_in.text, T, nullptr);
  for (size_t l = 0; l < student.text->layers.size(); ++l) {
    const at::Tensor o = student.text->layers[l].attention(AttentionPath::student).forward(layer_inputs[l], attention, nullptr);
    const at::Tensor reference = layer_outputs[l].to(accumulate);
    sums.layer_error.push_back(masked_squared_norm(o.to(accumulate) - reference, valid).item<double>());
    sums.layer_energy.push_back(masked_squared_norm(reference, valid).item<double>());
  }
  return sums;
}

data::Batch first_rows(const data::Batch& batch, int64_t rows) {
  MHA2MLA_CHECK(!batch.segments.defined(), "first_rows on a packed batch");
  if (rows >= batch.rows()) return batch;
  data::Batch out = batch;
  out.input_ids = batch.input_ids.narrow(0, 0, rows);
  out.labels = batch.labels.narrow(0, 0, rows);
  out.attention_mask = batch.attention_mask.narrow(0, 0, rows);
  out.samples.clear();
  int64_t images = 0;
  for (const data::BatchSample& sample : batch.samples)
    if (sample.row < rows) {
      out.samples.push_back(sample);
      images += sample.images;
    }
  const auto keep = static_cast<size_t>(images);
  out.pixel_values.resize(std::min(keep, out.pixel_values.size()));
  out.image_grid_thw.resize(std::min(keep, out.image_grid_thw.size()));
  out.image_sizes.resize(std::min(keep, out.image_sizes.size()));
  out.tokens = out.attention_mask.sum().item<int64_t>();
  out.supervised_tokens = (out.labels != -100).sum().item<int64_t>();
  return out;
}

std::vector<EvalPrompt> split_prompts(const data::Batch& batch, const data::PromptTokenizer& prompts,
                                      const at::Device& device) {
  MHA2MLA_CHECK(!batch.segments.defined(), "split_prompts on a packed batch");
  const at::Tensor ids = batch.input_ids.to(at::kCPU).to(at::kLong).contiguous();
  const at::Tensor labels = batch.labels.to(at::kCPU).to(at::kLong).contiguous();
  const at::Tensor lengths = batch.attention_mask.to(at::kCPU).to(at::kLong).sum(1);
  const data::ModelDataSpec& spec = prompts.spec();
  const int64_t image_token = spec.image_tokens.image_token_id;
  const int64_t T = ids.size(1);

  // The batch's images are in reading order: each sample's images follow the previous rows' ones.
  std::vector<data::BatchSample> samples = batch.samples;
  std::stable_sort(samples.begin(), samples.end(),
                   [](const data::BatchSample& a, const data::BatchSample& b) { return a.row < b.row; });
  std::vector<EvalPrompt> out;
  size_t next_image = 0;
  for (const data::BatchSample& sample : samples) {
    const int64_t* id = ids.data_ptr<int64_t>() + sample.row * T;
    const int64_t* label = labels.data_ptr<int64_t>() + sample.row * T;
    const int64_t length = lengths[sample.row].item<int64_t>();
    int64_t first = 0;
    while (first < length && label[first] == -100) ++first;
    MHA2MLA_CHECK(first < length, "held-out sample {} has no supervised token", sample.id);
    int64_t end = first;
    while (end < length && label[end] != -100) ++end;

    EvalPrompt p;
    p.id = sample.id;
    p.reference.assign(id + first, id + end);
    p.reference_complete = !p.reference.empty() && p.reference.back() == prompts.end_of_turn_id();
    if (p.reference_complete) p.reference.pop_back();
    p.prompt.input_ids = ids[sample.row].narrow(0, 0, first).unsqueeze(0).to(device);
    p.prompt.attention_mask = at::ones({1, first}, at::TensorOptions().dtype(at::kLong).device(device));

    // The images whose tokens lie in the prompt: the sample's first ones, until their features fill them.
    int64_t prompt_image_tokens = 0;
    for (int64_t t = 0; t < first; ++t) prompt_image_tokens += image_token >= 0 && id[t] == image_token;
    int64_t filled = 0;
    for (size_t k = 0; filled < prompt_image_tokens; ++k) {
      MHA2MLA_CHECK(k < static_cast<size_t>(sample.images), "sample {}: {} image tokens in the prompt, {} filled by its {} images",
                    sample.id, prompt_image_tokens, filled, sample.images);
      const size_t index = next_image + k;
      const std::vector<int64_t> grid = index < batch.image_grid_thw.size() ? batch.image_grid_thw[index] : std::vector<int64_t>{};
      const std::pair<int64_t, int64_t> size = index < batch.image_sizes.size() ? batch.image_sizes[index] : std::pair<int64_t, int64_t>{};
      filled += data::image_feature_count(spec, grid, size);
      p.prompt.pixel_values.push_back(batch.pixel_values.at(index).to(device));
      if (!grid.empty()) p.prompt.image_grid_thw.push_back(grid);
      if (index < batch.image_sizes.size()) p.prompt.image_sizes.push_back(size);
    }
    MHA2MLA_CHECK(filled == prompt_image_tokens, "sample {}: images fill {} tokens, the prompt has {}", sample.id, filled,
                  prompt_image_tokens);
    next_image += static_cast<size_t>(sample.images);
    out.push_back(std::move(p));
  }
  return out;
}

GeneratedAnswer generate_answer(Model& model, AttentionPath path, const MultimodalBatch& prompt, int64_t max_new_tokens,
                                int64_t end_of_turn_id, const LatentCacheOptions& cache) {
  at::NoGradGuard no_grad;
  const PreparedInputs inputs = model.prepare(prompt);
  GreedyRequest request;
  request.prompt_embeddings = inputs.embeddings;
  request.prompt = inputs.text;
  request.max_new_tokens = max_new_tokens;
  request.eos_token_id = end_of_turn_id;
  request.path = path;
  if (path == AttentionPath::student) request.cache_options = cache;
  const GreedyResult result = generate_greedy(*model.text, request);

  GeneratedAnswer answer;
  const at::Tensor tokens = result.tokens[0].to(at::kCPU).to(at::kLong).contiguous();
  const int64_t* t = tokens.data_ptr<int64_t>();
  for (int64_t i = 0; i < tokens.numel(); ++i) {
    ++answer.generated;
    if (t[i] == end_of_turn_id) {
      answer.finished = true;
      break;
    }
    answer.tokens.push_back(static_cast<int32_t>(t[i]));
  }
  answer.prompt_tokens = inputs.embeddings.size(1);
  answer.cache_bytes = result.cache_bytes;
  answer.cached_tokens = answer.prompt_tokens + answer.generated - 1;  // the last token is never fed back
  answer.prefill_seconds = result.prefill_seconds;
  answer.decode_seconds = result.decode_seconds;
  return answer;
}

std::string normalize_whitespace(const std::string& text) {
  std::string out;
  bool pending_space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

}  // namespace mha2mla
