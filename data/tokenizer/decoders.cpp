#include "data/tokenizer/decoders.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/json_fields.h"
#include "data/tokenizer/pattern.h"
#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {
namespace {

const char* const kReplacementUtf8 = "\xEF\xBF\xBD";  // U+FFFD

// Byte-level characters back to bytes; all tokens are fused into one string, invalid UTF-8 replaced.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& token : tokens)
      if (!byte_level_to_bytes(token, bytes)) bytes += token;  // not byte-level text: keep it as it is
    tokens.assign(1, to_valid_utf8(bytes));
  }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(ReplacePattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) token = pattern_.replace_all(token, content_);
  }

 private:
  ReplacePattern pattern_;
  std::string content_;
};

// Runs of <0xNN> tokens become the string they spell, or one U+FFFD per byte when that is not UTF-8.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (is_valid_utf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back(kReplacementUtf8);
      }
      pending.clear();
    };
    for (auto& token : tokens) {
      int byte = parse_byte_token(token);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    tokens.swap(out);
  }

 private:
  static int parse_byte_token(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int high = hex(token[3]), low = hex(token[4]);
    return high < 0 || low < 0 ? -1 : high * 16 + low;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string fused;
    for (const auto& t : tokens) fused += t;
    tokens.assign(1, std::move(fused));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(uint32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      std::vector<uint32_t> cps = decode_utf8(token);
      size_t begin = 0, end = cps.size();
      while (begin < start_ && begin < end && cps[begin] == content_) ++begin;
      size_t stripped = 0;
      while (stripped < stop_ && end > begin && cps[end - 1] == content_) {
        --end;
        ++stripped;
      }
      if (begin == 0 && end == cps.size()) continue;
      std::string out;
      for (size_t i = begin; i < end; ++i) append_utf8(out, cps[i]);
      token = std::move(out);
    }
  }

 private:
  uint32_t content_;
  size_t start_, stop_;
};

// The replacement character becomes a space, except at the very start when a prefix was prepended.
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool drop_leading) : replacement_(std::move(replacement)),
                                                                 drop_leading_(drop_leading) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const ReplacePattern mark = ReplacePattern::literal(replacement_);
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = mark.replace_all(tokens[i], i == 0 && drop_leading_ ? "" : " ");
  }

 private:
  std::string replacement_;
  bool drop_leading_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

uint32_t single_character(const std::string& text, const std::string& where) {
  std::vector<uint32_t> cps = is_valid_utf8(text) ? decode_utf8(text) : std::vector<uint32_t>{};
  if (cps.size() != 1) fail("{}: expected a single character, found '{}'", where, text);
  return cps[0];
}

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_string(spec, "type", where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Replace") {
    auto pattern = parse_replace_pattern(json_field(spec, "pattern", where), where + ".pattern");
    return std::make_unique<ReplaceDecoder>(std::move(pattern), json_string(spec, "content", where));
  }
  if (type == "Strip") {
    const auto& start = json_field(spec, "start", where);
    const auto& stop = json_field(spec, "stop", where);
    if (!start.is_number_unsigned() || !stop.is_number_unsigned())
      fail("{}: start and stop must be non-negative integers", where);
    return std::make_unique<StripDecoder>(single_character(json_string(spec, "content", where), where + ".content"),
                                          start.get<size_t>(), stop.get<size_t>());
  }
  if (type == "Metaspace") {
    std::string scheme = json_string_or(spec, "prepend_scheme", where, "always");
    bool prefixed = scheme != "never" && json_bool(spec, "add_prefix_space", where, true);
    return std::make_unique<MetaspaceDecoder>(json_string_or(spec, "replacement", where, "\xE2\x96\x81"), prefixed);
  }
  if (type == "Sequence") {
    const auto& list = json_field(spec, "decoders", where);
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto step = parse_decoder(list[i], fmt::format("{}.decoders[{}]", where, i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  fail_with_hint("supported decoders: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence",
                 "{}: decoder type '{}' is not supported", where, type);
}

}  // namespace mha2mla::tokenizer
