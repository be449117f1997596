#include "perf/sim_engine.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>

#include "engine_core/clock.hpp"
#include "engine_core/scheduler.hpp"
#include "perf/fit_dataset.hpp"
#include "perf/fit_hops.hpp"
#include "perf/synthetic_executor.hpp"

namespace waypoint::sim {

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t ns_from_us(double us) { return std::llround(us * 1e3); }
int64_t ns_from_s(double s) { return std::llround(s * 1e9); }
double s_from_ns(int64_t ns) { return static_cast<double>(ns) * 1e-9; }

// One request's journey in virtual nanoseconds.
struct Flight {
  int64_t send_ns = -1;
  int64_t core_ns = -1;
  int64_t queued_ns = -1;
  int64_t scheduled_ns = -1;
  std::vector<int64_t> token_ns;  // the end of each step that gave it tokens
  int64_t output_tokens = 0;
  int64_t finish_ns = -1;
  std::string error;
};

using Timed = std::pair<int64_t, std::size_t>;  // (time, request index)
using MinHeap = std::priority_queue<Timed, std::vector<Timed>, std::greater<>>;

// What the client hops read of a simulated step (fit::prefill_tokens_running_at).
struct SimulatedStep {
  int64_t ts_start_ns = 0;
  int64_t ts_end_ns = 0;
  double prefill_tokens = 0;  // net of cache hits
};

bench::RequestRecord record_of(const Flight& f, const bench::BenchRequest& request,
                               const PerfModel& model,
                               const std::vector<SimulatedStep>& steps) {
  bench::RequestRecord r;
  r.prompt_len = request.prompt_len;
  if (!f.error.empty() || f.token_ns.empty()) {
    r.error = f.error.empty() ? "no token was generated" : f.error;
    return r;
  }
  r.success = true;
  r.output_tokens = f.output_tokens;
  // One chunk per step that produced tokens; all but the last reach the
  // client like the first, the last after the response is closed.
  // The first chunk's client hop depends on what the worker runs meanwhile;
  // later chunks take the mean, which is what ITL sees of it.
  const int64_t first_response_ns = f.token_ns.front() + ns_from_us(model.first_response_us);
  const int64_t first_to_client =
      ns_from_us(model.first_response_us +
                 model.first_chunk_client_us(
                     fit::prefill_tokens_running_at(steps, f.send_ns),
                     fit::prefill_tokens_running_at(steps, first_response_ns)));
  const int64_t to_client = ns_from_us(model.first_response_us + model.client_first_chunk_us);
  const int64_t last_to_client = ns_from_us(model.departure_us + model.client_last_chunk_us);
  std::vector<int64_t> chunks;
  chunks.reserve(f.token_ns.size());
  for (std::size_t k = 0; k < f.token_ns.size(); ++k) {
    const bool last = k + 1 == f.token_ns.size() && k > 0;
    int64_t t = f.token_ns[k] + (last ? last_to_client : k == 0 ? first_to_client : to_client);
    if (!chunks.empty()) t = std::max(t, chunks.back());
    chunks.push_back(t);
  }
  r.ttft = s_from_ns(chunks.front() - f.send_ns);
  r.latency = s_from_ns(chunks.back() - f.send_ns);
  for (std::size_t k = 1; k < chunks.size(); ++k) r.itl.push_back(s_from_ns(chunks[k] - chunks[k - 1]));
  return r;
}

}  // namespace

