#include "frontend/request_span_recorder.hpp"

#include <algorithm>
#include <optional>
#include <string_view>

#include "frontend/journey_recorder.hpp"
#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

int64_t system_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<int64_t> int_attr(const HubEvent& e, std::string_view key) {
  const AttrValue* v = e.find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(v)) return *i;
  return std::nullopt;
}

std::string string_attr(const HubEvent& e, std::string_view key) {
  const AttrValue* v = e.find(key);
  if (v == nullptr) return {};
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  return {};
}

void add(SpanAttributes& attrs, std::string_view key, AttrValue value) {
  attrs.emplace_back(std::string(key), std::move(value));
}

double seconds(int64_t ns) { return static_cast<double>(ns) * 1e-9; }

}  // namespace

// One engine request's raw record, until both its halves have ended.
struct RequestSpanRecorder::State {
  std::string request_id;
  RequestSpanStart start;
  SpanId request_span;
  SpanId core_span;
  std::vector<HubEvent> api_events;
  std::vector<RequestJourneyEvent> core_events;
  bool api_ended = false;
  bool core_ended = false;
  // Steady-clock ends and reasons for a half that ended without its event.
  int64_t forced_api_end_ns = 0;
  std::string api_end_reason;
  int64_t forced_core_end_ns = 0;
  std::string core_end_reason;
};

std::vector<Span> RequestSpanRecorder::build_spans(const State& s, int64_t epoch_offset_ns) {
  Span req;
  req.scope = scope_name::kApi;
  req.name = span_name::kLlmRequest;
  req.kind = SpanKind::kServer;
  req.trace_id = s.start.trace_id;
  req.span_id = s.request_span;
  req.parent_span_id = s.start.parent_span_id;
  req.trace_state = s.start.trace_state;

  std::optional<int64_t> arrived, handoff, first_response, api_end;
  std::optional<int64_t> prompt_tokens, max_tokens, output_tokens;
  req.events.reserve(s.api_events.size());
  for (const HubEvent& e : s.api_events) {
    const std::string type = string_attr(e, attr::kEventType);
    const int64_t ts = int_attr(e, attr::kTsMonotonicNs).value_or(0);
    req.events.push_back(SpanEvent{type, ts + epoch_offset_ns, e.attrs});
    if (type == event_name::kArrived) {
      arrived = ts;
    } else if (type == event_name::kHandoffToCore) {
      handoff = ts;
      prompt_tokens = int_attr(e, attr::kNumPromptTokens);
      max_tokens = int_attr(e, attr::kMaxTokens);
    } else if (type == event_name::kFirstResponseFromCore) {
      first_response = ts;
    } else if (type == event_name::kDeparted) {
      api_end = ts;
      output_tokens = int_attr(e, attr::kNumOutputTokens);
    } else if (type == event_name::kAborted) {
      api_end = ts;
      req.status = SpanStatusCode::kError;
      req.status_message = string_attr(e, attr::kAbortReason);
    }
  }
  if (!api_end) {
    api_end = s.forced_api_end_ns;
    req.status = SpanStatusCode::kError;
    req.status_message = s.api_end_reason;
  }
  const int64_t req_start = arrived.value_or(handoff.value_or(*api_end));
  req.start_unix_ns = req_start + epoch_offset_ns;
  req.end_unix_ns = std::max(*api_end, req_start) + epoch_offset_ns;

  Span core;
  core.scope = scope_name::kScheduler;
  core.name = span_name::kLlmCore;
  core.kind = SpanKind::kInternal;
  core.trace_id = s.start.trace_id;
  core.span_id = s.core_span;
  core.parent_span_id = s.request_span;
  std::optional<int64_t> queued, scheduled, finished;
  core.events.reserve(s.core_events.size());
  for (const RequestJourneyEvent& j : s.core_events) {
    HubEvent e = journey_hub_event(j, epoch_offset_ns);
    core.events.push_back(SpanEvent{"journey." + std::string(to_string(j.event_type)),
                                    j.ts_monotonic_ns + epoch_offset_ns, std::move(e.attrs)});
    if (j.event_type == JourneyEventType::QUEUED && !queued) queued = j.ts_monotonic_ns;
    if (j.event_type == JourneyEventType::SCHEDULED && !scheduled) scheduled = j.ts_monotonic_ns;
    if (j.event_type == JourneyEventType::FINISHED) {
      finished = j.ts_monotonic_ns;
      if (j.finish_status == FinishStatus::ERROR) core.status = SpanStatusCode::kError;
    }
  }
  if (!finished) {
    finished = s.forced_core_end_ns != 0 ? s.forced_core_end_ns : *api_end;
    core.status = SpanStatusCode::kError;
    core.status_message = s.core_end_reason;
  }
  const int64_t core_start =
      s.core_events.empty() ? handoff.value_or(req_start) : s.core_events.front().ts_monotonic_ns;
  core.start_unix_ns = core_start + epoch_offset_ns;
  core.end_unix_ns = std::max(*finished, core_start) + epoch_offset_ns;
  add(core.attributes, attr::kGenAiRequestId, s.request_id);

  SpanAttributes& a = req.attributes;
  add(a, attr::kGenAiRequestId, s.request_id);
  add(a, attr::kGenAiResponseModel, s.start.request.model);
  if (max_tokens) add(a, attr::kGenAiRequestMaxTokens, *max_tokens);
  add(a, attr::kGenAiRequestTemperature, s.start.request.temperature);
  add(a, attr::kGenAiRequestTopP, s.start.request.top_p);
  add(a, attr::kGenAiRequestN, int64_t{s.start.request.n});
  if (prompt_tokens) add(a, attr::kGenAiUsagePromptTokens, *prompt_tokens);
  if (output_tokens) add(a, attr::kGenAiUsageCompletionTokens, *output_tokens);
  if (arrived && first_response) {
    add(a, attr::kGenAiLatencyTimeToFirstToken, seconds(*first_response - *arrived));
  }
  if (arrived) add(a, attr::kGenAiLatencyE2e, seconds(*api_end - *arrived));
  if (queued && scheduled) add(a, attr::kGenAiLatencyTimeInQueue, seconds(*scheduled - *queued));

  std::vector<Span> spans;
  spans.reserve(2);
  spans.push_back(std::move(req));
  spans.push_back(std::move(core));
  return spans;
}

