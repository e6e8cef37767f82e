// The built-in English text that the tiny tokenizers are trained on.
#pragma once

namespace mha2mla::tokenizer {

const char* tiny_tokenizer_corpus();

}  // namespace mha2mla::tokenizer
