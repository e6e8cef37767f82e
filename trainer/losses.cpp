#include "trainer/losses.h"

#include <algorithm>
#include <functional>

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/generation.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {
namespace {

at::Tensor valid_tokens(const PreparedInputs& inputs) {
  const int64_t B = inputs.embeddings.size(0), T = inputs.embeddings.size(1);
  return inputs.text.attention_mask.defined()
             ? inputs.text.attention_mask.to(at::kBool)
             : at::ones({B, T}, at::TensorOptions().dtype(at::kBool).device(inputs.embeddings.device()));
}

// Whether a layer's student computes exactly the teacher's query projection on exactly the teacher's input.
bool student_shares_teacher_queries(const DecoderLayer& layer) {
  const auto* student = dynamic_cast<const MlaAttention*>(layer.student.get());
  return student && !student->own_q_proj && !layer.student_input_layernorm.weight.defined() &&
         !layer.self_attn->q_proj.lora.defined();
}

// One layer of the teacher pass (no gradients): the layer input, the normed attention input x, the attention
// output o (the distillation target), and q_proj(x) before RoPE where the student shares the teacher's q_proj and
// sees the teacher's x: the student then adds its adapter to it instead of recomputing x W_q^T (about 7% of the
// local step's multiply-adds, docs/benchmarks.md).
struct TeacherLayerTrace {
  at::Tensor layer_input, x, o, queries;
};

using TeacherLayerVisitor = std::function<void(size_t layer, const TeacherLayerTrace& trace)>;

// The teacher's forward, without gradients, calling `visit` after each layer's attention: the caller keeps what it
// needs, so local distillation holds one layer's activations at a time. Returns the final hidden states (normed)
// when `need_hidden` (the KL term needs the teacher's logits); without them the pass stops after the last layer's
// attention: its MLP and the final norm feed nothing.
at::Tensor run_teacher(Model& model, const PreparedInputs& in, const AttentionInputs& attention, bool need_hidden,
                       const TeacherLayerVisitor& visit) {
  TextModel& text = *model.text;
  at::Tensor h = in.embeddings;
  const size_t layers = text.layers.size();
  for (size_t l = 0; l < layers; ++l) {
    DecoderLayer& layer = text.layers[l];
    TeacherLayerTrace trace;
    {
      at::NoGradGuard no_grad;
      GqaAttention& teacher = *layer.self_attn;
      trace.layer_input = h;
      trace.x = layer.attention_norm(AttentionPath::teacher).forward(h);
      at::Tensor q = teacher.q_proj.forward(trace.x);
      trace.o = teacher.forward_with_queries(trace.x, q, attention, nullptr);
      if (student_shares_teacher_queries(layer)) trace.queries = q;
    }
    visit(l, trace);
    if (l + 1 < layers || need_hidden) {
      at::NoGradGuard no_grad;
      h = layer.after_attention(h, trace.o);
    }
  }
  if (!need_hidden) return {};
  at::NoGradGuard no_grad;
  return text.norm.forward(h);
}

AttentionInputs teacher_attention_inputs(Model& model, const PreparedInputs& in) {
  at::NoGradGuard no_grad;
  return model.text->attention_inputs(in.text, in.embeddings.size(1), nullptr);
}

// Student attention of `layer` on the teacher's input (local mode): the teacher's normed input x, or the raw layer
// input through the student's own norm when it has one (stage-1 / stage-2 training); with the teacher's queries
// when it can reuse them.
at::Tensor teacher_forced_student_attention(DecoderLayer& layer, const TeacherLayerTrace& trace,
                                            const AttentionInputs& attention) {
  if (trace.queries.defined())
    return static_cast<MlaAttention&>(*layer.student).forward_with_frozen_queries(trace.x, trace.queries, attention);
  at::Tensor x = layer.student_input_layernorm.weight.defined() ? layer.student_input_layernorm.forward(trace.layer_input)
                                                                : trace.x;
  return layer.attention(AttentionPath::student).forward(x, attention, nullptr);
}

at::ScalarType accumulation_type(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

// Sum of next-token CE over supervised positions.
at::Tensor cross_entropy_sum(const at::Tensor& logits, const at::Tensor& labels) {
  return next_token_cross_entropy(logits, labels).first.sum();
}

int64_t supervised_positions(const at::Tensor& labels) {
  return (labels.narrow(1, 1, labels.size(1) - 1) != -100).sum().item<int64_t>();
}

// Sum over valid tokens of KL(teacher || student).
at::Tensor kl_sum(const at::Tensor& teacher_logits, const at::Tensor& student_logits, const at::Tensor& valid) {
  const at::ScalarType type = accumulation_type(student_logits);
  at::Tensor log_t = at::log_softmax(teacher_logits.to(type), -1), log_s = at::log_softmax(student_logits.to(type), -1);
  return (log_t.exp() * (log_t - log_s)).sum(-1).masked_select(valid).sum();
}

}  // namespace

at::Tensor masked_squared_norm(const at::Tensor& x, const at::Tensor& valid) {
  return (x.pow(2) * valid.unsqueeze(-1).to(x.scalar_type())).sum();
}

at::Tensor relative_squared_error(const at::Tensor& student, const at::Tensor& teacher, const at::Tensor& valid) {
  return masked_squared_norm(student - teacher, valid) / masked_squared_norm(teacher, valid).clamp_min(1e-30);
}

LossValues loss_and_backward(Model& model, const PreparedInputs& in, const at::Tensor& labels, const TrainConfig& train,
                             double scale, const SumAcrossRanks& sum_across_ranks) {
  LossValues values;
  at::Tensor valid = valid_tokens(in);
  values.tokens = valid.sum().item<int64_t>();
  const LossConfig& w = train.loss;
  const bool sft = train.stage == "sft";
  const int64_t layers = static_cast<int64_t>(model.text->layers.size());
  const bool activation = !sft && w.activation > 0;
  const bool kl = !sft && w.kl > 0;
  const bool ce = sft || w.ce > 0;

  const bool local = activation && train.mode == "local";
  auto summed_over_ranks = [&](std::vector<double> numbers) {
    if (sum_across_ranks) sum_across_ranks(numbers);
    return numbers;
  };

  // Normalisers of the whole data-parallel batch: valid tokens, supervised positions and each layer's teacher energy
  // (global mode: all at once after the teacher pass; local mode: layer by layer, below).
  std::vector<double> normalisers = {static_cast<double>(values.tokens), static_cast<double>(supervised_positions(labels))};
  AttentionInputs attention;
  std::vector<at::Tensor> teacher_outputs;  // global mode's targets
  at::Tensor teacher_hidden;                // for the KL term
  if ((activation || kl) && !local) {
    attention = teacher_attention_inputs(model, in);
    teacher_hidden = run_teacher(model, in, attention, kl, [&](size_t, const TeacherLayerTrace& trace) {
      teacher_outputs.push_back(trace.o);
    });
    if (activation)
      for (const auto& o : teacher_outputs) normalisers.push_back(masked_squared_norm(o, valid).item<double>());
  }
  normalisers = summed_over_ranks(normalisers);
  const double global_valid = std::max(1.0, normalisers[0]), global_supervised = std::max(1.0, normalisers[1]);

  if (sft) {
    at::Tensor loss = cross_entropy_sum(model.text->logits(model.text->forward(in.embeddings, in.text)), labels) / global_supervised;
    (loss * scale).backward();
    values.terms["ce"] = values.total = loss.item<double>();
    return values;
  }

  // Local activation distillation: each student attention on the teacher's layer input, as the teacher pass
  // reaches it, back-propagated at once: one layer's activations and graph are alive at a time.
  if (local) {
    attention = teacher_attention_inputs(model, in);
    double error_sum = 0;
    teacher_hidden = run_teacher(model, in, attention, kl, [&](size_t l, const TeacherLayerTrace& trace) {
      const double energy = std::max(1e-30, summed_over_ranks({masked_squared_norm(trace.o, valid).item<double>()})[0]);
      at::Tensor o = teacher_forced_student_attention(model.text->layers[l], trace, attention);
      at::Tensor layer_loss = masked_squared_norm(o - trace.o, valid) / energy;
      (layer_loss * (w.activation * scale / static_cast<double>(layers))).backward();
      values.layer_activation_error.push_back(layer_loss.item<double>());
      error_sum += values.layer_activation_error.back();
    });
    values.terms["activation"] = error_sum / static_cast<double>(layers);
  }

  const bool student_forward = (activation && train.mode == "global") || kl || ce;
  if (student_forward) {
    std::vector<at::Tensor> student_outputs;
    ForwardOptions options;
    options.path = AttentionPath::student;
    if (activation && train.mode == "global")
      options.observer = [&](int64_t, const at::Tensor&, const at::Tensor& o) { student_outputs.push_back(o); };
    at::Tensor hidden = model.text->forward(in.embeddings, in.text, options);
    const at::ScalarType accumulate = accumulation_type(hidden);
    at::Tensor total = at::zeros({}, hidden.options().dtype(accumulate));
    if (!student_outputs.empty()) {
      at::Tensor sum = at::zeros({}, total.options());
      for (int64_t l = 0; l < layers; ++l) {
        const auto index = static_cast<size_t>(l);
        const double energy = std::max(1e-30, normalisers[2 + index]);
        at::Tensor layer_loss = (masked_squared_norm(student_outputs[index] - teacher_outputs[index], valid) / energy).to(accumulate);
        values.layer_activation_error.push_back(layer_loss.item<double>());
        sum = sum + layer_loss;
      }
      at::Tensor mean = sum / static_cast<double>(layers);
      values.terms["activation"] = mean.item<double>();
      total = total + w.activation * mean;
    }
    if (kl || ce) {
      at::Tensor logits = model.text->logits(hidden);
      if (kl) {
        at::Tensor teacher_logits;
        {
          at::NoGradGuard no_grad;
          teacher_logits = model.text->logits(teacher_hidden);
        }
        at::Tensor term = kl_sum(teacher_logits, logits, valid) / global_valid;
        values.terms["kl"] = term.item<double>();
        total = total + w.kl * term;
      }
      if (ce) {
        at::Tensor term = cross_entropy_sum(logits, labels).to(accumulate) / global_supervised;
        values.terms["ce"] = term.item<double>();
        total = total + w.ce * term;
      }
    }
    if (total.requires_grad()) (total * scale).backward();
  }
  for (const auto& [name, value] : values.terms)
    values.total += (name == "activation" ? w.activation : name == "kl" ? w.kl : w.ce) * value;
  return values;
}

LossValues evaluate_losses(Model& model, const PreparedInputs& in, const at::Tensor& labels, const TrainConfig& train) {
  at::NoGradGuard no_grad;
  LossValues values;
  at::Tensor valid = valid_tokens(in);
  values.tokens = valid.sum().item<int64_t>();
  if (model.mla && !model.mla->student_only) {  // an hf-mla export has no teacher to compare with
    AttentionInputs attention = teacher_attention_inputs(model, in);
    double sum = 0;
    run_teacher(model, in, attention, false, [&](size_t l, const TeacherLayerTrace& trace) {
      at::Tensor o = teacher_forced_student_attention(model.text->layers[l], trace, attention);
      values.layer_activation_error.push_back(relative_squared_error(o, trace.o, valid).item<double>());
      sum += values.layer_activation_error.back();
    });
    values.terms["activation"] = sum / static_cast<double>(model.text->layers.size());
  }
  ForwardOptions options;
  options.path = model.mla && train.stage != "sft" ? AttentionPath::student : AttentionPath::teacher;
  at::Tensor logits = model.text->logits(model.text->forward(in.embeddings, in.text, options));
  values.terms["ce"] = cross_entropy_sum(logits, labels).item<double>() / std::max<int64_t>(1, supervised_positions(labels));
  values.total = values.terms["ce"];
  return values;
}

}  // namespace mha2mla
