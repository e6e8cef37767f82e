// Test helper: loads a checkpoint with mha2mla and writes the logits of one batch as .npy, for the Python
// oracle (tests/python/test_text_model_reference.py).
//   text_forward MODEL_DIR INPUT.json OUTPUT.npy
// INPUT.json: {"input_ids": [[...]], "attention_mask": [[...]], "position_ids": [[...]]}
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/model.h"
#include "tests/helpers/npy.h"

using namespace mha2mla;

static at::Tensor matrix(const nlohmann::json& rows) {
  std::vector<int64_t> values;
  for (const auto& row : rows)
    for (const auto& v : row) values.push_back(v.get<int64_t>());
  return at::tensor(values, at::kLong).view({static_cast<int64_t>(rows.size()), -1});
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: text_forward MODEL_DIR INPUT.json OUTPUT.npy\n");
    return 2;
  }
  try {
    auto model = load_model(argv[1], ModelLoadOptions{});
    nlohmann::json input = nlohmann::json::parse(std::ifstream(argv[2]));
    TextBatch batch;
    at::Tensor ids = matrix(input["input_ids"]);
    batch.attention_mask = matrix(input["attention_mask"]);
    batch.positions = matrix(input["position_ids"]);
    at::NoGradGuard no_grad;
    at::Tensor logits = model->text->logits(model->text->forward(model->text->embed(ids), batch));
    testing::write_npy(argv[3], logits);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
