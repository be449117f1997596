#include "frontend/server_metrics.hpp"

#include <prometheus/text_serializer.h>

namespace waypoint {

ServerMetrics::ServerMetrics(const std::string& model_name, int32_t engine_index)
    : registry_(std::make_shared<prometheus::Registry>()) {
  const prometheus::Labels labels{{"model_name", model_name},
                                  {"engine", std::to_string(engine_index)}};
  running_ = &prometheus::BuildGauge()
                  .Name(kMetricNumRequestsRunning)
                  .Help("Number of requests in model execution batches.")
                  .Register(*registry_)
                  .Add(labels);
  waiting_ = &prometheus::BuildGauge()
                  .Name(kMetricNumRequestsWaiting)
                  .Help("Number of requests waiting to be processed.")
                  .Register(*registry_)
                  .Add(labels);
  kv_usage_ = &prometheus::BuildGauge()
                   .Name(kMetricKvCacheUsagePerc)
                   .Help("KV-cache usage. 1 means 100 percent usage.")
                   .Register(*registry_)
                   .Add(labels);
  step_ = &prometheus::BuildGauge()
               .Name(kMetricSchedulerStep)
               .Help("The engine core's scheduler step counter: the last step reported.")
               .Register(*registry_)
               .Add(labels);
}

void ServerMetrics::observe(const SchedulerStats& stats) {
  running_->Set(stats.num_running_reqs);
  waiting_->Set(stats.num_waiting_reqs);
  kv_usage_->Set(stats.kv_cache_usage);
  step_->Set(static_cast<double>(stats.scheduler_step));
}

std::string ServerMetrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace waypoint
