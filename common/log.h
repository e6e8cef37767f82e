// Rank-aware logging over spdlog. Rank 0 prints at the configured level; other ranks print warnings and
// errors only, tagged with their rank; an optional per-rank log file records everything a rank logs.
// Use spdlog's calls directly after init: spdlog::info("..."), spdlog::warn("..."), ...
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace mha2mla::logging {

// Call once at program start. The level comes from MHA2MLA_LOG_LEVEL when set, else `level`.
void init(int rank, int world_size, const std::string& level = "info");

// Re-applies the level (recipe's `log.level`, unless MHA2MLA_LOG_LEVEL is set) and, when `directory` is
// not empty, adds a file sink `directory/rank-<r>.log` at that level for every rank.
void configure(const std::string& level, const std::string& directory);

int rank();
int world_size();

// Parses "trace|debug|info|warn|error|off"; throws Error naming `where` otherwise.
spdlog::level::level_enum parse_level(const std::string& name, const std::string& where);

}  // namespace mha2mla::logging
