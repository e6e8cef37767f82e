// How heads and MLP features split over tensor-parallel ranks (model/tensor_parallel.h), against the closed forms
// of the plan: query heads in equal consecutive blocks, each rank's KV heads exactly those its query heads use,
// shared KV heads counted by their holders; refusals name the key to change. No MPI: the plan is arithmetic.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/tensor_parallel.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

TEST(TensorParallelPlan, QueryHeadsSplitEvenlyAndKeyValueHeadsFollowThem) {
  struct Case {
    int64_t heads, kv_heads;
    int size;
  };
  for (Case c : {Case{4, 2, 2}, Case{8, 8, 4}, Case{8, 2, 4}, Case{4, 1, 2}, Case{28, 4, 4}, Case{16, 2, 8}}) {
    SCOPED_TRACE(::testing::Message() << c.heads << " heads, " << c.kv_heads << " kv heads, tp " << c.size);
    const int64_t group = c.heads / c.kv_heads;
    std::vector<int> holders(static_cast<size_t>(c.kv_heads), 0);
    for (int rank = 0; rank < c.size; ++rank) {
      HeadPartition p = partition_heads(c.heads, c.kv_heads, c.size, rank, "test");
      EXPECT_EQ(p.heads, c.heads / c.size);
      EXPECT_EQ(p.first_head, rank * c.heads / c.size);
      std::vector<int64_t> used;  // the KV head of every query head of this rank, deduplicated
      for (int64_t h = p.first_head; h < p.first_head + p.heads; ++h)
        if (used.empty() || used.back() != h / group) used.push_back(h / group);
      EXPECT_EQ(p.kv_heads, used);
      EXPECT_EQ(p.kv_copies, c.kv_heads >= c.size ? 1 : c.size / c.kv_heads);
      for (int64_t g : p.kv_heads) ++holders[static_cast<size_t>(g)];
    }
    for (int count : holders) EXPECT_EQ(count, c.kv_heads >= c.size ? 1 : c.size / c.kv_heads);
  }
}

TEST(TensorParallelPlan, OneRankHoldsTheWholeLayer) {
  HeadPartition p = partition_heads(4, 2, 1, 0, "test");
  EXPECT_TRUE(p.whole());
  EXPECT_EQ(p.kv_heads, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(head_rows({1, 3}, 2), (std::vector<int64_t>{2, 3, 6, 7}));
  EXPECT_EQ(even_slice(256, 2, 1, "intermediate_size").front(), 128);
  EXPECT_EQ(even_slice(256, 2, 1, "intermediate_size").size(), 128u);
}

TEST(TensorParallelPlan, RefusesSplitsThatCutHeads) {
  EXPECT_ERROR_CONTAINS(partition_heads(4, 2, 3, 0, "layer 0 attention"), "layer 0 attention", "4 attention heads",
                        "distributed.tensor_parallel = 3");
  EXPECT_ERROR_CONTAINS(partition_heads(12, 3, 2, 0, "attention"), "3 key-value heads", "distributed.tensor_parallel = 2");
  EXPECT_ERROR_CONTAINS(partition_heads(12, 3, 4, 0, "attention"), "3 key-value heads");
  EXPECT_ERROR_CONTAINS(even_slice(10, 4, 0, "intermediate_size"), "intermediate_size = 10", "tensor_parallel = 4");
}

TEST(TensorParallelPlan, WithoutAGroupTheOperatorsAreIdentities) {
  at::Tensor x = at::ones({2, 3});
  EXPECT_FALSE(dist::TensorParallel{}.enabled());
  EXPECT_TRUE(dist::copy_to_tensor_parallel(x, {}).is_same(x));
  EXPECT_TRUE(dist::reduce_from_tensor_parallel(x, {}).is_same(x));
  auto single = dist::make_single_process_communicator("tp");
  EXPECT_FALSE(dist::TensorParallel{single.get()}.enabled());  // a group of one splits nothing
}

}  // namespace
}  // namespace mha2mla
