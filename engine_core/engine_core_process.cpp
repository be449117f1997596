#include "engine_core/engine_core_process.hpp"

#include <atomic>
#include <chrono>
#include <optional>

#include <zmq.hpp>

#include "base/json_config.hpp"
#include "base/log.hpp"
#include "engine_core/clock.hpp"
#include "engine_core/engine_step.hpp"
#include "engine_core/kv_event_log.hpp"
#include "engine_core/scheduler.hpp"
#include "engine_core/step_span_recorder.hpp"
#include "engine_core/step_trace.hpp"
#include "engine_core/worker_client.hpp"
#include "proto/codec.hpp"
#include "proto/control_channel.hpp"
#include "telemetry/event_publisher.hpp"
#include "telemetry/otlp_exporter.hpp"

namespace waypoint {

NLOHMANN_JSON_SERIALIZE_ENUM(SchedulingPolicy, {{SchedulingPolicy::FCFS, "fcfs"},
                                                {SchedulingPolicy::PRIORITY, "priority"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StepTracingConfig, enabled, sample_rate,
                                                rich_subsample_rate, closure_interval, seed)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SchedulerConfig, max_num_batched_tokens,
                                                max_num_seqs, max_model_len,
                                                long_prefill_token_threshold, block_size,
                                                num_blocks, enable_prefix_caching, policy,
                                                eos_token_id, enable_journey_tracing, step_tracing)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FrontendEndpoints, requests, outputs)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(EngineCoreProcessConfig, scheduler, engine_index,
                                                world_size, frontends, steps_endpoint,
                                                reply_endpoint, events_endpoint, kv_events,
                                                otlp_traces_endpoint, busy_poll_us)

std::string to_json_text(const EngineCoreProcessConfig& c) { return json_text(c); }

Result<EngineCoreProcessConfig> engine_core_config_from_json(const std::string& text) {
  return from_json_text<EngineCoreProcessConfig>(text, "engine core config");
}

namespace {

bool has_content(const EngineCoreOutputs& batch) {
  return !batch.outputs.empty() || !batch.finished_requests.empty() ||
         (batch.journey_events && !batch.journey_events->empty());
}

class StepLoop {
 public:
  StepLoop(const EngineCoreProcessConfig& config, const Clock& clock, Scheduler& scheduler,
           Executor& executor, FrontendLink& link, RequestInbox& inbox, EventPublisher* hub,
           KvEventLog* kv_events, StepSpanRecorder* step_spans, const SpanSink* otlp,
           const std::atomic<bool>& stop,
           const Logger& log, std::string producer)
      : config_(config),
        clock_(clock),
        scheduler_(scheduler),
        executor_(executor),
        link_(link),
        inbox_(inbox),
        hub_(hub),
        kv_events_(kv_events),
        step_spans_(step_spans),
        otlp_(otlp),
        stop_(stop),
        log_(log),
        producer_(std::move(producer)),
        epoch_offset_ns_(epoch_offset_ns()) {}

  void run() {
    while (!stop_.load()) {
      admit();
      if (scheduler_.has_unfinished_requests()) {
        send(engine_step(scheduler_, executor_));
        publish_step_record();
        busy_ = true;
      } else if (scheduler_.has_pending_outputs()) {
        send(scheduler_.take_pending_outputs());
      } else {
        if (busy_) send_idle_stats();
        busy_ = false;
        // Idle: the only place the loop blocks.
        inbox_.wait(std::chrono::milliseconds(500));
      }
    }
  }

 private:
  void admit() {
    inbox_.drain(inbound_);
    for (auto& message : inbound_) {
      if (auto* request = std::get_if<EngineCoreRequest>(&message.body)) {
        if (auto ok = scheduler_.add_request(*request); !ok) {
          log_.warn("rejected request " + request->request_id + ": " + ok.error().message);
          reject(message.client, request->request_id);
        }
      } else if (auto* abort = std::get_if<AbortRequests>(&message.body)) {
        scheduler_.abort_requests(abort->request_ids);
      } else if (auto* call = std::get_if<UtilityCall>(&message.body)) {
        if (call->method == "reset_prefix_cache") {
          scheduler_.reset_prefix_cache();
          publish_kv_events();
        } else {
          log_.warn("unknown utility call '" + call->method + "' from frontend-" +
                    std::to_string(message.client));
        }
      }
    }
  }

