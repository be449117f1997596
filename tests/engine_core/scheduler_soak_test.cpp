// Randomized soak of the scheduler and block pool under preemption: thousands
// of requests with shared prefixes, random lengths, stop conditions and
// aborts, a KV pool small enough to preempt constantly, and every step
// checked against the invariants of docs/architecture.md, "Scheduler and KV cache".
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "engine_core/scheduler.hpp"
#include "perf/synthetic_executor.hpp"
#include "proto/codec.hpp"
#include "worker/request_state_cache.hpp"

namespace waypoint {
namespace {

constexpr TokenId kEos = 2;
constexpr TokenId kStopToken = 7;

struct SoakCase {
  const char* name;
  SchedulingPolicy policy;
  bool prefix_caching;
  int32_t long_prefill_token_threshold;
  uint64_t seed;
  int32_t max_suffix = 96;  // prompt tokens after the shared prefix
  int32_t budget = 192;     // max_num_batched_tokens
};

std::ostream& operator<<(std::ostream& os, const SoakCase& c) { return os << c.name; }

// Plays the workers' part with the worker's own RequestStateCache, which
// rebuilds requests from the SchedulerOutput diffs alone, and remembers the
// token stored in every KV slot. A new or resumed request's reads (its first
// num_computed tokens) must find its own tokens in its blocks: that is what
// proves a prefix-cache hit correct. A slot records the position too, since
// the same token at another position has other KV (RoPE).
class KvOracle {
 public:
  KvOracle(int32_t num_blocks, int32_t block_size)
      : cache_(block_size),
        block_size_(block_size),
        slots_(static_cast<size_t>(num_blocks) * block_size, -1) {}

  static int64_t kv_of(TokenId token, int32_t position) {
    return (int64_t{token} << 32) | static_cast<uint32_t>(position);
  }

  // Returns the first violation, or empty.
  std::string apply(const SchedulerOutput& step) {
    StepBatch batch;
    if (auto ok = cache_.apply(step, batch); !ok) return ok.error().message;
    // The forward pass writes every scheduled token's KV before any attention
    // reads, so a request may hit blocks another request fills in this step.
    for (int32_t i = 0; i < batch.num_tokens(); ++i) {
      slots_[static_cast<size_t>(batch.slot_mapping[i])] =
          kv_of(batch.input_ids[i], batch.positions[i]);
    }
    std::set<std::string> fresh;
    for (const auto& r : step.scheduled_new_reqs) fresh.insert(r.request_id);
    for (const auto& r : step.scheduled_cached_reqs) {
      if (r.resumed_from_preemption) fresh.insert(r.request_id);
    }
    for (size_t r = 0; r < batch.num_requests(); ++r) {
      if (!fresh.count(batch.request_ids[r])) continue;
      const CachedRequestState& state = *batch.requests[r];
      const auto computed = static_cast<int32_t>(batch.positions[static_cast<size_t>(batch.query_start[r])]);
      for (int32_t p = 0; p < computed; ++p) {
        const auto slot =
            static_cast<size_t>(state.block_ids[p / block_size_]) * block_size_ + p % block_size_;
        if (slots_[slot] != kv_of(state.token_ids[p], p)) {
          return batch.request_ids[r] + ": KV slot for position " + std::to_string(p) +
                 " holds another token";
        }
      }
    }
    return {};
  }

  size_t num_tracked() const { return cache_.size(); }

