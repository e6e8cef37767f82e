// Distributed pieces that need no peers: grid arithmetic and validation, the single-process communicator,
// the collective watchdog's timing, and the gradient bucket plan.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "distributed/collective_watchdog.h"
#include "distributed/communicator.h"
#include "distributed/gradient_sync.h"
#include "distributed/grid.h"

namespace mha2mla::dist {
namespace {

TEST(GridShape, TensorParallelIsInnermost) {
  GridShape shape = GridShape::make(8, 2);
  EXPECT_EQ(shape.data_parallel, 4);
  // TP groups are consecutive ranks: {0,1} {2,3} ...; DP groups stride by tp.
  for (int rank = 0; rank < 8; ++rank) {
    EXPECT_EQ(shape.tp_rank(rank), rank % 2);
    EXPECT_EQ(shape.dp_rank(rank), rank / 2);
  }
}

TEST(GridShape, RejectsTensorParallelNotDividingWorld) {
  try {
    GridShape::make(6, 4);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("distributed.tensor_parallel = 4"), std::string::npos) << message;
    EXPECT_NE(message.find("world size 6"), std::string::npos) << message;
    EXPECT_NE(e.hint().find("1, 2, 3, 6"), std::string::npos) << e.hint();
  }
  EXPECT_THROW(GridShape::make(4, 0), Error);
}

TEST(SingleProcessCommunicator, EveryCollectiveIsTheIdentity) {
  auto world = make_single_process_communicator();
  EXPECT_EQ(world->size(), 1);
  EXPECT_EQ(world->rank(), 0);
  at::Tensor x = at::arange(12, at::kFloat).reshape({3, 4});
  at::Tensor expected = x.clone();
  world->all_reduce(x, ReduceOp::avg);
  EXPECT_TRUE(at::equal(x, expected));
  world->broadcast(x, 0);
  EXPECT_TRUE(at::equal(x, expected));
  at::Tensor gathered = world->all_gather(x);
  EXPECT_TRUE(at::equal(gathered, expected));
  EXPECT_NE(gathered.data_ptr(), x.data_ptr());  // a new tensor, as with real peers
  EXPECT_TRUE(at::equal(world->reduce_scatter(x, ReduceOp::sum), expected));
  EXPECT_EQ(world->all_gather(at::scalar_tensor(5.0)).sizes(), at::IntArrayRef({1}));
  EXPECT_EQ(world->all_reduce_double(2.5, ReduceOp::avg), 2.5);
  EXPECT_EQ(world->all_reduce_int(7, ReduceOp::max), 7);
  world->barrier();
  auto sub = world->split(0, 0, "tp");
  EXPECT_EQ(sub->size(), 1);
  EXPECT_EQ(sub->name(), "tp");
}

TEST(SingleProcessCommunicator, RejectsWhatRealBackendsReject) {
  auto world = make_single_process_communicator();
  EXPECT_THROW(world->all_reduce(at::ones({2}, at::kLong), ReduceOp::avg), Error);
  EXPECT_THROW(world->all_reduce_int(3, ReduceOp::avg), Error);
  EXPECT_THROW(world->broadcast(at::ones({2}), 1), Error);
  EXPECT_THROW(world->split(-1, 0), Error);
}

TEST(ProcessGrid, SingleProcessGridHasTrivialGroups) {
  ProcessGrid grid(make_single_process_communicator(), 1);
  EXPECT_EQ(grid.tp().size(), 1);
  EXPECT_EQ(grid.dp().size(), 1);
  EXPECT_EQ(grid.describe(), "world 1 = dp 1 x tp 1 (this rank: dp 0, tp 0)");
  EXPECT_THROW(ProcessGrid(make_single_process_communicator(), 2), Error);
}

TEST(CollectiveWatchdog, FiresOnceForAStuckCollectiveNamingIt) {
  std::atomic<int> calls{0};
  std::string message;
  std::mutex mutex;
  CollectiveWatchdog watchdog(0.2, [&](const std::string& m) {
    std::lock_guard<std::mutex> lock(mutex);
    message = m;
    ++calls;
  });
  auto start = std::chrono::steady_clock::now();
  {
    auto scope = watchdog.watch("all_reduce(sum) of 4 B on group 'dp' (rank 1 of 2)");
    while (calls.load() == 0 && std::chrono::steady_clock::now() - start < std::chrono::seconds(5))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_GE(waited, 0.2);
  EXPECT_LT(waited, 1.0);
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_NE(message.find("all_reduce(sum) of 4 B on group 'dp' (rank 1 of 2)"), std::string::npos) << message;
  EXPECT_NE(message.find("distributed.timeout_seconds = 0.2"), std::string::npos) << message;
}

TEST(CollectiveWatchdog, StaysQuietForCollectivesThatFinishInTime) {
  std::atomic<int> calls{0};
  CollectiveWatchdog watchdog(0.2, [&](const std::string&) { ++calls; });
  for (int i = 0; i < 10; ++i) {
    auto scope = watchdog.watch("barrier");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // 10 x 30 ms: long in total, short each
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // idle time between collectives never counts
  EXPECT_EQ(calls.load(), 0);
  EXPECT_FALSE(watchdog.fired());
}

TEST(GradientSynchronizer, PacksBucketsInOrderPerDtypeUpToTheCapacity) {
  // 1 MiB cap; float32 parameters of 0.5, 0.5, 0.75 MiB and a bfloat16 one in between.
  std::vector<at::Tensor> parameters = {at::zeros({131072}), at::zeros({131072}), at::zeros({64}, at::kBFloat16),
                                        at::zeros({196608}), at::zeros({3})};
  auto world = make_single_process_communicator();
  GradientSynchronizer sync(parameters, *world, 1.0);
  std::vector<std::vector<size_t>> expected = {{0, 1}, {2}, {3, 4}};
  EXPECT_EQ(sync.bucket_members(), expected);
  EXPECT_THROW(GradientSynchronizer(parameters, *world, 0.0), Error);
}

// A gradient missing on every rank (here: the only one) stays missing, as one process would leave it, so that the
// optimizer skips the tensor (no weight decay, no momentum step) exactly as without data parallelism.
TEST(GradientSynchronizer, SingleProcessKeepsGradientsAndLeavesMissingOnesMissing) {
  std::vector<at::Tensor> parameters = {at::zeros({2, 3}).requires_grad_(), at::zeros({4}).requires_grad_(),
                                        at::zeros({5}).requires_grad_()};
  parameters[0].mutable_grad() = at::arange(6, at::kFloat).reshape({3, 2}).t();  // non-contiguous gradient
  parameters[2].mutable_grad() = at::full({5}, 1.5);
  at::Tensor grad0 = parameters[0].grad().clone();
  auto world = make_single_process_communicator();
  GradientSynchronizer sync(parameters, *world, 1.0);
  sync.synchronize();
  EXPECT_TRUE(at::equal(parameters[0].grad(), grad0));
  EXPECT_FALSE(parameters[1].grad().defined());
  EXPECT_TRUE(at::equal(parameters[2].grad(), at::full({5}, 1.5)));
}

}  // namespace
}  // namespace mha2mla::dist
