#include "frontend/server_metrics.hpp"

#include <limits>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "telemetry/metric_definitions.hpp"

namespace waypoint {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::string producer_frontend(int32_t client_index) {
  return "frontend-" + std::to_string(client_index);
}

// Families in the making, each sample labelled model_name, engine first, as vLLM does.
class Exposition {
 public:
  explicit Exposition(std::vector<ClientMetric::Label> base) : base_(std::move(base)) {}

  MetricFamily& family(const metrics::MetricInfo& info, MetricType type) {
    MetricFamily& f = families_.emplace_back();
    f.name = std::string(info.name);
    f.help = std::string(info.help);
    f.type = type;
    return f;
  }

  ClientMetric& sample(MetricFamily& f, std::string_view extra_label = {},
                       std::string_view extra_value = {}) {
    ClientMetric& m = f.metric.emplace_back();
    m.label = base_;
    if (!extra_label.empty())
      m.label.push_back({std::string(extra_label), std::string(extra_value)});
    return m;
  }

  void gauge(const metrics::MetricInfo& info, double value) {
    sample(family(info, MetricType::Gauge)).gauge.value = value;
  }

  void counter(const metrics::MetricInfo& info, double value) {
    sample(family(info, MetricType::Counter)).counter.value = value;
  }

  void histogram(const metrics::MetricInfo& info, const std::vector<double>& bounds,
                 const HistogramCounts& counts) {
    ClientMetric::Histogram& h = sample(family(info, MetricType::Histogram)).histogram;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size() && i < counts.counts.size(); ++i) {
      cumulative += counts.counts[i];
      h.bucket.push_back({cumulative, bounds[i]});
    }
    h.sample_count = counts.count();
    h.sample_sum = counts.sum;
    h.bucket.push_back({h.sample_count, std::numeric_limits<double>::infinity()});
  }

  std::string text() const { return prometheus::TextSerializer().Serialize(families_); }

 private:
  std::vector<ClientMetric::Label> base_;
  std::vector<MetricFamily> families_;
};

}  // namespace

ServerMetrics::ServerMetrics(std::string model_name, int32_t engine_index, int32_t client_index,
                             int32_t max_model_len)
    : model_name_(std::move(model_name)),
      engine_index_(engine_index),
      client_index_(client_index),
      requests_(std::make_shared<RequestMetrics>(max_model_len)) {}

void ServerMetrics::observe(const SchedulerStats& stats) {
  std::lock_guard lock(mutex_);
  // The engine's own word arrives in order, so one from the same step is the
  // later one: the stats sent after an abort, or when the engine goes idle,
  // carry the step they follow. (A peer's stats replace ours only from a
  // later step: render() below.)
  if (!engine_ || stats.scheduler_step >= engine_->scheduler_step) engine_ = stats;
}

void ServerMetrics::observe_frontend(int64_t api_live_states, uint64_t events_dropped,
                                     uint64_t spans_dropped) {
  std::lock_guard lock(mutex_);
  api_live_states_ = api_live_states;
  events_dropped_ = events_dropped;
  spans_dropped_ = spans_dropped;
}

FrontendMetricsSnapshot ServerMetrics::snapshot() const {
  FrontendMetricsSnapshot s;
  s.client_index = client_index_;
  s.requests = requests_->snapshot();
  std::lock_guard lock(mutex_);
  s.engine = engine_;
  s.api_live_states = api_live_states_;
  s.events_dropped = events_dropped_;
  s.spans_dropped = spans_dropped_;
  return s;
}

std::string ServerMetrics::render(const std::vector<FrontendMetricsSnapshot>& peers) {
  std::vector<FrontendMetricsSnapshot> frontends{snapshot()};
  RequestMetricsSnapshot requests = requests_->zero();
  requests.add(frontends.front().requests);
  for (const FrontendMetricsSnapshot& peer : peers) {
    if (peer.client_index == client_index_ || !requests.add(peer.requests)) continue;
    frontends.push_back(peer);
  }
  SchedulerStats engine;
  {
    // Remembering the freshest across scrapes keeps the engine counters
    // monotonic even when the peer that had the newest stats goes quiet.
    std::lock_guard lock(mutex_);
    for (const auto& f : frontends) engine_ = fresher(engine_, f.engine);
    if (engine_) engine = *engine_;
  }

  Exposition out({{std::string(metrics::kLabelModelName), model_name_},
                  {std::string(metrics::kLabelEngine), std::to_string(engine_index_)}});
  // Engine level.
  out.gauge(metrics::kNumRequestsRunning, engine.num_running_reqs);
  out.gauge(metrics::kNumRequestsWaiting, engine.num_waiting_reqs);
  out.gauge(metrics::kKvCacheUsagePerc, engine.kv_cache_usage);
  out.counter(metrics::kNumPreemptions, static_cast<double>(engine.num_preemptions));
  out.counter(metrics::kPrefixCacheQueries, static_cast<double>(engine.prefix_cache_queries));
  out.counter(metrics::kPrefixCacheHits, static_cast<double>(engine.prefix_cache_hits));
  // Request level, summed over the frontends.
  out.counter(metrics::kPromptTokens, static_cast<double>(requests.prompt_tokens));
  out.counter(metrics::kGenerationTokens, static_cast<double>(requests.generation_tokens));
  MetricFamily& success = out.family(metrics::kRequestSuccess, MetricType::Counter);
  for (size_t i = 0; i < metrics::kFinishedReasons.size(); ++i) {
    out.sample(success, metrics::kLabelFinishedReason, metrics::kFinishedReasons[i]).counter.value =
        i < requests.success.size() ? static_cast<double>(requests.success[i]) : 0.0;
  }
  for (size_t i = 0; i < metrics::kNumRequestHistograms; ++i) {
    const auto h = static_cast<metrics::RequestHistogram>(i);
    out.histogram(metrics::histogram_info(h).metric, requests_->bounds(h), requests.histograms[i]);
  }
  // Ours.
  out.gauge(metrics::kSchedulerStep, static_cast<double>(engine.scheduler_step));
  out.gauge(metrics::kJourneyCoreLiveStates, static_cast<double>(engine.journey_live_states));
  int64_t api_live = 0;
  for (const auto& f : frontends) api_live += f.api_live_states;
  out.gauge(metrics::kJourneyApiLiveStates, static_cast<double>(api_live));
  auto per_producer = [&](const metrics::MetricInfo& info, uint64_t engine_total,
                          uint64_t FrontendMetricsSnapshot::*frontend_total) {
    MetricFamily& family = out.family(info, MetricType::Counter);
    out.sample(family, metrics::kLabelProducer, "engine-" + std::to_string(engine_index_))
        .counter.value = static_cast<double>(engine_total);
    std::map<int32_t, uint64_t> by_client;  // ordered, so the output is stable
    for (const auto& f : frontends) by_client[f.client_index] = f.*frontend_total;
    for (const auto& [client, total] : by_client) {
      out.sample(family, metrics::kLabelProducer, producer_frontend(client)).counter.value =
          static_cast<double>(total);
    }
  };
  per_producer(metrics::kEventsDropped, engine.events_dropped,
               &FrontendMetricsSnapshot::events_dropped);
  per_producer(metrics::kOtlpSpansDropped, engine.spans_dropped,
               &FrontendMetricsSnapshot::spans_dropped);
  return out.text();
}

}  // namespace waypoint
