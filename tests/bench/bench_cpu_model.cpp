// CPU forward-pass throughput: decode tokens/s at batch 1 and 32, and prefill
// tokens/s, for model shapes of the make-model presets in f32 and bf16, beside
// the floor that memory bandwidth sets (every decode step streams all weights
// once), measured in the same run.
//
// WAYPOINT_BENCH_MODEL=DIR adds BM_ModelDir: the model in DIR, in its own
// dtype, at batch-1 decode (128 tokens after a 128-token prompt) and a
// 512-token prefill: the shapes of llama-bench's tg128 and pp512, which
// tests/bench/llama_cpp_side_by_side.sh runs beside it.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "engine_core/scheduler.hpp"
#include "tests/bench/read_bandwidth.hpp"
#include "worker/cpu_model_runner.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"

namespace waypoint {
namespace {

ModelConfig shape(bool small) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = small ? 32000 : 512;
  c.hidden_size = small ? 768 : 64;
  c.intermediate_size = small ? 1536 : 176;
  c.num_hidden_layers = small ? 12 : 2;
  c.num_attention_heads = small ? 12 : 4;
  c.num_key_value_heads = small ? 4 : 2;
  c.head_dim = small ? 64 : 16;
  c.max_position_embeddings = 2048;
  c.tie_word_embeddings = !small;
  return c;
}

LlamaWeights random_weights(const ModelConfig& c) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
  };
  const auto H = static_cast<size_t>(c.hidden_size), D = static_cast<size_t>(c.head_dim);
  const size_t q = static_cast<size_t>(c.num_attention_heads) * D;
  const size_t kv = static_cast<size_t>(c.num_key_value_heads) * D;
  const auto I = static_cast<size_t>(c.intermediate_size);
  LlamaWeights w;
  w.embed_tokens = fill(static_cast<size_t>(c.vocab_size) * H);
  w.norm.assign(H, 1.0f);
  if (!c.tie_word_embeddings) w.lm_head = fill(static_cast<size_t>(c.vocab_size) * H);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LlamaLayerWeights l;
    l.input_layernorm.assign(H, 1.0f);
    l.post_attention_layernorm.assign(H, 1.0f);
    l.qkv_proj = fill((q + 2 * kv) * H);
    l.o_proj = fill(H * q);
    l.gate_up_proj = fill(2 * I * H);
    l.down_proj = fill(H * I);
    w.layers.push_back(std::move(l));
  }
  return w;
}

double weight_bytes(const ModelConfig& c, double bytes_per_weight) {
  const double H = c.hidden_size, D = c.head_dim, I = c.intermediate_size, V = c.vocab_size;
  const double q = c.num_attention_heads * D, kv = c.num_key_value_heads * D;
  const double layer = (q + 2 * kv) * H + H * q + 3 * I * H + 2 * H;
  // Embedding rows are gathered, not streamed; the output projection is read in full.
  return bytes_per_weight * (c.num_hidden_layers * layer + V * H + H);
}

EngineCoreRequest request(int i, int prompt_len, int max_tokens) {
  EngineCoreRequest r;
  r.request_id = "r" + std::to_string(i);
  r.prompt_token_ids.resize(static_cast<size_t>(prompt_len));
  for (int t = 0; t < prompt_len; ++t)
    r.prompt_token_ids[static_cast<size_t>(t)] = (i * 31 + t * 7) % 500 + 1;
  r.sampling_params.temperature = 0.0f;
  r.sampling_params.max_tokens = max_tokens;
  r.sampling_params.ignore_eos = true;
  return r;
}

constexpr int kDecodeTokens = 64;
int next_request = 0;  // request ids stay unique across runs that share a runner

