#pragma once
// How many KV blocks a CUDA worker can hold, as vLLM sizes its pool from
// --gpu-memory-utilization: the worker may use `utilization` of the device's total
// memory; what is already in use once the weights are loaded and a profiling
// forward pass has reached its peak (weights, activations, cuBLAS and NCCL
// workspaces, and whatever other processes hold) comes off that, and the rest is
// KV cache. Pure arithmetic, so it is tested without a device.
#include <cstdint>

#include "base/result.hpp"

namespace waypoint {

// Bytes of one block across all layers, K and V, for this rank's KV heads.
int64_t kv_bytes_per_block(int32_t num_layers, int32_t block_size, int32_t num_kv_heads,
                           int32_t head_dim, int64_t element_bytes);

// The value of --gpu-memory-utilization: a fraction in (0, 1].
Result<void> check_gpu_memory_utilization(double utilization);

// cudaMemGetInfo's answer, measured after the profiling pass.
struct DeviceMemory {
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;
};

// blocks = (total * utilization - (total - free)) / bytes_per_block, at most
// INT32_MAX. An error, naming the flag, when what is in use already exceeds the
// budget; zero blocks is not an error here (the scheduler's check names the
// minimum a request needs).
Result<int32_t> kv_blocks_for_utilization(const DeviceMemory& memory, double utilization,
                                          int64_t bytes_per_block);

}  // namespace waypoint
