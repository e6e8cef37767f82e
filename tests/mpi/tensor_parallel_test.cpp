// Tensor parallelism over two ranks against the same model in one process (the oracle: every rank also loads the
// whole model from the same folder and runs it alone). Forward outputs, losses and every trainable gradient of
// the split model must equal the whole model's (its slice of them) to 1e-5 relative, for the teacher decoder
// (trained in full: embeddings, norms and lm_head too), the MLA student (joint and split, text and image tokens,
// LoRA with non-zero B, local and global distillation), GQA with a single KV head shared by both ranks, the
// absorbed decoding path, the global gradient norm, and the model written back whole.
#include <cstdlib>
#include <filesystem>
#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "distributed/grid.h"
#include "model/generation.h"
#include "model/mla/mla_attention.h"
#include "model/model.h"
#include "model/tensor_parallel.h"
#include "tests/mpi/converted_models.h"
#include "tests/mpi/mpi_test_support.h"
#include "trainer/grad_utils.h"
#include "trainer/losses.h"
#include "trainer/trainable.h"

namespace mha2mla {
namespace {

namespace fs = std::filesystem;
using mpi_test::converted_folder;
using mpi_test::relative_difference;
using mpi_test::runtime;
using mpi_test::Variant;
using mpi_test::world;

constexpr double kTolerance = 1e-5;

// The whole model and this rank's half of it, loaded from the same folder.
struct Models {
  std::unique_ptr<Model> whole, part;
};

Models load_both(const std::string& folder, dist::Communicator& tp_group) {
  Models m;
  m.whole = load_model(folder, ModelLoadOptions{});
  m.part = load_model(folder, ModelLoadOptions{at::kFloat, "cpu", dist::TensorParallel{&tp_group}});
  return m;
}

std::map<std::string, at::Tensor> tensors_by_name(Model& model) {
  std::map<std::string, at::Tensor> tensors;
  model.visit([&](ParamRef& ref) { tensors[ref.name] = *ref.tensor; });
  return tensors;
}

// This rank's slice of a whole-model tensor.
at::Tensor slice_of(const at::Tensor& whole, const ParamRef& ref) {
  if (ref.shard_dim < 0) return whole;
  return whole.index_select(ref.shard_dim, at::tensor(ref.shard_indices, at::kLong));
}

// LoRA on both models (A from the seed, drawn whole), then non-zero B in the whole model, copied slice by slice.
void attach_equal_lora(Models& m) {
  LoraConfig lora;
  lora.rank = 4;
  attach_lora(*m.whole, lora, 21);
  attach_lora(*m.part, lora, 21);
  at::NoGradGuard no_grad;
  at::manual_seed(22);
  for (auto& layer : m.whole->text->layers) {
    auto& student = static_cast<MlaAttention&>(*layer.student);
    student.q_proj.lora.b.normal_(0, 0.05);
    student.o_proj.lora.b.normal_(0, 0.05);
  }
  auto whole = tensors_by_name(*m.whole);
  m.part->visit([&](ParamRef& ref) {
    if (ref.name.find(".lora_B.") != std::string::npos) ref.tensor->copy_(slice_of(whole.at(ref.name), ref));
  });
}

// B = 2 rows of 10 tokens, row 1 right-padded by 3; image tokens at 2..5 of row 0 and 1..3 of row 1 (optional).
struct Batch {
  PreparedInputs inputs;
  at::Tensor labels;
};

Batch make_batch(Model& model, bool images, uint64_t seed) {
  at::manual_seed(seed);
  const int64_t B = 2, T = 10;
  at::Tensor ids = at::randint(0, model.text->config().vocab_size, {B, T}, at::kLong);
  at::Tensor mask = at::ones({B, T}, at::kLong);
  mask[1].narrow(0, T - 3, 3).zero_();
  Batch batch;
  batch.inputs.embeddings = model.text->embed(ids);
  batch.inputs.text.attention_mask = mask;
  batch.inputs.text.positions = positions_per_segment(mask, at::Tensor(), B, T, at::kCPU);
  if (images) {
    at::Tensor image = at::zeros({B, T}, at::kBool);
    image[0].narrow(0, 2, 4).fill_(true);
    image[1].narrow(0, 1, 3).fill_(true);
    batch.inputs.text.image_mask = image;
  }
  batch.labels = ids.masked_fill(mask == 0, -100);
  return batch;
}

// Every trainable tensor of the split model (after the tensor-parallel gradient sum) against its slice of the
// whole model's gradient; and the global norm through the reducer against the whole model's norm.
void expect_equal_gradients(const std::vector<ParamRef>& part_refs, const std::vector<ParamRef>& whole_refs,
                            dist::Communicator& tp_group) {
  sum_tensor_parallel_gradients(part_refs, dist::TensorParallel{&tp_group});
  std::map<std::string, at::Tensor> whole_grads;
  for (const auto& ref : whole_refs) whole_grads[ref.name] = ref.tensor->grad();
  ASSERT_EQ(part_refs.size(), whole_refs.size());
  const double whole_norm = gradient_norm(whole_refs).norm();
  int sliced = 0;
  for (const auto& ref : part_refs) {
    // Without image tokens the image projections get no gradient, in one process as under tensor parallelism.
    ASSERT_EQ(ref.tensor->grad().defined(), whole_grads.at(ref.name).defined()) << ref.name;
    if (!ref.tensor->grad().defined()) continue;
    at::Tensor expected = slice_of(whole_grads.at(ref.name), ref);
    if (ref.name.find("k_up_proj.bias") != std::string::npos) {
      // q_N . b_k is the same for every key of a query, so softmax cancels it: the gradient is zero (float noise in
      // both runs), which a relative comparison cannot judge. The identity is the oracle here.
      EXPECT_LT(ref.tensor->grad().norm().item<double>(), kTolerance * whole_norm) << ref.name;
      EXPECT_LT(expected.norm().item<double>(), kTolerance * whole_norm) << ref.name;
      continue;
    }
    EXPECT_LT(relative_difference(ref.tensor->grad(), expected), kTolerance) << ref.name;
    sliced += ref.shard_dim >= 0;
  }
  EXPECT_GT(sliced, 0);
  const double part_norm = gradient_norm(part_refs, sum_over(tp_group)).norm();
  EXPECT_NEAR(part_norm, whole_norm, kTolerance * whole_norm);
}

// The trainable set of `train` as ParamRefs with their slice information.
std::vector<ParamRef> trainable_refs(Model& model, const TrainConfig& train) {
  std::vector<TrainableParameter> chosen = select_trainable(model, train);
  std::map<std::string, bool> wanted;
  for (const auto& p : chosen) wanted[p.name] = true;
  std::vector<ParamRef> refs;
  model.visit([&](ParamRef& ref) {
    if (wanted.count(ref.name)) refs.push_back(ref);
  });
  return refs;
}

// One loss_and_backward of `train` on the whole model and on this rank's part, on the batch of `seed` (embedded by
// each model after its trainable set is chosen, so that trainable embedding rows get gradients too): the loss,
// each of its terms and every trainable gradient (against the whole model's slice) must agree.
void expect_same_loss_and_gradients(Models& m, const TrainConfig& train, bool images, uint64_t seed,
                                    dist::Communicator& tp_group) {
  std::vector<ParamRef> whole_refs = trainable_refs(*m.whole, train), part_refs = trainable_refs(*m.part, train);
  for (auto* refs : {&whole_refs, &part_refs})
    for (const auto& ref : *refs) ref.tensor->mutable_grad() = at::Tensor();
  Batch whole_batch = make_batch(*m.whole, images, seed), part_batch = make_batch(*m.part, images, seed);
  LossValues whole_loss = loss_and_backward(*m.whole, whole_batch.inputs, whole_batch.labels, train, 1.0);
  LossValues part_loss = loss_and_backward(*m.part, part_batch.inputs, part_batch.labels, train, 1.0);
  EXPECT_NEAR(part_loss.total, whole_loss.total, kTolerance * whole_loss.total);
  for (const auto& [name, value] : whole_loss.terms) EXPECT_NEAR(part_loss.terms[name], value, kTolerance * value) << name;
  expect_equal_gradients(part_refs, whole_refs, tp_group);
}

TEST(TensorParallel, LoadsEachRanksSlicesOfTheCheckpoint) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  Models m = load_both(converted_folder(Variant{}), grid.tp());
  auto whole = tensors_by_name(*m.whole);
  int64_t part_elements = 0, whole_elements = 0;
  m.part->visit([&](ParamRef& ref) {
    EXPECT_TRUE(at::equal(*ref.tensor, slice_of(whole.at(ref.name), ref))) << ref.name;
    part_elements += ref.tensor->numel();
  });
  for (const auto& [name, tensor] : whole) whole_elements += tensor.numel();
  EXPECT_LT(part_elements, whole_elements);  // something is split
  const auto& attention = *m.part->text->layers[0].self_attn;
  EXPECT_EQ(attention.shape().heads, 2);
  EXPECT_EQ(attention.partition().first_head, 2 * grid.tp_rank());
}

TEST(TensorParallel, TeacherDecoderMatchesOneProcess) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  Models m = load_both(converted_folder(Variant{}), grid.tp());
  {
    at::NoGradGuard no_grad;
    Batch batch = make_batch(*m.whole, false, 31);
    at::Tensor whole = m.whole->text->forward(batch.inputs.embeddings, batch.inputs.text);
    at::Tensor part = m.part->text->forward(batch.inputs.embeddings, batch.inputs.text);
    EXPECT_LT(relative_difference(part, whole), kTolerance);
  }
  TrainConfig train;
  train.stage = "sft";
  train.trainable = "full";  // embeddings, norms, lm_head (whole on every rank) and every split projection
  expect_same_loss_and_gradients(m, train, false, 31, grid.tp());
}

