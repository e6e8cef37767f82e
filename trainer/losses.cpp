#include "trainer/losses.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/generation.h"

namespace mha2mla {
namespace {

at::Tensor valid_tokens(const PreparedInputs& inputs) {
  const int64_t B = inputs.embeddings.size(0), T = inputs.embeddings.size(1);
  return inputs.text.attention_mask.defined()
             ? inputs.text.attention_mask.to(at::kBool)
             : at::ones({B, T}, at::TensorOptions().dtype(at::kBool).device(inputs.embeddings.device()));
}

// Teacher pass without gradients: each layer's attention input and output, and the final hidden states.
struct TeacherTrace {
  std::vector<at::Tensor> inputs, outputs;
  at::Tensor hidden;
};

TeacherTrace trace_teacher(Model& model, const PreparedInputs& in) {
  at::NoGradGuard no_grad;
  TeacherTrace trace;
  ForwardOptions options;
  options.path = AttentionPath::teacher;
  options.observer = [&](int64_t, const at::Tensor& x, const at::Tensor& o) {
    trace.inputs.push_back(x);
    trace.outputs.push_back(o);
  };
  trace.hidden = model.text->forward(in.embeddings, in.text, options);
  return trace;
}

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  auto [losses, counted] = next_token_cross_entropy(logits, labels);
  at::Tensor count = counted.sum().clamp_min(1);
  return losses.sum() / count;
}

at::Tensor kl_teacher_student(const at::Tensor& teacher_logits, const at::Tensor& student_logits, const at::Tensor& valid) {
  const at::ScalarType type = student_logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor log_t = at::log_softmax(teacher_logits.to(type), -1), log_s = at::log_softmax(student_logits.to(type), -1);
  at::Tensor per_token = (log_t.exp() * (log_t - log_s)).sum(-1);
  return per_token.masked_select(valid).mean();
}

}  // namespace

at::Tensor relative_squared_error(const at::Tensor& student, const at::Tensor& teacher, const at::Tensor& valid) {
  at::Tensor m = valid.unsqueeze(-1).to(student.scalar_type());
  at::Tensor error = ((student - teacher).pow(2) * m).sum();
  at::Tensor reference = (teacher.pow(2) * m).sum().clamp_min(1e-30);
  return error / reference;
}

