#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/error.h"

#include "common/strings.h"
#include "data/tokenizer/tiny_tokenizer.h"
#include "model/tiny/make_tiny.h"
#include "trainer/cli/commands.h"

namespace mha2mla::cli {
namespace {

// The checkpoint's image / vision token ids must be the tokenizer's (a mismatch would silently break images).
void check_special_ids(const hf::HfConfig& config, const tokenizer::TinyTokenizerInfo& vocabulary) {
  auto expect = [&](const char* token, int64_t configured) {
    auto it = vocabulary.token_ids.find(token);
    MHA2MLA_CHECK(it != vocabulary.token_ids.end() && it->second == configured,
                  "tiny tokenizer puts {} at {} but the tiny config says {}", token,
                  it == vocabulary.token_ids.end() ? -1 : it->second, configured);
  };
  if (hf::is_llava_family(config.model_type)) expect("<image>", config.llava.image_token_index);
  if (hf::is_qwen_vl_family(config.model_type)) {
    expect("<|image_pad|>", config.qwen_vl.image_token_id);
    expect("<|vision_start|>", config.qwen_vl.vision_start_token_id);
    expect("<|vision_end|>", config.qwen_vl.vision_end_token_id);
  }
}

}  // namespace

CommandSpec make_tiny_command() {
  CommandSpec command;
  command.name = "make-tiny";
  command.summary = "write a random tiny HF-format checkpoint (+ tokenizer files) for tests and demos";
  command.description =
      "The checkpoint has the exact config.json keys, tensor names and tokenizer layout of the real family, "
      "with tiny sizes, deterministic from --seed.";
  command.options = {{"--arch", "A", "architecture", tiny_architectures(), "", true},
                     {"--out", "DIR", "output folder", {}, "", true},
                     {"--size", "S", "tiny: test-sized; demo: the demo teacher's layers and widths (VLMs)",
                      tiny_sizes(), "tiny"},
                     {"--seed", "N", "random seed", {}, "1234"}};
  command.run = [](const ParsedArgs& args) {
    TinyModelOptions options;
    options.arch = args.get("--arch");
    options.out = args.get("--out");
    options.size = args.get("--size");
    options.seed = static_cast<uint64_t>(args.get_int("--seed"));
    // The tokenizer first: the model's embedding rows and special ids follow it.
    tokenizer::TinyTokenizerInfo vocabulary = tokenizer::write_tiny_tokenizer(
        tokenizer::tiny_tokenizer_family_for_arch(options.arch), tiny_tokenizer_target(options.arch), options.out);
    options.vocab_size = std::max(kTinyVocabularyTarget, vocabulary.id_limit);
    options.bos_token_id = vocabulary.bos_id;
    options.eos_token_id = vocabulary.eos_id;
    options.pad_token_id = vocabulary.pad_id;
    hf::HfConfig config = make_tiny_model(options);
    check_special_ids(config, vocabulary);
    spdlog::info("tokenizer: {} ids ({} special)", vocabulary.id_limit, vocabulary.special_ids.size());
    return 0;
  };
  return command;
}

}  // namespace mha2mla::cli