  // The frontend validates first; this is for what only the scheduler knows.
  void reject(int32_t client, const std::string& request_id) {
    EngineCoreOutputs batch;
    batch.engine_index = config_.engine_index;
    batch.timestamp = monotonic_seconds();
    EngineCoreOutput out;
    out.request_id = request_id;
    out.finish_reason = FinishReason::ERROR;
    batch.outputs.push_back(std::move(out));
    batch.finished_requests.push_back(request_id);
    link_.send(client, encode(batch));
  }

  // The scheduler stamped each batch's timestamp; the rest is the engine's.
  void send(StepOutputs& outputs) {
    publish_kv_events();
    const SchedulerStats stats = make_stats();
    for (size_t client = 0; client < outputs.size(); ++client) {
      EngineCoreOutputs& batch = outputs[client];
      if (!has_content(batch)) continue;
      batch.engine_index = config_.engine_index;
      batch.scheduler_stats = stats;
      link_.send(static_cast<int32_t>(client), encode(batch));
    }
  }

  // Gauges (running, waiting, KV usage) must read 0 once the work is done,
  // even for a frontend that had nothing to hear in the last step.
  void send_idle_stats() {
    EngineCoreOutputs batch;
    batch.engine_index = config_.engine_index;
    batch.timestamp = monotonic_seconds();
    batch.scheduler_stats = make_stats();
    const std::string frame = encode(batch);
    for (size_t client = 0; client < config_.frontends.size(); ++client) {
      link_.send(static_cast<int32_t>(client), frame);
    }
  }

  double monotonic_seconds() const { return static_cast<double>(clock_.now_ns()) * 1e-9; }

  SchedulerStats make_stats() {
    SchedulerStats stats = scheduler_.make_stats();
    if (hub_ != nullptr) stats.events_dropped = hub_->dropped();
    if (otlp_ != nullptr) stats.spans_dropped = otlp_->dropped();
    return stats;
  }

  // Once per step: the prefix-cache changes the step made, in one message.
  void publish_kv_events() {
    if (kv_events_ == nullptr || kv_events_->empty() || hub_ == nullptr) return;
    hub_->publish(kTopicKv, kv_events_->take(scheduler_.scheduler_step(), clock_.now_ns()));
  }

  // --step-tracing-enabled: a sampled step's summary (and snapshots) on the
  // hub's step topic. The hub maps are built on the publisher's thread, so
  // the step loop pays for a copy of the record only.
  //
  // With --otlp-traces-endpoint the sampled step's events also go on the open
  // step span, which belongs to this loop: then they are built here, once,
  // for both.
  void publish_step_record() {
    if (step_spans_ != nullptr) step_spans_->advance(scheduler_.scheduler_step());
    auto record = scheduler_.take_step_record();
    if (!record) return;
    if (step_spans_ != nullptr) {
      std::vector<HubEvent> events = step_hub_events(*record, epoch_offset_ns_);
      if (hub_ != nullptr) hub_->publish(kTopicStep, events);
      step_spans_->record(record->summary.step_id, record->summary.ts_start_ns,
                          std::move(events));
      return;
    }
    if (hub_ == nullptr) return;
    hub_->publish_deferred(kTopicStep, producer_,
                           [record = std::move(*record), offset = epoch_offset_ns_] {
                             return step_hub_events(record, offset);
                           });
  }

  static int64_t epoch_offset_ns() {
    using namespace std::chrono;
    const auto wall = duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
    const auto steady = duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
    return wall - steady;
  }

