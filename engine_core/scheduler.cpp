#include "engine_core/scheduler.hpp"

#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <tuple>

namespace waypoint {

namespace {

Result<void> validate_sampling(const SamplingParams& p) {
  if (p.n != 1) return Error{"n must be 1, got " + std::to_string(p.n)};
  if (!(p.temperature >= 0.0f)) return Error{"temperature must be >= 0"};
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return Error{"top_p must be in (0, 1]"};
  if (p.top_k < -1) return Error{"top_k must be -1, 0 (off) or positive"};
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return Error{"min_p must be in [0, 1]"};
  if (p.max_tokens && *p.max_tokens < 1) return Error{"max_tokens must be at least 1"};
  if (p.min_tokens < 0) return Error{"min_tokens must be >= 0"};
  if (p.max_tokens && p.min_tokens > *p.max_tokens) {
    return Error{"min_tokens must not exceed max_tokens"};
  }
  return {};
}

SchedulerConfig validated(SchedulerConfig config) {
  if (auto ok = config.validate(); !ok) throw std::invalid_argument(ok.error().message);
  return config;
}

// For update_from_output's loop, at request k. Two strides: a request's own lines first,
// then, once they are in, the heap blocks they point to (see kPrefetchAhead). Forced
// inline: a call that only prefetches has no effect a compiler must keep.
[[gnu::always_inline]] inline void prefetch_for_update(const std::vector<Request*>& scheduled,
                                                       size_t k, bool in_order,
                                                       const ModelRunnerOutput& result) {
  if (const size_t ahead = k + kPrefetchAhead; ahead < scheduled.size()) {
    prefetch(*scheduled[ahead]);
    if (in_order) {
      __builtin_prefetch(result.sampled_token_ids[ahead].data());
      __builtin_prefetch(result.req_ids[ahead].data());
    }
  }
  if (const size_t near = k + kPrefetchAhead / 2; near < scheduled.size()) {
    const Request* r = scheduled[near];
    __builtin_prefetch(r->request_id.data());
    __builtin_prefetch(r->all_token_ids.data() + r->all_token_ids.size(), 1);
  }
}

// The element at `index` of a vector reused across steps: an existing element
// keeps its strings' and vectors' capacity, so refilling it does not allocate.
template <class T>
T& reuse_slot(std::vector<T>& v, size_t index) {
  if (index < v.size()) return v[index];
  return v.emplace_back();
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config, const Clock& clock)
    : config_(validated(std::move(config))),
      clock_(clock),
      kv_(config_.num_blocks, config_.block_size, config_.max_model_len,
          config_.enable_prefix_caching),
      journey_(clock, config_.enable_journey_tracing),
      step_tracer_(clock, config_.step_tracing),
      waiting_(config_.policy) {
  running_.reserve(static_cast<size_t>(config_.max_num_seqs));
}

Result<void> Scheduler::add_request(const EngineCoreRequest& in) {
  if (in.request_id.empty()) return Error{"request_id must not be empty"};
  if (requests_.count(in.request_id)) return Error{"duplicate request_id " + in.request_id};
  const auto prompt_len = static_cast<int32_t>(in.prompt_token_ids.size());
  if (prompt_len == 0) return Error{"the prompt must contain at least one token"};
  if (prompt_len >= config_.max_model_len) {
    return Error{"the prompt has " + std::to_string(prompt_len) + " tokens, but max_model_len " +
                 std::to_string(config_.max_model_len) + " leaves no room to generate"};
  }
  if (in.client_index < 0 || in.client_index >= kMaxClients) {
    return Error{"client_index " + std::to_string(in.client_index) + " out of range"};
  }
  if (auto ok = validate_sampling(in.sampling_params); !ok) return ok;

  auto request = std::make_unique<Request>();
  request->request_id = in.request_id;
  request->client_index = in.client_index;
  request->priority = in.priority;
  request->arrival_time = in.arrival_time;
  request->arrival_seq = next_arrival_seq_++;
  request->sampling_params = in.sampling_params;
  request->max_tokens = in.sampling_params.max_tokens.value_or(config_.max_model_len - prompt_len);
  request->all_token_ids = in.prompt_token_ids;
  request->all_token_ids.reserve(static_cast<size_t>(prompt_len) + request->max_tokens);
  // Room for every block the request can reach, so that growing kv_blocks
  // and block_hashes never reallocates inside a step.
  const int64_t max_len =
      std::min<int64_t>(int64_t{prompt_len} + request->max_tokens, config_.max_model_len);
  const auto max_blocks =
      static_cast<size_t>((max_len + config_.block_size - 1) / config_.block_size);
  request->kv_blocks.reserve(max_blocks);
  request->block_hashes.reserve(max_blocks);
  request->num_prompt_tokens = prompt_len;
  request->journey_traced = journey_.should_trace(in.trace_headers);
  kv_.update_block_hashes(*request);
  request->core_events.push_back({EngineCoreEventType::QUEUED, now_seconds()});

  Request* raw = request.get();
  requests_.emplace(in.request_id, std::move(request));
  waiting_.push_back(raw);
  if (raw->journey_traced) journey_.queued(*raw, step_);
  return {};
}

const Request* Scheduler::find_request(const std::string& request_id) const {
  auto it = requests_.find(request_id);
  return it == requests_.end() ? nullptr : it->second.get();
}

void Scheduler::preempt(Request* victim) {
  // The high-water mark must see the progress about to be thrown away.
  if (victim->journey_traced) JourneyTracer::note_progress(*victim);
  kv_.free(*victim);
  victim->status = RequestStatus::PREEMPTED;
  victim->num_computed_tokens = 0;
  victim->num_scheduled_tokens = 0;
  ++victim->num_preemptions;
  victim->resumed_from_preemption = true;
  ++num_preemptions_total_;
  victim->core_events.push_back({EngineCoreEventType::PREEMPTED, now_seconds()});
  if (victim->journey_traced) journey_.preempted(*victim, step_);
  waiting_.push_front(victim);
}

void Scheduler::finish(Request* request, RequestStatus status) {
  if (request->journey_traced) {
    const bool was_waiting =
        request->status == RequestStatus::WAITING || request->status == RequestStatus::PREEMPTED;
    journey_.finished(*request, step_, finish_status_of(status), was_waiting);
  }
  request->status = status;
  kv_.free(*request);
  finished_since_step_.push_back(request->request_id);
  auto it = requests_.find(request->request_id);
  assert(it != requests_.end());
  retired_.push_back(std::move(it->second));
  requests_.erase(it);
}

const SchedulerOutput& Scheduler::schedule() {
  ++step_;
  if (step_tracer_.enabled()) step_tracer_.schedule_begin(step_);
  double scheduled_at = -1.0;  // one clock read for every admission of the step
  retired_.clear();
  scheduled_.clear();
  auto& running_scheduled = scheduled_running_scratch_;
  auto& admitted = admitted_scratch_;
  running_scheduled.clear();
  admitted.clear();

  SchedulerOutput& out = step_out_;
  out.scheduler_step = step_;
  out.preempted_req_ids.clear();
  int32_t budget = config_.max_num_batched_tokens;
  const int32_t threshold = config_.long_prefill_token_threshold;
  auto clamp = [&](int32_t n) {
    if (threshold > 0 && n > threshold) n = threshold;
    return std::min(n, budget);
  };

  // Running requests first, in admission order.
  size_t i = 0;
  while (i < running_.size() && budget > 0) {
    if (i + kPrefetchAhead < running_.size()) prefetch(*running_[i + kPrefetchAhead]);
    Request* request = running_[i];
    request->num_scheduled_tokens = 0;  // what it had last step must not count now
    const int32_t n = clamp(request->num_tokens() - request->num_computed_tokens);
    if (n <= 0) {
      ++i;
      continue;
    }
    bool allocated = false;
    while (!(allocated = kv_.allocate_slots(*request, n))) {
      Request* victim;
      if (config_.policy == SchedulingPolicy::PRIORITY) {
        auto worst = std::max_element(running_.begin(), running_.end(), [](Request* a, Request* b) {
          return std::tie(a->priority, a->arrival_time, a->arrival_seq) <
                 std::tie(b->priority, b->arrival_time, b->arrival_seq);
        });
        victim = *worst;
        const auto pos = static_cast<size_t>(worst - running_.begin());
        running_.erase(worst);
        if (pos < i) {  // already visited in this step: give back what it was granted
          --i;
          auto granted = std::find(running_scheduled.begin(), running_scheduled.end(), victim);
          if (granted != running_scheduled.end()) {
            budget += victim->num_scheduled_tokens;
            running_scheduled.erase(granted);
          }
        }
      } else {
        victim = running_.back();
        running_.pop_back();
      }
      preempt(victim);
      out.preempted_req_ids.push_back(victim->request_id);
      if (victim == request) break;
    }
    if (!allocated) break;
    request->num_scheduled_tokens = n;
    running_scheduled.push_back(request);
    budget -= n;
    ++i;
  }

  // Then waiting requests, unless this step preempted: admitting now would
  // only take back the blocks the preemption just freed.
  if (out.preempted_req_ids.empty()) {
    while (!waiting_.empty() && budget > 0 &&
           static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
      Request* request = waiting_.front();
      const auto hit = kv_.find_cached_prefix(*request);
      const int32_t n = clamp(request->num_tokens() - hit.num_tokens);
      if (!kv_.allocate_slots(*request, n, &hit)) break;  // head-of-line waits for blocks
      waiting_.pop_front();
      request->status = RequestStatus::RUNNING;
      request->num_computed_tokens = hit.num_tokens;
      if (request->num_cached_tokens < 0) request->num_cached_tokens = hit.num_tokens;
      request->num_scheduled_tokens = n;
      running_.push_back(request);
      admitted.push_back(request);
      budget -= n;
      if (scheduled_at < 0.0) scheduled_at = now_seconds();
      request->core_events.push_back({EngineCoreEventType::SCHEDULED, scheduled_at});
      if (request->journey_traced) journey_.scheduled(*request, step_);
    }
  }

  // The step tracer reads the requests as scheduled, before their tokens count as
  // computed; otherwise build_step counts them while it has each request at hand.
  const bool tracing = step_tracer_.enabled();
  build_step(running_scheduled, admitted, /*count_computed=*/!tracing);
  out.total_num_scheduled_tokens = config_.max_num_batched_tokens - budget;
  out.finished_req_ids.swap(finished_since_step_);
  finished_since_step_.clear();
  if (tracing) {
    step_tracer_.schedule_end(scheduled_, admitted, running_, num_waiting(),
                              static_cast<int32_t>(out.preempted_req_ids.size()), kv_.pool(),
                              config_.block_size);
    for (Request* r : scheduled_) r->num_computed_tokens += r->num_scheduled_tokens;
  }
  return out;
}

void Scheduler::build_step(std::span<Request* const> running_scheduled,
                           std::span<Request* const> admitted, bool count_computed) {
  // Workers answer in SchedulerOutput order (new, then cached), which lets
  // update_from_output match results to requests without a lookup.
  SchedulerOutput& out = step_out_;
  auto block_ids = [](const Request& r, size_t from, std::vector<BlockId>& ids) {
    ids.clear();
    for (size_t b = from; b < r.kv_blocks.size(); ++b) ids.push_back(r.kv_blocks[b]->block_id);
  };
  size_t num_new = 0;
  for (Request* r : admitted) {
    if (r->known_to_workers) continue;
    NewRequestData& d = reuse_slot(out.scheduled_new_reqs, num_new++);
    d.request_id = r->request_id;
    d.prompt_token_ids = r->all_token_ids;
    d.sampling_params = r->sampling_params;
    block_ids(*r, 0, d.block_ids);
    d.num_computed_tokens = r->num_computed_tokens;
    d.num_scheduled_tokens = r->num_scheduled_tokens;
    r->known_to_workers = true;
    r->num_tokens_sent = r->num_tokens();
    r->num_block_ids_sent = static_cast<int32_t>(r->kv_blocks.size());
    if (count_computed) r->num_computed_tokens += r->num_scheduled_tokens;
    scheduled_.push_back(r);
  }
  out.scheduled_new_reqs.resize(num_new);

  size_t num_cached = 0;
  auto add_cached = [&](Request* r) {
    CachedRequestData& d = reuse_slot(out.scheduled_cached_reqs, num_cached);
    cached_req_ids_.assign(out.scheduled_cached_reqs, num_cached++, r->request_id, r->arrival_seq);
    d.resumed_from_preemption = r->resumed_from_preemption;
    // Usually one token: a loop, where assign() would call memmove.
    d.new_token_ids.clear();
    for (size_t t = static_cast<size_t>(r->num_tokens_sent); t < r->all_token_ids.size(); ++t) {
      d.new_token_ids.push_back(r->all_token_ids[t]);
    }
    block_ids(*r, r->resumed_from_preemption ? 0 : r->num_block_ids_sent, d.new_block_ids);
    d.num_computed_tokens = r->num_computed_tokens;
    d.num_scheduled_tokens = r->num_scheduled_tokens;
    r->resumed_from_preemption = false;
    r->num_tokens_sent = r->num_tokens();
    r->num_block_ids_sent = static_cast<int32_t>(r->kv_blocks.size());
    if (count_computed) r->num_computed_tokens += r->num_scheduled_tokens;
    scheduled_.push_back(r);
  };
  const auto& slots = out.scheduled_cached_reqs;
  for (size_t j = 0; j < running_scheduled.size(); ++j) {
    // The tokens to send and the slot's token list, each in its own heap
    // block (see kPrefetchAhead).
    if (const size_t ahead = j + kPrefetchAhead; ahead < running_scheduled.size()) {
      const Request* r = running_scheduled[ahead];
      __builtin_prefetch(r->all_token_ids.data() + r->num_tokens_sent);
      if (ahead < slots.size()) __builtin_prefetch(slots[ahead].new_token_ids.data(), 1);
    }
    add_cached(running_scheduled[j]);
  }
  for (Request* r : admitted) {
    if (r->resumed_from_preemption) add_cached(r);
  }
  out.scheduled_cached_reqs.resize(num_cached);
  cached_req_ids_.truncate(num_cached);
}

bool Scheduler::check_stop(Request& request) const {
  // vLLM's order: length limits first, then min_tokens, then EOS and stop tokens.
  if (request.num_tokens() >= config_.max_model_len ||
      request.num_output_tokens() >= request.max_tokens) {
    request.status = RequestStatus::FINISHED_LENGTH_CAPPED;
    return true;
  }
  const SamplingParams& p = request.sampling_params;
  if (request.num_output_tokens() < p.min_tokens) return false;
  const TokenId last = request.all_token_ids.back();
  if (!p.ignore_eos && config_.eos_token_id && last == *config_.eos_token_id) {
    request.status = RequestStatus::FINISHED_STOPPED;
    return true;
  }
  if (!p.stop_token_ids.empty() &&
      std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), last) != p.stop_token_ids.end()) {
    request.status = RequestStatus::FINISHED_STOPPED;
    request.stop_reason = last;
    return true;
  }
  return false;
}

