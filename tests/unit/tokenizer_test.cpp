// data/tokenizer pieces against closed forms and documented behaviour (Hugging Face's docs, the Unicode
// standard). The whole pipeline is checked against Hugging Face's own implementation in tests/tokenizer/.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <thread>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "data/tokenizer/added_vocabulary.h"
#include "data/tokenizer/bpe_model.h"
#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/hf_tokenizer.h"
#include "data/tokenizer/pre_tokenizers.h"
#include "data/tokenizer/tiny_tokenizer.h"
#include "data/tokenizer/unicode.h"

namespace tk = mha2mla::tokenizer;

namespace {

std::string scratch_dir(const std::string& name) {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  std::string dir = mha2mla::path_join(root ? root : "/tmp", "tokenizer-unit-" + name);
  std::filesystem::remove_all(dir);
  mha2mla::ensure_directory(dir);
  return dir;
}

std::vector<std::string> split_text(const std::string& text, tk::SplitBehavior behavior) {
  std::vector<std::pair<size_t, size_t>> dashes;
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '-') dashes.emplace_back(i, i + 1);
  std::vector<std::string> out;
  for (auto [b, e] : tk::split_ranges(text.size(), dashes, behavior, false))
    if (e > b) out.push_back(text.substr(b, e - b));
  return out;
}

tk::BpeModel make_bpe(const std::vector<std::string>& tokens,
                      const std::vector<std::pair<std::string, std::string>>& merges, tk::BpeOptions options = {}) {
  std::vector<std::pair<std::string, int32_t>> vocab;
  for (size_t i = 0; i < tokens.size(); ++i) vocab.emplace_back(tokens[i], static_cast<int32_t>(i));
  return tk::BpeModel(vocab, merges, std::move(options), "test");
}

std::vector<int32_t> bpe_ids(const tk::BpeModel& model, const std::string& word) {
  std::vector<int32_t> ids;
  model.tokenize(word, ids);
  return ids;
}

std::vector<std::string> piece_texts(const std::vector<tk::Piece>& pieces) {
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back((p.added_token_id >= 0 ? "#" : "") + p.text);
  return out;
}

}  // namespace

// The example of Hugging Face's SplitDelimiterBehavior documentation: "the-final--countdown" split on '-'.
TEST(TokenizerSplit, BehavioursMatchTheDocumentedExample) {
  const std::string text = "the-final--countdown";
  using V = std::vector<std::string>;
  EXPECT_EQ(split_text(text, tk::SplitBehavior::kRemoved), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split_text(text, tk::SplitBehavior::kIsolated), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split_text(text, tk::SplitBehavior::kMergedWithPrevious), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split_text(text, tk::SplitBehavior::kMergedWithNext), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split_text(text, tk::SplitBehavior::kContiguous), (V{"the", "-", "final", "--", "countdown"}));
}

