// CudaModelRunner against CpuModelRunner, through the real scheduler, on the same
// weights: logits within a bf16 tolerance at every step, identical greedy tokens,
// and results that do not depend on batching, chunking or prefix caching (as
// batch_invariance_test checks on CPU). Built wherever nvcc is; on a machine
// without a GPU every test skips.
//
// The models are the random ones of random_llama.hpp with head_dim 64, the smallest
// head on the attention kernel's main path (a lane per output dim pair), and one
// test runs the make-model tiny preset's shape, head_dim 16, where most lanes hold
// no output dims. Weights are rounded to bf16 before either runner sees them, so the
// comparison measures the device's arithmetic, not the rounding of the weights.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine_core/scheduler.hpp"
#include "kernels/bf16.hpp"
#include "random_llama.hpp"
#include "step_waves.hpp"
#include "tests/kernels/cuda_test_support.hpp"
#include "worker/cpu_model_runner.hpp"
#include "worker/cuda_model_runner.hpp"
#ifdef WAYPOINT_HAVE_NCCL
#include "worker/nccl_tp_group.hpp"
#endif

namespace waypoint {
namespace {

// The tolerance on a logits row, relative to its largest magnitude. Each bf16
// rounding of an activation is off by at most 2^-9 (0.2%) of its value; the path to
// a logit rounds about ten times per layer (norm, qkv, rope, attention, projection,
// residual, norm, gate/up, SwiGLU, down), about 25 times over two layers and the
// head. Independent roundings add in quadrature, sqrt(25) * 0.2% = 1%, and at this
// model's O(1) scales nothing amplifies them much; 3% is three times that, and every
// test prints the worst it saw so the bound can be tightened from real runs.
constexpr double kCpuTolerance = 3e-2;
// The device against itself, batched or chunked differently: no weight or
// activation rounding differs, only the order of f32 sums inside GEMMs and
// attention tiles (cuBLAS picks kernels by shape; attention splits small decode
// batches), each worth a bf16 ulp at most on a rounded output.
constexpr double kDeviceTolerance = 1e-2;

using CudaRunner = kernels::testing::CudaTest;

ModelConfig gpu_config(bool qwen2) {
  ModelConfig c = testing::tiny_config(qwen2);
  c.vocab_size = 256;
  c.hidden_size = 128;
  c.intermediate_size = 192;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.max_position_embeddings = 256;
  return c;
}

// The make-model tiny preset's shape (modelgen/model_presets.cpp) but a 256-token
// vocabulary, as the prompts use tokens below 250.
ModelConfig tiny_preset_config() {
  ModelConfig c = testing::tiny_config(false);
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.intermediate_size = 176;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  return c;
}

void round_to_bf16(std::vector<float>& v) {
  for (float& x : v) x = kernels::round_to_bf16(x);
}

LlamaWeights bf16_weights(const ModelConfig& c, uint64_t seed) {
  LlamaWeights w = testing::random_weights(c, seed);
  round_to_bf16(w.embed_tokens);
  round_to_bf16(w.norm);
  round_to_bf16(w.lm_head);
  for (auto& l : w.layers) {
    for (auto* v : {&l.input_layernorm, &l.post_attention_layernorm, &l.qkv_proj, &l.qkv_bias,
                    &l.o_proj, &l.gate_up_proj, &l.down_proj}) {
      round_to_bf16(*v);
    }
  }
  return w;
}

using testing::StepLog;

struct Knobs {
  int32_t budget = 512;
  int32_t chunk = 0;  // long_prefill_token_threshold
  bool qwen2 = false;
  bool cuda = true;
  bool tiny_preset = false;  // tiny_preset_config instead of gpu_config(qwen2)
};

EngineCoreRequest request(std::string id, std::vector<TokenId> prompt, int32_t max_tokens) {
  return testing::greedy_request(std::move(id), std::move(prompt), max_tokens);
}

std::vector<TokenId> prompt(int n, int salt) { return testing::salted_prompt(n, salt, 250); }

SchedulerConfig scheduler_config(const Knobs& k) {
  SchedulerConfig sc;
  sc.max_num_batched_tokens = k.budget;
  sc.long_prefill_token_threshold = k.chunk;
  sc.max_model_len = 128;
  sc.block_size = 16;
  sc.num_blocks = 1 + 64;
  sc.max_num_seqs = 8;
  return sc;
}

StepLog run_waves(const std::vector<std::vector<EngineCoreRequest>>& waves, const Knobs& k,
                  std::optional<TokenId> eos = std::nullopt) {
  ModelConfig config = k.tiny_preset ? tiny_preset_config() : gpu_config(k.qwen2);
  SchedulerConfig sc = scheduler_config(k);
  if (eos) {
    config.eos_token_id = eos;
    sc.eos_token_id = eos;
  }
  if (!k.cuda) {
    SingleRank comm;
    CpuModelRunner runner(config, bf16_weights(config, 7),
                          {.num_blocks = sc.num_blocks, .block_size = sc.block_size, .seed = 1},
                          comm);
    return testing::drive_waves(runner, config, sc, waves);
  }
  SingleDevice comm;
  CudaModelRunner runner(config, bf16_weights(config, 7),
                         {.num_blocks = sc.num_blocks,
                          .block_size = sc.block_size,
                          .seed = 1,
                          .max_num_batched_tokens = sc.max_num_batched_tokens,
                          .max_num_seqs = sc.max_num_seqs,
                          .keep_logits = true},
                         comm);
  return testing::drive_waves(runner, config, sc, waves);
}

// Largest |difference| over largest |want|, per sample; the worst of them.
double worst_relative_error(const StepLog& got, const StepLog& want, const std::string& id) {
  const auto& x = got.logits.at(id);
  const auto& y = want.logits.at(id);
  EXPECT_EQ(x.size(), y.size()) << id;
  double worst = 0.0;
  for (size_t s = 0; s < std::min(x.size(), y.size()); ++s) {
    double scale = 0.0, diff = 0.0;
    for (size_t v = 0; v < y[s].size(); ++v) {
      scale = std::max(scale, std::abs(double{y[s][v]}));
      diff = std::max(diff, std::abs(double{x[s][v]} - double{y[s][v]}));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

// The gap between the best and second-best logit of each sample: a greedy token
// can only differ where the tolerance exceeds it.
double smallest_margin(const StepLog& log, const std::string& id) {
  double smallest = INFINITY;
  for (const auto& row : log.logits.at(id)) {
    std::vector<float> sorted = row;
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
    double scale = 0.0;
    for (float v : row) scale = std::max(scale, std::abs(double{v}));
    smallest = std::min(smallest, (double{sorted[0]} - sorted[1]) / scale);
  }
  return smallest;
}

void expect_close(const StepLog& got, const StepLog& want, const std::string& id, double tolerance,
                  const char* what) {
  ASSERT_TRUE(got.logits.count(id) && want.logits.count(id)) << id;
  const double worst = worst_relative_error(got, want, id);
  std::printf("%s, %s: worst relative logit error %.3g (tolerance %.3g)\n", what, id.c_str(), worst,
              tolerance);
  EXPECT_LE(worst, tolerance) << what << ", " << id;
  EXPECT_EQ(got.tokens.at(id), want.tokens.at(id))
      << what << ", " << id << ": the smallest top-2 logit gap was " << smallest_margin(want, id)
      << " of the row's scale";
}

class CudaRunnerArch : public CudaRunner, public ::testing::WithParamInterface<bool> {};

TEST_P(CudaRunnerArch, GreedyTokensAndLogitsMatchTheCpuRunner) {
  const auto r = request("r", prompt(12, 1), 64);
  const StepLog cpu = run_waves({{r}}, {.qwen2 = GetParam(), .cuda = false});
  const StepLog gpu = run_waves({{r}}, {.qwen2 = GetParam()});
  ASSERT_EQ(cpu.tokens.at("r").size(), 64u);
  expect_close(gpu, cpu, "r", kCpuTolerance, "cuda vs cpu");
}

TEST_P(CudaRunnerArch, AloneBatchedChunkedAndCachedAgree) {
  const bool qwen2 = GetParam();
  const auto target = request("target", prompt(29, 1), 12);
  const StepLog alone = run_waves({{target}}, {.qwen2 = qwen2});
  ASSERT_EQ(alone.tokens.at("target").size(), 12u);

  const StepLog batched = run_waves(
      {{request("a", prompt(5, 2), 20), target, request("b", prompt(40, 3), 3)}}, {.qwen2 = qwen2});
  expect_close(batched, alone, "target", kDeviceTolerance, "batched");

  for (int32_t chunk : {1, 7, 16}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    const StepLog chunked = run_waves({{request("a", prompt(13, 4), 6), target}},
                                      {.budget = chunk + 2, .chunk = chunk, .qwen2 = qwen2});
    expect_close(chunked, alone, "target", kDeviceTolerance, "chunked");
  }

  // A first request fills the prefix cache with the target's first 16 tokens (one
  // full block).
  auto warm = prompt(29, 1);
  warm.resize(24);
  warm.push_back(3);
  const StepLog cached = run_waves({{request("warm", warm, 2)}, {target}}, {.qwen2 = qwen2});
  EXPECT_EQ(cached.cached_tokens.at("target"), 16);
  expect_close(cached, alone, "target", kDeviceTolerance, "prefix-cached");
}

// A seeded request draws from (seed, tokens sampled so far) alone, so neither its
// neighbours nor its chunking change its tokens.
TEST_P(CudaRunnerArch, SeededSamplingIgnoresTheBatch) {
  auto seeded = [](std::string id, int salt, int64_t seed) {
    auto r = request(std::move(id), prompt(17, salt), 16);
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

// min_tokens keeps EOS from being drawn, on the device as on the CPU: with EOS set
// to the token greedy decoding picks first, the first tokens must differ from it
// and match the CPU runner's.
TEST_P(CudaRunnerArch, MinTokensBansEosAsTheCpuRunnerDoes) {
  const bool qwen2 = GetParam();
  auto r = request("r", prompt(9, 5), 6);
  const StepLog free_run = run_waves({{r}}, {.qwen2 = qwen2, .cuda = false});
  const TokenId eos = free_run.tokens.at("r").front();
  r.sampling_params.ignore_eos = false;
  r.sampling_params.min_tokens = 3;
  const StepLog cpu = run_waves({{r}}, {.qwen2 = qwen2, .cuda = false}, eos);
  const StepLog gpu = run_waves({{r}}, {.qwen2 = qwen2}, eos);
  ASSERT_GE(gpu.tokens.at("r").size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NE(gpu.tokens.at("r")[i], eos) << i;
  EXPECT_EQ(gpu.tokens.at("r"), cpu.tokens.at("r"));
}

// head_dim 16: only 8 lanes of each attention warp own output dims.
TEST_F(CudaRunner, TinyPresetShapeMatchesTheCpuRunner) {
  const auto r = request("r", prompt(12, 1), 64);
  const StepLog cpu = run_waves({{r}}, {.cuda = false, .tiny_preset = true});
  const StepLog gpu = run_waves({{r}}, {.tiny_preset = true});
  ASSERT_EQ(cpu.tokens.at("r").size(), 64u);
  expect_close(gpu, cpu, "r", kCpuTolerance, "cuda vs cpu, tiny preset");
}

INSTANTIATE_TEST_SUITE_P(Architectures, CudaRunnerArch, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Qwen2" : "Llama3Rope"; });

// The serve path: a runner built without a pool profiles a full step, sizes the
// pool from the device's memory, allocates it, then serves.
TEST_F(CudaRunner, ProfileSizesTheKvCacheFromDeviceMemory) {
  const ModelConfig config = gpu_config(false);
  SingleDevice comm;
  CudaModelRunner runner(
      config, bf16_weights(config, 7),
      {.num_blocks = 0, .block_size = 16, .max_num_batched_tokens = 512, .max_num_seqs = 8}, comm);
  EXPECT_EQ(runner.num_blocks(), 0);
  const DeviceMemory memory = runner.profile();
  EXPECT_GT(memory.total_bytes, 0);
  EXPECT_GT(memory.free_bytes, 0);
  EXPECT_LE(memory.free_bytes, memory.total_bytes);
  EXPECT_EQ(runner.kv_bytes_per_block(), int64_t{2} * 2 * 16 * 2 * 64 * 2);
  // A small fraction keeps this test from taking the device from others.
  auto blocks = kv_blocks_for_utilization(
      {.total_bytes = memory.total_bytes, .free_bytes = memory.free_bytes},
      std::min(1.0, static_cast<double>(memory.total_bytes - memory.free_bytes) /
                            static_cast<double>(memory.total_bytes) +
                        0.01),
      runner.kv_bytes_per_block());
  ASSERT_TRUE(blocks.ok()) << blocks.error().message;
  ASSERT_GE(*blocks, 10);
  runner.allocate_kv_cache(std::min(*blocks, 1000));

  ManualClock clock;
  SchedulerConfig sc;
  sc.max_model_len = 128;
  sc.num_blocks = runner.num_blocks();
  sc.max_num_batched_tokens = 512;
  sc.max_num_seqs = 8;
  Scheduler scheduler(sc, clock);
  ASSERT_TRUE(scheduler.add_request(request("r", prompt(20, 2), 8)).ok());
  std::vector<TokenId> tokens;
  while (scheduler.has_unfinished_requests()) {
    const SchedulerOutput& step = scheduler.schedule();
    const ModelRunnerOutput out = runner.execute_model(step);
    for (const auto& batch : scheduler.update_from_output(step, out)) {
      for (const auto& o : batch.outputs) {
        tokens.insert(tokens.end(), o.new_token_ids.begin(), o.new_token_ids.end());
      }
    }
  }
  EXPECT_EQ(tokens.size(), 8u);
}

TEST_F(CudaRunner, AStepBeyondItsSizesIsRefusedNotRun) {
  const ModelConfig config = gpu_config(false);
  SingleDevice comm;
  CudaModelRunner runner(
      config, bf16_weights(config, 7),
      {.num_blocks = 17, .block_size = 16, .max_num_batched_tokens = 8, .max_num_seqs = 2}, comm);
  SchedulerOutput step;
  step.scheduler_step = 1;
  NewRequestData r;
  r.request_id = "r";
  r.prompt_token_ids = prompt(20, 1);
  r.block_ids = {1, 2};
  r.num_scheduled_tokens = 20;
  step.scheduled_new_reqs.push_back(r);
  step.total_num_scheduled_tokens = 20;
  EXPECT_THROW(runner.execute_model(step), std::runtime_error);
}

#ifdef WAYPOINT_HAVE_NCCL
// One rank through NCCL: the all-reduce is an identity, and the runner's results
// are SingleDevice's.
TEST_F(CudaRunner, NcclAtOneRankMatchesASingleDevice) {
  auto id = create_nccl_id();
  ASSERT_TRUE(id.ok()) << id.error().message;
  auto rank = NcclTpRank::join(*id, 0, 1);
  ASSERT_TRUE(rank.ok()) << rank.error().message;
  EXPECT_EQ((*rank)->world_size(), 1);

  const ModelConfig config = gpu_config(false);
  const Knobs k;
  const SchedulerConfig sc = scheduler_config(k);
  const auto r = request("r", prompt(12, 1), 16);
  CudaModelRunner runner(config, bf16_weights(config, 7),
                         {.num_blocks = sc.num_blocks,
                          .block_size = sc.block_size,
                          .seed = 1,
                          .max_num_batched_tokens = sc.max_num_batched_tokens,
                          .max_num_seqs = sc.max_num_seqs,
                          .keep_logits = true},
                         **rank);
  const StepLog nccl = testing::drive_waves(runner, config, sc, {{r}});
  const StepLog single = run_waves({{r}}, k);
  EXPECT_EQ(nccl.tokens.at("r"), single.tokens.at("r"));
  EXPECT_LE(worst_relative_error(nccl, single, "r"), kDeviceTolerance);
}
#endif

}  // namespace
}  // namespace waypoint
