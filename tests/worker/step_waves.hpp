#pragma once
// Drives a model runner through the real scheduler, wave after wave, and logs what
// each request saw: its logits at every sampled step, its tokens, and how much of
// its prompt the prefix cache served. The batch-invariance tests (CPU) and the
// CUDA runner's tests compare such logs, so both drive their runners the same way.
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine_core/clock.hpp"
#include "engine_core/scheduler.hpp"
#include "worker/model_config.hpp"

namespace waypoint::testing {

struct StepLog {
  std::map<std::string, std::vector<std::vector<float>>> logits;  // per request, per sampled step
  std::map<std::string, std::vector<TokenId>> tokens;
  std::map<std::string, int32_t> cached_tokens;
};

// Greedy, and never stopped early, so its token count is max_tokens.
inline EngineCoreRequest greedy_request(std::string id, std::vector<TokenId> prompt,
                                        int32_t max_tokens) {
  EngineCoreRequest r;
  r.request_id = std::move(id);
  r.prompt_token_ids = std::move(prompt);
  r.sampling_params.temperature = 0.0f;
  r.sampling_params.max_tokens = max_tokens;
  r.sampling_params.ignore_eos = true;
  return r;
}

// A deterministic prompt of n ids in [2, 2 + spread), distinct per salt.
inline std::vector<TokenId> salted_prompt(int n, int salt, int spread) {
  std::vector<TokenId> p(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = 2 + (i * 37 + salt * 11) % spread;
  return p;
}

// Each wave is added once the previous one has finished, so a later wave can hit
// the prefix cache an earlier one filled. Runner: execute_model(),
// last_sampled_request_ids() and last_logits() (rows of vocab_size, batch order).
template <class Runner>
StepLog drive_waves(Runner& runner, const ModelConfig& config, const SchedulerConfig& sc,
                    const std::vector<std::vector<EngineCoreRequest>>& waves) {
  ManualClock clock;
  Scheduler scheduler(sc, clock);
  StepLog out;
  for (const auto& wave : waves) {
    for (const auto& r : wave) EXPECT_TRUE(scheduler.add_request(r).ok());
    while (scheduler.has_unfinished_requests()) {
      const SchedulerOutput& step = scheduler.schedule();
      for (const auto& n : step.scheduled_new_reqs) {
        out.cached_tokens[n.request_id] = n.num_computed_tokens;
      }
      ModelRunnerOutput result = runner.execute_model(step);
      const auto& ids = runner.last_sampled_request_ids();
      const auto& all = runner.last_logits();
      const auto vocab = static_cast<std::size_t>(config.vocab_size);
      for (std::size_t i = 0; i < ids.size(); ++i) {
        out.logits[ids[i]].emplace_back(all.begin() + static_cast<std::ptrdiff_t>(i * vocab),
                                        all.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab));
      }
      for (const auto& batch : scheduler.update_from_output(step, result)) {
        for (const auto& o : batch.outputs) {
          auto& t = out.tokens[o.request_id];
          t.insert(t.end(), o.new_token_ids.begin(), o.new_token_ids.end());
        }
      }
    }
  }
  return out;
}

}  // namespace waypoint::testing
