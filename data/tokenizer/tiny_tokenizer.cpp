#include "data/tokenizer/tiny_tokenizer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "data/tokenizer/bpe_trainer.h"
#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/pre_tokenizers.h"
#include "data/tokenizer/tiny_corpus.h"
#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {
namespace {

using ojson = nlohmann::ordered_json;  // tokenizer.json keeps Hugging Face's field order

constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kMetaspace = "\xE2\x96\x81";  // "▁"

constexpr const char* kQwen2ChatTemplate =
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}";
constexpr const char* kLlama3ChatTemplate =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
constexpr const char* kLlavaNextChatTemplate =
    "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}{{ '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n' }}{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
    "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{% endif %}{{ '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
constexpr const char* kLlavaChatTemplate =
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}{% else %}{% for content in "
    "message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{% for content in "
    "message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' ' }}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

struct SpecialToken {
  std::string content;
  bool special;
};

ojson added_token_json(int32_t id, const SpecialToken& token) {
  return ojson{{"id", id},          {"content", token.content}, {"single_word", false}, {"lstrip", false},
               {"rstrip", false},   {"normalized", false},      {"special", token.special}};
}

ojson byte_level_json(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  return ojson{{"type", "ByteLevel"},
               {"add_prefix_space", add_prefix_space},
               {"trim_offsets", trim_offsets},
               {"use_regex", use_regex}};
}

ojson split_json(const char* pattern) {
  return ojson{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
}

std::vector<std::string> utf8_characters(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    size_t n = std::min<size_t>(utf8_sequence_length(static_cast<unsigned char>(text[i])), text.size() - i);
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

// Word counts of the corpus as the family's own pre-tokenizer cuts it.
std::vector<TrainingWord> count_words(const std::vector<Piece>& pieces) {
  std::map<std::string, int64_t> counts;
  for (const auto& p : pieces) ++counts[p.text];
  std::vector<TrainingWord> words;
  for (const auto& [text, count] : counts) words.push_back({utf8_characters(text), count});
  return words;
}

void check_target(int64_t target, int64_t base, int64_t upper, const std::string& family) {
  if (target <= base || target > upper)
    fail("tiny tokenizer '{}': vocab_size_target {} must be above {} (the base alphabet) and at most {}", family,
         target, base, upper);
}

struct Written {
  ojson tokenizer;
  nlohmann::json config;
  nlohmann::json special_map;
  std::string chat_template_json;  // chat_template.json contents, or empty
  std::vector<std::pair<int32_t, SpecialToken>> added;
  int64_t vocab_size = 0;
};

// Qwen2 / Llama-3: byte-level BPE over 256 byte characters.
Written byte_level_family(const std::string& family, int64_t target) {
  const bool qwen = family == "qwen2";
  check_target(target, 256, 8192, family);
  ojson pre_tokenizer = {{"type", "Sequence"},
                         {"pretokenizers",
                          {split_json(qwen ? kQwen2Pattern : kLlama3Pattern), byte_level_json(false, !qwen, false)}}};
  auto pre = parse_pre_tokenizer(nlohmann::json::parse(pre_tokenizer.dump()), "tiny " + family + " pre_tokenizer");
  std::vector<Piece> pieces(1);
  pieces[0].text = qwen ? nfc(tiny_tokenizer_corpus()) : std::string(tiny_tokenizer_corpus());
  pieces[0].at_input_start = true;
  pre->pre_tokenize(pieces);
  BpeTrainingResult trained = train_bpe(count_words(pieces), 256, static_cast<size_t>(target));

  // Byte characters first, in code point order (GPT-2's order: printable bytes, then the shifted ones).
  std::vector<std::string> alphabet(byte_level_alphabet().begin(), byte_level_alphabet().end());
  std::sort(alphabet.begin(), alphabet.end(),
            [](const std::string& a, const std::string& b) { return decode_utf8(a)[0] < decode_utf8(b)[0]; });
  ojson vocab = ojson::object();
  int32_t next = 0;
  for (const auto& t : alphabet) vocab[t] = next++;
  for (const auto& t : trained.merged_tokens) vocab[t] = next++;
  ojson merges = ojson::array();
  for (const auto& [left, right] : trained.merges) {
    if (qwen) merges.push_back({left, right});  // Qwen2.5's files use pairs,
    else merges.push_back(left + " " + right);  // Llama-3's the older "left right" strings
  }

  Written w;
  w.vocab_size = next;
  std::vector<SpecialToken> specials;
  if (qwen) {
    for (const char* name : {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                             "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
                             "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"})
      specials.push_back({name, true});
    for (const char* name : {"<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                             "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"})
      specials.push_back({name, false});
  } else {
    for (const char* name : {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                             "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                             "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                             "<|reserved_special_token_4|>", "<|eot_id|>"})
      specials.push_back({name, true});
    if (family == "llava_next") {
      specials.push_back({"<image>", true});
      specials.push_back({"<pad>", true});
    }
  }
  ojson added = ojson::array();
  for (const auto& s : specials) {
    w.added.emplace_back(next, s);
    added.push_back(added_token_json(next++, s));
  }

  if (qwen) {
    w.tokenizer = {{"version", "1.0"},
                   {"truncation", nullptr},
                   {"padding", nullptr},
                   {"added_tokens", added},
                   {"normalizer", {{"type", "NFC"}}},
                   {"pre_tokenizer", pre_tokenizer},
                   {"post_processor", byte_level_json(false, false, false)},
                   {"decoder", byte_level_json(false, false, false)},
                   {"model",
                    {{"type", "BPE"},
                     {"dropout", nullptr},
                     {"unk_token", nullptr},
                     {"continuing_subword_prefix", ""},
                     {"end_of_word_suffix", ""},
                     {"fuse_unk", false},
                     {"byte_fallback", false},
                     {"ignore_merges", false},
                     {"vocab", vocab},
                     {"merges", merges}}}};
  } else {
    const int32_t bos = static_cast<int32_t>(w.vocab_size);
    ojson bos_template = {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}};
    ojson post = {{"type", "Sequence"},
                  {"processors",
                   {byte_level_json(true, false, true),
                    {{"type", "TemplateProcessing"},
                     {"single", {bos_template, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                     {"pair",
                      {bos_template,
                       {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                       {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 1}}}},
                       {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
                     {"special_tokens",
                      {{"<|begin_of_text|>",
                        {{"id", "<|begin_of_text|>"}, {"ids", {bos}}, {"tokens", {"<|begin_of_text|>"}}}}}}}}}};
    w.tokenizer = {{"version", "1.0"},
                   {"truncation", nullptr},
                   {"padding", nullptr},
                   {"added_tokens", added},
                   {"normalizer", nullptr},
                   {"pre_tokenizer", pre_tokenizer},
                   {"post_processor", post},
                   {"decoder", byte_level_json(true, true, true)},
                   {"model",
                    {{"type", "BPE"},
                     {"dropout", nullptr},
                     {"unk_token", nullptr},
                     {"continuing_subword_prefix", nullptr},
                     {"end_of_word_suffix", nullptr},
                     {"fuse_unk", false},
                     {"byte_fallback", false},
                     {"ignore_merges", true},
                     {"vocab", vocab},
                     {"merges", merges}}}};
  }
  return w;
}

// Llama-2 / llava: SentencePiece-style BPE with <unk>, <s>, </s>, 256 byte-fallback tokens, learned tokens
// and finally the single characters, in Llama-2's order.
Written llama2_family(const std::string& family, int64_t target) {
  // SentencePiece's view of the text: "▁" for spaces and before each line; words start at each "▁".
  std::vector<Piece> pieces;
  for (const auto& line : split(tiny_tokenizer_corpus(), '\n')) {
    if (line.empty()) continue;
    std::string text = kMetaspace;
    for (char c : line) text += c == ' ' ? std::string(kMetaspace) : std::string(1, c);
    Piece p;
    p.text = text;
    pieces.push_back(p);
  }
  nlohmann::json metaspace_split = {{"type", "Metaspace"}, {"replacement", kMetaspace},
                                    {"prepend_scheme", "never"}, {"split", true}};
  parse_pre_tokenizer(metaspace_split, "tiny llama2 words")->pre_tokenize(pieces);
  std::vector<TrainingWord> words = count_words(pieces);

  std::map<std::string, int64_t> char_counts;
  for (const auto& w : words)
    for (const auto& c : w.symbols) char_counts[c] += w.count;
  std::vector<std::pair<std::string, int64_t>> alphabet(char_counts.begin(), char_counts.end());
  std::stable_sort(alphabet.begin(), alphabet.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const int64_t base = 3 + 256 + static_cast<int64_t>(alphabet.size());
  check_target(target, base, 8192, family);
  BpeTrainingResult trained = train_bpe(words, static_cast<size_t>(base), static_cast<size_t>(target));

  ojson vocab = ojson::object();
  int32_t next = 0;
  for (const char* s : {"<unk>", "<s>", "</s>"}) vocab[s] = next++;
  for (int b = 0; b < 256; ++b) vocab[fmt::format("<0x{:02X}>", b)] = next++;
  for (const auto& t : trained.merged_tokens) vocab[t] = next++;
  for (const auto& [c, count] : alphabet) vocab[c] = next++;
  ojson merges = ojson::array();
  for (const auto& [left, right] : trained.merges) merges.push_back(left + " " + right);

  Written w;
  w.vocab_size = next;
  std::vector<std::pair<int32_t, SpecialToken>> specials = {{0, {"<unk>", true}}, {1, {"<s>", true}},
                                                            {2, {"</s>", true}}};
  if (family == "llava") {
    specials.push_back({next++, {"<image>", true}});
    specials.push_back({next++, {"<pad>", true}});
  }
  ojson added = ojson::array();
  for (const auto& [id, s] : specials) {
    w.added.emplace_back(id, s);
    added.push_back(added_token_json(id, s));
  }
  ojson bos_template = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  w.tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", kMetaspace}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMetaspace}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {bos_template, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {bos_template,
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", kMetaspace}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merges}}}};
  return w;
}

nlohmann::json added_tokens_decoder(const std::vector<std::pair<int32_t, SpecialToken>>& added) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [id, s] : added)
    out[std::to_string(id)] = {{"content", s.content}, {"lstrip", false},       {"normalized", false},
                               {"rstrip", false},      {"single_word", false}, {"special", s.special}};
  return out;
}

// tokenizer_config.json / special_tokens_map.json / chat_template.json as each family's checkpoints have them.
void add_configs(const std::string& family, Written& w) {
  nlohmann::json& c = w.config;
  c["added_tokens_decoder"] = added_tokens_decoder(w.added);
  c["clean_up_tokenization_spaces"] = false;
  if (family == "qwen2") {
    nlohmann::json extra = nlohmann::json::array();
    for (const auto& [id, s] : w.added)
      if (s.special && s.content != "<|endoftext|>") extra.push_back(s.content);
    c["add_bos_token"] = false;
    c["add_prefix_space"] = false;
    c["additional_special_tokens"] = extra;
    c["bos_token"] = nullptr;
    c["chat_template"] = kQwen2ChatTemplate;
    c["eos_token"] = "<|im_end|>";
    c["errors"] = "replace";
    c["model_max_length"] = 32768;
    c["pad_token"] = "<|endoftext|>";
    c["split_special_tokens"] = false;
    c["tokenizer_class"] = "Qwen2Tokenizer";
    c["unk_token"] = nullptr;
    w.special_map = {{"additional_special_tokens", extra}, {"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"}};
  } else if (family == "llama3" || family == "llava_next") {
    c["bos_token"] = "<|begin_of_text|>";
    c["chat_template"] = kLlama3ChatTemplate;
    c["eos_token"] = "<|eot_id|>";
    c["model_input_names"] = {"input_ids", "attention_mask"};
    c["model_max_length"] = 8192;
    c["tokenizer_class"] = "PreTrainedTokenizerFast";
    w.special_map = {{"bos_token", "<|begin_of_text|>"}, {"eos_token", "<|eot_id|>"}};
    if (family == "llava_next") {
      c["pad_token"] = "<pad>";
      c["padding_side"] = "left";
      c["processor_class"] = "LlavaNextProcessor";
      w.special_map["pad_token"] = "<pad>";
      w.special_map["image_token"] = "<image>";
      w.chat_template_json = nlohmann::json{{"chat_template", kLlavaNextChatTemplate}}.dump(2) + "\n";
    }
  } else {  // llama2, llava
    c["add_bos_token"] = true;
    c["add_eos_token"] = false;
    c["bos_token"] = "<s>";
    c["eos_token"] = "</s>";
    c["legacy"] = true;
    c["model_max_length"] = 4096;
    c["pad_token"] = nullptr;
    c["sp_model_kwargs"] = nlohmann::json::object();
    c["tokenizer_class"] = "LlamaTokenizer";
    c["unk_token"] = "<unk>";
    w.special_map = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}};
    if (family == "llava") {
      c["pad_token"] = "<pad>";
      c["padding_side"] = "left";
      c["processor_class"] = "LlavaProcessor";
      w.special_map["pad_token"] = "<pad>";
      w.special_map["image_token"] = "<image>";
      w.chat_template_json = nlohmann::json{{"chat_template", kLlavaChatTemplate}}.dump(2) + "\n";
    }
  }
}

}  // namespace

const std::vector<std::string>& tiny_tokenizer_families() {
  static const std::vector<std::string> families = {"qwen2", "llama3", "llava_next", "llama2", "llava"};
  return families;
}

std::string tiny_tokenizer_family_for_arch(const std::string& arch) {
  if (arch == "llama") return "llama2";
  if (arch == "qwen2" || arch == "qwen2_5_vl") return "qwen2";
  if (arch == "llava" || arch == "llava_next") return arch;
  fail("tiny tokenizer: no tokenizer family for architecture '{}' (expected llama, qwen2, llava, llava_next or "
       "qwen2_5_vl)",
       arch);
}

TinyTokenizerInfo write_tiny_tokenizer(const std::string& family, int64_t vocab_size_target,
                                       const std::string& out_dir) {
  const auto& families = tiny_tokenizer_families();
  if (std::find(families.begin(), families.end(), family) == families.end())
    fail("tiny tokenizer: family '{}' is not one of {}", family, join(families, ", "));
  Written w = (family == "llama2" || family == "llava") ? llama2_family(family, vocab_size_target)
                                                        : byte_level_family(family, vocab_size_target);
  add_configs(family, w);

  ensure_directory(out_dir);
  write_file_atomic(path_join(out_dir, "tokenizer.json"), w.tokenizer.dump(2) + "\n");
  write_file_atomic(path_join(out_dir, "tokenizer_config.json"), w.config.dump(2) + "\n");
  write_file_atomic(path_join(out_dir, "special_tokens_map.json"), w.special_map.dump(2) + "\n");
  if (!w.chat_template_json.empty()) write_file_atomic(path_join(out_dir, "chat_template.json"), w.chat_template_json);

  TinyTokenizerInfo info;
  info.vocab_size = w.vocab_size;
  info.id_limit = w.vocab_size;
  for (const auto& [id, s] : w.added) {
    info.token_ids[s.content] = id;
    info.id_limit = std::max<int64_t>(info.id_limit, id + 1);
  }
  auto id_of = [&](const char* text) {
    auto it = info.token_ids.find(text);
    return it == info.token_ids.end() ? -1 : it->second;
  };
  if (family == "qwen2") {
    info.eos_id = id_of("<|im_end|>");
    info.pad_id = id_of("<|endoftext|>");
    info.image_id = id_of("<|image_pad|>");
    info.video_id = id_of("<|video_pad|>");
  } else if (family == "llama3" || family == "llava_next") {
    info.bos_id = id_of("<|begin_of_text|>");
    info.eos_id = id_of("<|eot_id|>");
    info.pad_id = id_of("<pad>");
    info.image_id = id_of("<image>");
  } else {
    info.bos_id = id_of("<s>");
    info.eos_id = id_of("</s>");
    info.unk_id = id_of("<unk>");
    info.pad_id = id_of("<pad>");
    info.image_id = id_of("<image>");
  }
  for (const auto& [role, id] : std::vector<std::pair<std::string, int32_t>>{{"bos", info.bos_id},
                                                                          {"eos", info.eos_id},
                                                                          {"pad", info.pad_id},
                                                                          {"unk", info.unk_id},
                                                                          {"image", info.image_id},
                                                                          {"video", info.video_id}})
    if (id >= 0) info.special_ids[role] = id;
  return info;
}

}  // namespace mha2mla::tokenizer
