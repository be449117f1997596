#include "launcher/serve_plan.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include <boost/program_options.hpp>

#include "base/command_line.hpp"
#include "worker/device_selection.hpp"
#include "worker/kv_sizing.hpp"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace waypoint::cli {

namespace {

void add_serve_options(po::options_description& opts, ServeOptions& o) {
  opts.add_options()("model", po::value(&o.model),
                     "model directory; default: the built-in demo model")(
      "served-model-name", po::value(&o.served_model_name),
      "the name clients use; default: the model directory's name")(
      "host", po::value(&o.host)->default_value(o.host), "address to listen on")(
      "port", po::value(&o.port)->default_value(o.port), "HTTP port; 0 picks a free one")(
      "api-server-count", po::value(&o.api_server_count)->default_value(1),
      "frontend processes sharing the port")(
      "tensor-parallel-size", po::value(&o.tensor_parallel_size)->default_value(1), "worker ranks")(
      "device", po::value(&o.device)->default_value(o.device),
      "auto, cpu or cuda; auto is cuda when this build has CUDA, a device is visible and "
      "the model suits the CUDA backend")(
      "gpu-memory-utilization",
      po::value(&o.gpu_memory_utilization)->default_value(o.gpu_memory_utilization, "0.9"),
      "fraction of each GPU's memory a worker may use, weights and KV cache included; "
      "sizes the KV cache on cuda")(
      "busy-poll-us", po::value(&o.busy_poll_us)->default_value(o.busy_poll_us),
      "microseconds the engine core and the workers spin awaiting a step or its result "
      "before they sleep; 0: never spin")("max-model-len",
                                          po::value(&o.max_model_len)->default_value(0),
                                          "prompt plus output cap; 0: the model's maximum")(
      "max-num-seqs", po::value(&o.max_num_seqs)->default_value(256), "requests running at once")(
      "max-num-batched-tokens", po::value(&o.max_num_batched_tokens)->default_value(0),
      "token budget per step; 0: max(2048, max-model-len)")(
      "long-prefill-token-threshold", po::value(&o.long_prefill_token_threshold)->default_value(0),
      "chunk prefills longer than this; 0: off")(
      "block-size", po::value(&o.block_size)->default_value(16), "tokens per KV block")(
      "num-gpu-blocks-override", po::value(&o.num_gpu_blocks_override)->default_value(0),
      "force this many KV blocks (any device)")(
      "kv-cache-memory-bytes", po::value(&o.kv_cache_memory_bytes)->default_value(0),
      "KV cache bytes per worker; 0: from --gpu-memory-utilization on cuda, else room for "
      "max-num-seqs full requests, at most 2 GiB")("enable-prefix-caching",
                                                   "reuse KV blocks of shared prefixes (default)")(
      "no-enable-prefix-caching", "turn prefix caching off")(
      "scheduling-policy", po::value(&o.scheduling_policy)->default_value("fcfs"),
      "fcfs or priority")("seed", po::value(&o.seed)->default_value(0),
                          "sampling seed for requests without one")(
      "max-request-bytes", po::value(&o.max_request_bytes)->default_value(o.max_request_bytes),
      "larger request bodies get 413")("api-key", po::value(&o.api_key),
                                       "require 'Authorization: Bearer KEY' on /v1/*")(
      "startup-timeout", po::value(&o.startup_timeout)->default_value(120),
      "seconds every process has to become ready")(
      "shutdown-timeout", po::value(&o.shutdown_timeout)->default_value(30),
      "seconds in-flight requests get to finish on SIGINT/SIGTERM")(
      "enable-journey-tracing", po::bool_switch(&o.enable_journey_tracing),
      "emit request journey events (core and API) to the event hub")(
      "journey-tracing-sample-rate", po::value(&o.journey_tracing_sample_rate)->default_value(1.0),
      "fraction of requests traced, decided once per request in the frontend")(
      "event-endpoint", po::value(&o.event_endpoint)->default_value(o.event_endpoint),
      "the event hub's XPUB: where `waypoint events` and other subscribers connect")(
      "event-replay-endpoint",
      po::value(&o.event_replay_endpoint)->default_value(o.event_replay_endpoint),
      "the event hub's replay ROUTER")(
      "event-buffer", po::value(&o.event_buffer)->default_value(o.event_buffer),
      "hub messages kept for replay")("kv-events", po::bool_switch(&o.kv_events),
                                      "publish prefix-cache BlockStored/BlockRemoved/"
                                      "AllBlocksCleared on the hub's kv topic")(
      "step-tracing-enabled", po::bool_switch(&o.step_tracing_enabled),
      "publish step.BATCH_SUMMARY (and step.REQUEST_SNAPSHOT) events on the hub's step topic")(
      "step-tracing-sample-rate",
      po::value(&o.step_tracing_sample_rate)->default_value(o.step_tracing_sample_rate),
      "fraction of scheduler steps that publish a batch summary")(
      "step-tracing-rich-subsample-rate",
      po::value(&o.step_tracing_rich_subsample_rate)
          ->default_value(o.step_tracing_rich_subsample_rate),
      "fraction of the sampled steps that also publish one snapshot per running request")(
      "step-tracing-closure-interval",
      po::value(&o.step_tracing_closure_interval)->default_value(o.step_tracing_closure_interval),
      "steps per OTLP step span (scope vllm.scheduler.step)")(
      "otlp-traces-endpoint", po::value(&o.otlp_traces_endpoint),
      "export OTLP/HTTP JSON spans to URL/v1/traces (turns journey tracing on)");
}

// The flags' values, each alone; an error names the flag.
Result<void> check_serve_options(const ServeOptions& o) {
  auto usage = [](std::string message) -> Result<void> { return Error{std::move(message)}; };
  if (o.api_server_count < 1 || o.api_server_count > 64)
    return usage("--api-server-count must be between 1 and 64");
  if (o.tensor_parallel_size < 1 || o.tensor_parallel_size > 16)
    return usage("--tensor-parallel-size must be between 1 and 16");
  if (o.port < 0 || o.port > 65535) return usage("--port must be between 0 and 65535");
  if (auto ok = check_device_flag(o.device); !ok) return usage(ok.error().message);
  if (auto ok = check_gpu_memory_utilization(o.gpu_memory_utilization); !ok)
    return usage(ok.error().message);
  if (o.scheduling_policy != "fcfs" && o.scheduling_policy != "priority")
    return usage("--scheduling-policy must be fcfs or priority");
  if (o.busy_poll_us < 0 || o.busy_poll_us > 1'000'000)
    return usage("--busy-poll-us must be between 0 and 1000000");
  if (o.max_request_bytes < 1024) return usage("--max-request-bytes must be at least 1024");
  if (o.startup_timeout < 1) return usage("--startup-timeout must be at least 1");
  if (o.shutdown_timeout < 0) return usage("--shutdown-timeout must not be negative");
  if (!(o.journey_tracing_sample_rate >= 0.0 && o.journey_tracing_sample_rate <= 1.0))
    return usage("--journey-tracing-sample-rate must be between 0 and 1");
  if (o.event_buffer < 0) return usage("--event-buffer must not be negative");
  if (!(o.step_tracing_sample_rate >= 0.0 && o.step_tracing_sample_rate <= 1.0))
    return usage("--step-tracing-sample-rate must be between 0 and 1");
  if (!(o.step_tracing_rich_subsample_rate >= 0.0 && o.step_tracing_rich_subsample_rate <= 1.0))
    return usage("--step-tracing-rich-subsample-rate must be between 0 and 1");
  if (o.step_tracing_closure_interval < 1)
    return usage("--step-tracing-closure-interval must be at least 1");
  if (!o.otlp_traces_endpoint.empty() && o.otlp_traces_endpoint.rfind("http://", 0) != 0)
    return usage("--otlp-traces-endpoint must be an http:// URL, got '" + o.otlp_traces_endpoint +
                 "'");
  if (o.event_endpoint.empty()) return usage("--event-endpoint must not be empty");
  if (o.event_replay_endpoint.empty()) return usage("--event-replay-endpoint must not be empty");
  return {};
}

}  // namespace

