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
                               const PerfModel& model, const std::vector<SimulatedStep>& steps) {
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
  const int64_t first_to_client = ns_from_us(
      model.first_response_us +
      model.first_chunk_client_us(fit::prefill_tokens_running_at(steps, f.send_ns),
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
  for (std::size_t k = 1; k < chunks.size(); ++k)
    r.itl.push_back(s_from_ns(chunks[k] - chunks[k - 1]));
  return r;
}

// One simulation: the client's sends, the engine loop's admissions and
// steps, and the virtual clock between them. Each member function is one
// part of the loop simulate() runs.
class Simulation {
 public:
  Simulation(const std::vector<bench::BenchRequest>& requests, const std::vector<double>& offsets,
             const PerfModel& model, const SimConfig& config, const OnProgress& on_progress);

  SimOutcome run();

 private:
  static SchedulerConfig traced(SchedulerConfig sc);
  int64_t arrival_ns(std::size_t i) const;
  int64_t next_send_ns() const;
  void end_request(std::size_t i, int64_t client_done_ns);
  void run_client(int64_t until);
  void admit();
  const SchedulerOutput* schedule();
  bool idle_until_next_event();
  void step(const SchedulerOutput& scheduled);
  void record_outputs(StepOutputs& outputs);
  void summarize(SimOutcome& outcome);

  const std::vector<bench::BenchRequest>& requests_;
  const std::vector<double>& offsets_;
  const PerfModel& model_;
  const OnProgress& on_progress_;
  ManualClock clock_;
  Scheduler scheduler_;
  SyntheticExecutor executor_;

  const std::size_t n_;
  std::vector<Flight> flights_;
  std::unordered_map<std::string, std::size_t> index_;
  MinHeap to_core_;      // sent, on the way to the core
  MinHeap completions_;  // when the client has the whole response
  const std::size_t cap_;
  std::size_t next_send_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t done_ = 0;
  int64_t cursor_ = 0;  // the last client event processed: a blocked send goes no earlier
  int64_t now_ = 0;
  const int64_t gap_ns_;
  const int64_t close_ns_;
  double api_ms_sum_ = 0;
  std::vector<SimulatedStep> steps_;  // in time order
  SimStats stats_;
};

// Step tracing at rate 1 is where beta's features come from.
SchedulerConfig Simulation::traced(SchedulerConfig sc) {
  sc.step_tracing.enabled = true;
  sc.step_tracing.sample_rate = 1.0;
  sc.step_tracing.rich_subsample_rate = 0.0;
  sc.enable_journey_tracing = false;
  return sc;
}

Simulation::Simulation(const std::vector<bench::BenchRequest>& requests,
                       const std::vector<double>& offsets, const PerfModel& model,
                       const SimConfig& config, const OnProgress& on_progress)
    : requests_(requests),
      offsets_(offsets),
      model_(model),
      on_progress_(on_progress),
      scheduler_(traced(config.scheduler), clock_),
      executor_({config.vocab_size, std::nullopt, 0.0, config.seed}),
      n_(requests.size()),
      flights_(n_),
      cap_(config.max_concurrency.value_or(n_ + 1)),
      gap_ns_(std::max<int64_t>(0, ns_from_us(model.step_gap_us))),
      close_ns_(ns_from_us(model.departure_us + model.client_last_chunk_us)) {}

int64_t Simulation::arrival_ns(std::size_t i) const {
  return ns_from_s(i < offsets_.size() ? offsets_[i] : 0.0);
}

int64_t Simulation::next_send_ns() const {
  if (next_send_ >= n_ || in_flight_ >= cap_) return kNever;
  return std::max(arrival_ns(next_send_), cursor_);
}

void Simulation::end_request(std::size_t i, int64_t client_done_ns) {
  completions_.push({client_done_ns, i});
  ++done_;
  if (on_progress_) on_progress_(done_);
}

// The client's side up to `until`: completions free slots, sends happen in
// arrival order, each one's trip to the core priced by alpha on the queue
// state the core last showed.
void Simulation::run_client(int64_t until) {
  while (true) {
    const int64_t t_done = completions_.empty() ? kNever : completions_.top().first;
    const int64_t t_send = next_send_ns();
    if (std::min(t_done, t_send) > until || std::min(t_done, t_send) == kNever) return;
    if (t_done <= t_send) {
      completions_.pop();
      --in_flight_;
      cursor_ = std::max(cursor_, t_done);
      continue;
    }
    const std::size_t i = next_send_++;
    ++in_flight_;
    cursor_ = t_send;
    Flight& f = flights_[i];
    f.send_ns = t_send;
    const double api_us =
        model_.api_us(static_cast<double>(requests_[i].prompt_len), scheduler_.num_waiting(),
                      scheduler_.num_running(), scheduler_.kv_cache().usage());
    api_ms_sum_ += api_us / 1e3;
    f.core_ns = t_send + ns_from_us(api_us);
    to_core_.push({f.core_ns, i});
  }
}

// The engine loop takes in what has reached the core between steps.
void Simulation::admit() {
  clock_.set_ns(now_);
  while (!to_core_.empty() && to_core_.top().first <= now_) {
    const std::size_t i = to_core_.top().second;
    to_core_.pop();
    EngineCoreRequest request;
    request.request_id = "sim-" + std::to_string(i);
    request.prompt_token_ids = requests_[i].prompt_token_ids;
    request.sampling_params.max_tokens = static_cast<int32_t>(requests_[i].output_len);
    request.sampling_params.ignore_eos = true;
    request.arrival_time = s_from_ns(flights_[i].send_ns);
    if (auto added = scheduler_.add_request(request); !added) {
      flights_[i].error = added.error().message;
      end_request(i, now_);
      continue;
    }
    index_.emplace(request.request_id, i);
  }
}

// The step the scheduler builds now, or nullptr when nothing can run.
const SchedulerOutput* Simulation::schedule() {
  if (!scheduler_.has_unfinished_requests()) return nullptr;
  const SchedulerOutput& next = scheduler_.schedule();  // admit() set the clock to now
  if (!next.empty()) return &next;
  // Nothing can run until something changes; a finished step with no tokens
  // still lets the scheduler settle its state.
  const ModelRunnerOutput nothing = executor_.execute_model(next);
  scheduler_.update_from_output(next, nothing);
  return nullptr;
}

// Idle: jump to the next thing that can happen. False when nothing can.
bool Simulation::idle_until_next_event() {
  int64_t next = std::min(to_core_.empty() ? kNever : to_core_.top().first, next_send_ns());
  if (!completions_.empty()) next = std::min(next, completions_.top().first);
  if (next == kNever) return false;  // requests the scheduler can never run; reported later
  now_ = std::max(now_, next);
  return true;
}

// One step, lasting what beta says of the batch the scheduler built.
void Simulation::step(const SchedulerOutput& scheduled) {
  const BatchSummary* batch = scheduler_.scheduled_summary();
  const fit::StepRow row = batch ? fit::step_row(*batch) : fit::StepRow{};
  const int64_t duration = batch ? ns_from_us(model_.step_us(row)) : 1000;
  stats_.preemptions += batch ? batch->num_preempted : 0;
  steps_.push_back({now_, now_ + duration, row.prefill_tokens});
  now_ += duration;
  clock_.set_ns(now_);
  const ModelRunnerOutput result = executor_.execute_model(scheduled);
  record_outputs(scheduler_.update_from_output(scheduled, result));
  ++stats_.steps;
  stats_.busy_s += s_from_ns(duration);
  scheduler_.take_step_record();
  now_ += gap_ns_;
}

void Simulation::record_outputs(StepOutputs& outputs) {
  for (EngineCoreOutputs& batch_out : outputs) {
    for (EngineCoreOutput& o : batch_out.outputs) {
      const auto it = index_.find(o.request_id);
      if (it == index_.end()) continue;
      Flight& f = flights_[it->second];
      for (const EngineCoreEvent& e : o.events) {
        const int64_t t = ns_from_s(e.timestamp);
        if (e.type == EngineCoreEventType::QUEUED && f.queued_ns < 0) f.queued_ns = t;
        if (e.type == EngineCoreEventType::SCHEDULED && f.scheduled_ns < 0) f.scheduled_ns = t;
      }
      if (!o.new_token_ids.empty()) {
        f.token_ns.push_back(now_);
        f.output_tokens += static_cast<int64_t>(o.new_token_ids.size());
      }
      if (o.finished()) {
        f.finish_ns = now_;
        end_request(it->second, now_ + std::max<int64_t>(0, close_ns_));
      }
    }
  }
}

// Each request's record, bench's way, and the run's figures.
void Simulation::summarize(SimOutcome& outcome) {
  int64_t first_send = kNever;
  int64_t last_reply = 0;
  double queue_ms_sum = 0;
  std::size_t queued = 0;
  outcome.records.reserve(n_);
  for (std::size_t i = 0; i < n_; ++i) {
    Flight& f = flights_[i];
    if (f.send_ns < 0 || (f.finish_ns < 0 && f.error.empty())) {
      f.error = "the scheduler never finished it";
    }
    outcome.records.push_back(record_of(f, requests_[i], model_, steps_));
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
  outcome.stats = stats_;
  outcome.stats.mean_api_ms = next_send_ ? api_ms_sum_ / static_cast<double>(next_send_) : 0.0;
  outcome.stats.mean_queue_wait_ms = queued ? queue_ms_sum / static_cast<double>(queued) : 0.0;
}

SimOutcome Simulation::run() {
  while (done_ < n_) {
    run_client(now_);
    admit();
    if (const SchedulerOutput* next = schedule()) {
      step(*next);
    } else if (!idle_until_next_event()) {
      break;
    }
  }
  SimOutcome outcome;
  summarize(outcome);
  return outcome;
}

}  // namespace

SimOutcome simulate(const std::vector<bench::BenchRequest>& requests,
                    const std::vector<double>& offsets, const PerfModel& model,
                    const SimConfig& config, const OnProgress& on_progress) {
  return Simulation(requests, offsets, model, config, on_progress).run();
}

}  // namespace waypoint::sim