void student_matches_one_process(const Variant& variant, const std::string& mode) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  Models m = load_both(converted_folder(variant), grid.tp());
  attach_equal_lora(m);
  for (bool images : {false, true}) {
    SCOPED_TRACE(images ? "text and image tokens" : "text tokens");
    Batch batch = make_batch(*m.whole, images, 41);
    {
      at::NoGradGuard no_grad;
      ForwardOptions student;
      student.path = AttentionPath::student;
      at::Tensor whole = m.whole->text->forward(batch.inputs.embeddings, batch.inputs.text, student);
      at::Tensor part = m.part->text->forward(batch.inputs.embeddings, batch.inputs.text, student);
      EXPECT_LT(relative_difference(part, whole), kTolerance);
    }
    TrainConfig train;
    train.trainable = "stage1";  // k_rope_proj, latent down/up projections, up biases, LoRA
    train.mode = mode;
    if (mode == "global") {
      train.loss.kl = 0.5;
      train.loss.ce = 0.25;
    }
    expect_same_loss_and_gradients(m, train, images, 41, grid.tp());
  }
}

TEST(TensorParallel, StudentJointMatchesOneProcessLocalDistillation) {
  student_matches_one_process(Variant{"qwen2", 0, "joint"}, "local");
}

TEST(TensorParallel, StudentSplitMatchesOneProcessGlobalDistillation) {
  student_matches_one_process(Variant{"qwen2", 0, "split"}, "global");
}

