// The GPU KV pool's size from --gpu-memory-utilization, as vLLM computes it:
// (total * utilization - memory in use after loading and profiling) / block bytes.
#include "worker/kv_sizing.hpp"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace waypoint {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kMiB = int64_t{1} << 20;

TEST(KvSizing, BytesPerBlockCountsKAndVOfEveryLayer) {
  // Llama-3-8B at TP 1: 32 layers, 8 KV heads of 128, block 16, bf16: 2 MiB a block.
  EXPECT_EQ(kv_bytes_per_block(32, 16, 8, 128, 2), 2 * kMiB);
  // At TP 2 each rank holds half the KV heads.
  EXPECT_EQ(kv_bytes_per_block(32, 16, 4, 128, 2), kMiB);
  // f32, as the CPU cache holds: twice that.
  EXPECT_EQ(kv_bytes_per_block(32, 16, 8, 128, 4), 4 * kMiB);
}

TEST(KvSizing, TheBudgetIsAFractionOfTotalLessWhatIsInUse) {
  // 80 GiB device, 0.9 of it is 72 GiB; 20 GiB in use leaves 52 GiB: 26624 blocks of 2 MiB.
  const DeviceMemory m{.total_bytes = 80 * kGiB, .free_bytes = 60 * kGiB};
  auto blocks = kv_blocks_for_utilization(m, 0.9, 2 * kMiB);
  ASSERT_TRUE(blocks.ok()) << blocks.error().message;
  EXPECT_EQ(*blocks, static_cast<int32_t>(std::floor((0.9 * 80 - 20) * 1024 / 2)));
  EXPECT_EQ(*blocks, 26624);
  // All of the device: 60 GiB of blocks.
  EXPECT_EQ(*kv_blocks_for_utilization(m, 1.0, 2 * kMiB), 30720);
}

TEST(KvSizing, APartialBlockIsNotPromised) {
  const DeviceMemory m{.total_bytes = 1000, .free_bytes = 1000};
  EXPECT_EQ(*kv_blocks_for_utilization(m, 0.5, 100), 5);
  EXPECT_EQ(*kv_blocks_for_utilization(m, 0.5, 101), 4);
  EXPECT_EQ(*kv_blocks_for_utilization(m, 0.5, 501), 0);  // the scheduler's check names the minimum
}

TEST(KvSizing, OtherProcessesMemoryComesOffTheBudgetToo) {
  // vLLM's meaning: the fraction is of the whole device, so what another process
  // holds is not this worker's to take.
  const DeviceMemory alone{.total_bytes = 10 * kGiB, .free_bytes = 8 * kGiB};
  const DeviceMemory shared{.total_bytes = 10 * kGiB, .free_bytes = 5 * kGiB};
  EXPECT_GT(*kv_blocks_for_utilization(alone, 0.9, kMiB),
            *kv_blocks_for_utilization(shared, 0.9, kMiB));
  EXPECT_EQ(*kv_blocks_for_utilization(shared, 0.9, kMiB), static_cast<int32_t>((9 - 5) * 1024));
}

TEST(KvSizing, MoreInUseThanTheBudgetIsAnErrorNamingTheFlag) {
  const DeviceMemory m{.total_bytes = 80 * kGiB, .free_bytes = 10 * kGiB};
  auto blocks = kv_blocks_for_utilization(m, 0.5, 2 * kMiB);
  ASSERT_FALSE(blocks.ok());
  EXPECT_NE(blocks.error().message.find("--gpu-memory-utilization"), std::string::npos);
  EXPECT_NE(blocks.error().message.find("70.00 GiB"), std::string::npos) << blocks.error().message;
  EXPECT_EQ(blocks.error().message.find('\n'), std::string::npos);
}

TEST(KvSizing, HugeDevicesStopAtInt32Max) {
  const DeviceMemory m{.total_bytes = int64_t{1} << 50, .free_bytes = int64_t{1} << 50};
  EXPECT_EQ(*kv_blocks_for_utilization(m, 1.0, 1), std::numeric_limits<int32_t>::max());
}

TEST(KvSizing, UtilizationIsAFractionAboveZeroUpToOne) {
  for (double u : {0.01, 0.5, 0.9, 1.0}) EXPECT_TRUE(check_gpu_memory_utilization(u).ok()) << u;
  for (double u : {0.0, -0.5, 1.0001, 2.0, std::nan("")}) {
    auto ok = check_gpu_memory_utilization(u);
    ASSERT_FALSE(ok.ok()) << u;
    EXPECT_NE(ok.error().message.find("--gpu-memory-utilization"), std::string::npos);
    EXPECT_FALSE(
        kv_blocks_for_utilization({.total_bytes = kGiB, .free_bytes = kGiB}, u, kMiB).ok());
  }
}

TEST(KvSizing, ImplausibleMeasurementsAreRefused) {
  EXPECT_FALSE(kv_blocks_for_utilization({.total_bytes = 0, .free_bytes = 0}, 0.9, 1).ok());
  EXPECT_FALSE(kv_blocks_for_utilization({.total_bytes = 10, .free_bytes = 11}, 0.9, 1).ok());
  EXPECT_FALSE(kv_blocks_for_utilization({.total_bytes = 10, .free_bytes = 10}, 0.9, 0).ok());
}

}  // namespace
}  // namespace waypoint
