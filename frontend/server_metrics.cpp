#include "frontend/server_metrics.hpp"

#include <prometheus/text_serializer.h>

namespace waypoint {

ServerMetrics::ServerMetrics(const std::string& model_name, int32_t engine_index,
                             int32_t client_index)
    : registry_(std::make_shared<prometheus::Registry>()) {
  const prometheus::Labels labels{{"model_name", model_name},
                                  {"engine", std::to_string(engine_index)}};
  auto gauge = [&](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add(labels);
  };
  running_ = gauge(kMetricNumRequestsRunning, "Number of requests in model execution batches.");
  waiting_ = gauge(kMetricNumRequestsWaiting, "Number of requests waiting to be processed.");
  kv_usage_ = gauge(kMetricKvCacheUsagePerc, "KV-cache usage. 1 means 100 percent usage.");
  step_ = gauge(kMetricSchedulerStep,
                "The engine core's scheduler step counter: the last step reported.");
  core_live_ = gauge(kMetricJourneyCoreLiveStates,
                     "Traced requests whose journey is open in the engine core.");
  api_live_ = gauge(kMetricJourneyApiLiveStates,
                    "Traced requests whose API journey is open in this frontend.");
  auto& dropped = prometheus::BuildCounter()
                      .Name(kMetricEventsDropped)
                      .Help("Event hub messages a producer dropped rather than block.")
                      .Register(*registry_);
  auto with_producer = [&](std::string producer) {
    prometheus::Labels l = labels;
    l.emplace("producer", std::move(producer));
    return l;
  };
  core_dropped_ = &dropped.Add(with_producer("engine-" + std::to_string(engine_index)));
  frontend_dropped_ = &dropped.Add(with_producer("frontend-" + std::to_string(client_index)));
}

void ServerMetrics::advance(prometheus::Counter& counter, uint64_t total) {
  const double now = static_cast<double>(total);
  if (now > counter.Value()) counter.Increment(now - counter.Value());
}

void ServerMetrics::observe(const SchedulerStats& stats) {
  std::lock_guard lock(mutex_);
  running_->Set(stats.num_running_reqs);
  waiting_->Set(stats.num_waiting_reqs);
  kv_usage_->Set(stats.kv_cache_usage);
  step_->Set(static_cast<double>(stats.scheduler_step));
  core_live_->Set(static_cast<double>(stats.journey_live_states));
  advance(*core_dropped_, stats.events_dropped);
}

void ServerMetrics::observe_frontend(int64_t api_live_states, uint64_t events_dropped) {
  std::lock_guard lock(mutex_);
  api_live_->Set(static_cast<double>(api_live_states));
  advance(*frontend_dropped_, events_dropped);
}

std::string ServerMetrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace waypoint