// The stage-2 preset trains the student's own copies of q_proj (column-parallel), o_proj (row-parallel) and the
// input norm (whole on every rank). The copies are perturbed away from the teacher (equally: the whole model's,
// then each rank's slice of them), so that using the teacher's tensors instead would show.
TEST(TensorParallel, StudentCopiesOfTheStagePresetsMatchOneProcess) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  Models m = load_both(converted_folder(Variant{"qwen2", 0, "joint"}), grid.tp());
  TrainConfig train;
  train.trainable = "stage2";
  give_preset_copies(*m.whole, train);
  give_preset_copies(*m.part, train);
  attach_equal_lora(m);
  {
    at::NoGradGuard no_grad;
    at::manual_seed(23);
    m.whole->visit([&](ParamRef& ref) {
      if (ref.name.find("student_") != std::string::npos && ref.name.find(".lora_") == std::string::npos)
        ref.tensor->add_(at::randn_like(*ref.tensor) * 0.02);
    });
    auto whole = tensors_by_name(*m.whole);
    m.part->visit([&](ParamRef& ref) {
      if (ref.name.find("student_") != std::string::npos) ref.tensor->copy_(slice_of(whole.at(ref.name), ref));
    });
  }
  int copies = 0;
  for (const auto& ref : trainable_refs(*m.part, train))
    for (const char* copy : {"student_q_proj.weight", "student_o_proj.weight", "student_input_layernorm.weight"})
      copies += ends_with(ref.name, copy);
  EXPECT_EQ(copies, 3 * static_cast<int>(m.part->text->layers.size()));  // q_proj, o_proj, input norm per layer
  for (std::string mode : {"local", "global"}) {
    SCOPED_TRACE(mode);
    train.mode = mode;
    expect_same_loss_and_gradients(m, train, true, 71, grid.tp());
  }
}

