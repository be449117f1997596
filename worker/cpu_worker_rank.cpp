#include "worker/cpu_worker_rank.hpp"

#include <cblas.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "worker/cpu_model_runner.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"
#include "worker/shm_tp_group.hpp"

namespace waypoint {

namespace {

// The ranks of a group share this host's cores: each gets its share of them
// for OpenBLAS, so that together they do not oversubscribe it. One rank keeps
// OpenBLAS's own default.
void share_cores(int32_t world_size) {
  if (world_size <= 1) return;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  openblas_set_num_threads(std::max(1, cores / world_size));
}

}  // namespace

Result<WorkerRank> load_cpu_rank(const WorkerProcessConfig& c,
                                 const std::function<bool()>& peers_alive) {
  if (c.num_blocks < 2) {
    return Error{"a CPU worker needs its KV block count in its config, got " +
                 std::to_string(c.num_blocks)};
  }
  share_cores(c.world_size);
  auto loaded = load_model(c.model_dir);
  if (!loaded) return loaded.error();
  auto weights = load_llama_weights(loaded->config, loaded->weights, TpShard{c.rank, c.world_size});
  if (!weights) return weights.error();
  WorkerRank out;
  if (c.world_size > 1) {
    auto group =
        ShmTpGroup::attach(c.tp_shm_path, c.world_size,
                           tp_max_floats(c.max_num_batched_tokens, loaded->config.hidden_size));
    if (!group) return group.error();
    out.host_comm = std::make_unique<ShmTpRank>(std::move(*group), c.rank, peers_alive);
  } else {
    out.host_comm = std::make_unique<SingleRank>();
  }
  const CpuModelRunnerConfig runner{
      .num_blocks = c.num_blocks, .block_size = c.block_size, .seed = c.seed};
  out.runner =
      std::make_unique<CpuModelRunner>(loaded->config, std::move(*weights), runner, *out.host_comm);
  out.num_blocks = c.num_blocks;
  return out;
}

}  // namespace waypoint
