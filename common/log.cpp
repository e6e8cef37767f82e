#include "common/log.h"

#include <cstdlib>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "common/error.h"
#include "common/files.h"

namespace mha2mla::logging {
namespace {

int g_rank = 0;
int g_world_size = 1;

std::string effective_level(const std::string& requested) {
  const char* env = std::getenv("MHA2MLA_LOG_LEVEL");
  return env && *env ? std::string(env) : requested;
}

std::string pattern() {
  if (g_world_size <= 1) return "[%H:%M:%S.%e] [%^%l%$] %v";
  return fmt::format("[%H:%M:%S.%e] [rank {}] [%^%l%$] %v", g_rank);
}

void install(spdlog::level::level_enum level, const std::string& directory) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  // Non-zero ranks stay quiet below warnings on the console: N copies of the same progress line help no one.
  console->set_level(g_rank == 0 ? level : std::max(level, spdlog::level::warn));
  std::vector<spdlog::sink_ptr> sinks{console};
  if (!directory.empty()) {
    ensure_directory(directory);
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(
        path_join(directory, fmt::format("rank-{}.log", g_rank)), /*truncate=*/false);
    file->set_level(level);
    sinks.push_back(file);
  }
  auto logger = std::make_shared<spdlog::logger>("mha2mla", sinks.begin(), sinks.end());
  logger->set_level(level);
  logger->set_pattern(pattern());
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace

spdlog::level::level_enum parse_level(const std::string& name, const std::string& where) {
  static const std::pair<const char*, spdlog::level::level_enum> levels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"off", spdlog::level::off}};
  for (const auto& [text, level] : levels)
    if (name == text) return level;
  fail("{}: unknown log level '{}'; expected one of trace, debug, info, warn, error, off", where, name);
}

void init(int rank, int world_size, const std::string& level) {
  g_rank = rank;
  g_world_size = world_size;
  install(parse_level(effective_level(level), std::getenv("MHA2MLA_LOG_LEVEL") ? "MHA2MLA_LOG_LEVEL" : "log level"), "");
}

void configure(const std::string& level, const std::string& directory) {
  bool from_env = std::getenv("MHA2MLA_LOG_LEVEL") && *std::getenv("MHA2MLA_LOG_LEVEL");
  install(parse_level(effective_level(level), from_env ? "MHA2MLA_LOG_LEVEL" : "log.level"), directory);
}

int rank() { return g_rank; }
int world_size() { return g_world_size; }

}  // namespace mha2mla::logging