TEST(TensorParallel, SharedKeyValueHeadMatchesOneProcess) {
  // One KV head, two ranks: both hold it (and the student's k_rope / up projections of it); their gradients
  // are summed over the two holders and counted once in the global norm.
  Variant variant{"llama", 1, "joint"};
  student_matches_one_process(variant, "global");
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  Models m = load_both(converted_folder(variant), grid.tp());
  EXPECT_EQ(m.part->text->layers[0].self_attn->partition().kv_copies, 2);
  TrainConfig train;
  train.stage = "sft";
  train.trainable = "full";
  expect_same_loss_and_gradients(m, train, false, 51, grid.tp());
}

TEST(TensorParallel, AbsorbedDecodingMatchesOneProcess) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  for (int64_t kv_heads : {0, 1}) {
    Models m = load_both(converted_folder(Variant{"qwen2", kv_heads, "joint"}), grid.tp());
    Batch batch = make_batch(*m.whole, true, 61);
    GreedyRequest request;
    request.prompt_embeddings = batch.inputs.embeddings;
    request.prompt = batch.inputs.text;
    request.prompt.attention_mask = at::Tensor();  // left padding is for generation; use full rows here
    request.prompt.positions = default_positions(2, 10, at::Tensor(), at::kCPU);
    request.max_new_tokens = 4;
    request.path = AttentionPath::student;
    GreedyResult whole = generate_greedy(*m.whole->text, request);
    GreedyResult part = generate_greedy(*m.part->text, request);
    EXPECT_TRUE(at::equal(part.tokens, whole.tokens)) << "kv heads " << kv_heads;
    EXPECT_LT(relative_difference(part.step_logits, whole.step_logits), kTolerance) << "kv heads " << kv_heads;
  }
}

TEST(TensorParallel, SavedModelIsWhole) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 2);
  std::string folder = converted_folder(Variant{"qwen2", 0, "split"});
  Models m = load_both(folder, grid.tp());
  std::string saved = folder + "-saved-from-tp";
  if (world().rank() == 0) fs::remove_all(saved);
  world().barrier();
  save_model(*m.part, saved);  // collective: rank 0 writes
  world().barrier();
  auto reloaded = load_model(saved, ModelLoadOptions{});
  auto whole = tensors_by_name(*m.whole);
  reloaded->visit([&](ParamRef& ref) { EXPECT_TRUE(at::equal(*ref.tensor, whole.at(ref.name))) << ref.name; });
}

}  // namespace
}  // namespace mha2mla
