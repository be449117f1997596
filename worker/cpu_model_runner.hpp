#pragma once
// A worker's step on CPU: SchedulerOutput diffs -> request state -> one batched
// forward pass -> sampled tokens (rank 0). It is an Executor, so the engine
// core drives it in-process (waypoint generate) exactly as it drives remote
// workers.
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/executor.hpp"
#include "worker/kv_cache.hpp"
#include "worker/llama_model.hpp"
#include "worker/request_state_cache.hpp"
#include "worker/sampler.hpp"

namespace waypoint {

struct CpuModelRunnerConfig {
  int32_t num_blocks = 0;  // KV blocks, counting the scheduler's null block
  int32_t block_size = 16;
  uint64_t seed = 0;  // seeds the generators of requests that bring no seed
  CpuCompute compute{};  // weight type, threads and their cores
};

class CpuModelRunner final : public Executor {
 public:
  CpuModelRunner(ModelConfig config, LlamaWeights weights, CpuModelRunnerConfig runner,
                 TpCommunicator& comm);

  // Throws std::runtime_error when the step is inconsistent with what this
  // worker knows (see RequestStateCache::apply): acting on it would corrupt KV.
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override;

  // The logits of the last step, one row per request that sampled, in batch
  // order, before sampling scaled or masked them.
  const std::vector<float>& last_logits() const { return logits_; }
  const std::vector<std::string>& last_sampled_request_ids() const { return sampled_ids_; }

 private:
  ModelConfig config_;
  TpCommunicator& comm_;
  RequestStateCache states_;
  StepBatch batch_;
  KvCache cache_;
  LlamaModel model_;
  Sampler sampler_;
  std::mt19937_64 engine_rng_;
  std::unordered_map<std::string, std::mt19937_64> request_rngs_;
  std::vector<float> logits_;
  std::vector<float> row_;
  std::vector<std::string> sampled_ids_;
};

}  // namespace waypoint
