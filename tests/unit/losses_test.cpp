// Training objectives: gradients reach exactly the chosen parameters; local and global activation losses
// agree on the first step (same student, same teacher inputs at layer 0); a few plain gradient steps on the
// default set reduce every layer's activation error.
#include <algorithm>
#include <map>

#include <ATen/ATen.h>

#include "model/convert/converter.h"
#include "model/mla/mla_attention.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"
#include "trainer/losses.h"
#include "trainer/trainable.h"

namespace mha2mla {
namespace {

std::unique_ptr<Model> converted_tiny() {
  auto model = build_model(tiny_config("qwen2"), ModelLoadOptions{at::kDouble, "cpu"});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, 31, 0.1);
  ConversionOptions options;
  options.rope_dims = 8;
  options.latent_rank = 4;
  options.strategy = "high";
  options.init = "svd";
  convert_to_mla(*model, options, nullptr);
  return model;
}

std::pair<PreparedInputs, at::Tensor> batch(Model& model, uint64_t seed) {
  at::manual_seed(seed);
  MultimodalBatch b;
  b.input_ids = at::randint(0, 500, {2, 16}, at::kLong);
  b.attention_mask = at::ones({2, 16}, at::kLong);
  b.attention_mask[1].narrow(0, 12, 4).fill_(0);
  PreparedInputs prepared = model.prepare(b);
  prepared.text.image_mask = (at::arange(16, at::kLong) < 6).unsqueeze(0).expand({2, 16}).contiguous();
  at::Tensor labels = b.input_ids.masked_fill(b.attention_mask == 0, -100);
  return {prepared, labels};
}

TEST(Losses, GradientsReachExactlyTheChosenParameters) {
  for (std::string preset : {"default", "stage2"}) {
    auto model = converted_tiny();
    TrainConfig train;
    train.trainable = preset;
    give_preset_copies(*model, train);
    attach_lora(*model, train.lora, 1);
    auto trainable = select_trainable(*model, train);
    auto [inputs, labels] = batch(*model, 2);
    train.loss.ce = 0.5;  // exercise the student's global forward as well
    loss_and_backward(*model, inputs, labels, train, 1.0);
    std::set<std::string> chosen;
    for (const auto& p : trainable) chosen.insert(p.name);
    size_t with_gradient = 0;
    model->visit([&](ParamRef& ref) {
      bool has_grad = ref.tensor->grad().defined() && ref.tensor->grad().abs().sum().item<double>() > 0;
      if (chosen.count(ref.name)) {
        // LoRA B starts at zero, so A's gradient is zero on the first step; everything else must move.
        if (ref.name.find("lora_A") == std::string::npos) {
          EXPECT_TRUE(has_grad) << preset << " " << ref.name;
        }
        with_gradient += has_grad;
      } else {
        EXPECT_FALSE(ref.tensor->grad().defined()) << preset << " frozen " << ref.name;
      }
    });
    EXPECT_GT(with_gradient, 0u);
  }
}

TEST(Losses, LocalAndGlobalAgreeOnTheFirstLayerAndEvaluationMatchesLocal) {
  auto model = converted_tiny();
  TrainConfig train;
  select_trainable(*model, train);
  auto [inputs, labels] = batch(*model, 3);
  train.mode = "local";
  LossValues local = loss_and_backward(*model, inputs, labels, train, 1.0);
  train.mode = "global";
  LossValues global = loss_and_backward(*model, inputs, labels, train, 1.0);
  // Layer 0 sees the same input either way (the embeddings); later layers differ in global mode.
  EXPECT_NEAR(local.layer_activation_error[0], global.layer_activation_error[0], 1e-12);
  LossValues evaluated = evaluate_losses(*model, inputs, labels, train);
  for (size_t l = 0; l < local.layer_activation_error.size(); ++l)
    EXPECT_NEAR(evaluated.layer_activation_error[l], local.layer_activation_error[l], 1e-12);
}

// Local mode takes each student's frozen query projection from the teacher's pass (the weight is shared) and adds
// only the LoRA term. The oracle recomputes everything: the teacher's layer inputs and outputs from a plain teacher
// forward, each student attention's own forward on them; losses and every trainable gradient must agree.
TEST(Losses, LocalModeReusingTheTeachersQueriesEqualsRecomputingThem) {
  auto model = converted_tiny();
  TrainConfig train;
  attach_lora(*model, train.lora, 1);
  auto trainable = select_trainable(*model, train);
  {
    at::NoGradGuard no_grad;
    at::manual_seed(8);
    for (auto& p : trainable)  // LoRA B starts at zero: without this the q_proj adapter would not be tested
      if (p.name.find("lora_B") != std::string::npos) p.tensor.normal_(0, 0.1);
  }
  auto [inputs, labels] = batch(*model, 9);
  LossValues local = loss_and_backward(*model, inputs, labels, train, 1.0);
  std::map<std::string, at::Tensor> reused;
  for (auto& p : trainable) {
    ASSERT_TRUE(p.tensor.grad().defined()) << p.name;
    reused[p.name] = p.tensor.grad().clone();
    p.tensor.mutable_grad() = at::Tensor();
  }

  TextModel& text = *model->text;
  std::vector<at::Tensor> x, o;
  {
    at::NoGradGuard no_grad;
    ForwardOptions options;
    options.observer = [&](int64_t, const at::Tensor& in, const at::Tensor& out) { x.push_back(in), o.push_back(out); };
    text.forward(inputs.embeddings, inputs.text, options);
  }
  AttentionInputs attention = text.attention_inputs(inputs.text, inputs.embeddings.size(1), nullptr);
  at::Tensor valid = inputs.text.attention_mask.to(at::kBool);
  const double layers = static_cast<double>(text.layers.size());
  for (size_t l = 0; l < text.layers.size(); ++l) {
    at::Tensor student = text.layers[l].attention(AttentionPath::student).forward(x[l], attention, nullptr);
    at::Tensor error = relative_squared_error(student, o[l], valid);
    EXPECT_NEAR(error.item<double>(), local.layer_activation_error[l], 1e-12) << "layer " << l;
    (error / layers).backward();
  }
  for (auto& p : trainable) {
    const double scale = std::max(1e-30, reused[p.name].abs().max().item<double>());
    EXPECT_LT((p.tensor.grad() - reused[p.name]).abs().max().item<double>() / scale, 1e-10) << p.name;
  }
}

// Stage-2 copies: the student's own input norm and q_proj / o_proj. Local mode applies the student's norm to the
// teacher's raw layer input, so layer 0 (input: the embeddings either way) still agrees with global mode, which
// runs the decoder layer on the student path; the teacher's computation is untouched by the copies.
TEST(Losses, StudentCopiesNormTheRawLayerInputAndLeaveTheTeacherAlone) {
  auto model = converted_tiny();
  auto [inputs, labels] = batch(*model, 6);
  at::Tensor teacher_before;
  {
    at::NoGradGuard no_grad;
    teacher_before = model->text->forward(inputs.embeddings, inputs.text);
  }
  TrainConfig train;
  train.trainable = "stage2";
  train.lora.rank = 0;
  give_preset_copies(*model, train);
  {
    at::NoGradGuard no_grad;
    at::manual_seed(7);
    for (auto& layer : model->text->layers) {
      layer.student_input_layernorm.weight.mul_(1.0 + 0.3 * at::rand_like(layer.student_input_layernorm.weight));
      auto& student = static_cast<MlaAttention&>(*layer.student);
      student.q_proj.weight.add_(at::randn_like(student.q_proj.weight) * 0.01);
      student.o_proj.weight.add_(at::randn_like(student.o_proj.weight) * 0.01);
    }
  }
  auto trainable = select_trainable(*model, train);
  train.mode = "local";
  LossValues local = loss_and_backward(*model, inputs, labels, train, 1.0);
  for (auto& p : trainable)
    if (p.name.find("student_input_layernorm") != std::string::npos) {
      ASSERT_TRUE(p.tensor.grad().defined()) << p.name;
      EXPECT_GT(p.tensor.grad().abs().sum().item<double>(), 0) << p.name;
    }
  train.mode = "global";
  LossValues global = loss_and_backward(*model, inputs, labels, train, 1.0);
  EXPECT_NEAR(local.layer_activation_error[0], global.layer_activation_error[0], 1e-12);
  LossValues evaluated = evaluate_losses(*model, inputs, labels, train);
  EXPECT_NEAR(evaluated.layer_activation_error[1], local.layer_activation_error[1], 1e-12);
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(model->text->forward(inputs.embeddings, inputs.text), teacher_before));
}

TEST(Losses, GradientStepsOnTheDefaultSetReduceEveryLayersActivationError) {
  auto model = converted_tiny();
  TrainConfig train;
  auto trainable = select_trainable(*model, train);
  auto [inputs, labels] = batch(*model, 4);
  auto [held_out, held_out_labels] = batch(*model, 5);
  LossValues before = evaluate_losses(*model, held_out, held_out_labels, train);
  for (int step = 0; step < 30; ++step) {
    loss_and_backward(*model, inputs, labels, train, 1.0);
    at::NoGradGuard no_grad;
    for (auto& p : trainable) {
      p.tensor.sub_(p.tensor.grad() * 0.05);
      p.tensor.mutable_grad().zero_();
    }
  }
  LossValues after = evaluate_losses(*model, held_out, held_out_labels, train);
  for (size_t l = 0; l < before.layer_activation_error.size(); ++l)
    EXPECT_LT(after.layer_activation_error[l], before.layer_activation_error[l]) << "layer " << l;
}

}  // namespace
}  // namespace mha2mla
