#include "trainer/checkpoint_store.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/strings.h"
#include "distributed/communicator.h"
#include "trainer/rank_exchange.h"

namespace mha2mla {
namespace fs = std::filesystem;
namespace {

std::optional<int64_t> step_of(const std::string& name, const std::string& prefix, const std::string& suffix) {
  if (!starts_with(name, prefix) || !ends_with(name, suffix) || name.size() <= prefix.size() + suffix.size())
    return std::nullopt;
  std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(digits);
}

bool has_done_marker(const std::string& path) { return file_exists(path_join(path, "DONE")); }

// Renames to a hidden name first, so that a crash mid-delete leaves nothing that looks like a checkpoint.
void delete_folder(const std::string& dir, const std::string& path, const std::string& hidden_name) {
  std::string hidden = path_join(dir, hidden_name);
  std::error_code ec;
  if (fs::exists(hidden)) fs::remove_all(hidden, ec);
  if (path != hidden) atomic_rename(path, hidden);
  fs::remove_all(hidden, ec);
  if (ec) fail("cannot remove '{}': {}", hidden, ec.message());
}

}  // namespace

std::string checkpoint_folder_name(int64_t step) { return fmt::format("step-{}", step); }
std::string partial_checkpoint_folder_name(int64_t step) { return fmt::format(".step-{}.partial", step); }

std::vector<CheckpointFolder> list_checkpoint_folders(const std::string& dir) {
  std::vector<CheckpointFolder> folders;
  if (!directory_exists(dir)) return folders;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_directory()) continue;
    if (auto step = step_of(entry.path().filename().string(), "step-", ""))
      folders.push_back({*step, entry.path().string()});
  }
  std::sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return folders;
}

std::vector<int64_t> steps_to_keep(const std::vector<int64_t>& steps, int64_t keep_last, int64_t keep_every) {
  std::vector<int64_t> keep;
  const size_t n = steps.size();
  for (size_t i = 0; i < n; ++i) {
    bool newest = keep_last <= 0 || i + static_cast<size_t>(keep_last) >= n;
    bool milestone = keep_every > 0 && steps[i] % keep_every == 0;
    if (newest || milestone) keep.push_back(steps[i]);
  }
  return keep;
}

void remove_interrupted_saves(const std::string& dir) {
  if (!directory_exists(dir)) return;
  std::vector<fs::path> leftovers;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && (step_of(name, ".step-", ".partial") || step_of(name, ".step-", ".deleting")))
      leftovers.push_back(entry.path());
  }
  for (const auto& path : leftovers) {
    spdlog::info("removing '{}', left by an interrupted checkpoint save or deletion", path.string());
    delete_folder(dir, path.string(), path.filename().string());
  }
}

std::vector<std::string> apply_retention(const std::string& dir, int64_t keep_last, int64_t keep_every) {
  std::vector<std::string> deleted;
  if (!directory_exists(dir)) return deleted;
  std::vector<int64_t> complete;
  std::map<int64_t, std::string> paths;
  for (const auto& folder : list_checkpoint_folders(dir)) {
    if (!has_done_marker(folder.path)) {
      spdlog::warn("'{}' has no DONE marker: it is not a complete checkpoint; left alone", folder.path);
      continue;
    }
    complete.push_back(folder.step);
    paths[folder.step] = folder.path;
  }
  std::vector<int64_t> keep = steps_to_keep(complete, keep_last, keep_every);
  std::set<int64_t> kept(keep.begin(), keep.end());
  for (int64_t step : complete) {
    if (kept.count(step)) continue;
    spdlog::info("checkpoint retention (keep_last {}, keep_every {}): deleting '{}'", keep_last, keep_every,
                 paths[step]);
    delete_folder(dir, paths[step], fmt::format(".step-{}.deleting", step));
    deleted.push_back(paths[step]);
  }
  return deleted;
}

std::optional<std::string> newest_complete_checkpoint(const std::string& dir, CheckpointVerify verify) {
  auto folders = list_checkpoint_folders(dir);
  for (auto it = folders.rbegin(); it != folders.rend(); ++it) {
    std::string problem = checkpoint_problem(it->path, verify);
    if (problem.empty()) return it->path;
    spdlog::warn("skipping checkpoint '{}': {}", it->path, problem);
  }
  return std::nullopt;
}

std::optional<std::string> resolve_resume(const std::string& resume, const std::string& dir, CheckpointVerify verify) {
  if (resume == "none") return std::nullopt;
  if (resume == "auto") {
    auto found = newest_complete_checkpoint(dir, verify);
    if (found) spdlog::info("checkpoint.resume=auto: resuming from '{}'", *found);
    else spdlog::info("checkpoint.resume=auto: no complete checkpoint in '{}'; starting afresh", dir);
    return found;
  }
  if (!directory_exists(resume))
    fail_with_hint("give a step-<N> folder, or auto / none", "checkpoint.resume = '{}': no such folder", resume);
  if (!file_exists(path_join(resume, "DONE")) && !file_exists(path_join(resume, "manifest.pb")) &&
      !list_checkpoint_folders(resume).empty())
    fail_with_hint(fmt::format("give one of its step-<N> folders, or set checkpoint.dir={} checkpoint.resume=auto",
                               resume),
                   "checkpoint.resume = '{}' is a folder of checkpoints, not a checkpoint", resume);
  read_checkpoint(resume, verify);  // throws naming the file and the problem
  return resume;
}

std::optional<std::string> resolve_resume(const std::string& resume, const std::string& dir, CheckpointVerify verify,
                                          dist::Communicator& world) {
  const std::string kResume = "resume:", kFresh = "fresh";
  std::string decision;
  run_on_every_rank(world, "choosing the checkpoint to resume from", [&] {
    if (world.rank() != 0) return;
    auto found = resolve_resume(resume, dir, verify);
    decision = found ? kResume + *found : kFresh;
  });
  decision = broadcast_bytes(world, decision, 0);
  if (!starts_with(decision, kResume)) return std::nullopt;
  return decision.substr(kResume.size());
}

}  // namespace mha2mla