  const EngineCoreProcessConfig& config_;
  const Clock& clock_;
  Scheduler& scheduler_;
  Executor& executor_;
  FrontendLink& link_;
  RequestInbox& inbox_;
  EventPublisher* hub_;     // null: no event hub
  KvEventLog* kv_events_;  // null: --kv-events off
  StepSpanRecorder* step_spans_;  // null: no --otlp-traces-endpoint, or step tracing off
  const SpanSink* otlp_;          // null: no --otlp-traces-endpoint
  const std::atomic<bool>& stop_;
  const Logger& log_;
  std::string producer_;
  int64_t epoch_offset_ns_;
  std::vector<InboundMessage> inbound_;
  bool busy_ = false;
};

}  // namespace

int run_engine_core_process(const std::string& control_endpoint, const std::string& name) {
  Logger log(name);
  zmq::context_t context(1);
  control::Channel control(context, control_endpoint, name);
  auto config =
      control::receive_config<EngineCoreProcessConfig>(control, engine_core_config_from_json, log);
  if (!config) return 1;
  if (auto ok = config->scheduler.validate(); !ok) {
    control.send(control::kFailed, ok.error().message);
    return 1;
  }

  std::atomic<bool> stop{false};
  RequestInbox inbox;  // outlives the link, whose intake thread fills it
  SteadyClock clock;
  Scheduler scheduler(config->scheduler, clock);
  std::optional<EventPublisher> hub;
  if (!config->events_endpoint.empty()) hub.emplace(context, config->events_endpoint, name);
  // The exporter before the step-span recorder: the recorder hands its open
  // span over when it is destroyed.
  std::optional<OtlpExporter> otlp;
  std::optional<StepSpanRecorder> step_spans;
  if (!config->otlp_traces_endpoint.empty()) {
    try {
      otlp.emplace(process_exporter_options(config->otlp_traces_endpoint, name, log));
    } catch (const std::invalid_argument& e) {
      control.send(control::kFailed, std::string("--otlp-traces-endpoint: ") + e.what());
      return 1;
    }
    if (config->scheduler.step_tracing.enabled) {
      step_spans.emplace(*otlp, config->scheduler.step_tracing.closure_interval);
    }
  }
  std::optional<KvEventLog> kv_events;
  if (config->kv_events && hub) {
    kv_events.emplace(config->scheduler.block_size);
    scheduler.set_kv_event_log(&*kv_events);
  }
  WorkerClient workers(context, config->steps_endpoint, config->reply_endpoint, config->world_size,
                       stop, std::chrono::microseconds(config->busy_poll_us));
  FrontendLink link(context, config->frontends, name, log);
  if (auto ok = workers.wait_for_ranks(std::chrono::seconds(120)); !ok) {
    control.send(control::kFailed, ok.error().message);
    return 1;
  }
  control.send(control::kReady);
  log.info("ready: " + std::to_string(config->scheduler.num_blocks) + " KV blocks of " +
           std::to_string(config->scheduler.block_size) + " tokens, " +
           std::to_string(config->world_size) + " worker(s), " +
           std::to_string(config->frontends.size()) + " frontend(s); journey tracing " +
           (config->scheduler.enable_journey_tracing ? "on" : "off") + ", kv events " +
           (kv_events ? "on" : "off") + ", step tracing " +
           (config->scheduler.step_tracing.enabled
                ? "on (sample rate " + std::to_string(config->scheduler.step_tracing.sample_rate) +
                      ")"
                : std::string("off")));

  link.start(inbox, control, stop);
  StepLoop loop(*config, clock, scheduler, workers, link, inbox, hub ? &*hub : nullptr,
                kv_events ? &*kv_events : nullptr, step_spans ? &*step_spans : nullptr,
                otlp ? &*otlp : nullptr, stop, log, name);
  try {
    loop.run();
  } catch (const std::exception& e) {
    if (stop.load()) return 0;  // the wait for a worker was cut short by SHUTDOWN
    log.error(e.what());
    return 1;
  }
  log.info("shut down");
  return 0;
}

}  // namespace waypoint
