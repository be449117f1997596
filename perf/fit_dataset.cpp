#include "perf/fit_dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <istream>
#include <map>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "perf/fit_otlp_reader.hpp"
#include "telemetry/trace_attributes.hpp"

namespace waypoint::fit {

namespace {

using nlohmann::json;

// A key the event must carry, as a number; a missing or non-numeric key makes
// the line malformed (the reason names the key).
struct MissingKey {
  std::string key;
};

double number(const json& e, std::string_view key) {
  const auto it = e.find(std::string(key));
  if (it == e.end() || !it->is_number()) throw MissingKey{std::string(key)};
  return it->get<double>();
}

std::int64_t integer(const json& e, std::string_view key) {
  const auto it = e.find(std::string(key));
  if (it == e.end() || !it->is_number()) throw MissingKey{std::string(key)};
  if (it->is_number_integer()) return it->get<std::int64_t>();
  return static_cast<std::int64_t>(it->get<double>());
}

// Keys a consumer may lack in an older trace: 0 then.
double number_or_zero(const json& e, std::string_view key) {
  const auto it = e.find(std::string(key));
  return it != e.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string text(const json& e, std::string_view key) {
  const auto it = e.find(std::string(key));
  if (it == e.end() || !it->is_string()) throw MissingKey{std::string(key)};
  return it->get<std::string>();
}

StepRow step_row(const json& e) {
  StepRow r;
  r.step_id = integer(e, attr::kStepId);
  r.ts_start_ns = integer(e, attr::kStepTsStartNs);
  r.ts_end_ns = integer(e, attr::kStepTsEndNs);
  r.duration_us = number(e, attr::kStepDurationUs);
  r.prefill_tokens = number(e, attr::kBatchPrefillTokens);
  r.decode_tokens = number(e, attr::kBatchDecodeTokens);
  r.decode_ctx_tokens_sum = number(e, attr::kBatchDecodeCtxTokensSum);
  r.prefill_ctx_tokens_sum = number(e, attr::kBatchPrefillCtxTokensSum);
  r.prefill_attention_pairs = number_or_zero(e, attr::kBatchPrefillAttentionPairs);
  r.num_prefill_reqs = number(e, attr::kBatchNumPrefillReqs);
  r.num_decode_reqs = number(e, attr::kBatchNumDecodeReqs);
  r.num_preempted = number(e, attr::kBatchNumPreempted);
  r.running_depth = number(e, attr::kQueueRunningDepth);
  r.waiting_depth = number(e, attr::kQueueWaitingDepth);
  r.kv_usage = number(e, attr::kKvUsageGpuRatio);
  r.scheduled_tokens = number_or_zero(e, attr::kBatchScheduledTokens);
  r.prefill_cached_tokens = number_or_zero(e, attr::kBatchPrefillCachedTokens);
  r.num_finished = number_or_zero(e, attr::kBatchNumFinished);
  r.gap_us = number_or_zero(e, attr::kStepGapUs);
  return r;
}

// What the journey events say about one request, before the join.
struct Journey {
  std::optional<std::int64_t> queued_ns;
  std::int64_t queued_step = 0;
  double prompt_tokens = 0;
  std::optional<std::int64_t> scheduled_ns;
  std::int64_t scheduled_step = 0;
  std::optional<std::int64_t> first_token_ns;
  std::optional<std::int64_t> finished_ns;
};

// The frontend's side of a request, by API id.
struct ApiJourney {
  std::optional<std::int64_t> arrived_ns;
  std::optional<std::int64_t> handoff_ns;
  std::optional<std::int64_t> first_response_ns;
  std::optional<std::int64_t> departed_ns;
};

// The first time an event is seen: a retried or duplicated event must not
// move a timestamp later.
void keep_first(std::optional<std::int64_t>& slot, std::int64_t ts) {
  if (!slot || ts < *slot) slot = ts;
}

// An engine id is the API id, plus "-N" for each prompt of a multi-prompt
// request; the API events carry the id without it.
std::string api_id_of(const std::string& engine_id) {
  const auto dash = engine_id.rfind('-');
  if (dash == std::string::npos || dash + 1 == engine_id.size()) return engine_id;
  const bool digits = std::all_of(engine_id.begin() + static_cast<std::ptrdiff_t>(dash + 1),
                                  engine_id.end(), [](char c) { return c >= '0' && c <= '9'; });
  return digits ? engine_id.substr(0, dash) : engine_id;
}

std::string fmt(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15) {
    return std::to_string(static_cast<std::int64_t>(v));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// RFC 4180: quote a field that holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

}  // namespace

StepRow step_row(const BatchSummary& b) {
  StepRow r;
  r.step_id = static_cast<std::int64_t>(b.step_id);
  r.ts_start_ns = b.ts_start_ns;
  r.ts_end_ns = b.ts_end_ns;
  r.duration_us = static_cast<double>(b.duration_us);
  r.prefill_tokens = b.prefill_tokens;
  r.decode_tokens = b.decode_tokens;
  r.decode_ctx_tokens_sum = static_cast<double>(b.decode_ctx_tokens_sum);
  r.prefill_ctx_tokens_sum = static_cast<double>(b.prefill_ctx_tokens_sum);
  r.prefill_attention_pairs = static_cast<double>(b.prefill_attention_pairs);
  r.num_prefill_reqs = b.num_prefill_reqs;
  r.num_decode_reqs = b.num_decode_reqs;
  r.num_preempted = b.num_preempted;
  r.running_depth = b.running_depth;
  r.waiting_depth = b.waiting_depth;
  r.kv_usage = b.kv_usage;
  r.scheduled_tokens = b.scheduled_tokens;
  r.prefill_cached_tokens = b.prefill_cached_tokens;
  r.num_finished = b.num_finished;
  r.gap_us = static_cast<double>(b.gap_us);
  return r;
}

namespace {

// The joins' raw material, one event at a time, whichever format it came in.
struct Collector {
  Dataset& data;
  std::map<std::string, Journey> journeys;
  std::map<std::string, ApiJourney> api;

  // `e` is one flat event, keyed as a `waypoint events` line.
  template <class Malformed>
  void add(const json& e, const Malformed& malformed) {
    const auto type_it = e.find(std::string(attr::kEventType));
    if (type_it == e.end() || !type_it->is_string()) {
      malformed("no " + std::string(attr::kEventType));
      return;
    }
    const std::string type = type_it->get<std::string>();
    try {
      if (type == event_name::kBatchSummary) {
        data.steps.push_back(step_row(e));
        ++data.stats.step_events;
      } else if (type == event_name::kQueued) {
        Journey& j = journeys[text(e, attr::kRequestId)];
        j.queued_ns = integer(e, attr::kTsMonotonicNs);
        j.queued_step = integer(e, attr::kSchedulerStep);
        j.prompt_tokens = number(e, attr::kPrefillTotalTokens);
        ++data.stats.journey_events;
      } else if (type == event_name::kScheduled) {
        const std::string id = text(e, attr::kRequestId);
        const std::int64_t ts = integer(e, attr::kTsMonotonicNs);
        const std::int64_t step = integer(e, attr::kSchedulerStep);
        Journey& j = journeys[id];
        // The queue wait ends at the first admission; a RESUME after a
        // preemption is a different wait.
        if (!j.scheduled_ns || ts < *j.scheduled_ns) {
          j.scheduled_ns = ts;
          j.scheduled_step = step;
        }
        ++data.stats.journey_events;
      } else if (type == event_name::kFirstToken || type == event_name::kFinished) {
        Journey& j = journeys[text(e, attr::kRequestId)];
        keep_first(type == event_name::kFirstToken ? j.first_token_ns : j.finished_ns,
                   integer(e, attr::kTsMonotonicNs));
        ++data.stats.journey_events;
      } else if (type == event_name::kArrived || type == event_name::kHandoffToCore ||
                 type == event_name::kFirstResponseFromCore || type == event_name::kDeparted) {
        ApiJourney& a = api[text(e, attr::kRequestId)];
        const std::int64_t ts = integer(e, attr::kTsMonotonicNs);
        keep_first(type == event_name::kArrived                 ? a.arrived_ns
                   : type == event_name::kHandoffToCore         ? a.handoff_ns
                   : type == event_name::kFirstResponseFromCore ? a.first_response_ns
                                                                : a.departed_ns,
                   ts);
        ++data.stats.journey_events;
      } else if (type.starts_with("journey.") || type.starts_with("api.")) {
        ++data.stats.journey_events;  // a transition alpha does not use (PREEMPTED, ...)
      } else {
        ++data.stats.ignored_events;
      }
    } catch (const MissingKey& missing) {
      malformed(type + " without a numeric/string '" + missing.key + "'");
    } catch (const json::exception& ex) {
      malformed(type + ": " + ex.what());
    }
  }
};

}  // namespace

Dataset read_dataset(std::istream& in, const DatasetOptions& options, const WarnFn& warn) {
  Dataset data;
  data.labels = options.labels;
  Collector collector{data, {}, {}};
  auto& journeys = collector.journeys;
  auto& api = collector.api;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++data.stats.lines;
    const auto malformed = [&](const std::string& reason) {
      ++data.stats.malformed;
      if (warn) warn(line_no, reason);
    };
    const json e = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (e.is_discarded() || !e.is_object()) {
      malformed("not a JSON object");
      continue;
    }
    if (!is_otlp_export(e)) {
      collector.add(e, malformed);
      continue;
    }
    // An OTLP export holds many events: one that cannot be read is skipped
    // alone, and the reason says which.
    ++data.stats.otlp_lines;
    auto records = otlp_records(e);
    if (!records) {
      malformed("OTLP: " + records.error().message);
      continue;
    }
    for (const std::string& reason : records->malformed) malformed(reason);
    for (const OtlpRecord& r : records->events) {
      ++data.stats.span_events;
      collector.add(r.event, [&](const std::string& reason) {
        // Waypoint's exporter puts ts.monotonic_ns on every event; a
        // foreign one may not, and the wall-clock timeUnixNano cannot be
        // joined with the steps' monotonic times.
        std::string why = r.where + ": " + reason;
        if (reason.ends_with("'" + std::string(attr::kTsMonotonicNs) + "'")) {
          why +=
              " (timeUnixNano is wall-clock time and is not joined with the steps' "
              "monotonic times)";
        }
        malformed(why);
      });
    }
  }

  // Steps: time order, and the flags. Warm-up wins over preempted: the row
  // is excluded either way, and warm-up is the likelier cause of its time.
  std::sort(data.steps.begin(), data.steps.end(), [](const StepRow& a, const StepRow& b) {
    return a.ts_start_ns != b.ts_start_ns ? a.ts_start_ns < b.ts_start_ns : a.step_id < b.step_id;
  });
  std::map<std::int64_t, const StepRow*> by_id;
  for (StepRow& s : data.steps) {
    if (s.step_id <= options.warmup_steps) {
      s.flag = kFlagWarmup;
    } else if (s.num_preempted > 0) {
      s.flag = kFlagPreempted;
    }
    by_id[s.step_id] = &s;
  }
  // The steps by end time, for "the last summary at or before QUEUED".
  std::vector<const StepRow*> by_end;
  for (const StepRow& s : data.steps) by_end.push_back(&s);
  std::sort(by_end.begin(), by_end.end(),
            [](const StepRow* a, const StepRow* b) { return a->ts_end_ns < b->ts_end_ns; });

  for (const auto& [id, j] : journeys) {
    if (!j.queued_ns) continue;  // the recording began after it was queued
    if (!j.scheduled_ns) {
      ++data.stats.unscheduled;
      continue;
    }
    RequestRow r;
    r.request_id = id;
    r.queued_ns = *j.queued_ns;
    r.queued_step = j.queued_step;
    r.scheduled_ns = *j.scheduled_ns;
    r.scheduled_step = j.scheduled_step;
    r.prompt_tokens = j.prompt_tokens;
    r.first_token_ns = j.first_token_ns;
    r.finished_ns = j.finished_ns;
    auto a = api.find(id);
    if (a == api.end()) a = api.find(api_id_of(id));
    if (a != api.end()) {
      r.arrived_ns = a->second.arrived_ns;
      r.handoff_ns = a->second.handoff_ns;
      r.first_response_ns = a->second.first_response_ns;
      r.departed_ns = a->second.departed_ns;
    }
    if (!r.arrived_ns) ++data.stats.without_arrival;
    // Steps do not overlap, so in start order they are in end order too: the
    // first step ending after the hand-off was running then if it had
    // started before QUEUED.
    if (const auto from = r.handoff_ns ? r.handoff_ns : r.arrived_ns) {
      const auto running =
          std::upper_bound(data.steps.begin(), data.steps.end(), *from,
                           [](std::int64_t t, const StepRow& s) { return t < s.ts_end_ns; });
      r.core_busy = running != data.steps.end() && running->ts_start_ns < r.queued_ns;
      if (r.core_busy) ++data.stats.core_busy;
    }
    const auto after =
        std::upper_bound(by_end.begin(), by_end.end(), r.queued_ns,
                         [](std::int64_t t, const StepRow* s) { return t < s->ts_end_ns; });
    if (after != by_end.begin()) {
      const StepRow& s = **std::prev(after);
      r.state_step = s.step_id;
      r.waiting_depth = s.waiting_depth;
      r.running_depth = s.running_depth;
      r.kv_usage = s.kv_usage;
    }
    // Queued before step N+1 started: its first chance to be scheduled was a
    // warm-up step. Admitted in a step that preempted: its wait includes the
    // eviction of someone else.
    if (r.queued_step < options.warmup_steps) {
      r.flag = kFlagWarmup;
    } else if (auto s = by_id.find(r.scheduled_step);
               s != by_id.end() && s->second->num_preempted > 0) {
      r.flag = kFlagPreempted;
    }
    data.requests.push_back(std::move(r));
  }
  std::sort(
      data.requests.begin(), data.requests.end(), [](const RequestRow& a, const RequestRow& b) {
        return a.queued_ns != b.queued_ns ? a.queued_ns < b.queued_ns : a.request_id < b.request_id;
      });
  return data;
}

const std::vector<std::string>& beta_feature_names() {
  static const std::vector<std::string> kNames = {"intercept",
                                                  "prefill_tokens",
                                                  "decode_tokens",
                                                  "decode_ctx_tokens_sum",
                                                  "prefill_ctx_tokens_sum",
                                                  "batch_size",
                                                  "num_prefill_reqs",
                                                  "prefill_attention_pairs"};
  return kNames;
}

std::vector<double> beta_features(const StepRow& r) {
  return {1.0,
          r.prefill_tokens,
          r.decode_tokens,
          r.decode_ctx_tokens_sum,
          r.prefill_ctx_tokens_sum,
          r.batch_size(),
          r.num_prefill_reqs,
          r.prefill_attention_pairs};
}

const std::vector<std::string>& alpha_feature_names() {
  static const std::vector<std::string> kNames = {"intercept", "prompt_tokens", "waiting_depth",
                                                  "running_depth", "kv_usage"};
  return kNames;
}

std::vector<double> alpha_features(const RequestRow& r) {
  return {1.0, r.prompt_tokens, r.waiting_depth, r.running_depth, r.kv_usage};
}

void write_beta_csv(std::ostream& out, const Dataset& data) {
  out << "step_duration_us,num_prefill,num_decode,prefill_tokens,decode_tokens,kv_ratio,"
         "model_type,hw,tp,step_id,ts_start_ns,decode_ctx_tokens_sum,prefill_ctx_tokens_sum,"
         "batch_size,scheduled_tokens,prefill_cached_tokens,num_preempted,running_depth,"
         "waiting_depth,prefill_attention_pairs,flag\n";
  const std::string labels = csv_field(data.labels.model) + "," + csv_field(data.labels.hardware) +
                             "," + std::to_string(data.labels.tp);
  for (const StepRow& r : data.steps) {
    out << fmt(r.duration_us) << ',' << fmt(r.num_prefill_reqs) << ',' << fmt(r.num_decode_reqs)
        << ',' << fmt(r.prefill_tokens) << ',' << fmt(r.decode_tokens) << ',' << fmt(r.kv_usage)
        << ',' << labels << ',' << r.step_id << ',' << r.ts_start_ns << ','
        << fmt(r.decode_ctx_tokens_sum) << ',' << fmt(r.prefill_ctx_tokens_sum) << ','
        << fmt(r.batch_size()) << ',' << fmt(r.scheduled_tokens) << ','
        << fmt(r.prefill_cached_tokens) << ',' << fmt(r.num_preempted) << ','
        << fmt(r.running_depth) << ',' << fmt(r.waiting_depth) << ','
        << fmt(r.prefill_attention_pairs) << ',' << r.flag << '\n';
  }
}

void write_alpha_csv(std::ostream& out, const Dataset& data) {
  out << "alpha_latency_us,prompt_tokens,queue_depth,running_depth,kv_ratio,model_size,hw_type,"
         "tp,request_id,queued_ns,api_to_core_us,queued_step,scheduled_step,state_step,core_busy,"
         "flag\n";
  const std::string labels = csv_field(data.labels.model) + "," + csv_field(data.labels.hardware) +
                             "," + std::to_string(data.labels.tp);
  for (const RequestRow& r : data.requests) {
    const auto api = r.api_to_core_us();
    out << fmt(r.queue_wait_us()) << ',' << fmt(r.prompt_tokens) << ',' << fmt(r.waiting_depth)
        << ',' << fmt(r.running_depth) << ',' << fmt(r.kv_usage) << ',' << labels << ','
        << csv_field(r.request_id) << ',' << r.queued_ns << ',' << (api ? fmt(*api) : "") << ','
        << r.queued_step << ',' << r.scheduled_step << ',' << r.state_step << ','
        << (r.core_busy ? 1 : 0) << ',' << r.flag << '\n';
  }
}

}  // namespace waypoint::fit
