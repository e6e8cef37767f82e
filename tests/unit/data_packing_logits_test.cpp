// Packed batches give every sample the logits it gets alone in an unpacked batch: the data pipeline's segments
// and the model's block-diagonal attention and per-sample positions agree. On the tiny Llama and Qwen2 text
// models (make-tiny); the same check on a tiny VLM (images inside packed rows) comes with the VLM model code.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "data/tokenizer/tiny_tokenizer.h"
#include "model/model.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/data_test_support.h"

namespace mha2mla::data {
namespace {

std::string make_model(const std::string& dir, const std::string& arch) {
  tokenizer::TinyTokenizerInfo vocabulary =
      tokenizer::write_tiny_tokenizer(tokenizer::tiny_tokenizer_family_for_arch(arch), kTinyVocabularyTarget, dir);
  TinyModelOptions options;
  options.arch = arch;
  options.out = dir;
  options.seed = 5;
  options.vocab_size = vocabulary.id_limit;
  options.bos_token_id = vocabulary.bos_id;
  options.eos_token_id = vocabulary.eos_id;
  options.pad_token_id = vocabulary.pad_id;
  make_tiny_model(options);
  return dir;
}

// Text-only conversations of varied lengths.
std::string write_conversations(const std::string& dir) {
  const std::vector<std::string> words = {"red", "circle", "left", "blue", "square", "above", "green", "triangle"};
  std::string text;
  for (int i = 0; i < 9; ++i) {
    std::string question = "Question " + std::to_string(i) + ":", answer = "Answer:";
    for (int w = 0; w < 3 + (i * 5) % 11; ++w) question += " " + words[(i + w) % words.size()];
    for (int w = 0; w < 2 + (i * 3) % 7; ++w) answer += " " + words[(2 * i + w) % words.size()];
    nlohmann::json record = {{"id", "c" + std::to_string(i)},
                             {"conversations", {{{"from", "human"}, {"value", question}}, {{"from", "gpt"}, {"value", answer}}}}};
    text += record.dump() + "\n";
  }
  return mha2mla::testing::write_text(path_join(dir, "text.jsonl"), text);
}

// Logits of every sample, by id: [tokens, vocab].
std::map<std::string, at::Tensor> sample_logits(Model& model, DataPipeline& pipeline, int64_t* packed_rows) {
  std::map<std::string, at::Tensor> out;
  while (std::optional<Batch> b = pipeline.next()) {
    MultimodalBatch input;
    input.input_ids = b->input_ids;
    input.attention_mask = b->attention_mask;
    input.segments = b->segments;
    PreparedInputs prepared = model.prepare(input);
    at::Tensor logits = model.text->logits(model.text->forward(prepared.embeddings, prepared.text));
    for (const BatchSample& s : b->samples) out[s.id] = logits[s.row].narrow(0, s.start, s.length);
    if (packed_rows) *packed_rows += static_cast<int64_t>(b->samples.size()) - b->rows();
  }
  return out;
}

void check_packing(const std::string& arch, const std::string& chat_template) {
  SCOPED_TRACE(arch);
  const std::string dir = path_join(mha2mla::testing::scratch_dir(), arch);
  const std::string model_dir = make_model(path_join(dir, "model"), arch);
  ModelLoadOptions load;
  load.dtype = at::kDouble;
  std::unique_ptr<Model> model = load_model(model_dir, load);

  DataConfig config = testing::one_dataset(write_conversations(dir));
  config.chat_template = chat_template;
  config.shuffle_buffer = 0;
  config.workers = 0;
  config.max_length = 512;
  PipelineOptions options;
  options.max_epochs = 1;

  config.batch_size = 1;
  auto alone = open_data_pipeline(config, model_dir, options);
  std::map<std::string, at::Tensor> reference = sample_logits(*model, *alone, nullptr);

  config.batch_size = 2;
  config.packing = true;
  config.sort_window = 4;
  auto packed_pipeline = open_data_pipeline(config, model_dir, options);
  int64_t shared = 0;
  std::map<std::string, at::Tensor> packed = sample_logits(*model, *packed_pipeline, &shared);
  EXPECT_GT(shared, 2) << "rows should hold several samples";
  ASSERT_EQ(packed.size(), reference.size());
  for (const auto& [id, logits] : reference) {
    ASSERT_TRUE(packed.count(id)) << id;
    ASSERT_EQ(packed[id].sizes(), logits.sizes()) << id;
    EXPECT_LT((packed[id] - logits).abs().max().item<double>(), 1e-9) << id;
  }

  // The check has teeth: the same packed rows without segment ids (attention across samples, positions running
  // on) change the logits of every sample that does not start its row.
  auto again = open_data_pipeline(config, model_dir, options);
  std::optional<Batch> b = again->next();
  ASSERT_TRUE(b.has_value());
  MultimodalBatch input;
  input.input_ids = b->input_ids;
  input.attention_mask = b->attention_mask;
  PreparedInputs prepared = model->prepare(input);
  at::Tensor logits = model->text->logits(model->text->forward(prepared.embeddings, prepared.text));
  int64_t checked = 0;
  for (const BatchSample& s : b->samples) {
    if (s.start == 0) continue;
    EXPECT_GT((logits[s.row].narrow(0, s.start, s.length) - reference[s.id]).abs().max().item<double>(), 1e-3) << s.id;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(PackingLogits, TinyLlamaGivesEachPackedSampleItsUnpackedLogits) { check_packing("llama", "vicuna_v1"); }
TEST(PackingLogits, TinyQwen2GivesEachPackedSampleItsUnpackedLogits) { check_packing("qwen2", "auto"); }

}  // namespace
}  // namespace mha2mla::data
