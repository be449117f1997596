#pragma once
// What `waypoint serve` will start: its flags, and the configuration each
// child process receives over the control channel. Every flag that a child
// uses must travel through here; serve_plan_test checks that each one arrives.
#include <cstdint>
#include <string>
#include <vector>

#include "engine_core/engine_core_process.hpp"
#include "frontend/frontend_process.hpp"
#include "worker/model_config.hpp"
#include "worker/worker_process.hpp"

namespace waypoint::cli {

struct ServeOptions {
  std::string model;
  std::string served_model_name;
  std::string host = "127.0.0.1";
  int port = 8000;
  int api_server_count = 1;
  int tensor_parallel_size = 1;
  int max_model_len = 0;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 0;
  int long_prefill_token_threshold = 0;
  int block_size = 16;
  int num_gpu_blocks_override = 0;
  int64_t kv_cache_memory_bytes = 0;
  bool enable_prefix_caching = true;
  std::string scheduling_policy = "fcfs";
  uint64_t seed = 0;
  int64_t max_request_bytes = 10 << 20;
  std::string api_key;
  int startup_timeout = 120;
  int shutdown_timeout = 30;
  // auto, cpu or cuda. run_serve resolves auto (device_selection.hpp) before it
  // plans; the functions below read anything but "cuda" as cpu.
  std::string device = "auto";
  double gpu_memory_utilization = 0.9;
  // How long the engine core and the workers spin on the step sockets before
  // they sleep (proto/busy_poll.hpp); 0 never spins.
  int64_t busy_poll_us = 1000;
  // Observability (docs/architecture.md, "Observability").
  bool enable_journey_tracing = false;
  double journey_tracing_sample_rate = 1.0;
  std::string event_endpoint = "tcp://127.0.0.1:5557";
  std::string event_replay_endpoint = "tcp://127.0.0.1:5558";
  int event_buffer = 10000;
  bool kv_events = false;
  bool step_tracing_enabled = false;
  double step_tracing_sample_rate = 0.01;
  double step_tracing_rich_subsample_rate = 0.001;
  int step_tracing_closure_interval = 100;
  std::string otlp_traces_endpoint;
};

struct ParsedServeOptions {
  ServeOptions options;
  std::string help;  // non-empty: --help was asked for; print it and exit 0
};

// serve's flags, checked; an error is one line naming the flag (exit code 2).
// Kept apart from the launcher so a test can follow every flag from the
// command line to the process that uses it.
Result<ParsedServeOptions> parse_serve_options(const std::vector<std::string>& args);

// Where the processes meet: the run directory's ipc endpoints.
struct ServeEndpoints {
  std::string steps;
  std::string replies;
  std::string event_intake;                    // the hub's XSUB
  std::vector<std::string> frontend_requests;  // by client index
  std::vector<std::string> frontend_outputs;
  std::vector<std::string> frontend_metrics;  // each frontend's scrape-aggregation endpoint
  std::string tp_shm_path;                    // empty below TP 2
};

struct ServePlan {
  EngineCoreProcessConfig engine;
  std::vector<FrontendProcessConfig> frontends;
  std::vector<WorkerProcessConfig> workers;
  std::string model_name;
};

// The scheduler's limits from the flags and the model; an error names the flag.
// The KV block count: --num-gpu-blocks-override, else --kv-cache-memory-bytes over
// one block's bytes on the device (f32 on cpu, bf16 on cuda), else on cuda 0: the
// workers measure it from --gpu-memory-utilization (see run_serve), and the
// launcher checks it with SchedulerConfig::validate_num_blocks once it is known;
// else on cpu room for max-num-seqs full requests, at most 2 GiB.
Result<SchedulerConfig> scheduler_config(const ServeOptions& o, const ModelConfig& model);

ServePlan make_serve_plan(const ServeOptions& o, const SchedulerConfig& scheduler,
                          const ServeEndpoints& endpoints, uint16_t port);

}  // namespace waypoint::cli
