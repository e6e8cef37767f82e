#include "trainer/checkpoint.h"

#include <ATen/ATen.h>

#include <ctime>
#include <filesystem>
#include <set>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/strings.h"
#include "distributed/communicator.h"
#include "distributed/grid.h"
#include "model/io/safetensors.h"
#include "model/io/safetensors_writer.h"
#include "model/io/tensor_io.h"
#include "trainer/checkpoint_manifest.pb.h"
#include "trainer/checkpoint_store.h"
#include "trainer/rank_exchange.h"

namespace mha2mla {
namespace fs = std::filesystem;
namespace {

constexpr uint32_t kFormatVersion = 1;
constexpr const char* kManifestName = "manifest.pb";
constexpr const char* kDoneName = "DONE";

std::string weights_file_name(int tp_rank) { return fmt::format("weights-tp{}.safetensors", tp_rank); }
std::string optimizer_file_name(int tp_rank) { return fmt::format("optimizer-tp{}.safetensors", tp_rank); }

std::string utc_timestamp(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string done_text(int64_t step, uint32_t manifest_crc) {
  return fmt::format("mha2mla checkpoint\nstep {}\nmanifest_crc32c {}\n", step, crc32c_hex(manifest_crc));
}

// Writes `tensors` as one safetensors file and returns its entry (size and CRC read back from disk, so the
// manifest describes what is really there).
checkpoint::FileEntry write_tensor_file(const std::string& folder, const std::string& name,
                                        const std::map<std::string, at::Tensor>& tensors, int64_t step, int rank) {
  io::SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  writer.set_metadata("mha2mla.checkpoint_step", std::to_string(step));
  for (const auto& [tensor_name, tensor] : tensors) io::add_tensor(writer, tensor_name, tensor);
  const std::string path = path_join(folder, name);
  writer.write(path);
  checkpoint::FileEntry entry;
  uint64_t size = 0;
  entry.set_crc32c(crc32c_file(path, &size));
  entry.set_name(name);
  entry.set_size(size);
  entry.set_written_by(rank);
  return entry;
}

std::optional<int64_t> parse_int(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// "" when complete; fills `manifest`.
std::string inspect_unguarded(const std::string& path, CheckpointVerify verify, checkpoint::Manifest& manifest) {
  if (!directory_exists(path)) return "no such folder";
  const std::string done_path = path_join(path, kDoneName);
  if (!file_exists(done_path)) return "DONE is missing (the save did not finish)";
  const std::string manifest_path = path_join(path, kManifestName);
  if (!file_exists(manifest_path)) return "manifest.pb is missing";

  std::string done = read_file(done_path);
  auto lines = split(done, '\n');
  std::optional<int64_t> done_step;
  std::string done_crc;
  for (const auto& line : lines) {
    if (starts_with(line, "step ")) done_step = parse_int(line.substr(5));
    if (starts_with(line, "manifest_crc32c ")) done_crc = line.substr(16);
  }
  if (lines.empty() || lines[0] != "mha2mla checkpoint" || !done_step || done_crc.size() != 8)
    return fmt::format("DONE does not read 'mha2mla checkpoint / step N / manifest_crc32c X' ({} bytes)", done.size());

  std::string bytes = read_file(manifest_path);
  if (crc32c_hex(crc32c(bytes)) != done_crc)
    return fmt::format("manifest.pb has CRC-32C {} but DONE records {} (the manifest was changed or damaged)",
                       crc32c_hex(crc32c(bytes)), done_crc);
  if (!manifest.ParseFromString(bytes))
    return fmt::format("manifest.pb ({} bytes) does not parse as a mha2mla.checkpoint.Manifest", bytes.size());
  if (manifest.format_version() != kFormatVersion)
    return fmt::format("manifest.pb has format_version {}; this mha2mla reads version {}", manifest.format_version(),
                       kFormatVersion);
  if (manifest.step() != *done_step)
    return fmt::format("manifest.pb says step {} but DONE says step {}", manifest.step(), *done_step);
  std::string base = fs::path(path).filename().string();
  if (base.empty()) base = fs::path(path).parent_path().filename().string();
  if (starts_with(base, "step-")) {
    auto folder_step = parse_int(base.substr(5));
    if (folder_step && *folder_step != manifest.step())
      return fmt::format("the folder is named for step {} but manifest.pb says step {}", *folder_step, manifest.step());
  }
  const auto& layout = manifest.layout();
  if (layout.world_size() < 1 || layout.dp_size() < 1 || layout.tp_size() < 1 ||
      layout.world_size() != layout.dp_size() * layout.tp_size())
    return fmt::format("manifest.pb has an impossible layout: world {} = dp {} x tp {}", layout.world_size(),
                       layout.dp_size(), layout.tp_size());
  if (manifest.ranks_size() != layout.world_size())
    return fmt::format("manifest.pb records {} ranks for a world of {}", manifest.ranks_size(), layout.world_size());
  for (int r = 0; r < manifest.ranks_size(); ++r)
    if (manifest.ranks(r).rank() != r)
      return fmt::format("manifest.pb lists rank {} in position {}", manifest.ranks(r).rank(), r);

  std::set<std::string> listed;
  for (const auto& file : manifest.files()) {
    if (file.name().empty() || file.name().find('/') != std::string::npos || file.name() == kManifestName ||
        file.name() == kDoneName || !listed.insert(file.name()).second)
      return fmt::format("manifest.pb lists an invalid or repeated file name '{}'", file.name());
    const std::string file_path = path_join(path, file.name());
    if (!file_exists(file_path)) return fmt::format("{} is listed in manifest.pb but missing", file.name());
    uint64_t size = fs::file_size(file_path);
    if (size != file.size())
      return fmt::format("{}: {} bytes on disk, manifest.pb says {}", file.name(), size, file.size());
    if (verify == CheckpointVerify::checksums) {
      uint32_t crc = crc32c_file(file_path);
      if (crc != file.crc32c())
        return fmt::format("{}: CRC-32C {} on disk, manifest.pb says {} (the file is damaged)", file.name(),
                           crc32c_hex(crc), crc32c_hex(file.crc32c()));
    }
  }
  for (int k = 0; k < layout.tp_size(); ++k)
    for (const auto& name : {weights_file_name(k), optimizer_file_name(k)})
      if (!listed.count(name)) return fmt::format("manifest.pb does not list {}", name);
  return "";
}

// The same, with I/O failures (a file vanishing or unreadable mid-check) reported as the problem.
std::string inspect(const std::string& path, CheckpointVerify verify, checkpoint::Manifest& manifest) {
  try {
    return inspect_unguarded(path, verify, manifest);
  } catch (const std::exception& error) {
    return error.what();
  }
}

CheckpointSummary summarize(const std::string& path, const checkpoint::Manifest& manifest) {
  CheckpointSummary s;
  s.path = path;
  s.progress.step = manifest.step();
  s.progress.samples_seen = manifest.samples_seen();
  s.progress.tokens_seen = manifest.tokens_seen();
  s.progress.skipped_steps = manifest.skipped_steps();
  s.world_size = manifest.layout().world_size();
  s.dp_size = manifest.layout().dp_size();
  s.tp_size = manifest.layout().tp_size();
  s.recipe_hash = manifest.recipe_hash();
  s.mha2mla_version = manifest.mha2mla_version();
  s.created_unix_seconds = manifest.created_unix_seconds();
  s.created_utc = manifest.created_utc();
  for (const auto& f : manifest.files()) s.files.push_back({f.name(), f.size(), f.crc32c()});
  for (const auto& entry : manifest.metadata()) s.metadata[entry.first] = entry.second;
  return s;
}

std::map<std::string, at::Tensor> read_tensor_file(const std::string& path) {
  io::SafetensorsFile file(path);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : file.names()) tensors[name] = io::to_tensor(file.view(name));
  return tensors;
}

void remove_folder(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) fail("cannot remove '{}': {}", path, ec.message());
}

}  // namespace

std::map<std::string, at::Tensor> named_tensors(const std::vector<ParamRef>& params) {
  std::map<std::string, at::Tensor> out;
  for (const auto& ref : params) {
    MHA2MLA_CHECK(ref.tensor && ref.tensor->defined(), "parameter '{}' has no tensor", ref.name);
    if (!out.emplace(ref.name, ref.tensor->detach()).second) fail("parameter '{}' is listed twice", ref.name);
  }
  return out;
}

CheckpointVerify parse_checkpoint_verify(const std::string& value) {
  if (value == "sizes") return CheckpointVerify::sizes;
  if (value == "checksums") return CheckpointVerify::checksums;
  fail("checkpoint.verify = '{}': expected sizes or checksums", value);
}

std::string save_checkpoint(const std::string& dir, const CheckpointContents& contents, const dist::ProcessGrid& grid,
                            const CheckpointSaveOptions& options) {
  dist::Communicator& world = grid.world();
  const int rank = world.rank();
  const int64_t step = contents.progress.step;
  if (step < 0) fail("checkpoint: step {} is negative", step);
  const std::string final_path = path_join(dir, checkpoint_folder_name(step));
  const std::string partial_path = path_join(dir, partial_checkpoint_folder_name(step));
  auto event = [&](const std::string& what) {
    if (options.on_event) options.on_event(what);
  };
  const std::string what = fmt::format("saving checkpoint {}", final_path);

  run_on_every_rank(world, what, [&] {
    if (rank != 0) return;
    ensure_directory(dir);
    if (fs::exists(partial_path)) remove_folder(partial_path);  // left by an interrupted save of this step
    ensure_directory(partial_path);
    event("created");
  });

  checkpoint::RankContribution contribution;
  run_on_every_rank(world, what, [&] {
    auto* state = contribution.mutable_state();
    state->set_rank(rank);
    state->set_dp_rank(grid.dp_rank());
    state->set_tp_rank(grid.tp_rank());
    state->set_data_cursor(contents.data_cursor);
    state->set_cpu_rng_state(contents.cpu_rng_state);
    if (grid.dp_rank() != 0) return;
    for (const auto& [name, tensors] : {std::pair{weights_file_name(grid.tp_rank()), &contents.weights},
                                        std::pair{optimizer_file_name(grid.tp_rank()), &contents.optimizer_state}}) {
      *contribution.add_files() = write_tensor_file(partial_path, name, *tensors, step, rank);
      event("wrote " + name);
    }
  });

  std::vector<std::string> records = all_gather_bytes(world, contribution.SerializeAsString());

  run_on_every_rank(world, what, [&] {
    if (rank != 0) return;
    checkpoint::Manifest manifest;
    manifest.set_format_version(kFormatVersion);
    manifest.set_step(step);
    manifest.set_samples_seen(contents.progress.samples_seen);
    manifest.set_tokens_seen(contents.progress.tokens_seen);
    manifest.set_skipped_steps(contents.progress.skipped_steps);
    manifest.mutable_layout()->set_world_size(grid.shape().world_size);
    manifest.mutable_layout()->set_dp_size(grid.shape().data_parallel);
    manifest.mutable_layout()->set_tp_size(grid.shape().tensor_parallel);
    manifest.set_recipe_hash(contents.recipe_hash);
    manifest.set_mha2mla_version(MHA2MLA_VERSION);
    const std::time_t now = std::time(nullptr);
    manifest.set_created_unix_seconds(static_cast<int64_t>(now));
    manifest.set_created_utc(utc_timestamp(now));
    for (const auto& [key, value] : contents.metadata) (*manifest.mutable_metadata())[key] = value;
    for (size_t r = 0; r < records.size(); ++r) {
      checkpoint::RankContribution record;
      if (!record.ParseFromString(records[r]) || record.state().rank() != static_cast<int>(r))
        fail("checkpoint {}: the record sent by rank {} does not parse", final_path, r);
      *manifest.add_ranks() = record.state();
      for (const auto& file : record.files()) *manifest.add_files() = file;
    }
    const std::string manifest_bytes = manifest.SerializeAsString();
    write_file_atomic(path_join(partial_path, kManifestName), manifest_bytes);
    event("manifest");
    write_file_atomic(path_join(partial_path, kDoneName), done_text(step, crc32c(manifest_bytes)));
    event("done");
    if (fs::exists(final_path)) {
      // Saving a step again (e.g. the final save of a step just saved periodically): the old copy goes
      // aside first, since rename cannot replace a non-empty folder.
      const std::string aside = path_join(dir, "." + checkpoint_folder_name(step) + ".deleting");
      if (fs::exists(aside)) remove_folder(aside);
      atomic_rename(final_path, aside);
      atomic_rename(partial_path, final_path);
      remove_folder(aside);
    } else {
      atomic_rename(partial_path, final_path);
    }
    event("renamed");
    remove_interrupted_saves(dir);
    if (options.keep_last > 0 || options.keep_every > 0) apply_retention(dir, options.keep_last, options.keep_every);
  });
  return final_path;
}

std::string save_checkpoint(const std::string& dir, const CheckpointContents& contents,
                            const CheckpointSaveOptions& options) {
  dist::ProcessGrid grid(std::shared_ptr<dist::Communicator>(dist::make_single_process_communicator()), 1);
  return save_checkpoint(dir, contents, grid, options);
}

std::string checkpoint_problem(const std::string& path, CheckpointVerify verify) {
  checkpoint::Manifest manifest;
  return inspect(path, verify, manifest);
}

CheckpointSummary read_checkpoint(const std::string& path, CheckpointVerify verify) {
  checkpoint::Manifest manifest;
  std::string problem = inspect(path, verify, manifest);
  if (!problem.empty())
    fail_with_hint("pick another checkpoint, or set checkpoint.resume=none to start afresh",
                   "checkpoint '{}' is not complete: {}", path, problem);
  return summarize(path, manifest);
}

LoadedCheckpoint load_checkpoint(const std::string& path, const dist::ProcessGrid& grid, CheckpointVerify verify) {
  checkpoint::Manifest manifest;
  std::string problem = inspect(path, verify, manifest);
  if (!problem.empty())
    fail_with_hint("pick another checkpoint, or set checkpoint.resume=none to start afresh",
                   "checkpoint '{}' is not complete: {}", path, problem);
  const auto& layout = manifest.layout();
  const auto& shape = grid.shape();
  if (layout.world_size() != shape.world_size || layout.tp_size() != shape.tensor_parallel)
    fail_with_hint("resume with the same number of ranks and distributed.tensor_parallel, or start afresh with "
                   "checkpoint.resume=none and train.init_from pointing at an exported model",
                   "checkpoint '{}' was written by world {} = dp {} x tp {}; this run is world {} = dp {} x tp {}",
                   path, layout.world_size(), layout.dp_size(), layout.tp_size(), shape.world_size,
                   shape.data_parallel, shape.tensor_parallel);
  const int rank = grid.world().rank();
  LoadedCheckpoint loaded;
  loaded.summary = summarize(path, manifest);
  loaded.weights = read_tensor_file(path_join(path, weights_file_name(grid.tp_rank())));
  loaded.optimizer_state = read_tensor_file(path_join(path, optimizer_file_name(grid.tp_rank())));
  loaded.data_cursor = manifest.ranks(rank).data_cursor();
  loaded.cpu_rng_state = manifest.ranks(rank).cpu_rng_state();
  return loaded;
}

LoadedCheckpoint load_checkpoint(const std::string& path, CheckpointVerify verify) {
  dist::ProcessGrid grid(std::shared_ptr<dist::Communicator>(dist::make_single_process_communicator()), 1);
  return load_checkpoint(path, grid, verify);
}

void restore_parameters(const std::vector<ParamRef>& params, const std::map<std::string, at::Tensor>& weights,
                        const std::string& source) {
  std::set<std::string> wanted;
  for (const auto& ref : params) {
    wanted.insert(ref.name);
    auto it = weights.find(ref.name);
    if (it == weights.end())
      fail_with_hint("resume with the recipe that wrote the checkpoint (same train.trainable and train.lora)",
                     "{}: trainable tensor '{}' is missing", source, ref.name);
    const at::Tensor& stored = it->second;
    if (stored.sizes() != ref.tensor->sizes() || stored.scalar_type() != ref.tensor->scalar_type())
      fail_with_hint("the checkpoint was trained from another conversion or model (convert.rope_dims, latent_rank, "
                     "variant, model.dtype...): give this run its own checkpoint.dir, or checkpoint.resume=none",
                     "{}: tensor '{}' is {} {} but the parameter is {} {}", source, ref.name,
                     c10::toString(stored.scalar_type()), io::format_shape(stored.sizes().vec()),
                     c10::toString(ref.tensor->scalar_type()), io::format_shape(ref.tensor->sizes().vec()));
  }
  for (const auto& [name, tensor] : weights)
    if (!wanted.count(name))
      fail_with_hint("resume with the recipe that wrote the checkpoint (same train.trainable and train.lora)",
                     "{}: tensor '{}' is not a trainable parameter of this run", source, name);
  at::NoGradGuard no_grad;
  for (const auto& ref : params) ref.tensor->detach().copy_(weights.at(ref.name));
}

}  // namespace mha2mla