Result<ParsedServeOptions> parse_serve_options(const std::vector<std::string>& args) {
  ParsedServeOptions parsed;
  ServeOptions& o = parsed.options;
  cli::CommandLine command_line("serve", "Usage: waypoint serve [--model DIR] [options]\n\n");
  add_serve_options(command_line.options(), o);
  auto outcome = command_line.parse(args);
  if (!outcome) return outcome.error();
  if (*outcome == cli::CommandLine::Outcome::kHelp) {
    parsed.help = command_line.help();
    return parsed;
  }
  if (auto ok = check_serve_options(o); !ok) return ok.error();
  o.enable_prefix_caching = !command_line.given("no-enable-prefix-caching");
  return parsed;
}

Result<SchedulerConfig> scheduler_config(const ServeOptions& o, const ModelConfig& model) {
  SchedulerConfig sc;
  sc.max_model_len = o.max_model_len > 0 ? o.max_model_len : model.max_position_embeddings;
  if (sc.max_model_len > model.max_position_embeddings) {
    return Error{"--max-model-len " + std::to_string(sc.max_model_len) +
                 " exceeds the model's max_position_embeddings " +
                 std::to_string(model.max_position_embeddings)};
  }
  sc.max_num_seqs = o.max_num_seqs;
  sc.max_num_batched_tokens =
      o.max_num_batched_tokens > 0 ? o.max_num_batched_tokens : std::max(2048, sc.max_model_len);
  sc.long_prefill_token_threshold = o.long_prefill_token_threshold;
  sc.block_size = o.block_size;
  sc.enable_prefix_caching = o.enable_prefix_caching;
  sc.policy =
      o.scheduling_policy == "priority" ? SchedulingPolicy::PRIORITY : SchedulingPolicy::FCFS;
  sc.eos_token_id = model.eos_token_id;
  // OTLP spans are built from the journey events, so exporting them turns
  // journey tracing on.
  sc.enable_journey_tracing = o.enable_journey_tracing || !o.otlp_traces_endpoint.empty();
  sc.step_tracing.enabled = o.step_tracing_enabled;
  sc.step_tracing.sample_rate = o.step_tracing_sample_rate;
  sc.step_tracing.rich_subsample_rate = o.step_tracing_rich_subsample_rate;
  sc.step_tracing.closure_interval = o.step_tracing_closure_interval;
  sc.step_tracing.seed = o.seed;
  if (sc.block_size < 1) return Error{"--block-size must be positive"};
  const bool cuda = o.device == "cuda";
  // The caches hold f32 on CPU and bf16 on CUDA.
  const int64_t per_block = kv_bytes_per_block(model.num_hidden_layers, sc.block_size,
                                               model.num_key_value_heads / o.tensor_parallel_size,
                                               model.head_dim, cuda ? 2 : 4);
  if (o.num_gpu_blocks_override > 0) {
    sc.num_blocks = o.num_gpu_blocks_override;
  } else if (o.kv_cache_memory_bytes > 0) {
    sc.num_blocks =
        static_cast<int32_t>(std::min<int64_t>(o.kv_cache_memory_bytes / per_block, INT32_MAX));
  } else if (cuda) {
    sc.num_blocks = 0;  // measured by the workers
    if (auto ok = sc.validate_limits(); !ok) return ok.error();
    return sc;
  } else {
    const int64_t wanted =
        1 + int64_t{sc.max_num_seqs} * ((sc.max_model_len + sc.block_size - 1) / sc.block_size);
    sc.num_blocks = static_cast<int32_t>(std::min<int64_t>(wanted, (int64_t{2} << 30) / per_block));
  }
  if (auto ok = sc.validate(); !ok) return ok.error();
  return sc;
}

