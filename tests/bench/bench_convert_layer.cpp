// Conversion of one 7B-shaped layer (d = 4096, 32 query / 8 KV heads, head_dim 128, r = 32, d_kv = 32):
// the linear algebra of activation-aware SVD, timed with LibTorch's linalg (LAPACK through OpenBLAS) and with
// Eigen, in float64, plus the whole initialise_mla_layer call.
//   bench_convert_layer [--rounds N] [--threads T] [--eigen 0|1]
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <Eigen/Dense>

#include "model/convert/low_rank.h"
#include "model/convert/mla_init.h"
#include "model/convert/partial_rope.h"
#include "model/mla/mla_attention.h"
#include "tests/bench/bench_timing.h"

using namespace mha2mla;

template <typename F>
double median_seconds(int rounds, F&& body) {
  std::vector<double> times;
  for (int r = 0; r < rounds; ++r) {
    const bench::Stopwatch watch;
    body();
    times.push_back(watch.wall_seconds());
  }
  return bench::median(times);
}

int main(int argc, char** argv) {
  int rounds = 3, threads = 2;
  bool eigen = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (flag == "--threads") threads = std::stoi(argv[i + 1]);
    if (flag == "--eigen") eigen = std::stoi(argv[i + 1]) != 0;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line by line: a long run shows its progress
  at::set_num_threads(threads);
  Eigen::setNbThreads(threads);
  const int64_t d = 4096, heads = 32, kv = 8, head_dim = 128, r = 32, d_kv = 32;
  const int64_t rows = kv * (head_dim - r) + kv * head_dim;  // [W_kN; W_v]
  at::manual_seed(0);
  at::Tensor w = at::randn({rows, d}, at::kDouble) * 0.02;
  at::Tensor x = at::randn({2 * d, d}, at::kDouble) * (at::rand({d}, at::kDouble) * 3).exp();  // anisotropic inputs
  at::Tensor s = at::matmul(x.t(), x);
  std::printf("7B-shaped layer: W %ld x %ld, S %ld x %ld, rank %ld, float64, %d thread(s)\n", (long)rows, (long)d,
              (long)d, (long)d, (long)(kv * d_kv), threads);

  double torch_eigh = median_seconds(rounds, [&] { at::linalg_eigh(s); });
  double torch_svd = median_seconds(rounds, [&] { at::linalg_svd(w, false); });
  double torch_total = median_seconds(rounds, [&] { activation_aware_svd(w, s, kv * d_kv, 1e-3); });
  std::printf("libtorch  eigh %.2fs  svd %.2fs  activation_aware_svd %.2fs\n", torch_eigh, torch_svd, torch_total);

  if (eigen) {
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> s_map(s.data_ptr<double>(), d, d);
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> w_map(w.data_ptr<double>(), rows, d);
    Eigen::MatrixXd s_eigen = s_map, w_eigen = w_map;
    double eigen_eigh = median_seconds(1, [&] { Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(s_eigen); });
    double eigen_svd = median_seconds(1, [&] { Eigen::BDCSVD<Eigen::MatrixXd> svd(w_eigen, Eigen::ComputeThinU | Eigen::ComputeThinV); });
    std::printf("eigen     eigh %.2fs  svd %.2fs (one round each)\n", eigen_eigh, eigen_svd);
    std::printf("ratio (eigen / libtorch): eigh %.1fx  svd %.1fx\n", eigen_eigh / torch_eigh, eigen_svd / torch_svd);
  }

  // The whole layer: select rows, factorise per modality (text and image statistics), write the projections.
  GqaAttention teacher({d, heads, kv, head_dim, false, false}, at::TensorOptions().dtype(at::kFloat));
  teacher.k_proj.weight.normal_(0, 0.02);
  teacher.v_proj.weight.normal_(0, 0.02);
  MlaLayerLayout layout;
  layout.heads = heads, layout.kv_heads = kv, layout.head_dim = head_dim, layout.rope_dims = r, layout.latent_rank = d_kv;
  layout.rope_pairs = fixed_rope_pairs("high", head_dim, r, kv);
  MlaAttention student(layout, teacher, at::TensorOptions().dtype(at::kFloat));
  LayerInputMoments moments{s, s * 0.5, 1000, 1000};
  double layer_seconds = median_seconds(1, [&] {
    initialise_mla_layer(student, teacher, LowRankInit::activation_svd, 1e-3, moments, moments);
  });
  std::printf("initialise_mla_layer (text + image, with the plain-SVD comparison for the report): %.2fs\n", layer_seconds);
  return 0;
}