LossValues loss_and_backward(Model& model, const PreparedInputs& in, const at::Tensor& labels, const TrainConfig& train,
                             double scale) {
  LossValues values;
  at::Tensor valid = valid_tokens(in);
  values.tokens = valid.sum().item<int64_t>();
  const LossConfig& w = train.loss;

  if (train.stage == "sft") {
    at::Tensor ce = cross_entropy(model.text->logits(model.text->forward(in.embeddings, in.text)), labels);
    (ce * scale).backward();
    values.terms["ce"] = ce.item<double>();
    values.total = values.terms["ce"];
    return values;
  }

  const bool need_student_forward = train.mode == "global" || w.kl > 0 || w.ce > 0;
  const bool need_teacher_logits = w.kl > 0;
  TeacherTrace teacher;
  if (w.activation > 0 || need_teacher_logits) teacher = trace_teacher(model, in);
  const int64_t layers = static_cast<int64_t>(model.text->layers.size());

  // Local activation distillation: each student attention on the teacher's layer input; backward per layer so
  // that only one layer's graph is alive at a time.
  if (w.activation > 0 && train.mode == "local") {
    AttentionInputs attention = model.text->attention_inputs(in.text, in.embeddings.size(1), nullptr);
    double sum = 0;
    for (int64_t l = 0; l < layers; ++l) {
      at::Tensor o = model.text->layers[static_cast<size_t>(l)].attention(AttentionPath::student)
                         .forward(teacher.inputs[static_cast<size_t>(l)], attention, nullptr);
      at::Tensor layer_loss = relative_squared_error(o, teacher.outputs[static_cast<size_t>(l)], valid);
      (layer_loss * (w.activation * scale / static_cast<double>(layers))).backward();
      values.layer_activation_error.push_back(layer_loss.item<double>());
      sum += values.layer_activation_error.back();
    }
    values.terms["activation"] = sum / static_cast<double>(layers);
  }

  if (need_student_forward) {
    std::vector<at::Tensor> student_outputs;
    ForwardOptions options;
    options.path = AttentionPath::student;
    if (w.activation > 0 && train.mode == "global")
      options.observer = [&](int64_t, const at::Tensor&, const at::Tensor& o) { student_outputs.push_back(o); };
    at::Tensor hidden = model.text->forward(in.embeddings, in.text, options);
    // Loss terms accumulate in float32 (float64 when the model runs in float64).
    const at::ScalarType accumulate = hidden.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    at::Tensor total = at::zeros({}, hidden.options().dtype(accumulate));
    if (!student_outputs.empty()) {
      at::Tensor sum = at::zeros({}, total.options());
      for (int64_t l = 0; l < layers; ++l) {
        at::Tensor layer_loss = relative_squared_error(student_outputs[static_cast<size_t>(l)],
                                                       teacher.outputs[static_cast<size_t>(l)], valid).to(accumulate);
        values.layer_activation_error.push_back(layer_loss.item<double>());
        sum = sum + layer_loss;
      }
      at::Tensor activation = sum / static_cast<double>(layers);
      values.terms["activation"] = activation.item<double>();
      total = total + w.activation * activation;
    }
    if (w.kl > 0 || w.ce > 0) {
      at::Tensor logits = model.text->logits(hidden);
      if (w.kl > 0) {
        at::Tensor teacher_logits;
        {
          at::NoGradGuard no_grad;
          teacher_logits = model.text->logits(teacher.hidden);
        }
        at::Tensor kl = kl_teacher_student(teacher_logits, logits, valid);
        values.terms["kl"] = kl.item<double>();
        total = total + w.kl * kl;
      }
      if (w.ce > 0) {
        at::Tensor ce = cross_entropy(logits, labels);
        values.terms["ce"] = ce.item<double>();
        total = total + w.ce * ce;
      }
    }
    if (total.requires_grad()) (total * scale).backward();
  }
  values.total = 0;
  if (values.terms.count("activation")) values.total += w.activation * values.terms["activation"];
  if (values.terms.count("kl")) values.total += w.kl * values.terms["kl"];
  if (values.terms.count("ce")) values.total += w.ce * values.terms["ce"];
  return values;
}

LossValues evaluate_losses(Model& model, const PreparedInputs& in, const at::Tensor& labels, const TrainConfig& train) {
  at::NoGradGuard no_grad;
  LossValues values;
  at::Tensor valid = valid_tokens(in);
  values.tokens = valid.sum().item<int64_t>();
  if (model.mla) {
    TeacherTrace teacher = trace_teacher(model, in);
    AttentionInputs attention = model.text->attention_inputs(in.text, in.embeddings.size(1), nullptr);
    double sum = 0;
    for (size_t l = 0; l < model.text->layers.size(); ++l) {
      at::Tensor o = model.text->layers[l].attention(AttentionPath::student).forward(teacher.inputs[l], attention, nullptr);
      values.layer_activation_error.push_back(relative_squared_error(o, teacher.outputs[l], valid).item<double>());
      sum += values.layer_activation_error.back();
    }
    values.terms["activation"] = sum / static_cast<double>(model.text->layers.size());
  }
  ForwardOptions options;
  options.path = model.mla && train.stage != "sft" ? AttentionPath::student : AttentionPath::teacher;
  values.terms["ce"] = cross_entropy(model.text->logits(model.text->forward(in.embeddings, in.text, options)), labels).item<double>();
  values.total = values.terms["ce"];
  return values;
}

}  // namespace mha2mla