ServePlan make_serve_plan(const ServeOptions& o, const SchedulerConfig& sc,
                          const ServeEndpoints& endpoints, uint16_t port) {
  ServePlan plan;
  plan.model_name =
      o.served_model_name.empty() ? fs::path(o.model).filename().string() : o.served_model_name;
  if (plan.model_name.empty()) plan.model_name = o.model;
  plan.engine.scheduler = sc;
  plan.engine.world_size = o.tensor_parallel_size;
  plan.engine.steps_endpoint = endpoints.steps;
  plan.engine.reply_endpoint = endpoints.replies;
  plan.engine.events_endpoint = endpoints.event_intake;
  plan.engine.kv_events = o.kv_events;
  plan.engine.otlp_traces_endpoint = o.otlp_traces_endpoint;
  plan.engine.busy_poll_us = o.busy_poll_us;
  for (int i = 0; i < o.api_server_count; ++i) {
    FrontendProcessConfig f;
    f.model_dir = o.model;
    f.served_model_name = plan.model_name;
    f.host = o.host;
    f.port = port;
    f.client_index = i;
    f.max_model_len = sc.max_model_len;
    f.request_endpoint = endpoints.frontend_requests.at(static_cast<size_t>(i));
    f.output_endpoint = endpoints.frontend_outputs.at(static_cast<size_t>(i));
    f.max_request_bytes = o.max_request_bytes;
    f.api_key = o.api_key;
    f.priority_scheduling = sc.policy == SchedulingPolicy::PRIORITY;
    f.drain_timeout_s = o.shutdown_timeout;
    f.enable_journey_tracing = sc.enable_journey_tracing;
    f.journey_tracing_sample_rate = o.journey_tracing_sample_rate;
    f.seed = o.seed;
    f.events_endpoint = endpoints.event_intake;
    f.otlp_traces_endpoint = o.otlp_traces_endpoint;
    f.metrics_endpoints = endpoints.frontend_metrics;
    plan.engine.frontends.push_back({f.request_endpoint, f.output_endpoint});
    plan.frontends.push_back(f);
  }
  for (int r = 0; r < o.tensor_parallel_size; ++r) {
    WorkerProcessConfig w;
    w.model_dir = o.model;
    w.rank = r;
    w.world_size = o.tensor_parallel_size;
    w.device = o.device == "cuda" ? "cuda" : "cpu";
    w.num_blocks = sc.num_blocks;
    w.gpu_memory_utilization = o.gpu_memory_utilization;
    w.max_num_seqs = sc.max_num_seqs;
    w.block_size = sc.block_size;
    w.seed = o.seed;
    w.max_num_batched_tokens = sc.max_num_batched_tokens;
    w.tp_shm_path = endpoints.tp_shm_path;
    w.steps_endpoint = endpoints.steps;
    w.reply_endpoint = endpoints.replies;
    w.busy_poll_us = o.busy_poll_us;
    plan.workers.push_back(w);
  }
  return plan;
}

}  // namespace waypoint::cli
