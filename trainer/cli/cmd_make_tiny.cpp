#include <spdlog/spdlog.h>

#include "common/strings.h"
#include "data/tokenizer/tiny_tokenizer.h"
#include "model/tiny/make_tiny.h"
#include "trainer/cli/commands.h"

namespace mha2mla::cli {

CommandSpec make_tiny_command() {
  CommandSpec command;
  command.name = "make-tiny";
  command.summary = "write a random tiny HF-format checkpoint (+ tokenizer files) for tests and demos";
  command.description =
      "The checkpoint has the exact config.json keys, tensor names and tokenizer layout of the real family, "
      "with tiny sizes, deterministic from --seed.";
  command.options = {{"--arch", "A", "architecture", tiny_architectures(), "", true},
                     {"--out", "DIR", "output folder", {}, "", true},
                     {"--seed", "N", "random seed", {}, "1234"}};
  command.run = [](const ParsedArgs& args) {
    TinyModelOptions options;
    options.arch = args.get("--arch");
    options.out = args.get("--out");
    options.seed = static_cast<uint64_t>(args.get_int("--seed"));
    // The tokenizer first: the model's embedding rows and special ids follow it.
    tokenizer::TinyTokenizerInfo vocabulary = tokenizer::write_tiny_tokenizer(
        tokenizer::tiny_tokenizer_family_for_arch(options.arch), kTinyVocabularyTarget, options.out);
    options.vocab_size = vocabulary.id_limit;
    options.bos_token_id = vocabulary.bos_id;
    options.eos_token_id = vocabulary.eos_id;
    options.pad_token_id = vocabulary.pad_id;
    make_tiny_model(options);
    spdlog::info("tokenizer: {} ids ({} special)", vocabulary.id_limit, vocabulary.special_ids.size());
    return 0;
  };
  return command;
}

}  // namespace mha2mla::cli
