#include "data/chat/chat_template.h"

#include "common/error.h"
#include "common/strings.h"

namespace mha2mla::data {

namespace {

constexpr const char* kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions.";
constexpr const char* kLlavaNextLlama3System =
    "You are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language.";
constexpr const char* kQwenSystem = "You are a helpful assistant.";

// Python's str.strip() as Jinja's `trim` applies it: leading and trailing whitespace.
std::string jinja_trim(const std::string& s) {
  const char* space = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(space);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(space);
  return s.substr(b, e - b + 1);
}

class PieceWriter {
 public:
  explicit PieceWriter(std::vector<ChatPiece>& out) : out_(out) {}

  void text(const std::string& text, bool supervised = false) {
    if (text.empty()) return;
    if (!out_.empty() && out_.back().kind == ChatPiece::Kind::kText && out_.back().supervised == supervised) {
      out_.back().text += text;  // adjacent prompt text is tokenized as one piece
      return;
    }
    out_.push_back({ChatPiece::Kind::kText, text, supervised, -1});
  }
  void token(const std::string& text, bool supervised = false) {
    out_.push_back({ChatPiece::Kind::kToken, text, supervised, -1});
  }
  // Prompt text in which each "<image>" becomes an image piece.
  void prompt_with_images(const std::string& content) {
    size_t at = 0;
    while (true) {
      size_t next = content.find(kImagePlaceholder, at);
      text(content.substr(at, next == std::string::npos ? std::string::npos : next - at));
      if (next == std::string::npos) return;
      out_.push_back({ChatPiece::Kind::kImage, "", false, images_++});
      at = next + kImagePlaceholder.size();
    }
  }

 private:
  std::vector<ChatPiece>& out_;
  int32_t images_ = 0;
};

}  // namespace

const char* chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kVicunaV1: return "vicuna_v1";
    case ChatTemplateKind::kLlama3: return "llama3";
    case ChatTemplateKind::kChatml: return "chatml";
  }
  return "?";
}

ChatTemplateKind parse_chat_template(const std::string& name) {
  if (name == "vicuna_v1") return ChatTemplateKind::kVicunaV1;
  if (name == "llama3") return ChatTemplateKind::kLlama3;
  if (name == "chatml") return ChatTemplateKind::kChatml;
  fail("data.chat_template: unknown template '{}'; expected vicuna_v1, llama3 or chatml", name);
}

ChatTemplateKind infer_chat_template(const std::string& model_type, const std::string& tokenizer_chat_template,
                                     const std::string& where) {
  const std::string& t = tokenizer_chat_template;
  if (t.find("<|im_start|>") != std::string::npos) return ChatTemplateKind::kChatml;
  if (t.find("<|start_header_id|>") != std::string::npos) return ChatTemplateKind::kLlama3;
  if (t.find("USER") != std::string::npos && t.find("ASSISTANT") != std::string::npos)
    return ChatTemplateKind::kVicunaV1;
  if (starts_with(model_type, "qwen2")) return ChatTemplateKind::kChatml;
  if (model_type == "llava") return ChatTemplateKind::kVicunaV1;
  fail_with_hint("set data.chat_template to vicuna_v1, llama3 or chatml",
                 "{}: cannot infer the chat template (model_type '{}', {})", where, model_type,
                 t.empty() ? "no chat_template in the tokenizer files" : "an unrecognised tokenizer chat_template");
}

std::string image_placeholder_text(ChatTemplateKind kind) {
  return kind == ChatTemplateKind::kChatml ? "<|vision_start|><|image_pad|><|vision_end|>"
                                           : std::string(kImagePlaceholder);
}

std::vector<ChatPiece> render_chat(ChatTemplateKind kind, const std::vector<Message>& messages,
                                   const std::string& bos_text) {
  std::vector<ChatPiece> pieces;
  PieceWriter w(pieces);
  size_t first = 0;
  std::string system;
  bool has_system = !messages.empty() && messages[0].role == Role::kSystem;
  if (has_system) {
    system = messages[0].content;
    first = 1;
  }
  switch (kind) {
    case ChatTemplateKind::kVicunaV1: {
      if (!bos_text.empty()) w.token(bos_text);
      // conv_vicuna_v1 (SeparatorStyle.TWO): system + " ", then "ROLE: message" + (" " after a user turn,
      // "</s>" after an assistant turn).
      w.prompt_with_images(has_system ? system : kVicunaSystem);
      w.text(" ");
      for (size_t i = first; i < messages.size(); ++i) {
        const Message& m = messages[i];
        if (m.role == Role::kAssistant) {
          w.text("ASSISTANT:");
          w.text(" " + m.content, true);
          w.token("</s>", true);
        } else {
          w.text("USER: ");
          w.prompt_with_images(m.content);
          w.text(" ");
        }
      }
      break;
    }
    case ChatTemplateKind::kLlama3: {
      if (!bos_text.empty()) w.token(bos_text);
      w.text("<|start_header_id|>system<|end_header_id|>\n\n");
      w.prompt_with_images(jinja_trim(has_system ? system : kLlavaNextLlama3System));
      w.text("<|eot_id|>");
      for (size_t i = first; i < messages.size(); ++i) {
        const Message& m = messages[i];
        w.text(std::string("<|start_header_id|>") + role_name(m.role) + "<|end_header_id|>\n\n");
        if (m.role == Role::kAssistant) {
          w.text(jinja_trim(m.content), true);
          w.token("<|eot_id|>", true);
        } else {
          w.prompt_with_images(jinja_trim(m.content));
          w.text("<|eot_id|>");
        }
      }
      break;
    }
    case ChatTemplateKind::kChatml: {
      if (!has_system) w.text(std::string("<|im_start|>system\n") + kQwenSystem + "<|im_end|>\n");
      for (size_t i = 0; i < messages.size(); ++i) {
        const Message& m = messages[i];
        w.text(std::string("<|im_start|>") + role_name(m.role) + "\n");
        if (m.role == Role::kAssistant) {
          w.text(m.content, true);
          w.token("<|im_end|>", true);
          w.text("\n");
        } else {
          w.prompt_with_images(m.content);
          w.text("<|im_end|>\n");
        }
      }
      break;
    }
  }
  return pieces;
}

std::string rendered_text(ChatTemplateKind kind, const std::vector<ChatPiece>& pieces) {
  std::string out;
  for (const ChatPiece& p : pieces) out += p.kind == ChatPiece::Kind::kImage ? image_placeholder_text(kind) : p.text;
  return out;
}

}  // namespace mha2mla::data