SimOutcome simulate(const std::vector<bench::BenchRequest>& requests,
                    const std::vector<double>& offsets, const PerfModel& model,
                    const SimConfig& config, const OnProgress& on_progress) {
  SchedulerConfig sc = config.scheduler;
  sc.step_tracing.enabled = true;
  sc.step_tracing.sample_rate = 1.0;
  sc.step_tracing.rich_subsample_rate = 0.0;
  sc.enable_journey_tracing = false;
  ManualClock clock;
  Scheduler scheduler(sc, clock);
  SyntheticExecutor executor({config.vocab_size, std::nullopt, 0.0, config.seed});

  const std::size_t n = requests.size();
  std::vector<Flight> flights(n);
  std::unordered_map<std::string, std::size_t> index;
  MinHeap to_core;      // sent, on the way to the core
  MinHeap completions;  // when the client has the whole response
  const std::size_t cap = config.max_concurrency.value_or(n + 1);
  std::size_t next_send = 0;
  std::size_t in_flight = 0;
  std::size_t done = 0;
  int64_t cursor = 0;  // the last client event processed: a blocked send goes no earlier
  int64_t now = 0;
  const int64_t gap_ns = std::max<int64_t>(0, ns_from_us(model.step_gap_us));
  const int64_t close_ns = ns_from_us(model.departure_us + model.client_last_chunk_us);
  double api_ms_sum = 0;
  std::vector<SimulatedStep> steps;  // in time order

  const auto arrival_ns = [&](std::size_t i) { return ns_from_s(i < offsets.size() ? offsets[i] : 0.0); };
  const auto next_send_ns = [&]() -> int64_t {
    if (next_send >= n || in_flight >= cap) return kNever;
    return std::max(arrival_ns(next_send), cursor);
  };
  const auto end_request = [&](std::size_t i, int64_t client_done_ns) {
    completions.push({client_done_ns, i});
    ++done;
    if (on_progress) on_progress(done);
  };

  // The client's side up to `until`: completions free slots, sends happen in
  // arrival order, each one's trip to the core priced by alpha on the queue
  // state the core last showed.
  const auto run_client = [&](int64_t until) {
    while (true) {
      const int64_t t_done = completions.empty() ? kNever : completions.top().first;
      const int64_t t_send = next_send_ns();
      if (std::min(t_done, t_send) > until || std::min(t_done, t_send) == kNever) return;
      if (t_done <= t_send) {
        completions.pop();
        --in_flight;
        cursor = std::max(cursor, t_done);
        continue;
      }
      const std::size_t i = next_send++;
      ++in_flight;
      cursor = t_send;
      Flight& f = flights[i];
      f.send_ns = t_send;
      const double api_us =
          model.api_us(static_cast<double>(requests[i].prompt_len), scheduler.num_waiting(),
                       scheduler.num_running(), scheduler.kv_cache().usage());
      api_ms_sum += api_us / 1e3;
      f.core_ns = t_send + ns_from_us(api_us);
      to_core.push({f.core_ns, i});
    }
  };

  // The engine loop takes in what has reached the core between steps.
  const auto admit = [&]() {
    clock.set_ns(now);
    while (!to_core.empty() && to_core.top().first <= now) {
      const std::size_t i = to_core.top().second;
      to_core.pop();
      EngineCoreRequest request;
      request.request_id = "sim-" + std::to_string(i);
      request.prompt_token_ids = requests[i].prompt_token_ids;
      request.sampling_params.max_tokens = static_cast<int32_t>(requests[i].output_len);
      request.sampling_params.ignore_eos = true;
      request.arrival_time = s_from_ns(flights[i].send_ns);
      if (auto added = scheduler.add_request(request); !added) {
        flights[i].error = added.error().message;
        end_request(i, now);
        continue;
      }
      index.emplace(request.request_id, i);
    }
  };

  SimOutcome outcome;
  while (done < n) {
    run_client(now);
    admit();
    const SchedulerOutput* step = nullptr;
    if (scheduler.has_unfinished_requests()) {
      step = &scheduler.schedule();  // admit() set the clock to now
      if (step->empty()) {
        // Nothing can run until something changes; a finished step with no
        // tokens still lets the scheduler settle its state.
        const ModelRunnerOutput nothing = executor.execute_model(*step);
        scheduler.update_from_output(*step, nothing);
        step = nullptr;
      }
    }
    if (step == nullptr) {
      // Idle: jump to the next thing that can happen.
      int64_t next = std::min(to_core.empty() ? kNever : to_core.top().first, next_send_ns());
      if (!completions.empty()) next = std::min(next, completions.top().first);
      if (next == kNever) break;  // requests the scheduler can never run; reported below
      now = std::max(now, next);
      continue;
    }
    const BatchSummary* batch = scheduler.scheduled_summary();
    const fit::StepRow row = batch ? fit::step_row(*batch) : fit::StepRow{};
    const int64_t duration = batch ? ns_from_us(model.step_us(row)) : 1000;
    outcome.stats.preemptions += batch ? batch->num_preempted : 0;
    steps.push_back({now, now + duration, row.prefill_tokens});
    now += duration;
    clock.set_ns(now);
    const ModelRunnerOutput result = executor.execute_model(*step);
    StepOutputs& outputs = scheduler.update_from_output(*step, result);
    ++outcome.stats.steps;
    outcome.stats.busy_s += s_from_ns(duration);
    for (EngineCoreOutputs& batch_out : outputs) {
      for (EngineCoreOutput& o : batch_out.outputs) {
        const auto it = index.find(o.request_id);
        if (it == index.end()) continue;
        Flight& f = flights[it->second];
        for (const EngineCoreEvent& e : o.events) {
          const int64_t t = ns_from_s(e.timestamp);
          if (e.type == EngineCoreEventType::QUEUED && f.queued_ns < 0) f.queued_ns = t;
          if (e.type == EngineCoreEventType::SCHEDULED && f.scheduled_ns < 0) f.scheduled_ns = t;
        }
        if (!o.new_token_ids.empty()) {
          f.token_ns.push_back(now);
          f.output_tokens += static_cast<int64_t>(o.new_token_ids.size());
        }
        if (o.finished()) {
          f.finish_ns = now;
          end_request(it->second, now + std::max<int64_t>(0, close_ns));
        }
      }
    }
    scheduler.take_step_record();
    now += gap_ns;
  }

  int64_t first_send = kNever;
  int64_t last_reply = 0;
  double queue_ms_sum = 0;
  std::size_t queued = 0;
  outcome.records.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Flight& f = flights[i];
    if (f.send_ns < 0 || (f.finish_ns < 0 && f.error.empty())) {
      f.error = "the scheduler never finished it";
    }
    outcome.records.push_back(record_of(f, requests[i], model, steps));
    if (f.send_ns >= 0) {
      first_send = std::min(first_send, f.send_ns);
      last_reply = std::max(last_reply, f.send_ns + ns_from_s(outcome.records.back().latency));
    }
    if (f.queued_ns >= 0 && f.scheduled_ns >= 0) {
      queue_ms_sum += static_cast<double>(f.scheduled_ns - f.queued_ns) / 1e6;
      ++queued;
    }
  }
  outcome.duration_s = first_send == kNever ? 0.0 : s_from_ns(last_reply - first_send);
  outcome.stats.mean_api_ms = next_send ? api_ms_sum / static_cast<double>(next_send) : 0.0;
  outcome.stats.mean_queue_wait_ms = queued ? queue_ms_sum / static_cast<double>(queued) : 0.0;
  return outcome;
}

}  // namespace waypoint::sim