// Times decode steps (BATCH requests of PROMPT_LEN tokens, each decoding
// DECODE_TOKENS, the batch refilled outside the timed region) or whole
// prefills of BATCH prompts of PROMPT_LEN tokens.
void run_steps(benchmark::State& state, CpuModelRunner& runner, const ModelConfig& c, int batch,
               bool decode, int prompt_len, int decode_tokens, double bytes_per_weight) {
  SchedulerConfig sc;
  sc.max_num_seqs = batch;
  sc.max_model_len = 2048;
  sc.max_num_batched_tokens = decode ? 4096 : prompt_len * batch;
  sc.num_blocks = 1 + batch * (2048 / 16);
  sc.enable_prefix_caching = false;
  ManualClock clock;
  Scheduler scheduler(sc, clock);
  auto step = [&] {
    const SchedulerOutput& so = scheduler.schedule();
    const int tokens = so.total_num_scheduled_tokens;
    (void)scheduler.update_from_output(so, runner.execute_model(so));
    return tokens;
  };
  int64_t tokens = 0;
  if (decode) {
    auto refill = [&] {
      while (scheduler.num_running() + scheduler.num_waiting() < batch) {
        if (!scheduler.add_request(request(next_request++, prompt_len, decode_tokens)).ok()) {
          return false;
        }
      }
      step();
      return true;
    };
    if (!refill()) state.SkipWithError("add_request refused");
    for (auto _ : state) {
      if (scheduler.num_running() < batch) {
        state.PauseTiming();
        refill();
        state.ResumeTiming();
      }
      tokens += step();
    }
  } else {
    for (auto _ : state) {
      state.PauseTiming();
      for (int i = 0; i < batch; ++i) {
        (void)scheduler.add_request(request(next_request++, prompt_len, 1));
      }
      state.ResumeTiming();
      while (scheduler.has_unfinished_requests()) tokens += step();
    }
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  if (decode) {
    static const double bandwidth = bench::read_bandwidth_bytes_per_s();
    const double floor_s = weight_bytes(c, bytes_per_weight) / bandwidth;
    state.counters["floor_tokens_per_s"] = batch / floor_s;
    state.counters["weights_MB"] = weight_bytes(c, bytes_per_weight) / 1e6;
    state.counters["read_GBps"] = bandwidth / 1e9;
  }
}

// Arg 0: small preset? Arg 1: batch. Arg 2: 1 = decode, 0 = prefill. Arg 3: bf16 weights?
void BM_CpuModel(benchmark::State& state) {
  const ModelConfig c = shape(state.range(0) != 0);
  const auto batch = static_cast<int>(state.range(1));
  const bool decode = state.range(2) != 0;
  const bool bf16 = state.range(3) != 0;
  SingleRank comm;
  CpuModelRunnerConfig rc{.num_blocks = 1 + batch * (2048 / 16), .block_size = 16};
  rc.compute.weight_type = bf16 ? kernels::cpu::WeightType::kBf16 : kernels::cpu::WeightType::kF32;
  CpuModelRunner runner(c, random_weights(c), rc, comm);
  run_steps(state, runner, c, batch, decode, decode ? 128 : 512, kDecodeTokens, bf16 ? 2.0 : 4.0);
}
BENCHMARK(BM_CpuModel)
    ->ArgNames({"small", "batch", "decode", "bf16"})
    ->Args({0, 1, 1, 0})
    ->Args({0, 32, 1, 0})
    ->Args({0, 1, 0, 0})
    ->Args({0, 32, 0, 0})
    ->Args({1, 1, 1, 0})
    ->Args({1, 32, 1, 0})
    ->Args({1, 1, 0, 0})
    ->Args({1, 32, 0, 0})
    ->Args({1, 1, 1, 1})
    ->Args({1, 32, 1, 1})
    ->Args({1, 1, 0, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The model in WAYPOINT_BENCH_MODEL, loaded once for every BM_ModelDir run.
struct ModelDir {
  ModelConfig config;
  SingleRank comm;
  std::unique_ptr<CpuModelRunner> runner;
};

std::unique_ptr<ModelDir> load_model_dir(const char* dir) {
  auto loaded = load_model(dir);
  if (!loaded) {
    std::fprintf(stderr, "WAYPOINT_BENCH_MODEL: %s\n", loaded.error().message.c_str());
    return nullptr;
  }
  auto weights = load_llama_weights(loaded->config, loaded->weights, TpShard{});
  if (!weights) {
    std::fprintf(stderr, "WAYPOINT_BENCH_MODEL: %s\n", weights.error().message.c_str());
    return nullptr;
  }
  auto m = std::make_unique<ModelDir>();
  m->config = loaded->config;
  CpuModelRunnerConfig rc{.num_blocks = 1 + 2048 / 16 * 2, .block_size = 16};
  rc.compute.weight_type = cpu_weight_type(m->config);
  m->runner = std::make_unique<CpuModelRunner>(m->config, std::move(*weights), rc, m->comm);
  return m;
}

void register_model_dir() {
  const char* dir = std::getenv("WAYPOINT_BENCH_MODEL");
  if (dir == nullptr) return;
  static std::unique_ptr<ModelDir> model = load_model_dir(dir);
  if (!model) return;
  const double bytes = cpu_weight_type(model->config) == kernels::cpu::WeightType::kBf16 ? 2 : 4;
  for (const bool decode : {true, false}) {
    benchmark::RegisterBenchmark(decode ? "BM_ModelDir/decode:1" : "BM_ModelDir/decode:0",
                                 [decode, bytes](benchmark::State& state) {
                                   run_steps(state, *model->runner, model->config, 1, decode,
                                             decode ? 128 : 512, 128, bytes);
                                 })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->Iterations(decode ? 128 : 3);
  }
}

}  // namespace
}  // namespace waypoint

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  waypoint::register_model_dir();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