void Scheduler::begin_outputs() {
  const double now = static_cast<double>(clock_.now_ns()) * 1e-9;
  for (size_t c = 0; c < outputs_.size(); ++c) {
    outputs_[c].timestamp = now;
    outputs_[c].finished_requests.clear();
    outputs_used_[c] = 0;
  }
}

void Scheduler::ensure_clients(size_t n) {
  if (n <= outputs_.size()) return;
  const double now =
      outputs_.empty() ? static_cast<double>(clock_.now_ns()) * 1e-9 : outputs_.front().timestamp;
  outputs_.resize(n);
  outputs_used_.resize(n, 0);
  output_ids_.resize(n);
  for (auto& batch : outputs_) batch.timestamp = now;
}

EngineCoreOutput& Scheduler::next_output(int32_t client_index, const std::string& request_id,
                                         uint64_t arrival_seq) {
  const auto c = static_cast<size_t>(client_index);
  if (c >= outputs_.size()) ensure_clients(c + 1);
  const size_t index = outputs_used_[c]++;
  auto& slots = outputs_[c].outputs;
  // The heap blocks this slot's successor will write, and that encoding reads
  // (see kPrefetchAhead).
  if (const size_t ahead = index + kPrefetchAhead; ahead < slots.size()) {
    __builtin_prefetch(slots[ahead].new_token_ids.data(), 1);
    __builtin_prefetch(slots[ahead].request_id.data());
  }
  EngineCoreOutput& out = reuse_slot(slots, index);
  output_ids_[c].assign(slots, index, request_id, arrival_seq);
  out.new_token_ids.clear();
  out.finish_reason.reset();
  out.stop_reason.reset();
  out.num_cached_tokens = 0;
  out.events.clear();
  return out;
}

