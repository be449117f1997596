#pragma once
// The whole engine in one process, as vLLM's offline LLM runs it: the
// scheduler and rank 0's model runner here, and, above one rank, ranks 1..
// as the same `waypoint worker` processes that serve starts. They are brought
// up through the same control handshake (bring_up.hpp), receive each step
// over ZeroMQ from the worker client, and all-reduce with rank 0 through the
// shared-memory group. `waypoint generate` and the reference-logits test drive
// it; there is one CPU tensor-parallel runtime, and this is its offline use.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "base/log.hpp"
#include "base/result.hpp"
#include "base/signal_watch.hpp"
#include "engine_core/clock.hpp"
#include "engine_core/scheduler.hpp"
#include "engine_core/worker_client.hpp"
#include "launcher/process_supervisor.hpp"
#include "launcher/run_files.hpp"
#include "proto/control_channel.hpp"
#include "worker/cpu_model_runner.hpp"
#include "worker/device_selection.hpp"
#include "worker/model_config.hpp"
#include "worker/worker_process.hpp"
#include "worker/worker_rank.hpp"

namespace waypoint {

struct OfflineEngineConfig {
  std::string model_dir;
  ModelConfig model;  // the model_dir's config

  Device device = Device::kCpu;  // cuda runs one rank
  int32_t tensor_parallel_size = 1;
  SchedulerConfig scheduler;  // num_blocks set: the KV pool every rank allocates
  uint64_t seed = 0;          // for requests that bring no seed
  // The binary whose `worker` subcommand runs ranks 1.. (a test names the
  // waypoint binary; the waypoint binary is itself).
  std::string worker_executable = "/proc/self/exe";
  std::chrono::seconds startup_timeout{120};
  int64_t busy_poll_us = 1000;  // ranks 1.. spin this long awaiting the next step
  // A signal seen here ends the start of ranks 1.. (the caller checks it
  // between steps); nullptr: none is watched.
  SignalWatch* signals = nullptr;
};

class OfflineEngine {
 public:
  // Starts ranks 1.., loads rank 0 here, and waits until every rank follows
  // the step broadcast. An error names what failed.
  static Result<std::unique_ptr<OfflineEngine>> start(const OfflineEngineConfig& config,
                                                      const Logger& log);
  // Only start() can make the key, so only it constructs engines.
  class Key {
    friend class OfflineEngine;
    Key() = default;
  };
  OfflineEngine(Key, const OfflineEngineConfig& config, const Logger& log);
  // Kills and reaps any rank still running.
  ~OfflineEngine();
  OfflineEngine(const OfflineEngine&) = delete;
  OfflineEngine& operator=(const OfflineEngine&) = delete;

  Result<void> add_request(const EngineCoreRequest& request) {
    return scheduler_.add_request(request);
  }
  bool has_unfinished_requests() const { return scheduler_.has_unfinished_requests(); }
  // One step: schedule, execute on every rank, update. Throws
  // std::runtime_error when a rank fails. The outputs live until the next step.
  StepOutputs& step();
  // Rank 0's runner on cpu, else nullptr: tests read its logits.
  const CpuModelRunner* cpu_runner() const;
  // Tells ranks 1.. to exit and waits for them; an error names a rank that
  // failed.
  Result<void> shutdown();

 private:
  Result<void> create_group();
  Result<void> start_followers();
  Result<void> load_rank0();
  Result<void> join_step_broadcast();
  WorkerProcessConfig rank_config(int32_t rank) const;
  bool followers_alive();
  std::string describe_early_exits() const;

  OfflineEngineConfig config_;
  const Logger& log_;
  std::optional<RunFiles> files_;  // above one rank: the ipc endpoints and the TP region
  std::string tp_shm_path_;
  zmq::context_t context_{1};
  ProcessSupervisor followers_;
  std::optional<control::Server> control_;
  std::vector<ProcessSupervisor::Exit> early_exits_;  // ranks reaped while running
  WorkerRank rank0_;
  std::unique_ptr<Executor> executor_;  // rank 0 alone, or the worker client around it
  SteadyClock clock_;
  Scheduler scheduler_;
};

}  // namespace waypoint