// GPT-2's table: printable bytes map to themselves, the others to U+0100 upwards in byte order.
TEST(TokenizerByteLevel, AlphabetIsGpt2s) {
  EXPECT_EQ(tk::byte_to_char('!'), 0x21u);
  EXPECT_EQ(tk::byte_to_char(0), 0x100u);
  EXPECT_EQ(tk::byte_to_char('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(tk::byte_to_char(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(tk::byte_to_char(0x7F), 0x121u);
  EXPECT_EQ(tk::byte_to_char(0xAD), 0x143u);
  std::set<std::string> distinct(tk::byte_level_alphabet().begin(), tk::byte_level_alphabet().end());
  EXPECT_EQ(distinct.size(), 256u);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string mapped, back;
  tk::append_byte_level(mapped, all);
  ASSERT_TRUE(tk::byte_level_to_bytes(mapped, back));
  EXPECT_EQ(back, all);
}

// Unicode 15, section 3.9, table 3-8: one U+FFFD per maximal ill-formed subpart.
TEST(TokenizerUnicode, IllFormedUtf8BecomesReplacementCharactersPerMaximalSubpart) {
  const std::string bad = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  EXPECT_FALSE(tk::is_valid_utf8(bad));
  EXPECT_EQ(tk::to_valid_utf8(bad), "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
  EXPECT_EQ(tk::to_valid_utf8("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate is not UTF-8
}

// Closed forms from the Unicode standard: composition, singletons, Hangul by arithmetic, reordering.
TEST(TokenizerUnicode, CanonicalNormalizationExamples) {
  EXPECT_EQ(tk::nfc("e\u0301"), "\u00E9");
  EXPECT_EQ(tk::nfd("\u00E9"), "e\u0301");
  EXPECT_EQ(tk::nfc("\u212B"), "\u00C5");                // ANGSTROM SIGN -> Å
  EXPECT_EQ(tk::nfc("\u1100\u1161\u11A8"), "\uAC01");    // ᄀ ᅡ ᆨ -> 각
  EXPECT_EQ(tk::nfd("\uAC01"), "\u1100\u1161\u11A8");
  EXPECT_EQ(tk::nfd("q\u0307\u0323"), "q\u0323\u0307");  // dot below (220) sorts before dot above (230)
  EXPECT_EQ(tk::nfc("plain ASCII"), "plain ASCII");
}

TEST(TokenizerBpe, MergesApplyByRankNotByPosition) {
  // (b, c) outranks (a, b): "abc" -> a + bc, never ab + c.
  auto model = make_bpe({"a", "b", "c", "ab", "bc"}, {{"b", "c"}, {"a", "b"}});
  EXPECT_EQ(bpe_ids(model, "abc"), (std::vector<int32_t>{0, 4}));
  // Equal pairs merge leftmost first: "aaa" -> aa + a.
  auto repeated = make_bpe({"a", "aa"}, {{"a", "a"}});
  EXPECT_EQ(bpe_ids(repeated, "aaa"), (std::vector<int32_t>{1, 0}));
  // Chains continue on the merged symbols.
  auto chain = make_bpe({"a", "b", "c", "ab", "abc"}, {{"a", "b"}, {"ab", "c"}});
  EXPECT_EQ(bpe_ids(chain, "abcab"), (std::vector<int32_t>{4, 3}));
}

TEST(TokenizerBpe, ByteFallbackUnknownsAndIgnoreMerges) {
  std::vector<std::string> tokens = {"<unk>", "a"};
  for (int b = 0; b < 256; ++b) tokens.push_back(fmt::format("<0x{:02X}>", b));
  tk::BpeOptions fallback;
  fallback.byte_fallback = true;
  fallback.unk_token = "<unk>";
  auto with_bytes = make_bpe(tokens, {}, fallback);
  EXPECT_EQ(bpe_ids(with_bytes, "a\u00E9"), (std::vector<int32_t>{1, 2 + 0xC3, 2 + 0xA9}));

  tk::BpeOptions unk;
  unk.unk_token = "<unk>";
  auto separate = make_bpe({"<unk>", "a"}, {}, unk);
  EXPECT_EQ(bpe_ids(separate, "\u00E9\u00E8a"), (std::vector<int32_t>{0, 0, 1}));
  unk.fuse_unk = true;
  auto fused = make_bpe({"<unk>", "a"}, {}, unk);
  EXPECT_EQ(bpe_ids(fused, "\u00E9\u00E8a"), (std::vector<int32_t>{0, 1}));

  tk::BpeOptions whole;
  whole.ignore_merges = true;
  auto direct = make_bpe({"a", "b", "c", "abc"}, {}, whole);
  EXPECT_EQ(bpe_ids(direct, "abc"), (std::vector<int32_t>{3}));
  EXPECT_EQ(bpe_ids(make_bpe({"a", "b", "c", "abc"}, {}), "abc"), (std::vector<int32_t>{0, 1, 2}));
}

TEST(TokenizerBpe, MergeOutsideTheVocabularyIsNamed) {
  try {
    make_bpe({"a", "b"}, {{"a", "b"}});
    FAIL() << "expected an error";
  } catch (const mha2mla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("merges[0]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'ab'"), std::string::npos) << e.what();
  }
}

// Hugging Face's added-token rules: leftmost-longest, lstrip/rstrip swallow whitespace, single_word.
TEST(TokenizerAddedVocabulary, StripSingleWordAndLongestMatch) {
  std::vector<tk::AddedToken> tokens(4);
  tokens[0] = {10, "<mask>", false, true, false, false, true};
  tokens[1] = {11, "<end>", false, false, true, false, true};
  tokens[2] = {12, "ab", true, false, false, false, false};
  tokens[3] = {13, "<end><end>", false, false, false, false, true};
  tk::AddedVocabulary added(tokens, nullptr);
  using V = std::vector<std::string>;
  EXPECT_EQ(piece_texts(added.extract_and_normalize("x  <mask>y", nullptr)), (V{"x", "#  <mask>", "y"}));
  EXPECT_EQ(piece_texts(added.extract_and_normalize("<end>  y", nullptr)), (V{"#<end>  ", "y"}));
  EXPECT_EQ(piece_texts(added.extract_and_normalize("ab cab ab.", nullptr)), (V{"#ab", " cab ", "#ab", "."}));
  EXPECT_EQ(piece_texts(added.extract_and_normalize("<end><end>", nullptr)), (V{"#<end><end>"}));
}

TEST(TokenizerLoader, ErrorsNameTheFileAndKey) {
  const std::string dir = scratch_dir("errors");
  try {
    tk::load_tokenizer(mha2mla::path_join(dir, "absent"));
    FAIL() << "expected an error";
  } catch (const mha2mla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent"), std::string::npos) << e.what();
  }
  nlohmann::json spec = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}}},
                         {"normalizer", {{"type", "Lowercase"}}}};
  mha2mla::write_file_atomic(mha2mla::path_join(dir, "tokenizer.json"), spec.dump());
  try {
    tk::load_tokenizer(dir);
    FAIL() << "expected an error";
  } catch (const mha2mla::Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("tokenizer.json: normalizer"), std::string::npos) << message;
    EXPECT_NE(message.find("Lowercase"), std::string::npos) << message;
  }
}

