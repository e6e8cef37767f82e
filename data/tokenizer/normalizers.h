// Normalizers of tokenizer.json: NFC, NFD, Prepend, Replace, Strip and Sequence of these.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace mha2mla::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Builds the normalizer described by `spec` (a tokenizer.json "normalizer" object); `where` names the
// file and key for errors. Returns nullptr for JSON null.
std::unique_ptr<Normalizer> parse_normalizer(const nlohmann::json& spec, const std::string& where);

}  // namespace mha2mla::tokenizer