void Scheduler::end_outputs() {
  for (size_t c = 0; c < outputs_.size(); ++c) {
    outputs_[c].outputs.resize(outputs_used_[c]);
    output_ids_[c].truncate(outputs_used_[c]);
  }
}

void Scheduler::flush_pending() {
  for (PendingAbort& abort : pending_) {
    EngineCoreOutput& out = next_output(abort.client_index, abort.request_id, SlotIds::kNone);
    out.finish_reason = FinishReason::ABORT;
    out.num_cached_tokens = abort.num_cached_tokens;
    out.events = std::move(abort.events);
    outputs_[static_cast<size_t>(abort.client_index)].finished_requests.push_back(abort.request_id);
  }
  pending_.clear();
}

StepOutputs& Scheduler::update_from_output(const SchedulerOutput& step,
                                           const ModelRunnerOutput& result) {
  if (result.scheduler_step != step.scheduler_step || step.scheduler_step != step_) {
    throw std::invalid_argument("model output for step " + std::to_string(result.scheduler_step) +
                                " does not answer step " + std::to_string(step_));
  }
  if (step_tracer_.enabled()) step_tracer_.update_begin();
  begin_outputs();
  flush_pending();

  // Results normally come back in step order. Each request checks that on its way (its
  // id against the worker's), so that no separate pass visits every request; from the
  // first mismatch on, results are matched by id. Ids are unique, so the requests
  // before it got what matching by id would have given them.
  bool in_order = result.req_ids.size() == scheduled_.size() &&
                  result.sampled_token_ids.size() == scheduled_.size();
  std::unordered_map<std::string_view, const std::vector<TokenId>*> by_id;
  auto match_by_id = [&] {
    in_order = false;
    for (size_t k = 0; k < result.req_ids.size() && k < result.sampled_token_ids.size(); ++k) {
      by_id.emplace(result.req_ids[k], &result.sampled_token_ids[k]);
    }
  };
  if (!in_order) match_by_id();

  int32_t num_finished = 0;
  for (size_t k = 0; k < scheduled_.size(); ++k) {
    prefetch_for_update(scheduled_, k, in_order, result);
    Request* request = scheduled_[k];
    if (in_order && result.req_ids[k] != request->request_id) match_by_id();
    if (is_finished(request->status)) continue;  // aborted while the step ran
    const std::vector<TokenId>* sampled = nullptr;
    if (in_order) {
      sampled = &result.sampled_token_ids[k];
    } else if (auto it = by_id.find(request->request_id); it != by_id.end()) {
      sampled = it->second;
    }
    if (sampled == nullptr || sampled->empty()) continue;  // a partial prefill chunk

    EngineCoreOutput& out =
        next_output(request->client_index, request->request_id, request->arrival_seq);
    out.events.swap(request->core_events);  // both were empty or cleared: no allocation
    const bool first_token = request->num_output_tokens() == 0;
    bool stopped = false;
    for (TokenId token : *sampled) {
      request->all_token_ids.push_back(token);
      out.new_token_ids.push_back(token);
      if ((stopped = check_stop(*request))) break;
    }
    if (first_token && request->journey_traced) journey_.first_token(*request, step_);
    kv_.update_block_hashes(*request);
    out.num_cached_tokens = std::max(request->num_cached_tokens, 0);
    if (stopped) {
      out.finish_reason = finish_reason_of(request->status);
      out.stop_reason = request->stop_reason;
      outputs_[static_cast<size_t>(request->client_index)].finished_requests.push_back(
          request->request_id);
      finish(request, request->status);
      ++num_finished;
    }
  }
  if (num_finished > 0) {
    std::erase_if(running_, [](const Request* r) { return is_finished(r->status); });
  }
  end_outputs();
  flush_journey();
  if (step_tracer_.enabled()) step_tracer_.update_end(num_finished);
  return outputs_;
}

