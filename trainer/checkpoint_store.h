// The checkpoint folder as a whole: which step-<N> checkpoints exist, retention, and where to resume.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trainer/checkpoint.h"

namespace mha2mla {

namespace dist {
class Communicator;
}

// "step-<N>" and its partial sibling ".step-<N>.partial".
std::string checkpoint_folder_name(int64_t step);
std::string partial_checkpoint_folder_name(int64_t step);

struct CheckpointFolder {
  int64_t step = 0;
  std::string path;
};

// The step-<N> folders of `dir` by increasing step, complete or not (nothing is opened). Empty when `dir`
// does not exist.
std::vector<CheckpointFolder> list_checkpoint_folders(const std::string& dir);

// Which steps retention keeps among complete checkpoints `steps` (ascending): the newest keep_last
// (keep_last <= 0: all) plus every multiple of keep_every (keep_every <= 0: none).
std::vector<int64_t> steps_to_keep(const std::vector<int64_t>& steps, int64_t keep_last, int64_t keep_every);

// Deletes the complete checkpoints of `dir` that retention does not keep. Folders named step-<N> without
// DONE are left alone with a warning. A folder is renamed to a hidden name before it is deleted, so that a
// crash mid-delete cannot leave something that looks like a checkpoint. Returns the deleted paths.
std::vector<std::string> apply_retention(const std::string& dir, int64_t keep_last, int64_t keep_every);

// Removes what interrupted saves and deletions left in `dir` (.step-<N>.partial, .step-<N>.deleting).
// save_checkpoint calls it after each save; only one job may write into a checkpoint folder at a time.
void remove_interrupted_saves(const std::string& dir);

// Newest complete checkpoint in `dir`, or nullopt. Incomplete or corrupt ones are skipped with a warning
// that says why.
std::optional<std::string> newest_complete_checkpoint(const std::string& dir, CheckpointVerify verify);

// checkpoint.resume: "none" -> nullopt; "auto" -> newest complete checkpoint in `dir` if any; anything else
// is a checkpoint folder that must be complete (Error naming the folder/file and the problem otherwise).
std::optional<std::string> resolve_resume(const std::string& resume, const std::string& dir, CheckpointVerify verify);

// The same decided by world rank 0 and broadcast, so that every rank resumes from the same checkpoint even
// while another job writes into `dir`. Collective.
std::optional<std::string> resolve_resume(const std::string& resume, const std::string& dir, CheckpointVerify verify,
                                          dist::Communicator& world);

}  // namespace mha2mla
