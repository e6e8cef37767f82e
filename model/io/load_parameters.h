// Filling a module's parameters from a checkpoint, strictly: every tensor the module expects must be there
// with the expected shape and a floating-point dtype; leftovers in the file are an error too (a config that
// disagrees with its tensors shows up one way or the other). Tensors are converted one at a time, straight
// from the file mapping into the parameter, so loading never holds a second copy of the model.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "model/io/safetensors_checkpoint.h"
#include "model/params.h"

namespace mha2mla {

struct LoadSpec {
  // Module name (as the visitor reports it) -> tensor name in the checkpoint.
  std::function<std::string(const std::string& module_name)> file_name;
  // Checkpoint tensors that may be left unused (e.g. rotary inv_freq buffers of old exports).
  std::function<bool(const std::string& file_name)> ignorable;
  // When false, checkpoint tensors no parameter asked for are only warned about.
  bool strict_unexpected = true;
};

// Returns the names of the checkpoint tensors it used.
std::set<std::string> load_parameters(const io::SafetensorsCheckpoint& checkpoint,
                                      const std::function<void(const ParamVisitor&)>& walk, const LoadSpec& spec);

}  // namespace mha2mla
