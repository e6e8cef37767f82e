// Decoders of tokenizer.json: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip and Sequence. Each
// rewrites the list of token strings; the tokenizer joins the final list.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mha2mla::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Builds the decoder described by `spec`; `where` names the file and key for errors. nullptr for null.
std::unique_ptr<Decoder> parse_decoder(const nlohmann::json& spec, const std::string& where);

}  // namespace mha2mla::tokenizer