void Scheduler::abort_requests(std::span<const std::string> request_ids) {
  for (const std::string& id : request_ids) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    Request* request = it->second.get();
    if (request->status == RequestStatus::RUNNING) {
      running_.erase(std::find(running_.begin(), running_.end(), request));
    } else {
      waiting_.remove(request);
    }
    pending_.push_back({request->client_index, id, std::max(request->num_cached_tokens, 0),
                        std::move(request->core_events)});
    finish(request, RequestStatus::FINISHED_ABORTED);
  }
}

StepOutputs& Scheduler::take_pending_outputs() {
  begin_outputs();
  flush_pending();
  end_outputs();
  flush_journey();
  return outputs_;
}

void Scheduler::flush_journey() {
  ensure_clients(journey_.num_clients());
  journey_.flush_into(outputs_);
}

SchedulerStats Scheduler::make_stats() {
  const auto prefix = kv_.take_prefix_cache_counters();
  prefix_cache_queries_total_ += prefix.queries;
  prefix_cache_hits_total_ += prefix.hits;
  SchedulerStats stats;
  stats.num_running_reqs = num_running();
  stats.num_waiting_reqs = num_waiting();
  stats.kv_cache_usage = kv_.usage();
  stats.prefix_cache_queries = prefix_cache_queries_total_;
  stats.prefix_cache_hits = prefix_cache_hits_total_;
  stats.num_preemptions = num_preemptions_total_;
  stats.scheduler_step = step_;
  stats.journey_live_states = journey_.live_states();
  return stats;
}

}  // namespace waypoint
