// A request's logits must not depend on how its prompt was chunked, what it
// was batched with, or whether a prefix-cache hit skipped part of it. The real
// scheduler decides the steps; the CPU model runner runs them.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine_core/scheduler.hpp"
#include "random_llama.hpp"
#include "step_waves.hpp"
#include "worker/cpu_model_runner.hpp"

namespace waypoint {
namespace {

using testing::StepLog;

EngineCoreRequest request(std::string id, std::vector<TokenId> prompt, int32_t max_tokens) {
  return testing::greedy_request(std::move(id), std::move(prompt), max_tokens);
}

struct Knobs {
  int32_t budget = 512;
  int32_t chunk = 0;  // long_prefill_token_threshold
  bool qwen2 = false;
};

StepLog run_waves(const std::vector<std::vector<EngineCoreRequest>>& waves, const Knobs& k) {
  const ModelConfig config = testing::tiny_config(k.qwen2);
  SchedulerConfig sc;
  sc.max_num_batched_tokens = k.budget;
  sc.long_prefill_token_threshold = k.chunk;
  sc.max_model_len = 128;
  sc.block_size = 4;
  sc.num_blocks = 1 + 256;
  SingleRank comm;
  CpuModelRunner runner(config, testing::random_weights(config, 7),
                        {.num_blocks = sc.num_blocks, .block_size = sc.block_size, .seed = 1},
                        comm);
  return testing::drive_waves(runner, config, sc, waves);
}

void expect_same_logits(const StepLog& a, const StepLog& b, const std::string& id) {
  ASSERT_TRUE(a.logits.count(id) && b.logits.count(id)) << id;
  const auto& x = a.logits.at(id);
  const auto& y = b.logits.at(id);
  ASSERT_EQ(x.size(), y.size()) << id;
  for (size_t s = 0; s < x.size(); ++s) {
    float scale = 0.0f, diff = 0.0f;
    for (size_t v = 0; v < x[s].size(); ++v) {
      scale = std::max(scale, std::abs(y[s][v]));
      diff = std::max(diff, std::abs(x[s][v] - y[s][v]));
    }
    EXPECT_LE(diff, 1e-4f * scale) << id << " step " << s;
  }
  EXPECT_EQ(a.tokens.at(id), b.tokens.at(id)) << id;
}

std::vector<TokenId> prompt(int n, int salt) { return testing::salted_prompt(n, salt, 90); }

class BatchInvariance : public ::testing::TestWithParam<bool> {};

TEST_P(BatchInvariance, AloneBatchedChunkedAndCachedAgree) {
  const bool qwen2 = GetParam();
  const auto target = request("target", prompt(29, 1), 12);
  const StepLog alone = run_waves({{target}}, {.qwen2 = qwen2});
  ASSERT_EQ(alone.tokens.at("target").size(), 12u);

  // Batched with requests of other lengths, admitted in the same steps.
  const StepLog batched = run_waves(
      {{request("a", prompt(5, 2), 20), target, request("b", prompt(40, 3), 3)}}, {.qwen2 = qwen2});
  expect_same_logits(alone, batched, "target");

  for (int32_t chunk : {1, 7, 16}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    const StepLog chunked = run_waves({{request("a", prompt(13, 4), 6), target}},
                                      {.budget = chunk + 2, .chunk = chunk, .qwen2 = qwen2});
    expect_same_logits(alone, chunked, "target");
  }

  // A first request fills the prefix cache with the target's first 24 tokens.
  auto warm = prompt(29, 1);
  warm.resize(24);
  warm.push_back(3);
  const StepLog cached = run_waves({{request("warm", warm, 2)}, {target}}, {.qwen2 = qwen2});
  EXPECT_EQ(cached.cached_tokens.at("target"), 24);
  expect_same_logits(alone, cached, "target");
}

// Sampling with a seed draws from the request's own generator, so neither its
// neighbours in the batch nor how its prompt was chunked change its tokens.
TEST_P(BatchInvariance, SeededSamplingIgnoresTheBatch) {
  auto seeded = [](std::string id, int salt, int64_t seed) {
    auto r = request(std::move(id), prompt(17, salt), 16);
    // Hot enough that the random test model's peaked logits leave real choices.
    r.sampling_params.temperature = 4.0f;
    r.sampling_params.top_p = 0.95f;
    r.sampling_params.seed = seed;
    return r;
  };
  const bool qwen2 = GetParam();
  const StepLog alone = run_waves({{seeded("target", 1, 1234)}}, {.qwen2 = qwen2});
  const StepLog crowd =
      run_waves({{seeded("x", 2, 1), seeded("target", 1, 1234), seeded("y", 3, 2)}},
                {.budget = 9, .chunk = 5, .qwen2 = qwen2});
  EXPECT_EQ(alone.tokens.at("target"), crowd.tokens.at("target"));
  const StepLog other_seed = run_waves({{seeded("target", 1, 99)}}, {.qwen2 = qwen2});
  EXPECT_NE(alone.tokens.at("target"), other_seed.tokens.at("target"));
}

INSTANTIATE_TEST_SUITE_P(Architectures, BatchInvariance, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Qwen2" : "Llama3Rope"; });

}  // namespace
}  // namespace waypoint