RequestSpanRecorder::RequestSpanRecorder(SpanSink& sink, Options options)
    : sink_(sink), options_(options), epoch_offset_ns_(system_ns() - steady_ns()) {}

RequestSpanRecorder::~RequestSpanRecorder() {
  std::vector<StatePtr> done;
  {
    std::lock_guard lock(mutex_);
    const int64_t now = steady_ns();
    for (auto& [id, state] : states_) {
      if (!state->core_ended) end_core(*state, now, "the frontend shut down");
      if (!state->api_ended) {
        state->api_ended = true;
        state->forced_api_end_ns = now;
        state->api_end_reason = "the frontend shut down";
      }
      done.push_back(std::move(state));
    }
    states_.clear();
    awaiting_core_.clear();
  }
  finish(std::move(done));
}

RequestSpanStart RequestSpanRecorder::start(
    const std::vector<std::pair<std::string, std::string>>& headers, GenAiRequest request) {
  RequestSpanStart s;
  s.request = std::move(request);
  if (auto client = extract_trace_context(headers)) {
    s.trace_id = client->trace_id;
    s.parent_span_id = client->parent_id;
    s.trace_state = std::move(client->trace_state);
  } else {
    s.trace_id = ids_.trace_id();
  }
  return s;
}

TraceParent RequestSpanRecorder::begin(const std::string& request_id,
                                       const RequestSpanStart& start) {
  auto state = std::make_shared<State>();
  state->request_id = request_id;
  state->start = start;
  if (!state->start.trace_id.valid()) state->start.trace_id = ids_.trace_id();
  state->request_span = ids_.span_id();
  state->core_span = ids_.span_id();
  state->api_events.reserve(5);
  state->core_events.reserve(4);
  const TraceParent children{state->start.trace_id, state->request_span, kTraceFlagSampled,
                             state->start.trace_state};
  std::lock_guard lock(mutex_);
  // The engine is already gone: this request will never reach it.
  if (engine_dead_) end_core(*state, steady_ns(), dead_reason_);
  if (states_.emplace(request_id, std::move(state)).second) {
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  return children;
}

void RequestSpanRecorder::api_event(const std::string& request_id, const HubEvent& event,
                                    bool last) {
  std::vector<StatePtr> done;
  {
    std::lock_guard lock(mutex_);
    auto it = states_.find(request_id);
    if (it != states_.end()) {
      State& s = *it->second;
      s.api_events.push_back(event);
      if (last) {
        s.api_ended = true;
        if (s.core_ended) {
          done.push_back(take(request_id));
        } else {
          awaiting_core_.emplace_back(SteadyClock::now() + options_.core_wait, request_id);
        }
      }
    }
    if (last) expire(SteadyClock::now(), done);
  }
  finish(std::move(done));
}

void RequestSpanRecorder::core_events(const std::vector<RequestJourneyEvent>& events) {
  std::vector<StatePtr> done;
  {
    std::lock_guard lock(mutex_);
    for (const RequestJourneyEvent& j : events) {
      auto it = states_.find(j.request_id);
      if (it == states_.end()) continue;
      State& s = *it->second;
      if (s.core_ended) continue;  // after an engine death, nothing more belongs to llm_core
      s.core_events.push_back(j);
      if (j.event_type != JourneyEventType::FINISHED) continue;
      s.core_ended = true;
      if (s.api_ended) done.push_back(take(j.request_id));
    }
    expire(SteadyClock::now(), done);
  }
  finish(std::move(done));
}

void RequestSpanRecorder::engine_dead(const std::string& reason) {
  std::vector<StatePtr> done;
  {
    std::lock_guard lock(mutex_);
    engine_dead_ = true;
    dead_reason_ = "engine failed: " + reason;
    const int64_t now = steady_ns();
    for (auto it = states_.begin(); it != states_.end();) {
      State& s = *it->second;
      if (!s.core_ended) end_core(s, now, dead_reason_);
      if (s.api_ended) {
        done.push_back(std::move(it->second));
        it = states_.erase(it);
        live_.fetch_sub(1, std::memory_order_relaxed);
      } else {
        ++it;
      }
    }
  }
  finish(std::move(done));
}

void RequestSpanRecorder::end_core(State& state, int64_t ts_ns, std::string reason) {
  state.core_ended = true;
  state.forced_core_end_ns = ts_ns;
  state.core_end_reason = std::move(reason);
}

RequestSpanRecorder::StatePtr RequestSpanRecorder::take(const std::string& request_id) {
  auto it = states_.find(request_id);
  if (it == states_.end()) return nullptr;
  StatePtr state = std::move(it->second);
  states_.erase(it);
  live_.fetch_sub(1, std::memory_order_relaxed);
  return state;
}

void RequestSpanRecorder::expire(SteadyClock::time_point now, std::vector<StatePtr>& done) {
  while (!awaiting_core_.empty() && awaiting_core_.front().first <= now) {
    const std::string id = std::move(awaiting_core_.front().second);
    awaiting_core_.pop_front();
    auto it = states_.find(id);
    // Gone already (FINISHED came), or a newer request under the same id.
    if (it == states_.end() || !it->second->api_ended || it->second->core_ended) continue;
    end_core(*it->second, steady_ns(), "the core's FINISHED never arrived");
    done.push_back(take(id));
  }
}

void RequestSpanRecorder::finish(std::vector<StatePtr> done) {
  for (StatePtr& state : done) {
    if (!state) continue;
    sink_.export_deferred(2, [state = std::move(state), offset = epoch_offset_ns_] {
      return build_spans(*state, offset);
    });
  }
}

}  // namespace waypoint
