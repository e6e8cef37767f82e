// Evaluation (trainer/evaluation.h, `mha2mla eval` / `mha2mla generate`) on a tiny Qwen2.5-VL with make-data
// samples: the metrics against independent computations, prompts against the dataset file, a full-rank student
// that must agree with its teacher, the latent cache's answers against the decompressed no-cache decode, the
// (quantised) latent cache's bytes against the closed form, an hf-mla export that must reproduce the in-memory
// student exactly, and `mha2mla generate` against a direct no-cache generate_greedy call and the cache formula.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <regex>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "data/data_pipeline.h"
#include "data/image/image_decode.h"
#include "data/synthetic/make_data.h"
#include "data/tokenizer/tiny_tokenizer.h"
#include "model/convert/converter.h"
#include "model/export/export.h"
#include "model/generation.h"
#include "model/mla/latent_kv_cache.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"
#include "trainer/cli/eval_checkpoints.h"
#include "trainer/eval_report.h"
#include "trainer/evaluation.h"
#include "trainer/losses.h"
#include "trainer/model_batch.h"
#include "trainer/recipe.h"

namespace mha2mla {
namespace {

using json = nlohmann::json;

struct Workspace {
  std::string dir, original, data_file;
};

// A tiny Qwen2.5-VL checkpoint with its tokenizer (as make-tiny writes it) and a make-data llava_json dataset.
Workspace make_workspace(int64_t samples = 10) {
  Workspace w;
  w.dir = testing::scratch_dir();
  w.original = path_join(w.dir, "original");
  const std::string arch = "qwen2_5_vl";
  tokenizer::TinyTokenizerInfo vocabulary = tokenizer::write_tiny_tokenizer(
      tokenizer::tiny_tokenizer_family_for_arch(arch), tiny_tokenizer_target(arch), w.original);
  TinyModelOptions tiny;
  tiny.arch = arch;
  tiny.out = w.original;
  tiny.seed = 7;
  tiny.vocab_size = std::max(kTinyVocabularyTarget, vocabulary.id_limit);
  tiny.bos_token_id = vocabulary.bos_id;
  tiny.eos_token_id = vocabulary.eos_id;
  tiny.pad_token_id = vocabulary.pad_id;
  make_tiny_model(tiny);
  data::MakeDataOptions data;
  data.out = path_join(w.dir, "data");
  data.samples = samples;
  data.seed = 11;
  make_synthetic_dataset(data);
  w.data_file = path_join(data.out, "data.json");
  return w;
}

DataConfig data_config(const std::string& file, int64_t held_out) {
  DataConfig config;
  DatasetConfig dataset;
  dataset.path = file;
  config.datasets = {dataset};
  config.held_out = held_out;
  config.batch_size = 2;
  config.workers = 0;
  config.shuffle_buffer = 0;
  return config;
}

std::vector<data::Batch> held_out_batches(const DataConfig& config, const std::string& model_folder) {
  data::PipelineOptions options;
  options.split = data::StreamSplit::kHeldOut;
  auto pipeline = data::open_data_pipeline(config, model_folder, options);
  std::vector<data::Batch> batches;
  while (auto batch = pipeline->next()) batches.push_back(*batch);
  return batches;
}

std::unique_ptr<Model> converted(const std::string& folder, int64_t rope_dims, int64_t latent_rank,
                                 at::ScalarType dtype = at::kFloat) {
  auto model = load_model(folder, ModelLoadOptions{dtype});
  ConversionOptions options;
  options.rope_dims = rope_dims;
  options.latent_rank = latent_rank;
  options.strategy = "uniform";
  options.init = "svd";
  convert_to_mla(*model, options, nullptr);
  return model;
}

TEST(Evaluation, TeacherForcedMetricsMatchAnIndependentComputation) {
  Workspace w = make_workspace();
  auto model = converted(w.original, 8, 8);
  TrainConfig train;
  for (const data::Batch& batch : held_out_batches(data_config(w.data_file, 4), w.original)) {
    const MultimodalBatch inputs = to_model_batch(batch, at::kCPU);
    const TeacherForcedSums sums = teacher_forced_sums({model.get(), model.get()}, inputs, batch.labels);

    // Cross-entropy and KL position by position in double precision from the two paths' logits.
    at::NoGradGuard no_grad;
    const PreparedInputs prepared = model->prepare(inputs);
    auto logits = [&](AttentionPath path) {
      ForwardOptions options;
      options.path = path;
      return model->text->logits(model->text->forward(prepared.embeddings, prepared.text, options)).to(at::kDouble);
    };
    const at::Tensor teacher = logits(AttentionPath::teacher), student = logits(AttentionPath::student);
    double teacher_nll = 0, student_nll = 0, kl = 0, answer_tokens = 0;
    for (int64_t b = 0; b < batch.labels.size(0); ++b)
      for (int64_t t = 0; t + 1 < batch.labels.size(1); ++t) {
        const int64_t label = batch.labels[b][t + 1].item<int64_t>();
        if (label == -100) continue;
        const at::Tensor lt = teacher[b][t], ls = student[b][t];
        const double zt = at::logsumexp(lt, 0).item<double>(), zs = at::logsumexp(ls, 0).item<double>();
        teacher_nll += zt - lt[label].item<double>();
        student_nll += zs - ls[label].item<double>();
        const at::Tensor log_pt = lt - zt, log_ps = ls - zs;
        kl += (log_pt.exp() * (log_pt - log_ps)).sum().item<double>();
        answer_tokens += 1;
      }
    ASSERT_GT(answer_tokens, 0);
    EXPECT_EQ(sums.answer_tokens, answer_tokens);
    EXPECT_EQ(sums.samples, static_cast<double>(batch.rows()));
    EXPECT_NEAR(sums.teacher_nll, teacher_nll, 1e-5 * teacher_nll);
    EXPECT_NEAR(sums.student_nll, student_nll, 1e-5 * student_nll);
    EXPECT_NEAR(sums.kl, kl, 1e-4 * kl + 1e-7);
    EXPECT_GT(sums.kl, 0) << "an 8-rank student differs from its teacher";

    // The layer errors of one batch are the training code's evaluation numbers.
    const LossValues reference = evaluate_losses(*model, prepared, batch.labels, train);
    ASSERT_EQ(reference.layer_activation_error.size(), sums.layer_error.size());
    for (size_t l = 0; l < sums.layer_error.size(); ++l)
      EXPECT_NEAR(sums.layer_error[l] / sums.layer_energy[l], reference.layer_activation_error[l],
                  1e-5 * reference.layer_activation_error[l]);
  }
}

// The llava_json record with `id`: its first user turn and its images' paths, and its first answer.
struct RawSample {
  std::string first_user, first_answer;
  std::vector<std::string> images;
};

RawSample raw_sample(const json& records, const std::string& folder, const std::string& id) {
  for (const json& r : records) {
    if (r["id"] != id) continue;
    RawSample s;
    s.first_user = r["conversations"][0]["value"];
    s.first_answer = r["conversations"][1]["value"];
    std::vector<std::string> names;
    if (r.contains("image")) {
      if (r["image"].is_string()) names.push_back(r["image"]);
      else for (const json& name : r["image"]) names.push_back(name);
    }
    const size_t in_first_turn = data::count_image_placeholders(s.first_user);
    for (size_t i = 0; i < in_first_turn; ++i) s.images.push_back(path_join(folder, names[i]));
    return s;
  }
  ADD_FAILURE() << "no record " << id;
  return {};
}

TEST(Evaluation, PromptsAndReferencesAreTheDatasetsFirstTurn) {
  Workspace w = make_workspace(24);
  // One more record whose second user turn brings a second image: the prompt must hold only the first.
  json records = json::parse(read_file(w.data_file));
  json two_turns = records[0];
  std::vector<std::string> images;
  for (const json& r : records)
    if (r.contains("image") && r["image"].is_string()) images.push_back(r["image"]);
  ASSERT_GE(images.size(), 2u);
  two_turns["id"] = "late-image";
  two_turns["image"] = {images[0], images[1]};
  two_turns["conversations"] = {{{"from", "human"}, {"value", "<image>\nWhat is the first shape?"}},
                                {{"from", "gpt"}, {"value", "  A  red   square. "}},
                                {{"from", "human"}, {"value", "<image>\nAnd here?"}},
                                {{"from", "gpt"}, {"value", "A circle."}}};
  records.insert(records.begin(), two_turns);
  testing::write_text(w.data_file, records.dump(1));

  const data::PromptTokenizer prompts(w.original);
  int64_t two_image_prompts = 0, late_image = 0, checked = 0;
  for (const data::Batch& batch : held_out_batches(data_config(w.data_file, 25), w.original)) {
    for (const EvalPrompt& p : split_prompts(batch, prompts, at::kCPU)) {
      const RawSample raw = raw_sample(records, parent_directory(w.data_file), p.id);
      std::vector<image::RgbImage> decoded;
      for (const std::string& file : raw.images) decoded.push_back(image::read_image_file(file));
      const data::GenerationPrompt expected = prompts.tokenize({{data::Role::kUser, raw.first_user}}, decoded);
      const at::Tensor ids = p.prompt.input_ids[0];
      ASSERT_EQ(ids.numel(), static_cast<int64_t>(expected.input_ids.size())) << p.id;
      for (int64_t t = 0; t < ids.numel(); ++t) ASSERT_EQ(ids[t].item<int64_t>(), expected.input_ids[static_cast<size_t>(t)]) << p.id;
      ASSERT_EQ(p.prompt.pixel_values.size(), expected.images.size()) << p.id;
      for (size_t i = 0; i < expected.images.size(); ++i) {
        EXPECT_TRUE(at::equal(p.prompt.pixel_values[i], expected.images[i].pixel_values)) << p.id;
        EXPECT_EQ(p.prompt.image_grid_thw[i], expected.images[i].grid_thw) << p.id;
      }
      EXPECT_TRUE(p.reference_complete);
      EXPECT_EQ(normalize_whitespace(prompts.decode(p.reference)), normalize_whitespace(raw.first_answer)) << p.id;
      two_image_prompts += expected.images.size() == 2;
      late_image += p.id == "late-image";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 25);
  EXPECT_GT(two_image_prompts, 0) << "make-data writes some two-image samples";
  EXPECT_EQ(late_image, 1);
}

TEST(Evaluation, AFullRankStudentAgreesWithItsTeacher) {
  // r = head_dim keeps RoPE on every dim, and a latent of kv_heads * head_dim holds W_v exactly: student = teacher.
  // In float64 the student is the teacher up to rounding far below any real difference: KL 0, layer errors 0.
  Workspace w = make_workspace();
  auto model = converted(w.original, 32, 32, at::kDouble);
  const data::PromptTokenizer prompts(w.original);
  std::vector<AnswerRecord> answers;
  TeacherForcedSums sums;
  for (const data::Batch& batch : held_out_batches(data_config(w.data_file, 6), w.original)) {
    sums.add(teacher_forced_sums({model.get(), model.get()}, to_model_batch(batch, at::kCPU), batch.labels));
    for (const EvalPrompt& p : split_prompts(batch, prompts, at::kCPU)) {
      const GeneratedAnswer teacher = generate_answer(*model, AttentionPath::teacher, p.prompt, 8, prompts.end_of_turn_id());
      const GeneratedAnswer student = generate_answer(*model, AttentionPath::student, p.prompt, 8, prompts.end_of_turn_id());
      EXPECT_EQ(teacher.tokens, student.tokens) << p.id;
      EXPECT_GT(teacher.generated, 0);
      answers.push_back({p.id, prompts.decode(p.reference), prompts.decode(teacher.tokens), prompts.decode(student.tokens),
                         true});
    }
  }
  const ExactMatch m = count_exact_matches(answers);
  EXPECT_EQ(m.scored, 6);
  EXPECT_EQ(m.agreement, 6);
  EXPECT_EQ(m.student, m.teacher);
  EXPECT_LT(std::abs(sums.kl) / sums.answer_tokens, 1e-12);
  EXPECT_NEAR(sums.student_nll, sums.teacher_nll, 1e-10 * sums.teacher_nll);
  for (size_t l = 0; l < sums.layer_error.size(); ++l) EXPECT_LT(sums.layer_error[l] / sums.layer_energy[l], 1e-20);

  // The report of these totals: KL 0, layer errors 0, student-teacher agreement 1, equal CEs.
  EvalReport report;
  report.sums = sums;
  report.answers = answers;
  const json j = eval_report_json(report);
  EXPECT_EQ(j["exact_match"]["student_teacher_agreement"].get<double>(), 1.0);
  EXPECT_EQ(j["exact_match"]["student"], j["exact_match"]["teacher"]);
  EXPECT_LT(std::abs(j["kl_teacher_student"].get<double>()), 1e-12);
  EXPECT_LT(j["activation_error"]["mean"].get<double>(), 1e-20);
  EXPECT_NEAR(j["student"]["ce"].get<double>(), j["teacher"]["ce"].get<double>(), 1e-10);
}

TEST(Evaluation, ExactMatchNormalisesWhitespaceOnly) {
  EXPECT_EQ(normalize_whitespace("  A \n red\tsquare.  "), "A red square.");
  EXPECT_EQ(normalize_whitespace(""), "");
  const std::vector<AnswerRecord> answers = {{"a", " red ", "red", "red\n", true},
                                             {"b", "Red", "red", "Red", true},
                                             {"c", "two", "three", "two", false},  // cut by truncation: not scored
                                             {"d", "blue", "blue.", "green", true}};
  const ExactMatch m = count_exact_matches(answers);
  EXPECT_EQ(m.scored, 3);
  EXPECT_EQ(m.teacher, 1);
  EXPECT_EQ(m.student, 2);
  EXPECT_EQ(m.agreement, 1);
}

TEST(Evaluation, QuantisedLatentCacheHoldsTheClosedFormBytesAndStaysClose) {
  Workspace w = make_workspace();
  auto model = converted(w.original, 8, 8);
  const data::PromptTokenizer prompts(w.original);
  const DecoderConfig& decoder = model->text->config();
  const std::vector<MlaLayerLayout> layouts = model->mla->layouts(decoder);
  const int64_t layers = decoder.layers;
  int64_t prompts_seen = 0, same_answers = 0;
  double previous_bytes = 1e300;
  for (const std::string quantization : {"none", "int8", "int4"}) {
    const LatentCacheOptions cache{parse_kv_quantization(quantization), 16};
    const KvBytesPerToken kv = kv_bytes_per_token(*model, cache, 4);
    EXPECT_LT(kv.student, previous_bytes) << quantization;
    EXPECT_LT(kv.student, kv.teacher);
    EXPECT_DOUBLE_EQ(kv.teacher, static_cast<double>(layers * 2 * decoder.kv_heads * decoder.head_dim * 4));
    previous_bytes = kv.student;
  }
  for (const data::Batch& batch : held_out_batches(data_config(w.data_file, 4), w.original)) {
    for (const EvalPrompt& p : split_prompts(batch, prompts, at::kCPU)) {
      const GeneratedAnswer teacher = generate_answer(*model, AttentionPath::teacher, p.prompt, 6, prompts.end_of_turn_id());
      EXPECT_EQ(teacher.cache_bytes, layers * 2 * decoder.kv_heads * decoder.head_dim * 4 * teacher.cached_tokens);
      std::vector<int32_t> plain;
      for (const std::string quantization : {"none", "int8", "int4"}) {
        const LatentCacheOptions cache{parse_kv_quantization(quantization), 16};
        const GeneratedAnswer student =
            generate_answer(*model, AttentionPath::student, p.prompt, 6, prompts.end_of_turn_id(), cache);
        // Closed form per token and layer: the latent row (kv_heads * 8 values) and kv_heads RoPE-key rows (8 values
        // each), as float32, or as 8- / 4-bit codes with a float16 scale per 16 values; plus the modality bits.
        auto row = [&](int64_t width) -> int64_t {
          if (quantization == std::string("none")) return width * 4;
          const int64_t bits = quantization == std::string("int8") ? 8 : 4;
          return (width * bits + 7) / 8 + 2 * ((width + 15) / 16);
        };
        const int64_t tokens = student.cached_tokens;
        int64_t expected = 0;
        for (const MlaLayerLayout& layout : layouts) {
          ASSERT_EQ(layout.rope_dims, 8);
          ASSERT_EQ(layout.latent_rank, 8);
          expected += tokens * (row(layout.kv_heads * 8) + layout.kv_heads * row(8)) + (tokens + 7) / 8;
        }
        EXPECT_EQ(student.cache_bytes, expected) << quantization;
        EXPECT_EQ(student.cached_tokens, student.prompt_tokens + student.generated - 1);
        if (quantization == std::string("none")) plain = student.tokens;
        else same_answers += quantization == std::string("int8") && student.tokens == plain;
      }
      ++prompts_seen;
    }
  }
  // int8 codes with a scale per 16 values move the logits little: the greedy answers mostly stay.
  EXPECT_GE(2 * same_answers, prompts_seen) << same_answers << " of " << prompts_seen;
}

// The student's greedy answers on its (unquantised) latent cache are those of the decompressed student decoding
// without a cache (the whole sequence again each step, keys and values up-projected), on prompts with images.
TEST(Evaluation, LatentCacheAnswersEqualTheDecompressedNoCacheAnswers) {
  Workspace w = make_workspace(12);
  auto model = converted(w.original, 8, 8);
  const data::PromptTokenizer prompts(w.original);
  int64_t with_images = 0, checked = 0;
  for (const data::Batch& batch : held_out_batches(data_config(w.data_file, 6), w.original)) {
    for (const EvalPrompt& p : split_prompts(batch, prompts, at::kCPU)) {
      const GeneratedAnswer cached = generate_answer(*model, AttentionPath::student, p.prompt, 8, prompts.end_of_turn_id());
      const PreparedInputs inputs = model->prepare(p.prompt);
      GreedyRequest request;
      request.prompt_embeddings = inputs.embeddings;
      request.prompt = inputs.text;
      request.max_new_tokens = 8;
      request.eos_token_id = prompts.end_of_turn_id();
      request.path = AttentionPath::student;
      request.use_cache = false;
      const at::Tensor tokens = generate_greedy(*model->text, request).tokens[0];
      std::vector<int32_t> expected;
      for (int64_t i = 0; i < tokens.numel() && tokens[i].item<int64_t>() != prompts.end_of_turn_id(); ++i)
        expected.push_back(static_cast<int32_t>(tokens[i].item<int64_t>()));
      EXPECT_EQ(cached.tokens, expected) << p.id;
      EXPECT_GT(cached.cache_bytes, 0);
      with_images += !p.prompt.pixel_values.empty();
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6);
  EXPECT_GT(with_images, 0);
}

// Logits of the first decoding steps of the student on one prompt, quantised or not.
TEST(Evaluation, QuantisedCacheChangesTheStudentsLogitsBoundedly) {
  Workspace w = make_workspace(4);
  auto model = converted(w.original, 8, 8);
  const data::PromptTokenizer prompts(w.original);
  const std::vector<data::Batch> batches = held_out_batches(data_config(w.data_file, 2), w.original);
  const EvalPrompt p = split_prompts(batches.at(0), prompts, at::kCPU).at(0);
  const PreparedInputs inputs = model->prepare(p.prompt);
  auto step_logits = [&](const std::string& quantization) {
    GreedyRequest request;
    request.prompt_embeddings = inputs.embeddings;
    request.prompt = inputs.text;
    request.max_new_tokens = 4;
    request.path = AttentionPath::student;
    request.cache_options = {parse_kv_quantization(quantization), 16};
    return generate_greedy(*model->text, request);
  };
  const GreedyResult plain = step_logits("none");
  for (const auto& [quantization, bound] : std::vector<std::pair<std::string, double>>{{"int8", 0.02}, {"int4", 0.25}}) {
    const GreedyResult q = step_logits(quantization);
    // Compare the steps both decoded from the same tokens.
    int64_t steps = 1;
    while (steps < q.tokens.size(1) && at::equal(q.tokens.narrow(1, 0, steps), plain.tokens.narrow(1, 0, steps))) ++steps;
    const at::Tensor a = q.step_logits.narrow(1, 0, steps), b = plain.step_logits.narrow(1, 0, steps);
    const double relative = (a - b).norm().item<double>() / b.norm().item<double>();
    EXPECT_LT(relative, bound) << quantization;
    EXPECT_GT(relative, 0) << quantization << " stores codes, not the values";
  }
}

TEST(Evaluation, AnHfMlaExportReproducesTheInMemoryStudentExactly) {
  Workspace w = make_workspace();
  auto model = converted(w.original, 8, 8);
  const std::string exported = path_join(w.dir, "export");
  export_hf_mla(*model, exported);
  auto student = load_model(exported, ModelLoadOptions{});
  auto teacher = load_model(w.original, ModelLoadOptions{});
  ASSERT_TRUE(student->mla && student->mla->student_only);
  const data::PromptTokenizer prompts(exported);
  const LatentCacheOptions cache{KvQuantization::int8, 16};
  for (const data::Batch& batch : held_out_batches(data_config(w.data_file, 4), exported)) {
    const MultimodalBatch inputs = to_model_batch(batch, at::kCPU);
    const TeacherForcedSums a = teacher_forced_sums({model.get(), model.get()}, inputs, batch.labels);
    const TeacherForcedSums b = teacher_forced_sums({teacher.get(), student.get()}, inputs, batch.labels);
    EXPECT_EQ(a.pack(), b.pack());
    for (const EvalPrompt& p : split_prompts(batch, prompts, at::kCPU)) {
      for (AttentionPath path : {AttentionPath::teacher, AttentionPath::student}) {
        Model& other = path == AttentionPath::teacher ? *teacher : *student;
        const GeneratedAnswer x = generate_answer(*model, path, p.prompt, 6, prompts.end_of_turn_id(), cache);
        const GeneratedAnswer y = generate_answer(other, path, p.prompt, 6, prompts.end_of_turn_id(), cache);
        EXPECT_EQ(x.tokens, y.tokens);
        EXPECT_EQ(x.cache_bytes, y.cache_bytes);
      }
    }
  }
}

// Runs the mha2mla binary; returns its exit code and stderr + stdout.
std::pair<int, std::string> run_binary(const std::string& arguments, const std::string& dir) {
  const std::string log = path_join(dir, "command.log");
  const std::string command = testing::binary() + " " + arguments + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  return {WEXITSTATUS(status), read_file(log)};
}

std::string write_recipe(const Workspace& w, const std::string& extra) {
  return testing::write_text(path_join(w.dir, "recipe.yaml"),
                             "run:\n  output_dir: " + path_join(w.dir, "run") + "\nmodel:\n  path: " + w.original +
                                 "\n  threads: 1\ndata:\n  datasets:\n    - path: " + w.data_file +
                                 "\n  held_out: 2\n  workers: 0\n" + extra);
}

TEST(Evaluation, GenerateCommandPrintsTheTokensOfADirectGenerateGreedyCall) {
  Workspace w = make_workspace(4);
  auto model = converted(w.original, 8, 8);
  const std::string folder = path_join(w.dir, "run/converted");
  save_model(*model, folder);
  copy_side_files(w.original, folder);
  const json records = json::parse(read_file(w.data_file));
  const RawSample raw = raw_sample(records, parent_directory(w.data_file), records[0]["id"]);

  const std::string recipe = write_recipe(w, "generate:\n  prompt: " + json(raw.first_user).dump() + "\n  images: " +
                                                 json(raw.images).dump() + "\n  max_new_tokens: 7\n");
  const std::pair<int, std::string> result = run_binary("generate " + recipe, w.dir);
  const std::string& output = result.second;
  ASSERT_EQ(result.first, 0) << output;
  auto printed_ids = [&](const std::string& side) {
    std::smatch match;
    EXPECT_TRUE(std::regex_search(output, match, std::regex(side + " token ids: \\[([0-9, ]*)\\]"))) << output;
    std::vector<int64_t> ids;
    std::string list = match[1];
    for (size_t at = 0; at < list.size();) {
      size_t end = list.find(',', at);
      ids.push_back(std::stoll(list.substr(at, end - at)));
      at = end == std::string::npos ? list.size() : end + 2;
    }
    return ids;
  };

  // The same prompt as the data pipeline cuts it from a record with that first turn, decoded directly.
  const std::vector<data::Batch> batches = held_out_batches(data_config(w.data_file, 1), folder);
  const data::Batch& batch = batches.at(0);
  int64_t first = 0;
  while (batch.labels[0][first].item<int64_t>() == -100) ++first;
  MultimodalBatch prompt = to_model_batch(batch, at::kCPU);
  prompt.input_ids = prompt.input_ids.narrow(1, 0, first);
  prompt.attention_mask = prompt.attention_mask.narrow(1, 0, first);
  ASSERT_EQ(prompt.pixel_values.size(), raw.images.size());
  const int64_t end_of_turn = tokenizer::load_tokenizer(folder)->token_to_id("<|im_end|>");
  auto loaded = load_model(folder, ModelLoadOptions{});
  const DecoderConfig& decoder = loaded->text->config();
  for (const auto& [side, path] : std::vector<std::pair<std::string, AttentionPath>>{
           {"teacher", AttentionPath::teacher}, {"student", AttentionPath::student}}) {
    const PreparedInputs inputs = loaded->prepare(prompt);
    GreedyRequest request;
    request.prompt_embeddings = inputs.embeddings;
    request.prompt = inputs.text;
    request.max_new_tokens = 7;
    request.eos_token_id = end_of_turn;
    request.path = path;
    // The reference decodes without any cache: the whole sequence again at every step, the student's attention
    // decompressed (keys and values up-projected from the latent), so the printed ids are the cache's only if the
    // latent cache changes nothing.
    request.use_cache = false;
    const at::Tensor tokens = generate_greedy(*loaded->text, request).tokens[0];
    std::vector<int64_t> expected;
    int64_t generated = 0;
    for (; generated < tokens.numel(); ++generated) {
      if (tokens[generated].item<int64_t>() == end_of_turn) {
        ++generated;
        break;
      }
      expected.push_back(tokens[generated].item<int64_t>());
    }
    EXPECT_EQ(printed_ids(side), expected) << side;

    // The logged cache size against the closed form: every token but the last one was fed through the cache. The
    // teacher keeps K and V (kv_heads * head_dim float32 each) per layer; the student (rope_dims 8, latent_rank 8)
    // kv_heads * (8 + 8) float32 values per layer and one modality bit per token and layer, packed 8 to a byte.
    std::smatch match;
    ASSERT_TRUE(std::regex_search(output, match,
                                  std::regex(side + ": ([0-9]+) tokens[^\n]* cache ([0-9]+) bytes for ([0-9]+) tokens")))
        << output;
    const int64_t logged_generated = std::stoll(match[1]), bytes = std::stoll(match[2]), cached = std::stoll(match[3]);
    EXPECT_EQ(logged_generated, generated) << side;
    EXPECT_EQ(cached, first + generated - 1) << side;
    const int64_t layers = decoder.layers, kv_heads = decoder.kv_heads;
    const int64_t expected_bytes = path == AttentionPath::teacher
                                       ? layers * cached * 2 * kv_heads * decoder.head_dim * 4
                                       : layers * (cached * kv_heads * (8 + 8) * 4 + (cached + 7) / 8);
    EXPECT_EQ(bytes, expected_bytes) << side;
  }
  EXPECT_NE(output.find("teacher: "), std::string::npos);
  EXPECT_NE(output.find("bytes/token"), std::string::npos);
}

TEST(Evaluation, ErrorsNameWhatIsMissing) {
  Workspace w = make_workspace(4);
  // No student checkpoint anywhere.
  Recipe recipe = load_recipe(write_recipe(w, ""));
  EXPECT_ERROR_CONTAINS(cli::student_checkpoint(recipe), "no student checkpoint", "converted", "mha2mla convert");
  recipe = load_recipe(write_recipe(w, "eval:\n  student: /nowhere/student\n"));
  EXPECT_ERROR_CONTAINS(cli::student_checkpoint(recipe), "eval.student", "/nowhere/student");
  // The original model is not converted.
  recipe = load_recipe(write_recipe(w, "eval:\n  student: " + w.original + "\n"));
  EXPECT_ERROR_CONTAINS(cli::load_eval_checkpoints(recipe), w.original.c_str(), "not converted to MLA");

  const data::PromptTokenizer prompts(w.original);
  EXPECT_ERROR_CONTAINS(prompts.tokenize("What is it?", {path_join(w.dir, "missing.png")}), "missing.png", "not found");
  EXPECT_ERROR_CONTAINS(prompts.tokenize("<image> and <image>?", {}), "2 \"<image>\" placeholder(s)", "0 image file(s)");

  const std::string generate = write_recipe(w, "generate:\n  which: teacher\n  images: [" + path_join(w.dir, "gone.png") + "]\n");
  auto [status, output] = run_binary("generate " + generate, w.dir);
  EXPECT_EQ(status, 1);
  EXPECT_NE(output.find("generate.images = '" + path_join(w.dir, "gone.png") + "'"), std::string::npos) << output;
  std::tie(status, output) = run_binary("eval " + write_recipe(w, "") + " data.held_out=0", w.dir);
  EXPECT_EQ(status, 1);
  EXPECT_NE(output.find("data.held_out = 0"), std::string::npos) << output;
}

}  // namespace
}  // namespace mha2mla