 private:
  RequestStateCache cache_;
  int32_t block_size_;
  std::vector<int64_t> slots_;
};

class SchedulerSoak : public ::testing::TestWithParam<SoakCase> {};

TEST_P(SchedulerSoak, InvariantsHoldEveryStep) {
  const SoakCase& c = GetParam();
  SchedulerConfig config;
  config.max_num_batched_tokens = c.budget;
  config.max_num_seqs = 24;
  config.max_model_len = 256;
  config.block_size = 16;
  config.num_blocks = 1 + 48;  // 768 token slots for up to 24 requests of up to 256 tokens
  config.enable_prefix_caching = c.prefix_caching;
  config.long_prefill_token_threshold = c.long_prefill_token_threshold;
  config.policy = c.policy;
  config.eos_token_id = kEos;

  ManualClock clock;
  Scheduler scheduler(config, clock);
  SyntheticExecutor executor(
      {.vocab_size = 512, .eos_token_id = kEos, .eos_probability = 0.02, .seed = c.seed});
  KvOracle oracle(config.num_blocks, config.block_size);
  std::mt19937_64 rng(c.seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  // Shared prefixes, some block-aligned, some not, so prefix hits are common.
  // The last ones repeat one block's worth of tokens, so equal blocks stand
  // at different positions: only the hash chain tells them apart.
  std::vector<std::vector<TokenId>> prefixes;
  for (int i = 0; i < 4; ++i) {
    std::vector<TokenId> p(static_cast<size_t>(uniform(0, 80)));
    for (auto& t : p) t = uniform(10, 511);
    prefixes.push_back(std::move(p));
  }
  std::vector<TokenId> motif(static_cast<size_t>(config.block_size));
  for (auto& t : motif) t = uniform(10, 511);
  for (int repeats : {1, 3}) {
    std::vector<TokenId> p;
    for (int i = 0; i < repeats; ++i) p.insert(p.end(), motif.begin(), motif.end());
    prefixes.push_back(std::move(p));
  }

  constexpr int kNumRequests = 2500;
  struct Expect {
    EngineCoreRequest request;
    int32_t max_outputs = 0;
    std::vector<TokenId> received;
    bool ended = false;
    bool aborted = false;
  };
  std::vector<Expect> expected;
  expected.reserve(kNumRequests);
  std::unordered_map<std::string, size_t> index_of;
  std::vector<std::string> live;  // ids not yet ended, for picking aborts

  int added = 0;
  int64_t preemptions = 0;
  int64_t hits = 0;
  int zero_steps_in_a_row = 0;
  // Starvation watchdog: the request first in policy order must advance its
  // high-water mark of computed tokens (or end) within a bounded number of steps.
  std::unordered_map<std::string, int32_t> high_water;
  std::string watched;
  int watched_idle_steps = 0;
  const int starvation_bound = 2 * config.max_model_len + 16;

  for (int step_no = 0; added < kNumRequests || scheduler.has_unfinished_requests(); ++step_no) {
    ASSERT_LT(step_no, 200000) << "the soak did not drain";
    clock.advance_ns(1'000'000);

    // Arrivals.
    for (int k = uniform(0, 3); k > 0 && added < kNumRequests; --k, ++added) {
      Expect e;
      EngineCoreRequest& r = e.request;
      r.request_id = "req-" + std::to_string(added);
      r.prompt_token_ids = prefixes[static_cast<size_t>(uniform(0, 5))];
      for (int n = uniform(1, c.max_suffix); n > 0; --n)
        r.prompt_token_ids.push_back(uniform(10, 511));
      r.arrival_time = step_no * 1e-3;
      r.priority = uniform(0, 3);
      SamplingParams& sp = r.sampling_params;
      if (uniform(0, 4) > 0) sp.max_tokens = uniform(1, 64);
      sp.ignore_eos = uniform(0, 9) == 0;
      if (uniform(0, 4) == 0) sp.stop_token_ids = {kStopToken};
      if (uniform(0, 9) == 0) sp.min_tokens = std::min(uniform(0, 8), sp.max_tokens.value_or(8));
      const int32_t prompt_len = static_cast<int32_t>(r.prompt_token_ids.size());
      e.max_outputs =
          std::min(sp.max_tokens.value_or(config.max_model_len), config.max_model_len - prompt_len);
      ASSERT_TRUE(scheduler.add_request(r).ok());
      index_of[r.request_id] = expected.size();
      live.push_back(r.request_id);
      expected.push_back(std::move(e));
    }

    // Aborts: a live request now and then, plus ids that already ended or never existed.
    std::vector<std::string> aborts;
    if (!live.empty() && uniform(0, 19) == 0) {
      const size_t pick = static_cast<size_t>(uniform(0, static_cast<int>(live.size()) - 1));
      aborts.push_back(live[pick]);
      aborts.push_back(live[pick]);  // a duplicate abort must be harmless
    }
    if (uniform(0, 49) == 0) aborts.push_back("req-0");
    if (uniform(0, 49) == 0) aborts.push_back("never-existed");
    if (!aborts.empty()) scheduler.abort_requests(aborts);

    // An idle engine may reset its prefix cache; the step counter must not care.
    if (!scheduler.has_unfinished_requests() && uniform(0, 3) == 0) {
      ASSERT_TRUE(scheduler.reset_prefix_cache());
    }

    const uint64_t step_before = scheduler.scheduler_step();
    SchedulerOutput step = scheduler.schedule();
    ASSERT_EQ(step.scheduler_step, step_before + 1);

    // The step crosses the wire to the workers and back.
    auto decoded_step = decode<SchedulerOutput>(encode(step));
    ASSERT_TRUE(decoded_step.ok()) << decoded_step.error().message;
    ASSERT_EQ(*decoded_step, step);

    // Budget and batch size.
    int32_t sum = 0;
    for (const auto& r : step.scheduled_new_reqs) sum += r.num_scheduled_tokens;
    for (const auto& r : step.scheduled_cached_reqs) sum += r.num_scheduled_tokens;
    ASSERT_EQ(sum, step.total_num_scheduled_tokens);
    ASSERT_LE(step.total_num_scheduled_tokens, config.max_num_batched_tokens);
    ASSERT_LE(scheduler.num_running(), config.max_num_seqs);
    for (const auto& r : step.scheduled_new_reqs) ASSERT_GT(r.num_scheduled_tokens, 0);
    for (const auto& r : step.scheduled_cached_reqs) ASSERT_GT(r.num_scheduled_tokens, 0);
    if (!step.preempted_req_ids.empty()) {
      preemptions += static_cast<int64_t>(step.preempted_req_ids.size());
      for (const auto& r : step.scheduled_new_reqs) {
        FAIL() << "admitted " << r.request_id << " in a step that preempted";
      }
      for (const auto& r : step.scheduled_cached_reqs) {
        ASSERT_FALSE(r.resumed_from_preemption) << "resumed a request in a step that preempted";
      }
    }
    for (const auto& r : step.scheduled_new_reqs) hits += r.num_computed_tokens;

    // No livelock: work waiting means work done, give or take one preemption step.
    if (scheduler.has_unfinished_requests() && step.total_num_scheduled_tokens == 0) {
      ASSERT_LT(++zero_steps_in_a_row, 2) << "no progress at step " << step.scheduler_step;
    } else {
      zero_steps_in_a_row = 0;
    }

    const std::string kv_violation = oracle.apply(*decoded_step);
    ASSERT_EQ(kv_violation, "") << "at step " << step.scheduler_step;

    ModelRunnerOutput result = executor.execute_model(*decoded_step);
    auto decoded_result = decode<ModelRunnerOutput>(encode(result));
    ASSERT_TRUE(decoded_result.ok());
    const StepOutputs& outputs = scheduler.update_from_output(step, *decoded_result);

    // Every request ends exactly once, with the tokens and reason it should.
    ASSERT_LE(outputs.size(), 1u) << "only client 0 sent requests";
    for (const EngineCoreOutputs& batch : outputs) {
      for (const auto& out : batch.outputs) {
        auto it = index_of.find(out.request_id);
        ASSERT_NE(it, index_of.end());
        Expect& e = expected[it->second];
        ASSERT_FALSE(e.ended) << out.request_id << " produced output after it ended";
        e.received.insert(e.received.end(), out.new_token_ids.begin(), out.new_token_ids.end());
        if (!out.finish_reason) continue;
        e.ended = true;
        std::erase(live, out.request_id);
        const auto n = static_cast<int32_t>(e.received.size());
        const SamplingParams& sp = e.request.sampling_params;
        switch (*out.finish_reason) {
          case FinishReason::LENGTH:
            ASSERT_EQ(n, e.max_outputs) << out.request_id;
            break;
          case FinishReason::STOP: {
            ASSERT_LT(n, e.max_outputs + 1);
            ASSERT_GE(n, sp.min_tokens);
            const TokenId last = e.received.back();
            if (out.stop_reason) {
              ASSERT_EQ(*out.stop_reason, kStopToken);
              ASSERT_EQ(last, kStopToken);
            } else {
              ASSERT_EQ(last, kEos);
              ASSERT_FALSE(sp.ignore_eos);
            }
            break;
          }
          case FinishReason::ABORT:
            e.aborted = true;
            ASSERT_LT(n, e.max_outputs + 1);
            break;
          case FinishReason::ERROR:
            FAIL() << "unexpected error finish for " << out.request_id;
        }
      }
    }

    // Block accounting: every block's ref_cnt equals the number of requests
    // holding it; free + used = total; the free list holds exactly the
    // unreferenced blocks; each cached hash belongs to exactly one block.
    const BlockPool& pool = scheduler.kv_cache().pool();
    std::vector<int32_t> holders(static_cast<size_t>(pool.num_blocks()), 0);
    scheduler.for_each_request([&](const Request& r) {
      std::set<BlockId> mine;
      for (const KVCacheBlock* b : r.kv_blocks) {
        ASSERT_FALSE(b->is_null);
        ASSERT_TRUE(mine.insert(b->block_id).second) << r.request_id << " holds a block twice";
        ++holders[static_cast<size_t>(b->block_id)];
      }
      if (r.status != RequestStatus::RUNNING) {
        ASSERT_TRUE(r.kv_blocks.empty());
      }
    });
    int32_t used = 0, unreferenced = 0, with_hash = 0;
    for (const KVCacheBlock& b : pool.blocks()) {
      ASSERT_EQ(b.ref_cnt, holders[static_cast<size_t>(b.block_id)]) << "block " << b.block_id;
      if (b.is_null) continue;
      used += b.ref_cnt > 0;
      unreferenced += b.ref_cnt == 0;
      with_hash += b.block_hash.has_value();
    }
    ASSERT_EQ(pool.num_free_blocks() + used, pool.num_usable_blocks());
    ASSERT_EQ(pool.num_free_blocks(), unreferenced);
    int32_t listed = 0;
    pool.free_queue().for_each([&](const KVCacheBlock& b) {
      ++listed;
      ASSERT_EQ(b.ref_cnt, 0);
    });
    ASSERT_EQ(listed, pool.num_free_blocks());
    ASSERT_EQ(static_cast<int32_t>(pool.num_cached_hashes()), with_hash);
    ASSERT_DOUBLE_EQ(scheduler.kv_cache().usage(),
                     1.0 - static_cast<double>(pool.num_free_blocks()) / pool.num_usable_blocks());

    // Starvation watchdog.
    const Request* first = nullptr;
    scheduler.for_each_request([&](const Request& r) {
      auto key = [&](const Request& q) {
        return c.policy == SchedulingPolicy::PRIORITY
                   ? std::tuple(q.priority, q.arrival_time, q.arrival_seq)
                   : std::tuple(0, 0.0, q.arrival_seq);
      };
      if (first == nullptr || key(r) < key(*first)) first = &r;
    });
    if (first == nullptr) {
      watched.clear();
    } else {
      int32_t& hw = high_water[first->request_id];
      const bool advanced = first->num_computed_tokens > hw;
      hw = std::max(hw, first->num_computed_tokens);
      if (first->request_id != watched || advanced) {
        watched = first->request_id;
        watched_idle_steps = 0;
      } else {
        ASSERT_LT(++watched_idle_steps, starvation_bound)
            << watched << " starved since step " << step.scheduler_step - watched_idle_steps;
      }
    }
  }

  // Drained: every request ended exactly once, and nothing stays allocated.
  for (const Expect& e : expected) ASSERT_TRUE(e.ended) << e.request.request_id;
  EXPECT_FALSE(scheduler.has_unfinished_requests());
  EXPECT_EQ(scheduler.num_running(), 0);
  EXPECT_EQ(scheduler.num_waiting(), 0);
  const BlockPool& pool = scheduler.kv_cache().pool();
  EXPECT_EQ(pool.num_free_blocks(), pool.num_usable_blocks());
  for (const KVCacheBlock& b : pool.blocks()) EXPECT_EQ(b.ref_cnt, 0);
  EXPECT_DOUBLE_EQ(scheduler.kv_cache().usage(), 0.0);

  // One more step tells the workers about the last finished requests.
  const SchedulerOutput& last = scheduler.schedule();
  EXPECT_EQ(last.total_num_scheduled_tokens, 0);
  ASSERT_TRUE(oracle.apply(last).empty());
  (void)scheduler.update_from_output(last, executor.execute_model(last));
  EXPECT_EQ(executor.num_tracked_requests(), 0u);
  EXPECT_EQ(oracle.num_tracked(), 0u);

  // The soak must actually have exercised what it claims to.
  EXPECT_GT(preemptions, 50) << "the KV pool never ran short";
  int aborted = 0;
  for (const Expect& e : expected) aborted += e.aborted;
  EXPECT_GT(aborted, 10);
  if (c.prefix_caching) {
    EXPECT_GT(hits, 0) << "no prefix-cache hit";
  } else {
    EXPECT_EQ(hits, 0);
  }
  RecordProperty("preemptions", static_cast<int>(preemptions));
  RecordProperty("aborted", aborted);
}

INSTANTIATE_TEST_SUITE_P(
    Workloads, SchedulerSoak,
    ::testing::Values(
        SoakCase{"fcfs_prefix_cache", SchedulingPolicy::FCFS, true, 0, 1},
        SoakCase{"fcfs_no_prefix_cache", SchedulingPolicy::FCFS, false, 0, 2},
        SoakCase{"fcfs_long_prefill_threshold", SchedulingPolicy::FCFS, true, 24, 3},
        SoakCase{"priority_prefix_cache", SchedulingPolicy::PRIORITY, true, 0, 4},
        SoakCase{"priority_long_prefill_threshold", SchedulingPolicy::PRIORITY, true, 40, 5},
        // Long prompts in small chunks: many requests are mid-prefill when
        // the pool runs out.
        SoakCase{"priority_chunked_long_prompts", SchedulingPolicy::PRIORITY, true, 32, 6, 170, 96},
        SoakCase{"fcfs_chunked_long_prompts", SchedulingPolicy::FCFS, true, 32, 7, 170, 96}),
    [](const ::testing::TestParamInfo<SoakCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace waypoint
