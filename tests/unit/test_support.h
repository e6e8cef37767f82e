// Helpers shared by unit tests: scratch folders and small file writers.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"

namespace mha2mla::testing {

// A fresh, empty folder for this test under $MHA2MLA_TEST_TMP (or the system temp dir).
inline std::string scratch_dir() {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(root && *root ? root : MHA2MLA_TEST_TMP_DEFAULT) /
                              (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The mha2mla binary under test.
inline std::string binary() {
  const char* path = std::getenv("MHA2MLA_BINARY");
  return path && *path ? path : MHA2MLA_TEST_BINARY;
}

inline std::string source_dir() {
  const char* dir = std::getenv("MHA2MLA_SOURCE_DIR");
  return dir && *dir ? dir : MHA2MLA_SOURCE_DIR;
}

// Runs `body`, expecting an mha2mla::Error whose message contains every fragment.
#define EXPECT_ERROR_CONTAINS(statement, ...)                                                  \
  do {                                                                                        \
    try {                                                                                     \
      statement;                                                                              \
      ADD_FAILURE() << "expected an error from: " #statement;                                 \
    } catch (const ::mha2mla::Error& error__) {                                               \
      std::string message__ = std::string(error__.what()) + " | hint: " + error__.hint();     \
      for (const char* fragment__ : {__VA_ARGS__})                                            \
        EXPECT_NE(message__.find(fragment__), std::string::npos)                              \
            << "message lacks '" << fragment__ << "': " << message__;                         \
    }                                                                                         \
  } while (0)

}  // namespace mha2mla::testing
