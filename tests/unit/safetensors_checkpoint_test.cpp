// Checkpoints: single file or HF-style shards + index, written by our sharded writer and read back, and
// broken indexes (missing shard, tensor absent from its shard, unlisted tensors, paths leaving the folder).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "model/io/safetensors_checkpoint.h"
#include "model/io/safetensors_writer.h"

namespace mha2mla::io {
namespace {

namespace fs = std::filesystem;

std::string scratch_dir(const std::string& name) {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  std::string dir = path_join(root ? root : fs::temp_directory_path().string(), "safetensors_checkpoint_test/" + name);
  fs::remove_all(dir);
  ensure_directory(dir);
  return dir;
}

std::vector<uint8_t> filled(size_t count, uint8_t value) { return std::vector<uint8_t>(count, value); }

// Five tensors of 40, 40, 40, 16 and 100 bytes; each byte holds the tensor's number.
SafetensorsWriter five_tensors() {
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  writer.add("layers.0.weight", DType::F32, {10}, filled(40, 1));
  writer.add("layers.1.weight", DType::F32, {10}, filled(40, 2));
  writer.add("layers.2.weight", DType::F32, {10}, filled(40, 3));
  writer.add("norm.weight", DType::BF16, {8}, filled(16, 4));
  writer.add("embed.weight", DType::U8, {10, 10}, filled(100, 5));
  return writer;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

void write_text(const std::string& path, const std::string& text) { write_file_atomic(path, text); }

TEST(SafetensorsCheckpoint, ShardedWriterSplitsLikeHuggingFace) {
  std::string dir = scratch_dir("sharded");
  SafetensorsWriter writer = five_tensors();
  // Name order: embed (100) | layers.0 (40) + layers.1 (40) | layers.2 (40) + norm (16), with 96-byte shards;
  // the 100-byte tensor is larger than a shard and gets one of its own.
  auto files = writer.write_sharded(dir, 96);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(fs::path(files[0]).filename(), "model-00001-of-00003.safetensors");
  EXPECT_EQ(fs::path(files[2]).filename(), "model-00003-of-00003.safetensors");
  EXPECT_EQ(fs::path(files[3]).filename(), "model.safetensors.index.json");

  auto index = nlohmann::json::parse(read_file(path_join(dir, "model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 236);
  EXPECT_EQ(index["weight_map"]["embed.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["layers.1.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["norm.weight"], "model-00003-of-00003.safetensors");

  SafetensorsCheckpoint checkpoint(dir);
  EXPECT_TRUE(checkpoint.is_sharded());
  EXPECT_EQ(checkpoint.size(), 5u);
  EXPECT_EQ(checkpoint.names(), writer.names());
  EXPECT_EQ(fs::path(checkpoint.file_of("layers.2.weight")).filename(), "model-00003-of-00003.safetensors");
  uint8_t number = 0;
  for (const char* name : {"layers.0.weight", "layers.1.weight", "layers.2.weight", "norm.weight", "embed.weight"}) {
    ++number;
    TensorView view = checkpoint.view(name);
    for (uint64_t i = 0; i < view.nbytes; ++i) ASSERT_EQ(view.data[i], number) << name << " byte " << i;
  }
  EXPECT_EQ(checkpoint.info("norm.weight").dtype, DType::BF16);
  EXPECT_NO_THROW(checkpoint.check_all());
  EXPECT_TRUE(checkpoint.unlisted_tensors().empty());
  std::string missing = error_of([&] { checkpoint.view("norm.weights"); });
  EXPECT_NE(missing.find("no tensor 'norm.weights'"), std::string::npos) << missing;
  EXPECT_NE(missing.find("did you mean 'norm.weight'"), std::string::npos) << missing;
}

TEST(SafetensorsCheckpoint, SingleFileWhenEverythingFitsAndStaleFilesGo) {
  std::string dir = scratch_dir("single");
  SafetensorsWriter writer = five_tensors();
  writer.write_sharded(dir, 96);
  ASSERT_TRUE(file_exists(path_join(dir, "model.safetensors.index.json")));
  write_text(path_join(dir, "notes.txt"), "kept");

  auto files = writer.write_sharded(dir, 1 << 20);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(fs::path(files[0]).filename(), "model.safetensors");
  EXPECT_FALSE(file_exists(path_join(dir, "model.safetensors.index.json")));
  EXPECT_FALSE(file_exists(path_join(dir, "model-00001-of-00003.safetensors")));
  EXPECT_TRUE(file_exists(path_join(dir, "notes.txt")));

  for (const std::string& path : {dir, path_join(dir, "model.safetensors")}) {
    SafetensorsCheckpoint checkpoint(path);
    EXPECT_FALSE(checkpoint.is_sharded());
    EXPECT_EQ(checkpoint.names(), writer.names());
    EXPECT_EQ(checkpoint.view("embed.weight").data[99], 5);
  }
}

// A valid two-shard checkpoint to break in different ways.
std::string two_shards(const std::string& name) {
  std::string dir = scratch_dir(name);
  SafetensorsWriter a, b;
  a.add("a.weight", DType::U8, {4}, filled(4, 1));
  b.add("b.weight", DType::U8, {4}, filled(4, 2));
  b.add("b.extra", DType::U8, {2}, filled(2, 3));
  a.write(path_join(dir, "part-a.safetensors"));
  b.write(path_join(dir, "part-b.safetensors"));
  return dir;
}

void write_index(const std::string& dir, const nlohmann::json& weight_map) {
  nlohmann::json index = {{"metadata", {{"total_size", 10}}}, {"weight_map", weight_map}};
  write_text(path_join(dir, "model.safetensors.index.json"), index.dump(2));
}

TEST(SafetensorsCheckpoint, IndexNamingAMissingShardIsRefusedAtOpen) {
  std::string dir = two_shards("missing_shard");
  write_index(dir, {{"a.weight", "part-a.safetensors"}, {"c.weight", "part-c.safetensors"}});
  std::string message = error_of([&] { SafetensorsCheckpoint checkpoint(dir); });
  EXPECT_NE(message.find("model.safetensors.index.json"), std::string::npos) << message;
  EXPECT_NE(message.find("'c.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("part-c.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(SafetensorsCheckpoint, TensorAbsentFromItsShardIsRefusedWhenTheShardOpens) {
  std::string dir = two_shards("absent_tensor");
  write_index(dir, {{"a.weight", "part-a.safetensors"}, {"b.weight", "part-a.safetensors"}});
  SafetensorsCheckpoint checkpoint(dir);  // lazy: nothing opened yet
  EXPECT_TRUE(checkpoint.contains("b.weight"));
  std::string message = error_of([&] { checkpoint.view("a.weight"); });
  EXPECT_NE(message.find("maps tensor 'b.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("part-a.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("does not contain it"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { checkpoint.check_all(); }), "(accepted)");
}

TEST(SafetensorsCheckpoint, TensorsTheIndexDoesNotListAreReportedAndNotServed) {
  std::string dir = two_shards("unlisted");
  write_index(dir, {{"a.weight", "part-a.safetensors"}, {"b.weight", "part-b.safetensors"}});
  SafetensorsCheckpoint checkpoint(dir);
  EXPECT_TRUE(checkpoint.unlisted_tensors().empty());
  EXPECT_EQ(checkpoint.view("b.weight").data[0], 2);
  EXPECT_EQ(checkpoint.unlisted_tensors(), std::vector<std::string>{"part-b.safetensors: b.extra"});
  EXPECT_FALSE(checkpoint.contains("b.extra"));
  EXPECT_NE(error_of([&] { checkpoint.view("b.extra"); }), "(accepted)");
}

TEST(SafetensorsCheckpoint, BrokenIndexesAreRefused) {
  std::string dir = two_shards("broken_index");
  std::string index = path_join(dir, "model.safetensors.index.json");
  struct Case {
    std::string text;
    std::string expected;
  };
  std::vector<Case> cases = {
      {R"({"weight_map": {"a.weight": "../part-a.safetensors"}})", "not a file name inside the index's folder"},
      {R"({"weight_map": {"a.weight": "/etc/passwd"}})", "not a file name inside the index's folder"},
      {R"({"weight_map": {"a.weight": 3}})", "maps to a JSON number"},
      {R"({"weight_map": {}})", "lists no tensors"},
      {R"({"metadata": {}})", "no \"weight_map\""},
      {R"({"weight_map": {"a.weight": "part-a.safetensors", "a.weight": "part-b.safetensors"}})",
       "key 'a.weight' appears twice"},
      {R"({"weight_map": )", "not valid JSON"},
  };
  for (const auto& test : cases) {
    write_text(index, test.text);
    std::string message = error_of([&] { SafetensorsCheckpoint checkpoint(dir); });
    EXPECT_NE(message.find(test.expected), std::string::npos) << test.text << " -> " << message;
    EXPECT_NE(message.find("model.safetensors.index.json"), std::string::npos) << test.text << " -> " << message;
  }
}

TEST(SafetensorsCheckpoint, FolderWithoutCheckpointNamesWhatItLookedFor) {
  std::string dir = two_shards("no_checkpoint");
  try {
    SafetensorsCheckpoint checkpoint(dir);
    FAIL() << "a folder without model.safetensors was accepted";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("neither model.safetensors.index.json nor model.safetensors"), std::string::npos)
        << message;
    EXPECT_NE(e.hint().find("part-a.safetensors"), std::string::npos) << e.hint();
  }
  EXPECT_NE(error_of([&] { SafetensorsCheckpoint checkpoint(path_join(dir, "nothing")); }).find("does not exist"),
            std::string::npos);
}

TEST(SafetensorsCheckpoint, ViewsOutliveTheCheckpoint) {
  std::string dir = scratch_dir("outlive");
  five_tensors().write_sharded(dir, 96);
  TensorView view;
  {
    SafetensorsCheckpoint checkpoint(dir);
    view = checkpoint.view("layers.1.weight");
  }
  ASSERT_EQ(view.nbytes, 40u);
  EXPECT_EQ(view.data[39], 2);  // still mapped: the view owns the mapping
}

}  // namespace
}  // namespace mha2mla::io
