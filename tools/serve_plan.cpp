#include "tools/serve_plan.hpp"

#include <algorithm>
#include <filesystem>

#include "worker/kv_cache.hpp"

namespace fs = std::filesystem;

namespace waypoint::cli {

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
  sc.enable_journey_tracing = o.enable_journey_tracing;
  if (sc.block_size < 1) return Error{"--block-size must be positive"};
  const int64_t per_block = KvCache::bytes_per_block(
      model.num_hidden_layers, sc.block_size, model.num_key_value_heads / o.tensor_parallel_size,
      model.head_dim);
  if (o.num_gpu_blocks_override > 0) {
    sc.num_blocks = o.num_gpu_blocks_override;
  } else if (o.kv_cache_memory_bytes > 0) {
    sc.num_blocks = static_cast<int32_t>(o.kv_cache_memory_bytes / per_block);
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
    f.enable_journey_tracing = o.enable_journey_tracing;
    f.journey_tracing_sample_rate = o.journey_tracing_sample_rate;
    f.seed = o.seed;
    f.events_endpoint = endpoints.event_intake;
    plan.engine.frontends.push_back({f.request_endpoint, f.output_endpoint});
    plan.frontends.push_back(f);
  }
  for (int r = 0; r < o.tensor_parallel_size; ++r) {
    WorkerProcessConfig w;
    w.model_dir = o.model;
    w.rank = r;
    w.world_size = o.tensor_parallel_size;
    w.num_blocks = sc.num_blocks;
    w.block_size = sc.block_size;
    w.seed = o.seed;
    w.max_num_batched_tokens = sc.max_num_batched_tokens;
    w.tp_shm_path = endpoints.tp_shm_path;
    w.steps_endpoint = endpoints.steps;
    w.reply_endpoint = endpoints.replies;
    plan.workers.push_back(w);
  }
  return plan;
}

}  // namespace waypoint::cli
