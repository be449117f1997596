#include "worker/kv_sizing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace waypoint {

namespace {
std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", bytes / double(int64_t{1} << 30));
  return text;
}
}  // namespace

int64_t kv_bytes_per_block(int32_t num_layers, int32_t block_size, int32_t num_kv_heads,
                           int32_t head_dim, int64_t element_bytes) {
  return int64_t{2} * num_layers * block_size * num_kv_heads * head_dim * element_bytes;
}

Result<void> check_gpu_memory_utilization(double utilization) {
  // NaN fails both comparisons, so it is refused too.
  if (utilization > 0.0 && utilization <= 1.0) return {};
  return Error{"--gpu-memory-utilization must be greater than 0 and at most 1, got " +
               std::to_string(utilization)};
}

Result<int32_t> kv_blocks_for_utilization(const DeviceMemory& memory, double utilization,
                                          int64_t bytes_per_block) {
  if (auto ok = check_gpu_memory_utilization(utilization); !ok) return ok.error();
  if (bytes_per_block <= 0) return Error{"a KV block must take some bytes"};
  if (memory.total_bytes <= 0 || memory.free_bytes < 0 || memory.free_bytes > memory.total_bytes) {
    return Error{"implausible device memory: " + std::to_string(memory.free_bytes) +
                 " bytes free of " + std::to_string(memory.total_bytes)};
  }
  // In doubles: total * utilization does not fit an integer product, and the
  // budget is floored, so a block is never promised past the fraction.
  const double budget = std::floor(static_cast<double>(memory.total_bytes) * utilization);
  const auto in_use = static_cast<double>(memory.total_bytes - memory.free_bytes);
  if (in_use > budget) {
    return Error{"--gpu-memory-utilization " + std::to_string(utilization) + " allows " +
                 gib(budget) + " of the device's " + gib(static_cast<double>(memory.total_bytes)) +
                 ", but " + gib(in_use) +
                 " are already in use after loading the weights (this and other processes); "
                 "raise --gpu-memory-utilization or free the device"};
  }
  const double blocks = std::floor((budget - in_use) / static_cast<double>(bytes_per_block));
  return static_cast<int32_t>(
      std::min(blocks, static_cast<double>(std::numeric_limits<int32_t>::max())));
}

}  // namespace waypoint
