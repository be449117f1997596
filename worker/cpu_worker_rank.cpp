#include "worker/cpu_worker_rank.hpp"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "worker/cpu_model_runner.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"
#include "worker/shm_tp_group.hpp"

namespace waypoint {

namespace {

// The cores this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

// The ranks of a group share this host's cores: each rank's pool gets its own
// slice of them, pinned, so that together they do not oversubscribe the host
// and no two ranks' threads contend for a core. vLLM's
// VLLM_CPU_OMP_THREADS_BIND ("0-3|4-7": one list per rank) overrides the
// split. One rank alone is not pinned: the OS places its threads best on a
// shared machine.
CpuCompute rank_compute(const ModelConfig& config, int32_t rank, int32_t world_size) {
  CpuCompute c;
  c.weight_type = cpu_weight_type(config);
  const char* bind = std::getenv("VLLM_CPU_OMP_THREADS_BIND");
  if (bind != nullptr && std::string(bind) != "auto" && std::string(bind) != "all") {
    c.cpus = kernels::cpu::cpus_for_rank(bind, rank);
    c.num_threads = static_cast<int32_t>(c.cpus.size());
    return c;
  }
  if (world_size <= 1) return c;
  const std::vector<int> cpus = allowed_cpus();
  const auto per = static_cast<int64_t>(cpus.size()) / world_size;
  if (per < 1) {
    c.num_threads = 1;
    return c;
  }
  c.cpus.assign(cpus.begin() + rank * per, cpus.begin() + (rank + 1) * per);
  c.num_threads = static_cast<int32_t>(per);
  return c;
}

}  // namespace

Result<WorkerRank> load_cpu_rank(const WorkerProcessConfig& c,
                                 const std::function<bool()>& peers_alive) {
  if (c.num_blocks < 2) {
    return Error{"a CPU worker needs its KV block count in its config, got " +
                 std::to_string(c.num_blocks)};
  }
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
  const CpuModelRunnerConfig runner{.num_blocks = c.num_blocks,
                                    .block_size = c.block_size,
                                    .seed = c.seed,
                                    .compute = rank_compute(loaded->config, c.rank, c.world_size)};
  out.runner =
      std::make_unique<CpuModelRunner>(loaded->config, std::move(*weights), runner, *out.host_comm);
  out.num_blocks = c.num_blocks;
  return out;
}

}  // namespace waypoint
