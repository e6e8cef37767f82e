// Chat templates: the rendered text of a known conversation against hand-written strings (the published
// templates), ids against the tokenizer on the whole rendered text (tiny tokenizers, and the real Qwen2.5,
// Llama-3 and llava-1.5 tokenizers when tests/tokenizer/setup_reference.sh has prepared them), labels that cover
// exactly the assistant contents and their end tokens, image placeholders expanded to the feature counts.
#include <cstdlib>

#include "data/chat/chat_template.h"
#include "data/chat/conversation_tokenizer.h"
#include "data/model_spec.h"
#include "tests/unit/data_test_support.h"

namespace mha2mla::data {
namespace {

const std::vector<Message> kConversation = {
    {Role::kUser, "<image>\nWhat colour is the circle?"},
    {Role::kAssistant, "The circle is red."},
    {Role::kUser, "How many squares are there?"},
    {Role::kAssistant, "There are 2 squares."},
};

const char* kVicunaText =
    "<s>A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions. USER: <image>\nWhat colour is the circle? ASSISTANT: "
    "The circle is red.</s>USER: How many squares are there? ASSISTANT: There are 2 squares.</s>";
const char* kLlama3Text =
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
    "assistant. You are able to understand the visual content that the user provides, and assist the user with a "
    "variety of tasks using natural language.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n<image>\nWhat "
    "colour is the circle?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nThe circle is red.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nHow many squares are there?<|eot_id|><|start_header_id|>assistant"
    "<|end_header_id|>\n\nThere are 2 squares.<|eot_id|>";
const char* kChatmlText =
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|>"
    "<|vision_end|>\nWhat colour is the circle?<|im_end|>\n<|im_start|>assistant\nThe circle is red.<|im_end|>\n"
    "<|im_start|>user\nHow many squares are there?<|im_end|>\n<|im_start|>assistant\nThere are 2 squares.<|im_end|>\n";

TEST(ChatTemplate, RendersThePublishedTemplates) {
  EXPECT_EQ(rendered_text(ChatTemplateKind::kVicunaV1, render_chat(ChatTemplateKind::kVicunaV1, kConversation, "<s>")),
            kVicunaText);
  EXPECT_EQ(rendered_text(ChatTemplateKind::kLlama3,
                          render_chat(ChatTemplateKind::kLlama3, kConversation, "<|begin_of_text|>")),
            kLlama3Text);
  EXPECT_EQ(rendered_text(ChatTemplateKind::kChatml, render_chat(ChatTemplateKind::kChatml, kConversation, "")),
            kChatmlText);
}

TEST(ChatTemplate, ASystemMessageReplacesTheDefaultAndLlama3TrimsContents) {
  std::vector<Message> m = {{Role::kSystem, "Be brief."}, {Role::kUser, "  Hi \n"}, {Role::kAssistant, " Hello. "}};
  EXPECT_EQ(rendered_text(ChatTemplateKind::kVicunaV1, render_chat(ChatTemplateKind::kVicunaV1, m, "<s>")),
            "<s>Be brief. USER:   Hi \n ASSISTANT:  Hello. </s>");
  EXPECT_EQ(rendered_text(ChatTemplateKind::kLlama3, render_chat(ChatTemplateKind::kLlama3, m, "<|begin_of_text|>")),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>"
            "user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>");
  EXPECT_EQ(rendered_text(ChatTemplateKind::kChatml, render_chat(ChatTemplateKind::kChatml, m, "")),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n  Hi \n<|im_end|>\n<|im_start|>assistant\n"
            " Hello. <|im_end|>\n");
}

// The text the model's processor tokenizes: each image placeholder expanded to `features` image tokens.
std::string expanded_text(ChatTemplateKind kind, const std::vector<ChatPiece>& pieces, int64_t features) {
  std::string out;
  for (const ChatPiece& p : pieces) {
    if (p.kind != ChatPiece::Kind::kImage) {
      out += p.text;
      continue;
    }
    if (kind == ChatTemplateKind::kChatml) {
      out += "<|vision_start|>";
      for (int64_t i = 0; i < features; ++i) out += "<|image_pad|>";
      out += "<|vision_end|>";
    } else {
      for (int64_t i = 0; i < features; ++i) out += "<image>";
    }
  }
  return out;
}

ImageTokens image_tokens_for(ChatTemplateKind kind, const tokenizer::Tokenizer& tok) {
  ImageTokens t;
  if (kind == ChatTemplateKind::kChatml) {
    t.image_token_id = tok.token_to_id("<|image_pad|>");
    t.vision_start_id = tok.token_to_id("<|vision_start|>");
    t.vision_end_id = tok.token_to_id("<|vision_end|>");
  } else {
    t.image_token_id = tok.token_to_id("<image>");
  }
  return t;
}

// Checks a template/tokenizer pair on kConversation with `features` image tokens.
void check_pair(std::shared_ptr<const tokenizer::Tokenizer> tok, ChatTemplateKind kind, int64_t features,
                const std::string& what) {
  SCOPED_TRACE(what);
  ImageTokens image = image_tokens_for(kind, *tok);
  ASSERT_GE(image.image_token_id, 0) << "the tokenizer has no image token";
  ConversationTokenizer ct(tok, kind, image);
  std::vector<ChatPiece> pieces = render_chat(kind, kConversation, ct.bos_text());
  TokenizedChat chat = ct.tokenize(pieces, {features});

  // Ids: the tokenizer's own ids for the whole rendered text (the processor's view).
  EXPECT_EQ(chat.input_ids, tok->encode(expanded_text(kind, pieces, features), false));

  // Labels: exactly the assistant contents and their end tokens, in order.
  const std::string end = kind == ChatTemplateKind::kVicunaV1 ? "</s>" : kind == ChatTemplateKind::kLlama3 ? "<|eot_id|>" : "<|im_end|>";
  std::vector<std::vector<int32_t>> runs;
  bool in_run = false;
  ASSERT_EQ(chat.labels.size(), chat.input_ids.size());
  for (size_t i = 0; i < chat.labels.size(); ++i) {
    if (chat.labels[i] == kIgnoreLabel) {
      in_run = false;
      continue;
    }
    EXPECT_EQ(chat.labels[i], chat.input_ids[i]);
    if (!in_run) runs.emplace_back();
    runs.back().push_back(chat.labels[i]);
    in_run = true;
  }
  ASSERT_EQ(runs.size(), 2u);
  const std::vector<std::string> answers = {"The circle is red.", "There are 2 squares."};
  for (size_t a = 0; a < 2; ++a) {
    // The content as the template joins it: after "ASSISTANT: " (vicuna, whose space the SentencePiece "▁"
    // carries) or right after the header.
    std::string content = (kind == ChatTemplateKind::kVicunaV1 && !ct.prepends_space() ? " " : "") + answers[a];
    std::vector<int32_t> expected = tok->encode(content, false);
    expected.push_back(tok->token_to_id(end));
    EXPECT_EQ(runs[a], expected) << "answer " << a;
    EXPECT_EQ(tok->decode(runs[a]), (kind == ChatTemplateKind::kVicunaV1 && !ct.prepends_space() ? " " : "") +
                                         answers[a] + end);
  }

  // The image: one run of `features` image tokens (inside vision start/end for Qwen).
  ASSERT_EQ(chat.image_spans.size(), 1u);
  auto [begin, stop] = chat.image_spans[0];
  const int64_t wrapper = kind == ChatTemplateKind::kChatml ? 2 : 0;
  EXPECT_EQ(stop - begin, features + wrapper);
  EXPECT_EQ(std::count(chat.input_ids.begin(), chat.input_ids.end(), image.image_token_id), features);
  if (wrapper) {
    EXPECT_EQ(chat.input_ids[begin], image.vision_start_id);
    EXPECT_EQ(chat.input_ids[stop - 1], image.vision_end_id);
  }
}

TEST(ConversationTokenizer, TinyTokenizersMatchTheWholeTextLabelsAndImages) {
  check_pair(testing::tiny_tokenizer("llava"), ChatTemplateKind::kVicunaV1, 576, "tiny llava (Llama-2 style)");
  check_pair(testing::tiny_tokenizer("llava_next"), ChatTemplateKind::kLlama3, 7, "tiny llava_next (Llama-3 style)");
  check_pair(testing::tiny_tokenizer("qwen2"), ChatTemplateKind::kChatml, 12, "tiny qwen2");
}

std::string reference_dir() {
  const char* dir = std::getenv("MHA2MLA_TOKENIZER_REFERENCE");
  const char* home = std::getenv("HOME");
  std::string path = dir && *dir ? dir : std::string(home ? home : "") + "/.cache/mha2mla/tokenizer-reference";
  return path_join(path, "models");
}

TEST(ConversationTokenizer, RealTokenizersMatchTheWholeTextLabelsAndImages) {
  const std::string models = reference_dir();
  if (!directory_exists(path_join(models, "qwen2")))
    GTEST_SKIP() << "no reference tokenizers in " << models << " (run tests/tokenizer/setup_reference.sh)";
  check_pair(tokenizer::load_tokenizer(path_join(models, "llava")), ChatTemplateKind::kVicunaV1, 576,
             "llava-1.5 (Llama-2 + <image>)");
  check_pair(tokenizer::load_tokenizer(path_join(models, "qwen2")), ChatTemplateKind::kChatml, 64, "Qwen2.5");
  // Llama-3 has no <image> token of its own (LLaVA-NeXT adds one at 128256); check the text-only conversation.
  std::shared_ptr<const tokenizer::Tokenizer> llama3 = tokenizer::load_tokenizer(path_join(models, "llama3_bos"));
  ConversationTokenizer ct(llama3, ChatTemplateKind::kLlama3, {});
  std::vector<Message> text_only = kConversation;
  text_only[0].content = "What colour is the circle?";
  std::vector<ChatPiece> pieces = render_chat(ChatTemplateKind::kLlama3, text_only, ct.bos_text());
  TokenizedChat chat = ct.tokenize(pieces, {});
  EXPECT_EQ(ct.bos_text(), "<|begin_of_text|>");
  EXPECT_EQ(chat.input_ids, llama3->encode(rendered_text(ChatTemplateKind::kLlama3, pieces), false));
  EXPECT_EQ(chat.input_ids.front(), 128000);
}

// Hand-written ids and labels of a one-exchange conversation (ids as Hugging Face's tokenizers gives them for
// the rendered text: "<|im_start|>" 151644, "system" 8948, "\n" 198, "You are a helpful assistant." 2610 525 264
// 10950 17847 13, "user" 872, "Hi" 13048, "assistant" 77091, "Hello" 9707; Llama-2: "<s>" 1, "▁Hello" 15043,
// "." 29889, "</s>" 2).
TEST(ConversationTokenizer, RealTokenizersGiveTheHandWrittenIdsAndLabels) {
  const std::string models = reference_dir();
  if (!directory_exists(path_join(models, "qwen2")))
    GTEST_SKIP() << "no reference tokenizers in " << models << " (run tests/tokenizer/setup_reference.sh)";
  const std::vector<Message> hello = {{Role::kUser, "Hi"}, {Role::kAssistant, "Hello."}};
  const int32_t x = kIgnoreLabel;

  ConversationTokenizer qwen(tokenizer::load_tokenizer(path_join(models, "qwen2")), ChatTemplateKind::kChatml, {});
  TokenizedChat q = qwen.tokenize(hello, {});
  EXPECT_EQ(q.input_ids, (std::vector<int32_t>{151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644,
                                               872, 198, 13048, 151645, 198, 151644, 77091, 198, 9707, 13, 151645, 198}));
  EXPECT_EQ(q.labels, (std::vector<int32_t>{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, 9707, 13, 151645, x}));

  ConversationTokenizer llava(tokenizer::load_tokenizer(path_join(models, "llava")), ChatTemplateKind::kVicunaV1, {});
  TokenizedChat l = llava.tokenize(hello, {});
  ASSERT_EQ(l.input_ids.size(), 43u);
  EXPECT_EQ(l.input_ids.front(), 1);
  // ... "▁US" "ER" ":" "▁Hi" "▁A" "SS" "IST" "ANT" ":" "▁Hello" "." "</s>"
  EXPECT_EQ(std::vector<int32_t>(l.input_ids.end() - 12, l.input_ids.end()),
            (std::vector<int32_t>{3148, 1001, 29901, 6324, 319, 1799, 9047, 13566, 29901, 15043, 29889, 2}));
  EXPECT_EQ(std::vector<int32_t>(l.labels.end() - 3, l.labels.end()), (std::vector<int32_t>{15043, 29889, 2}));
  EXPECT_EQ(std::count(l.labels.begin(), l.labels.end(), x), 40);

  // Llama-3 ("<|begin_of_text|>" 128000, "<|start_header_id|>" 128006, "<|end_header_id|>" 128007, "\n\n" 271,
  // "<|eot_id|>" 128009, "system" 9125, "user" 882, "assistant" 78191, "Be brief." 3513 10015 13, "Hi" 13347).
  ConversationTokenizer llama3(tokenizer::load_tokenizer(path_join(models, "llama3_bos")), ChatTemplateKind::kLlama3, {});
  TokenizedChat m = llama3.tokenize(std::vector<Message>{{Role::kSystem, "Be brief."}, hello[0], hello[1]}, {});
  EXPECT_EQ(m.input_ids, (std::vector<int32_t>{128000, 128006, 9125, 128007, 271, 3513, 10015, 13, 128009, 128006, 882,
                                               128007, 271, 13347, 128009, 128006, 78191, 128007, 271, 9906, 13, 128009}));
  EXPECT_EQ(m.labels, (std::vector<int32_t>{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, 9906, 13, 128009}));
}

TEST(ConversationTokenizer, RefusesATokenizerWithoutTheTemplatesTokens) {
  EXPECT_ERROR_CONTAINS(ConversationTokenizer(testing::tiny_tokenizer("llama2"), ChatTemplateKind::kChatml, {}),
                        "chat template chatml needs the token <|im_start|>");
}

TEST(ChatTemplate, IsInferredFromTheModelFolder) {
  EXPECT_EQ(infer_chat_template("qwen2", read_chat_template_text(testing::tiny_tokenizer_dir("qwen2")), "m"),
            ChatTemplateKind::kChatml);
  EXPECT_EQ(infer_chat_template("llava_next", read_chat_template_text(testing::tiny_tokenizer_dir("llava_next")), "m"),
            ChatTemplateKind::kLlama3);
  EXPECT_EQ(infer_chat_template("llava", read_chat_template_text(testing::tiny_tokenizer_dir("llava")), "m"),
            ChatTemplateKind::kVicunaV1);
  EXPECT_EQ(infer_chat_template("qwen2_5_vl", "", "m"), ChatTemplateKind::kChatml);
  EXPECT_ERROR_CONTAINS(infer_chat_template("llama", "", "models/x"), "models/x", "cannot infer the chat template",
                        "data.chat_template");
}

TEST(ModelDataSpec, ReadsTheHubConfigs) {
  const std::string configs = path_join(mha2mla::testing::source_dir(), "tests/data/hf_configs");
  ModelDataSpec llava = read_model_data_spec(path_join(configs, "llava-1.5-7b-hf"));
  EXPECT_EQ(llava.vision, VisionFamily::kLlava);
  EXPECT_EQ(llava.image_tokens.image_token_id, 32000);
  EXPECT_EQ(llava.llava_image_features, (336 / 14) * (336 / 14));  // strategy "default": the CLS feature dropped
  EXPECT_EQ(llava.clip.crop.height, 336);

  ModelDataSpec next = read_model_data_spec(path_join(configs, "llama3-llava-next-8b-hf"));
  EXPECT_EQ(next.vision, VisionFamily::kLlavaNext);
  EXPECT_EQ(next.image_tokens.image_token_id, 128256);
  EXPECT_EQ(next.llava_next.vision_patch_size, 14);

  ModelDataSpec qwen = read_model_data_spec(path_join(configs, "Qwen2.5-VL-7B-Instruct"));
  EXPECT_EQ(qwen.vision, VisionFamily::kQwenVl);
  EXPECT_EQ(qwen.image_tokens.image_token_id, 151655);
  EXPECT_EQ(qwen.image_tokens.vision_start_id, 151652);
  EXPECT_EQ(qwen.image_tokens.vision_end_id, 151653);
  EXPECT_EQ(qwen.qwen.merge_size, 2);

  ModelDataSpec text = read_model_data_spec(path_join(configs, "Qwen2.5-0.5B-Instruct"));
  EXPECT_EQ(text.vision, VisionFamily::kNone);
  EXPECT_EQ(text.image_tokens.image_token_id, -1);
}

}  // namespace
}  // namespace mha2mla::data
