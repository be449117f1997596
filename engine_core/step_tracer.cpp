#include "engine_core/step_tracer.hpp"

#include <algorithm>
#include <unordered_set>

#include "base/splitmix64.hpp"

namespace waypoint {

namespace {


int64_t whole_us(int64_t ns) { return ns / 1000; }

// A decode step computes exactly the one token sampled last; anything else
// (a prompt chunk, or recomputing after a preemption) is prefill.
bool is_decode(const Request& r) {
  return r.num_output_tokens() > 0 && r.num_computed_tokens == r.num_tokens() - 1;
}

}  // namespace

StepTracer::StepTracer(const Clock& clock, StepTracingConfig config)
    : clock_(clock), config_(config) {}

bool StepTracer::draw(uint64_t seed, uint64_t step, uint64_t stage, double rate) {
  if (rate >= 1.0) return true;
  if (rate <= 0.0) return false;
  const uint64_t bits = splitmix64(splitmix64(seed ^ (stage * 0xd1b54a32d192ed03ULL)) ^ step);
  return unit_interval(bits) < rate;
}

void StepTracer::schedule_begin(uint64_t step) {
  const int64_t now = clock_.now_ns();
  complete_ = false;
  sampled_ = draw(config_.seed, step, 0, config_.sample_rate);
  if (!sampled_) {
    // The gap is measured from every step's end, sampled or not.
    record_.summary.ts_start_ns = now;
    return;
  }
  record_.summary = BatchSummary{};
  record_.summary.step_id = step;
  record_.summary.ts_start_ns = now;
  record_.summary.gap_us = previous_end_ns_ < 0 ? 0 : whole_us(now - previous_end_ns_);
  record_.rich = draw(config_.seed, step, 1, config_.rich_subsample_rate);
  record_.snapshots.clear();
}

void StepTracer::schedule_end(std::span<Request* const> scheduled,
                              std::span<Request* const> admitted,
                              std::span<Request* const> running, int32_t num_waiting,
                              int32_t num_preempted, const BlockPool& pool, int32_t block_size) {
  schedule_end_ns_ = clock_.now_ns();
  if (!sampled_) return;
  between_ = true;
  BatchSummary& s = record_.summary;
  s.running_depth = static_cast<int32_t>(running.size());
  s.waiting_depth = num_waiting;
  s.num_preempted = num_preempted;
  for (const Request* r : scheduled) {
    const int32_t n = r->num_scheduled_tokens;
    s.scheduled_tokens += n;
    if (is_decode(*r)) {
      ++s.num_decode_reqs;
      s.decode_tokens += n;
      s.decode_ctx_tokens_sum += r->num_computed_tokens + n;
    } else {
      ++s.num_prefill_reqs;
      s.prefill_tokens += n;
      s.prefill_ctx_tokens_sum += r->num_computed_tokens + n;
      s.prefill_attention_pairs +=
          int64_t{n} * r->num_computed_tokens + int64_t{n} * (int64_t{n} + 1) / 2;
    }
  }
  // An admitted request's computed tokens are, before this step, its cache hit.
  for (const Request* r : admitted) s.prefill_cached_tokens += r->num_computed_tokens;
  for (const Request* r : running) s.num_running_tokens += r->num_computed_tokens;
  s.num_running_tokens += s.scheduled_tokens;
  s.kv_usage = pool.usage();
  s.kv_blocks_total = pool.num_usable_blocks();
  s.kv_blocks_free = pool.num_free_blocks();

  if (!record_.rich) return;
  // Rare (sampled and subsampled), so a set is affordable here.
  const std::unordered_set<const Request*> in_batch(scheduled.begin(), scheduled.end());
  record_.snapshots.reserve(running.size());
  for (const Request* r : running) {
    RequestSnapshot& snap = record_.snapshots.emplace_back();
    snap.request_id = r->request_id;
    snap.phase = is_decode(*r) ? RequestPhase::DECODE : RequestPhase::PREFILL;
    snap.num_prompt_tokens = r->num_prompt_tokens;
    snap.num_computed_tokens = r->num_computed_tokens;
    snap.num_output_tokens = r->num_output_tokens();
    snap.num_preemptions = r->num_preemptions;
    snap.scheduled_tokens_this_step = in_batch.count(r) ? r->num_scheduled_tokens : 0;
    const int32_t cached = std::max(r->num_cached_tokens, 0);
    snap.effective_prompt_len = r->num_prompt_tokens - std::min(cached, r->num_prompt_tokens);
    snap.kv_blocks_allocated = static_cast<int32_t>(r->kv_blocks.size());
    snap.kv_blocks_cached = block_size > 0 ? cached / block_size : 0;
  }
}

void StepTracer::update_begin() { update_begin_ns_ = clock_.now_ns(); }

void StepTracer::update_end(int32_t num_finished) {
  const int64_t now = clock_.now_ns();
  const int64_t start = record_.summary.ts_start_ns;
  previous_end_ns_ = now;
  between_ = false;
  if (!sampled_) return;
  BatchSummary& s = record_.summary;
  s.ts_end_ns = now;
  s.duration_us = whole_us(now - start);
  s.schedule_us = whole_us(schedule_end_ns_ - start);
  s.execute_us = whole_us(update_begin_ns_ - schedule_end_ns_);
  s.update_us = whole_us(now - update_begin_ns_);
  s.num_finished = num_finished;
  complete_ = true;
}

std::optional<StepRecord> StepTracer::take_record() {
  if (!complete_) return std::nullopt;
  complete_ = false;
  return std::move(record_);
}

}  // namespace waypoint
