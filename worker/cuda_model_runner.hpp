#pragma once
// A worker's step on a CUDA device: CpuModelRunner's contract (the same
// SchedulerOutput diffs through the same RequestStateCache, the same
// ModelRunnerOutput, only rank 0 sampling) with the forward pass and the sampling
// on the device. Each step's metadata goes up in one copy from page-locked memory;
// only the sampled token ids come back.
//
// The KV cache may be sized after construction, the way vLLM does it: profile()
// runs the largest step the runner accepts and reports the device's memory, the
// caller turns that into a block count (kv_sizing.hpp), agrees it with the other
// ranks, and calls allocate_kv_cache().
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/executor.hpp"
#include "worker/cuda_llama_model.hpp"
#include "worker/cuda_memory.hpp"
#include "worker/device_tp_communicator.hpp"
#include "worker/kv_sizing.hpp"
#include "worker/request_state_cache.hpp"

namespace waypoint {

struct CudaModelRunnerConfig {
  int32_t num_blocks = 0;  // KV blocks, counting the scheduler's null block; 0: allocate later
  int32_t block_size = 16;
  uint64_t seed = 0;                      // seeds the seeds of requests that bring none
  int32_t max_num_batched_tokens = 2048;  // the largest step; activations are sized for it
  int32_t max_num_seqs = 256;             // the most requests in a step
  // Keep each step's logits before sampling overwrites them, for last_logits().
  // Costs a second [max_num_seqs, vocab] f32 buffer and a copy per step; tests only.
  bool keep_logits = false;
};

class CudaModelRunner final : public Executor {
 public:
  // Uses the current device. Throws std::runtime_error when the device cannot
  // hold the weights, the activations or the requested KV cache.
  CudaModelRunner(ModelConfig config, LlamaWeights weights, CudaModelRunnerConfig runner,
                  DeviceTpCommunicator& comm);

  // Throws std::runtime_error when the step is inconsistent with what this worker
  // knows (see RequestStateCache::apply), exceeds the sizes the runner was built
  // for, or a CUDA call fails; std::out_of_range for a token id or position the
  // model does not have, as CpuModelRunner does.
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override;

  // Runs one step of max_num_batched_tokens tokens over min(max_num_seqs, tokens)
  // sampling requests on a scratch KV cache, so that every lazily allocated buffer
  // (cuBLAS workspace, kernel modules, NCCL's) exists, then frees the scratch cache
  // and returns cudaMemGetInfo. Every rank must call it together: the step
  // all-reduces.
  DeviceMemory profile();
  int64_t kv_bytes_per_block() const;
  // Allocates the KV pool (once). Throws std::runtime_error naming the size when it
  // does not fit.
  void allocate_kv_cache(int32_t num_blocks);
  int32_t num_blocks() const { return cache_.num_blocks(); }

  // The logits of the last step, one row per request that sampled, in batch order,
  // before sampling scaled or masked them; copied from the device on the first call
  // after a step. Needs keep_logits (std::logic_error otherwise); empty on ranks
  // other than 0, which compute no logits.
  const std::vector<float>& last_logits() const;
  const std::vector<std::string>& last_sampled_request_ids() const { return sampled_ids_; }

 private:
  // Everything a step needs on the device, staged from `batch`; throws as
  // execute_model documents. `sample`: also the sampling rows and banned tokens.
  DeviceStep stage(const StepBatch& batch, const DeviceKvCache& cache, bool sample);
  // stage, forward and (rank 0) sample; fills `out` when given.
  void run(const StepBatch& batch, const DeviceKvCache& cache, ModelRunnerOutput* out);

  ModelConfig config_;
  CudaModelRunnerConfig runner_;
  DeviceTpCommunicator& comm_;
  RequestStateCache states_;
  StepBatch batch_;
  CudaStream stream_;
  CudaLlamaModel model_;
  DeviceKvCache cache_;
  std::mt19937_64 engine_rng_;
  std::unordered_map<std::string, uint64_t> request_seeds_;

  // One step's metadata: filled on the host, copied up in one transfer.
  PinnedBuffer<std::byte> staging_host_;
  DeviceBuffer<std::byte> staging_device_;
  size_t sampling_rows_offset_ = 0;  // where this step's SamplingRows start
  size_t banned_offset_ = 0;         // and the flat indices of banned logits
  size_t num_banned_ = 0;

  DeviceBuffer<float> logits_;       // [max rows, vocab], rank 0
  DeviceBuffer<float> kept_logits_;  // the same, before sampling; keep_logits only
  DeviceBuffer<int32_t> tokens_;     // [max rows]
  PinnedBuffer<int32_t> tokens_host_;
  int32_t num_logits_ = 0;
  mutable std::vector<float> logits_host_;
  mutable bool logits_host_current_ = false;
  std::vector<std::string> sampled_ids_;
};

}  // namespace waypoint
