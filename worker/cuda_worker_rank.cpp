#include "worker/cuda_worker_rank.hpp"

#include <cuda_runtime_api.h>

#include <exception>

#include <nlohmann/json.hpp>

#include "worker/cuda_memory.hpp"
#include "worker/cuda_model_runner.hpp"
#include "worker/kv_sizing.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"
#include "worker/nccl_id.hpp"
#ifdef WAYPOINT_HAVE_NCCL
#include "worker/nccl_tp_group.hpp"
#endif

namespace waypoint {

namespace {

Result<std::unique_ptr<DeviceTpCommunicator>> join_tp_group(
    const WorkerProcessConfig& c, control::Channel& control,
    const std::function<bool()>& launcher_alive) {
  if (c.world_size == 1)
    return std::unique_ptr<DeviceTpCommunicator>(std::make_unique<SingleDevice>());
#ifdef WAYPOINT_HAVE_NCCL
  NcclIdBytes id{};
  if (c.rank == 0) {
    auto made = create_nccl_id();
    if (!made) return made.error();
    id = *made;
    control.send(control::kNcclId, encode_nccl_id(id));
  } else {
    auto text = control.await(control::kNcclId, launcher_alive);
    if (!text) return Error{"waiting for the NCCL id: " + text.error().message};
    auto decoded = decode_nccl_id(*text);
    if (!decoded) return decoded.error();
    id = *decoded;
  }
  auto rank = NcclTpRank::join(id, c.rank, c.world_size);
  if (!rank) return rank.error();
  return std::unique_ptr<DeviceTpCommunicator>(std::move(*rank));
#else
  (void)control;
  (void)launcher_alive;
  return Error{"tensor parallelism on CUDA needs NCCL, which this waypoint was built without"};
#endif
}

// The KV pool every rank allocates: this rank's share of the device under
// --gpu-memory-utilization, reported to the launcher, which answers with the
// smallest share of any rank.
Result<int32_t> agree_kv_blocks(const WorkerProcessConfig& c, CudaModelRunner& runner,
                                control::Channel& control,
                                const std::function<bool()>& launcher_alive, const Logger& log) {
  const DeviceMemory memory = runner.profile();
  auto blocks =
      kv_blocks_for_utilization(memory, c.gpu_memory_utilization, runner.kv_bytes_per_block());
  if (!blocks) return blocks.error();
  log.info("device memory after loading and profiling: " +
           std::to_string((memory.total_bytes - memory.free_bytes) >> 20) + " MiB in use of " +
           std::to_string(memory.total_bytes >> 20) + " MiB; room for " + std::to_string(*blocks) +
           " KV blocks of " + std::to_string(runner.kv_bytes_per_block()) +
           " bytes at --gpu-memory-utilization " + std::to_string(c.gpu_memory_utilization));
  control.send(control::kKvBlocks, nlohmann::json{{"num_blocks", *blocks}}.dump());
  auto answer = control.await(control::kKvBlocks, launcher_alive);
  if (!answer) return Error{"waiting for the KV pool size: " + answer.error().message};
  try {
    return nlohmann::json::parse(*answer).at("num_blocks").get<int32_t>();
  } catch (const nlohmann::json::exception& e) {
    return Error{std::string("the launcher's KV_BLOCKS: ") + e.what()};
  }
}

}  // namespace

Result<WorkerRank> load_cuda_rank(const WorkerProcessConfig& c, control::Channel& control,
                                  const std::function<bool()>& launcher_alive, const Logger& log) {
  try {
    // One device per rank, in rank order (the launcher checked there are enough).
    check_cuda(cudaSetDevice(c.rank), ("cudaSetDevice(" + std::to_string(c.rank) + ")").c_str());
    WorkerRank out;
    // The communicator first: its buffers are then part of what the KV sizing
    // sees in use.
    auto comm = join_tp_group(c, control, launcher_alive);
    if (!comm) return comm.error();
    out.device_comm = std::move(*comm);

    auto loaded = load_model(c.model_dir);
    if (!loaded) return loaded.error();
    auto weights =
        load_llama_weights(loaded->config, loaded->weights, TpShard{c.rank, c.world_size});
    if (!weights) return weights.error();
    const CudaModelRunnerConfig runner_config{
        .num_blocks = 0,
        .block_size = c.block_size,
        .seed = c.seed,
        .max_num_batched_tokens = static_cast<int32_t>(c.max_num_batched_tokens),
        .max_num_seqs = c.max_num_seqs};
    auto runner = std::make_unique<CudaModelRunner>(loaded->config, std::move(*weights),
                                                    runner_config, *out.device_comm);
    int32_t blocks = c.num_blocks;
    if (blocks == 0) {
      auto agreed = agree_kv_blocks(c, *runner, control, launcher_alive, log);
      if (!agreed) return agreed.error();
      blocks = *agreed;
    }
    runner->allocate_kv_cache(blocks);
    out.num_blocks = blocks;
    out.runner = std::move(runner);
    return out;
  } catch (const std::exception& e) {
    // CUDA and cuBLAS failures (no memory, a kernel that cannot launch) end the
    // start with their reason rather than the process.
    return Error{e.what()};
  }
}

}  // namespace waypoint
