// Test-only command line over data/tokenizer, driven by the Python tests next to it:
//   tokenizer_probe encode PATH IN.json OUT.json     ids and decodes of {"texts": [...]} with PATH's tokenizer
//   tokenizer_probe normalize nfc|nfd IN.json OUT.json
//   tokenizer_probe bench PATH TEXT_FILE [SECONDS]  encode throughput on one core
//   tokenizer_probe write-tiny FAMILY VOCAB OUT_DIR  a tiny tokenizer folder (prints its special ids)
//   tokenizer_probe info PATH
#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "data/tokenizer/tiny_tokenizer.h"
#include "data/tokenizer/tokenizer.h"
#include "data/tokenizer/unicode.h"

namespace tk = mha2mla::tokenizer;
using nlohmann::json;

namespace {

std::vector<std::string> read_texts(const std::string& path) {
  json input = json::parse(mha2mla::read_file(path));
  return input.at("texts").get<std::vector<std::string>>();
}

void write_json(const std::string& path, const json& value) {
  // Decoded text may hold U+FFFD-replaced bytes; dump with replacement so that invalid UTF-8 never throws.
  mha2mla::write_file_atomic(path, value.dump(-1, ' ', false, json::error_handler_t::replace));
}

int encode(const std::string& tokenizer_path, const std::string& in, const std::string& out) {
  auto tokenizer = tk::load_tokenizer(tokenizer_path);
  json ids = json::array(), ids_plain = json::array(), decoded = json::array(), decoded_skip = json::array();
  for (const auto& text : read_texts(in)) {
    std::vector<int32_t> with_special = tokenizer->encode(text, true);
    std::vector<int32_t> plain = tokenizer->encode(text, false);
    ids.push_back(with_special);
    ids_plain.push_back(plain);
    decoded.push_back(tokenizer->decode(plain, false));
    decoded_skip.push_back(tokenizer->decode(with_special, true));
  }
  write_json(out, json{{"ids", ids}, {"ids_no_special", ids_plain}, {"decoded", decoded},
                       {"decoded_skip_special", decoded_skip}});
  return 0;
}

int normalize(const std::string& form, const std::string& in, const std::string& out) {
  json result = json::array();
  for (const auto& text : read_texts(in)) result.push_back(form == "nfc" ? tk::nfc(text) : tk::nfd(text));
  write_json(out, json{{"texts", result}});
  return 0;
}

int bench(const std::string& tokenizer_path, const std::string& text_path, double seconds) {
  auto tokenizer = tk::load_tokenizer(tokenizer_path);
  const std::string text = mha2mla::read_file(text_path);
  // Encoded line by line, as documents arrive.
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  // The first pass starts with empty BPE caches; later passes show the warm rate.
  size_t bytes = 0, tokens = 0;
  for (const auto& line : lines) bytes += line.size();
  auto begin = std::chrono::steady_clock::now();
  for (const auto& line : lines) tokens += tokenizer->encode(line, false).size();
  double cold = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  size_t passes = 0;
  double elapsed = 0;
  begin = std::chrono::steady_clock::now();
  do {
    for (const auto& line : lines) tokenizer->encode(line, false);
    ++passes;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  } while (elapsed < seconds);
  std::printf("{\"bytes\": %zu, \"tokens\": %zu, \"cold_mb_per_s\": %.3f, \"warm_mb_per_s\": %.3f, "
              "\"warm_passes\": %zu}\n",
              bytes, tokens, bytes / cold / 1e6, bytes * passes / elapsed / 1e6, passes);
  return 0;
}

int write_tiny(const std::string& family, const std::string& vocab, const std::string& out) {
  tk::TinyTokenizerInfo info = tk::write_tiny_tokenizer(family, std::stoi(vocab), out);
  json specials = json::object();
  for (const auto& [name, id] : info.special_ids) specials[name] = id;
  std::cout << json{{"vocab_size", info.vocab_size}, {"id_limit", info.id_limit}, {"special_ids", specials}}.dump()
            << "\n";
  return 0;
}

int info(const std::string& tokenizer_path) {
  auto tokenizer = tk::load_tokenizer(tokenizer_path);
  const auto& roles = tokenizer->role_tokens();
  std::cout << json{{"describe", tokenizer->describe()},
                    {"vocab_size", tokenizer->vocab_size()},
                    {"id_limit", tokenizer->id_limit()},
                    {"bos", roles.bos.id},
                    {"eos", roles.eos.id},
                    {"pad", roles.pad.id},
                    {"unk", roles.unk.id}}
                   .dump()
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 4 && args[0] == "encode") return encode(args[1], args[2], args[3]);
    if (args.size() == 4 && args[0] == "normalize") return normalize(args[1], args[2], args[3]);
    if ((args.size() == 3 || args.size() == 4) && args[0] == "bench")
      return bench(args[1], args[2], args.size() == 4 ? std::stod(args[3]) : 3.0);
    if (args.size() == 4 && args[0] == "write-tiny") return write_tiny(args[1], args[2], args[3]);
    if (args.size() == 2 && args[0] == "info") return info(args[1]);
  } catch (const mha2mla::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    if (!e.hint().empty()) std::cerr << "---> HINT: " << e.hint() << "\n";
    return 1;
  }
  std::cerr << "usage: tokenizer_probe encode PATH IN OUT | normalize nfc|nfd IN OUT | bench PATH FILE [SECONDS] | "
               "write-tiny FAMILY VOCAB OUT | info PATH\n";
  return 2;
}
