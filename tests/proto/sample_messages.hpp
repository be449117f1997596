#pragma once
// Fully populated wire messages shared by the proto tests. Every field holds a
// value that differs from its default (round_trip_test checks this), so a
// field that a codec drops or reorders cannot go unnoticed.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "proto/engine_core_output.hpp"
#include "proto/engine_core_request.hpp"
#include "proto/journey_event.hpp"
#include "proto/model_runner_output.hpp"
#include "proto/scheduler_output.hpp"

namespace waypoint::test {

inline SamplingParams full_sampling_params() {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.95f;
  p.top_k = 50;
  p.min_p = 0.05f;
  p.seed = std::numeric_limits<int64_t>::min();
  p.max_tokens = 4096;
  p.min_tokens = 3;
  p.stop_token_ids = {128001, 128009, 0};
  p.ignore_eos = true;
  p.n = 4;
  return p;
}

inline EngineCoreRequest full_engine_core_request() {
  EngineCoreRequest r;
  r.request_id = "cmpl-3f2a9c1e0b7d4e5f-0";
  r.prompt_token_ids = {
      128000, 9906, 11, 1268, 527, 499, 30, -1, std::numeric_limits<TokenId>::max()};
  r.sampling_params = full_sampling_params();
  r.arrival_time = 1732380000.123456;
  r.client_index = 3;
  r.priority = -10;  // negative priorities jump the queue
  r.trace_headers = {{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                      {"tracestate", "rojo=00f067aa0ba902b7"}}};
  return r;
}

inline AbortRequests full_abort_requests() {
  return AbortRequests{{"cmpl-3f2a9c1e0b7d4e5f-0", "cmpl-a1b2c3d4e5f60718-1", ""}};
}

inline UtilityCall full_utility_call() {
  UtilityCall c;
  c.client_index = 1;
  c.call_id = std::numeric_limits<int64_t>::min();
  c.method = "reset_prefix_cache";
  c.args = {"--all", "ünïcödé"};
  return c;
}

inline EngineCoreOutput full_engine_core_output() {
  EngineCoreOutput o;
  o.request_id = "cmpl-3f2a9c1e0b7d4e5f-0";
  o.new_token_ids = {791, 4320, 128009};
  o.finish_reason = FinishReason::ERROR;  // the highest known value
  o.stop_reason = 128009;
  o.num_cached_tokens = 256;
  o.events = {{EngineCoreEventType::QUEUED, 10.5},
              {EngineCoreEventType::SCHEDULED, 10.75},
              {EngineCoreEventType::PREEMPTED, 11.0}};
  return o;
}

inline SchedulerStats full_scheduler_stats() {
  SchedulerStats s;
  s.num_running_reqs = 17;
  s.num_waiting_reqs = 5;
  s.kv_cache_usage = 0.8125;
  s.prefix_cache_queries = 1'000'000'000'000;
  s.prefix_cache_hits = 999'999'999'999;
  s.num_preemptions = 2;
  s.scheduler_step = std::numeric_limits<uint64_t>::max();
  s.journey_live_states = 3;
  s.events_dropped = 12;
  s.spans_dropped = 4;
  return s;
}

inline RequestJourneyEvent full_journey_event() {
  RequestJourneyEvent e;
  e.request_id = "cmpl-3f2a9c1e0b7d4e5f-0";
  e.event_type = JourneyEventType::FINISHED;  // the highest known value
  e.ts_monotonic = 8123.000123456;
  e.ts_monotonic_ns = 8'123'000'123'456;
  e.scheduler_step = (uint64_t{1} << 63) + 7;  // above INT64_MAX: must stay unsigned
  e.prefill_done_tokens = 512;
  e.prefill_total_tokens = 512;
  e.decode_done_tokens = 77;
  e.decode_max_tokens = 4096;
  e.phase = RequestPhase::DECODE;
  e.num_preemptions = 1;
  e.schedule_kind = ScheduleKind::RESUME;
  e.finish_status = FinishStatus::ERROR;
  return e;
}

inline EngineCoreOutputs full_engine_core_outputs() {
  EngineCoreOutputs o;
  o.engine_index = 2;
  EngineCoreOutput running;
  running.request_id = "cmpl-a1b2c3d4e5f60718-1";
  running.new_token_ids = {42};
  o.outputs = {full_engine_core_output(), running};
  o.scheduler_stats = full_scheduler_stats();
  o.timestamp = 8123.5;
  o.finished_requests = {"cmpl-3f2a9c1e0b7d4e5f-0"};
  RequestJourneyEvent queued;
  queued.request_id = "cmpl-a1b2c3d4e5f60718-1";
  queued.ts_monotonic = 8122.25;
  queued.ts_monotonic_ns = 8'122'250'000'000;
  o.journey_events = {{full_journey_event(), queued}};
  return o;
}

inline NewRequestData full_new_request_data() {
  NewRequestData n;
  n.request_id = "cmpl-3f2a9c1e0b7d4e5f-0";
  n.prompt_token_ids = {128000, 9906, 11, 1268};
  n.sampling_params = full_sampling_params();
  n.block_ids = {7, 8, 9, 1023};
  n.num_computed_tokens = 32;
  n.num_scheduled_tokens = 2048;
  return n;
}

inline CachedRequestData full_cached_request_data() {
  CachedRequestData c;
  c.request_id = "cmpl-a1b2c3d4e5f60718-1";
  c.resumed_from_preemption = true;
  c.new_token_ids = {42, 43};
  c.new_block_ids = {11};
  c.num_computed_tokens = 600;
  c.num_scheduled_tokens = 1;
  return c;
}

inline SchedulerOutput full_scheduler_output() {
  SchedulerOutput s;
  s.scheduled_new_reqs = {full_new_request_data()};
  s.scheduled_cached_reqs = {full_cached_request_data()};
  s.total_num_scheduled_tokens = 2049;
  s.preempted_req_ids = {"cmpl-0000000000000000-9"};
  s.finished_req_ids = {"cmpl-ffffffffffffffff-2", "cmpl-ffffffffffffffff-3"};
  s.scheduler_step = std::numeric_limits<uint64_t>::max();
  return s;
}

inline ModelRunnerOutput full_model_runner_output() {
  ModelRunnerOutput m;
  m.req_ids = {"cmpl-3f2a9c1e0b7d4e5f-0", "cmpl-a1b2c3d4e5f60718-1"};
  m.sampled_token_ids = {{}, {42}};  // the first is mid-prefill: nothing sampled
  m.scheduler_step = std::numeric_limits<uint64_t>::max() - 1;
  return m;
}

// One fully populated value per wire type, found by type so that a check can
// be written once for all of them (see for_each_wire_type).
template <class T>
T full();
template <>
inline SamplingParams full<SamplingParams>() {
  return full_sampling_params();
}
template <>
inline EngineCoreRequest full<EngineCoreRequest>() {
  return full_engine_core_request();
}
template <>
inline AbortRequests full<AbortRequests>() {
  return full_abort_requests();
}
template <>
inline UtilityCall full<UtilityCall>() {
  return full_utility_call();
}
template <>
inline EngineCoreOutput full<EngineCoreOutput>() {
  return full_engine_core_output();
}
template <>
inline SchedulerStats full<SchedulerStats>() {
  return full_scheduler_stats();
}
template <>
inline RequestJourneyEvent full<RequestJourneyEvent>() {
  return full_journey_event();
}
template <>
inline EngineCoreOutputs full<EngineCoreOutputs>() {
  return full_engine_core_outputs();
}
template <>
inline NewRequestData full<NewRequestData>() {
  return full_new_request_data();
}
template <>
inline CachedRequestData full<CachedRequestData>() {
  return full_cached_request_data();
}
template <>
inline SchedulerOutput full<SchedulerOutput>() {
  return full_scheduler_output();
}
template <>
inline ModelRunnerOutput full<ModelRunnerOutput>() {
  return full_model_runner_output();
}

template <class T>
constexpr std::string_view wire_name() {
  if constexpr (std::is_same_v<T, SamplingParams>)
    return "SamplingParams";
  else if constexpr (std::is_same_v<T, EngineCoreRequest>)
    return "EngineCoreRequest";
  else if constexpr (std::is_same_v<T, AbortRequests>)
    return "AbortRequests";
  else if constexpr (std::is_same_v<T, UtilityCall>)
    return "UtilityCall";
  else if constexpr (std::is_same_v<T, EngineCoreOutput>)
    return "EngineCoreOutput";
  else if constexpr (std::is_same_v<T, SchedulerStats>)
    return "SchedulerStats";
  else if constexpr (std::is_same_v<T, RequestJourneyEvent>)
    return "RequestJourneyEvent";
  else if constexpr (std::is_same_v<T, EngineCoreOutputs>)
    return "EngineCoreOutputs";
  else if constexpr (std::is_same_v<T, NewRequestData>)
    return "NewRequestData";
  else if constexpr (std::is_same_v<T, CachedRequestData>)
    return "CachedRequestData";
  else if constexpr (std::is_same_v<T, SchedulerOutput>)
    return "SchedulerOutput";
  else {
    static_assert(std::is_same_v<T, ModelRunnerOutput>, "a wire type without a name");
    return "ModelRunnerOutput";
  }
}

// Runs `check.template operator()<T>()` for every wire type, under a trace
// naming the type. One test per property rather than a typed test per type
// keeps the suite to a few dozen ctest processes: each one costs a process
// start, which on a loaded 2-core machine is most of the suite's run time.
template <class F>
void for_each_wire_type(F&& check) {
  const auto run = [&]<class T>() {
    SCOPED_TRACE(std::string("wire type ") + std::string(wire_name<T>()));
    check.template operator()<T>();
  };
  run.template operator()<SamplingParams>();
  run.template operator()<EngineCoreRequest>();
  run.template operator()<AbortRequests>();
  run.template operator()<UtilityCall>();
  run.template operator()<EngineCoreOutput>();
  run.template operator()<SchedulerStats>();
  run.template operator()<RequestJourneyEvent>();
  run.template operator()<EngineCoreOutputs>();
  run.template operator()<NewRequestData>();
  run.template operator()<CachedRequestData>();
  run.template operator()<SchedulerOutput>();
  run.template operator()<ModelRunnerOutput>();
}

}  // namespace waypoint::test