TEST(TokenizerTiny, DeterministicAndRoundTrips) {
  for (const std::string& family : tk::tiny_tokenizer_families()) {
    const std::string a = scratch_dir(family + "-a"), b = scratch_dir(family + "-b");
    tk::TinyTokenizerInfo info = tk::write_tiny_tokenizer(family, 420, a);
    tk::write_tiny_tokenizer(family, 420, b);
    EXPECT_EQ(mha2mla::read_file(mha2mla::path_join(a, "tokenizer.json")),
              mha2mla::read_file(mha2mla::path_join(b, "tokenizer.json")))
        << family;
    auto tokenizer = tk::load_tokenizer(a);
    EXPECT_EQ(tokenizer->id_limit(), info.id_limit) << family;
    EXPECT_EQ(tokenizer->eos_id(), info.eos_id) << family;
    EXPECT_EQ(tokenizer->bos_id(), info.bos_id) << family;
    const std::string text = "The picture shows a small red boat near the water.";
    std::vector<int32_t> ids = tokenizer->encode(text, false);
    EXPECT_LT(ids.size(), text.size()) << family;
    EXPECT_EQ(tokenizer->decode(ids), text) << family;
    if (info.image_id >= 0) {
      std::string image = family == "qwen2" ? "<|image_pad|>" : "<image>";
      std::vector<int32_t> with_image = tokenizer->encode("a " + image + " b", false);
      EXPECT_NE(std::find(with_image.begin(), with_image.end(), info.image_id), with_image.end()) << family;
    }
  }
}

// One tokenizer shared by several threads (the data workers) gives each the ids it gives alone.
TEST(TokenizerThreads, SharedTokenizerMatchesSequentialIds) {
  const std::string dir = scratch_dir("threads");
  tk::write_tiny_tokenizer("llama3", 400, dir);
  auto tokenizer = tk::load_tokenizer(dir);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back(fmt::format("Line {} of the picture: {} boats, {} birds and a caf\u00e9 {}.", i, i * 7, i % 13,
                                std::string(static_cast<size_t>(i % 5), ' ')));
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tokenizer->encode(t));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      for (int round = 0; round < 5; ++round)
        for (size_t i = w; i < texts.size(); i += 1 + w % 2)
          if (tokenizer->encode(texts[i]) != expected[i]) ++mismatches[w];
    });
  }
  for (auto& t : workers) t.join();
  for (int w = 0; w < 4; ++w) EXPECT_EQ(mismatches[w], 0) << "thread " << w;
}
