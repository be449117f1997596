#include "launcher/offline_engine.hpp"

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include "engine_core/engine_step.hpp"
#include "launcher/bring_up.hpp"
#include "worker/cpu_worker_rank.hpp"
#include "worker/shm_tp_group.hpp"
#ifdef WAYPOINT_HAVE_CUDA
#include "worker/cuda_model_runner.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"
#endif

namespace waypoint {

namespace {

#ifdef WAYPOINT_HAVE_CUDA
// One CUDA rank in this process, on the current device, with a fixed pool.
Result<WorkerRank> load_local_cuda_rank(const WorkerProcessConfig& c) {
  try {
    auto loaded = load_model(c.model_dir);
    if (!loaded) return loaded.error();
    auto weights = load_llama_weights(loaded->config, loaded->weights, TpShard{0, 1});
    if (!weights) return weights.error();
    WorkerRank out;
    out.device_comm = std::make_unique<SingleDevice>();
    out.runner = std::make_unique<CudaModelRunner>(
        loaded->config, std::move(*weights),
        CudaModelRunnerConfig{
            .num_blocks = c.num_blocks,
            .block_size = c.block_size,
            .seed = c.seed,
            .max_num_batched_tokens = static_cast<int32_t>(c.max_num_batched_tokens),
            .max_num_seqs = c.max_num_seqs},
        *out.device_comm);
    out.num_blocks = c.num_blocks;
    return out;
  } catch (const std::exception& e) {
    return Error{e.what()};
  }
}
#endif

}  // namespace

OfflineEngine::OfflineEngine(Key, const OfflineEngineConfig& config, const Logger& log)
    : config_(config),
      log_(log),
      followers_(config.worker_executable),
      scheduler_(config.scheduler, clock_) {}

// Rank 0's runner and communicator go first (members in reverse order), then
// ~ProcessSupervisor kills and reaps any follower still running, then the run
// files go.
OfflineEngine::~OfflineEngine() = default;

Result<std::unique_ptr<OfflineEngine>> OfflineEngine::start(const OfflineEngineConfig& config,
                                                            const Logger& log) {
  auto engine = std::make_unique<OfflineEngine>(Key{}, config, log);
  try {
    const bool group = config.tensor_parallel_size > 1;
    if (group) {
      if (auto ok = engine->create_group(); !ok) return ok.error();
    }
    // Rank 0 loads its shard here while ranks 1.. start and load theirs.
    auto rank0 = std::async(std::launch::async, [&e = *engine] { return e.load_rank0(); });
    const Result<void> followers = group ? engine->start_followers() : Result<void>{};
    const Result<void> loaded = rank0.get();
    if (!followers) return followers.error();
    if (!loaded) return loaded.error();
    if (group) {
      if (auto ok = engine->join_step_broadcast(); !ok) return ok.error();
    }
  } catch (const std::exception& e) {
    return Error{e.what()};
  }
  return engine;
}

WorkerProcessConfig OfflineEngine::rank_config(int32_t rank) const {
  WorkerProcessConfig w;
  w.model_dir = config_.model_dir;
  w.rank = rank;
  w.world_size = config_.tensor_parallel_size;
  w.device = std::string(device_name(config_.device));
  w.num_blocks = config_.scheduler.num_blocks;
  w.max_num_seqs = config_.scheduler.max_num_seqs;
  w.block_size = config_.scheduler.block_size;
  w.seed = config_.seed;
  w.max_num_batched_tokens = config_.scheduler.max_num_batched_tokens;
  w.tp_shm_path = tp_shm_path_;
  if (files_) w.steps_endpoint = files_->ipc("steps");
  w.busy_poll_us = config_.busy_poll_us;
  return w;
}

// Where the ranks meet: the run's ipc directory, the shared-memory region
// they all-reduce through, and the control channel ranks 1.. start on.
Result<void> OfflineEngine::create_group() {
  files_.emplace();
  tp_shm_path_ = files_->claim_shm("tp");
  if (auto ok = ShmTpGroup::create_file(
          tp_shm_path_, config_.tensor_parallel_size,
          tp_max_floats(config_.scheduler.max_num_batched_tokens, config_.model.hidden_size));
      !ok) {
    return ok;
  }
  control_.emplace(context_, files_->ipc("control"));
  return {};
}

// Ranks 1.. as worker processes, ready once they have loaded their shards and
// subscribed to the step broadcast.
Result<void> OfflineEngine::start_followers() {
  const std::string control_endpoint = files_->ipc("control");
  std::vector<ChildSpec> ranks;
  for (int32_t r = 1; r < config_.tensor_parallel_size; ++r) {
    ranks.push_back({"worker-" + std::to_string(r), "worker", to_json_text(rank_config(r))});
  }
  BringUp bring_up(*control_, control_endpoint, followers_, log_);
  return bring_up.run(ranks, config_.startup_timeout, config_.signals);
}

Result<void> OfflineEngine::load_rank0() {
  const WorkerProcessConfig c = rank_config(0);
  if (config_.device == Device::kCuda) {
#ifdef WAYPOINT_HAVE_CUDA
    auto rank = load_local_cuda_rank(c);
    if (!rank) return rank.error();
    rank0_ = std::move(*rank);
#else
    return Error{"--device cuda: this waypoint was built without CUDA"};
#endif
  } else {
    auto rank = load_cpu_rank(c, [this] { return followers_alive(); });
    if (!rank) return rank.error();
    rank0_ = std::move(*rank);
  }
  return {};
}

// From now on each step goes out to ranks 1.. before rank 0 runs it.
Result<void> OfflineEngine::join_step_broadcast() {
  auto client = std::make_unique<WorkerClient>(context_, files_->ipc("steps"),
                                               config_.tensor_parallel_size, *rank0_.runner);
  if (auto joined = client->wait_for_ranks(config_.startup_timeout); !joined) return joined;
  executor_ = std::move(client);
  return {};
}

bool OfflineEngine::followers_alive() {
  while (auto exit = followers_.reap()) early_exits_.push_back(*exit);
  return early_exits_.empty();
}

StepOutputs& OfflineEngine::step() {
  Executor& executor = executor_ ? *executor_ : *rank0_.runner;
  try {
    return engine_step(scheduler_, executor);
  } catch (const std::runtime_error& e) {
    if (!followers_alive()) {
      throw std::runtime_error(std::string(e.what()) + ": " + describe_early_exits());
    }
    throw;
  }
}

const CpuModelRunner* OfflineEngine::cpu_runner() const {
  return dynamic_cast<const CpuModelRunner*>(rank0_.runner.get());
}

std::string OfflineEngine::describe_early_exits() const {
  std::string what;
  for (const auto& e : early_exits_) {
    what += (what.empty() ? "" : ", ") + e.name + " (pid " + std::to_string(e.pid) + ") " +
            e.describe();
  }
  return what;
}

Result<void> OfflineEngine::shutdown() {
  if (!control_) return {};
  for (const auto& name : followers_.running_names()) control_->send(name, control::kShutdown);
  // A rank that was told exits within moments; one that does not is killed
  // by the supervisor's destructor.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (followers_.num_running() > 0 && std::chrono::steady_clock::now() < deadline) {
    if (auto exit = followers_.reap()) {
      early_exits_.push_back(*exit);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::string failed;
  for (const auto& e : early_exits_) {
    if (!e.clean()) failed += (failed.empty() ? "" : ", ") + e.name + " " + e.describe();
  }
  if (followers_.num_running() > 0) return Error{"tensor-parallel ranks did not stop in time"};
  if (!failed.empty()) return Error{"tensor-parallel rank(s) failed: " + failed};
  return {};
}

}  // namespace waypoint
