// The conversation formats the supported models were trained with, rendered as pieces so that labels can be
// set turn by turn. The concatenated pieces are exactly the text of the published template:
//
//   vicuna_v1  LLaVA-1.5 (haotian-liu/LLaVA conversation.py conv_vicuna_v1, selected by `--version v1`):
//              <s>SYSTEM USER: {user} ASSISTANT: {assistant}</s>USER: {user} ASSISTANT: {assistant}</s>
//              SYSTEM = "A chat between a curious user and an artificial intelligence assistant. The assistant
//              gives helpful, detailed, and polite answers to the user's questions."
//   llama3     LLaVA-NeXT-8B (Meta-Llama-3-Instruct's template with LLaVA-NeXT's conv_llava_llama_3 system text):
//              <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>
//              <|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>
//              <|start_header_id|>assistant<|end_header_id|>\n\n{assistant}<|eot_id|>   (contents trimmed)
//              default system = "You are a helpful language and vision assistant. You are able to understand
//              the visual content that the user provides, and assist the user with a variety of tasks using
//              natural language."
//   chatml     Qwen2-VL / Qwen2.5-VL (the checkpoints' chat_template):
//              <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n
//              <|im_start|>assistant\n{assistant}<|im_end|>\n
//
// A system message in the data replaces the default system text. Each "<image>" in a user/system turn becomes
// an image piece: rendered as "<image>" (vicuna_v1, llama3) or "<|vision_start|><|image_pad|><|vision_end|>"
// (chatml), and expanded to the model's feature count when tokenized (conversation_tokenizer.h).
//
// Supervised (labels = token ids): each assistant turn's content and the token that ends it (</s>, <|eot_id|>,
// <|im_end|>). Everything else is -100: BOS, system text, user turns, role headers ("ASSISTANT:",
// "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|im_start|>assistant\n"), image tokens, and the "\n"
// after <|im_end|>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/chat/conversation.h"

namespace mha2mla::data {

enum class ChatTemplateKind { kVicunaV1, kLlama3, kChatml };

const char* chat_template_name(ChatTemplateKind kind);
ChatTemplateKind parse_chat_template(const std::string& name);  // throws Error for unknown names

// Picks the template for a model: from its tokenizer's chat template text when there is one (<|im_start|> ->
// chatml, <|start_header_id|> -> llama3, "USER" and "ASSISTANT" -> vicuna_v1), else from config.json's
// model_type (qwen2*, qwen2_vl, qwen2_5_vl -> chatml; llava -> vicuna_v1). Throws Error with a hint otherwise.
ChatTemplateKind infer_chat_template(const std::string& model_type, const std::string& tokenizer_chat_template,
                                     const std::string& where);

struct ChatPiece {
  enum class Kind {
    kText,   // tokenized as text (special tokens inside are found by the tokenizer)
    kToken,  // exactly one token, by its text ("</s>", "<|eot_id|>", "<|im_end|>", the BOS text)
    kImage,  // one image's placeholder, expanded to its features
  };
  Kind kind = Kind::kText;
  std::string text;
  bool supervised = false;
  int32_t image = -1;  // kImage: the image's index in the sample
};

// `bos_text`: the tokenizer's BOS token text (vicuna_v1 and llama3 start with it; "" = none).
std::vector<ChatPiece> render_chat(ChatTemplateKind kind, const std::vector<Message>& messages,
                                   const std::string& bos_text);

// The pieces' text, with each image as the template's single placeholder: what the published template renders.
std::string rendered_text(ChatTemplateKind kind, const std::vector<ChatPiece>& pieces);

// The placeholder text of one image in `kind`'s rendering.
std::string image_placeholder_text(ChatTemplateKind kind);

}  // namespace mha2mla::data
