#pragma once
// A tensor-parallel rank as its own process under `waypoint serve`: it loads
// its shard of the weights, then runs every SchedulerOutput the engine core
// broadcasts. Only rank 0 samples and replies. On CPU, ranks combine partial
// sums through a shared-memory region the launcher created; on CUDA, through
// NCCL (cuda_worker_rank.hpp).
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "base/result.hpp"

namespace waypoint {

struct WorkerProcessConfig {
  std::string model_dir;
  int32_t rank = 0;
  int32_t world_size = 1;
  std::string device = "cpu";  // cpu or cuda: already resolved from --device
  // KV blocks, counting the scheduler's null block. 0 on cuda: sized from
  // gpu_memory_utilization and agreed with the launcher (control_channel.hpp).
  int32_t num_blocks = 0;
  double gpu_memory_utilization = 0.9;
  int32_t max_num_seqs = 256;  // with max_num_batched_tokens, sizes CUDA activations
  int32_t block_size = 16;
  uint64_t seed = 0;
  int64_t max_num_batched_tokens = 2048;  // bounds one all-reduce
  std::string tp_shm_path;                // the group's region; empty at world_size 1
  std::string steps_endpoint;             // the engine core's broadcast of steps
  std::string reply_endpoint;             // where rank 0 sends each step's result
  int64_t busy_poll_us = 0;               // --busy-poll-us: spin awaiting the next step
};

std::string to_json_text(const WorkerProcessConfig& config);
Result<WorkerProcessConfig> worker_config_from_json(const std::string& text);

// The size of one all-reduce slot, which the launcher needs to create the
// region each rank attaches to.
size_t tp_max_floats(int64_t max_num_batched_tokens, int64_t hidden_size);

// Connects to the launcher's control endpoint as `name`, runs until told to
// shut down. Returns the process exit code.
int run_worker_process(const std::string& control_endpoint, const std::string& name);

}  // namespace waypoint
