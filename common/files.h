// File helpers: whole-file reads with clear errors, and atomic writes (temp file + rename) so that a
// crash never leaves a half-written output that a later step would take for a complete one.
#pragma once

#include <string>
#include <string_view>

namespace mha2mla {

std::string read_file(const std::string& path);
void write_file_atomic(const std::string& path, std::string_view contents);
void ensure_directory(const std::string& path);
bool file_exists(const std::string& path);
bool directory_exists(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);
std::string parent_directory(const std::string& path);

// A unique temporary sibling of `path` for atomic writes.
std::string temporary_sibling(const std::string& path);

// Renames atomically and fsyncs the containing directory.
void atomic_rename(const std::string& from, const std::string& to);

}  // namespace mha2mla
