// CudaModelRunner step times at the shapes of Llama-3.2-1B and Llama-3.1-8B (issue 8),
// beside the floors the hardware sets:
//  - decode at batch 1, 16, 64 and 256, every request at 1024 tokens of context, against
//    the HBM roofline (weight bytes + KV bytes read) / peak bandwidth;
//  - one 2048-token prefill, as achieved TFLOP/s and a fraction of the BF16 dense peak.
// The weights are random (the make-model presets' shapes, never the real models) and built
// in memory: no files. docs/benchmarks.md, "CUDA step times (issue 8)", says how to read
// the counters. Without a CUDA device the program says so and exits 0.
//
// A step is timed as execute_model's wall time: staging the metadata, the forward pass,
// sampling and copying the tokens back, which ends in a stream synchronize. That is what
// the engine waits for each step, so the host-side staging counts against the roofline.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "base/splitmix64.hpp"
#include "modelgen/model_presets.hpp"
#include "worker/cuda_model_runner.hpp"
#include "worker/model_config.hpp"

namespace waypoint {
namespace {

constexpr int32_t kContext = 1024;  // KV tokens every decode request attends over
constexpr int32_t kBlockSize = 16;
constexpr int32_t kMaxBatch = 256;
constexpr int32_t kPrefillTokens = 2048;
constexpr int32_t kBlocksPerRequest = kContext / kBlockSize;
constexpr double kBf16Bytes = 2.0;
static_assert(kContext % kBlockSize == 0 && kPrefillTokens % kBlockSize == 0);

// ---- The device's peaks -----------------------------------------------------------

struct DevicePeaks {
  std::string name;
  double hbm_bytes_per_s = 0;  // 0: unknown, no roofline counters
  std::string hbm_source;
  double bf16_flops = 0;  // dense, no sparsity; 0: unknown
  std::string bf16_source;
};

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Datasheet HBM bandwidth, for when the driver does not report the memory clock.
double datasheet_bandwidth(const std::string& name) {
  if (has(name, "H200")) return 4.8e12;
  if (has(name, "H100") && has(name, "PCIe")) return 2.0e12;
  if (has(name, "H100") && has(name, "NVL")) return 3.9e12;
  if (has(name, "H100")) return 3.35e12;  // SXM5 (HBM3)
  return 0;
}

// Datasheet dense BF16 tensor-core peak (half the "with sparsity" figure). No API
// reports it: it depends on the SM clock the part is rated at, not the one it runs at.
double datasheet_bf16_flops(const std::string& name) {
  if (has(name, "H200") || has(name, "GH200")) return 989e12;
  if (has(name, "H100") && has(name, "PCIe")) return 756e12;
  if (has(name, "H100") && has(name, "NVL")) return 835e12;
  if (has(name, "H100")) return 989e12;  // SXM5
  return 0;
}

DevicePeaks query_peaks(int device) {
  DevicePeaks p;
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  p.name = prop.name;
  // CUDA 13 dropped memoryClockRate from cudaDeviceProp; the attribute remains. The
  // clock is in kHz, the bus in bits, and HBM moves data on both edges.
  int clock_khz = 0, bus_bits = 0;
  const bool ok =
      cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device) == cudaSuccess &&
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) == cudaSuccess;
  if (!ok) (void)cudaGetLastError();
  if (ok && clock_khz > 0 && bus_bits > 0) {
    p.hbm_bytes_per_s = double(clock_khz) * 1e3 * double(bus_bits) * 2.0 / 8.0;
    p.hbm_source = "cudaDeviceGetAttribute: memory clock " + std::to_string(clock_khz / 1000) +
                   " MHz x " + std::to_string(bus_bits) + "-bit bus x 2 / 8";
  } else {
    p.hbm_bytes_per_s = datasheet_bandwidth(p.name);
    p.hbm_source = p.hbm_bytes_per_s > 0
                       ? "datasheet table by device name (the driver reports no memory clock)"
                       : "unknown (no memory clock reported, device not in the table)";
  }
  p.bf16_flops = datasheet_bf16_flops(p.name);
  p.bf16_source = p.bf16_flops > 0 ? "datasheet table by device name (dense, no sparsity)"
                                   : "unknown device: fraction_of_peak not reported";
  return p;
}

const DevicePeaks& peaks() {
  static const DevicePeaks p = [] {
    int device = 0;
    check_cuda(cudaGetDevice(&device), "cudaGetDevice");
    return query_peaks(device);
  }();
  return p;
}

// ---- Shapes and traffic -----------------------------------------------------------

ModelConfig preset_config(const std::string& name) {
  const auto preset = tools::find_preset(name);
  if (!preset) throw std::invalid_argument("no make-model preset " + name);
  // The engine's own parser on the preset's config.json: the shapes timed are exactly
  // what `waypoint make-model --preset NAME` writes and `waypoint serve` would load.
  auto config = parse_model_config(tools::llama_config_json(*preset, 1, 2, "bfloat16").dump(),
                                   name + " config.json");
  if (!config.ok()) throw std::runtime_error(config.error().message);
  return *config;
}

// Parameters one token's pass through the decoder layers multiplies by (every linear
// layer; norms are not multiply-adds).
double layer_linear_params(const ModelConfig& c) {
  const double H = c.hidden_size, d = c.head_dim, I = c.intermediate_size;
  const double q = c.num_attention_heads * d, kv = c.num_key_value_heads * d;
  return c.num_hidden_layers * ((q + 2 * kv) * H + q * H + 3 * I * H);
}

// Bytes of weights a decode step of BATCH requests must read at least once: every layer's
// linear weights and norms, the final norm, the whole LM head (the tied embeddings when
// tied), and one embedding row per request.
double decode_weight_bytes(const ModelConfig& c, int32_t batch) {
  const double H = c.hidden_size, V = c.vocab_size;
  const double norms = (2.0 * c.num_hidden_layers + 1) * H;
  return kBf16Bytes * (layer_linear_params(c) + norms + V * H + batch * H);
}

// Bytes of KV a decode step reads: every request's K and V, all layers, all context.
double decode_kv_bytes(const ModelConfig& c, int32_t batch) {
  return kBf16Bytes * batch * double(c.num_hidden_layers) * kContext * 2.0 * c.num_key_value_heads *
         c.head_dim;
}

// FLOPs of one prefill of T tokens: 2 per multiply-add through every linear layer for
// each token, the LM head for the one row that samples, and causal attention (query i
// meets i + 1 keys; QK^T and PV are 2 * head_dim FLOPs per pair each).
double prefill_flops(const ModelConfig& c, int32_t T) {
  const double linear = 2.0 * layer_linear_params(c) * T;
  const double head = 2.0 * double(c.vocab_size) * c.hidden_size;
  const double attention = 2.0 * c.num_hidden_layers * c.num_attention_heads * double(c.head_dim) *
                           double(T) * double(T + 1);
  return linear + head + attention;
}

// ---- Random weights in memory -----------------------------------------------------

// Uniform values of standard deviation STDDEV, a counter hash per element so that the
// threads need no shared generator; 16 cores fill the 8B shape's 32 GB in seconds.
std::vector<float> random_tensor(size_t n, double stddev, uint64_t seed) {
  std::vector<float> v(n);
  const double half_width = stddev * std::sqrt(3.0);
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  const size_t chunk = (n + threads - 1) / threads;
  {
    std::vector<std::jthread> workers;  // joined at the end of this scope, before v moves
    for (size_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const size_t end = std::min(n, (t + 1) * chunk);
        for (size_t i = t * chunk; i < end; ++i) {
          const double u = unit_interval(splitmix64(seed ^ (i * 0x9E3779B97F4A7C15ull)));
          v[i] = static_cast<float>((2.0 * u - 1.0) * half_width);
        }
      });
    }
  }
  return v;
}

// f32, because CudaModelRunner takes LlamaWeights, which are f32; it rounds each tensor
// to bf16 on upload and frees it. The host holds the whole f32 model until then: 5 GB for
// the 1B shape, 32 GB for the 8B shape. Scales keep activations O(1) through every layer
// (random_llama.hpp's), so no step computes infinities or NaNs.
LlamaWeights random_weights(const ModelConfig& c) {
  const auto H = static_cast<size_t>(c.hidden_size), d = static_cast<size_t>(c.head_dim);
  const size_t q = static_cast<size_t>(c.num_attention_heads) * d;
  const size_t kv = static_cast<size_t>(c.num_key_value_heads) * d;
  const auto I = static_cast<size_t>(c.intermediate_size);
  const auto V = static_cast<size_t>(c.vocab_size);
  const double in_scale = 1.0 / std::sqrt(double(H));
  uint64_t seed = 1;
  LlamaWeights w;
  w.embed_tokens = random_tensor(V * H, 1.0, seed++);
  w.norm.assign(H, 1.0f);
  if (!c.tie_word_embeddings) w.lm_head = random_tensor(V * H, in_scale, seed++);
  for (int32_t i = 0; i < c.num_hidden_layers; ++i) {
    LlamaLayerWeights l;
    l.input_layernorm.assign(H, 1.0f);
    l.post_attention_layernorm.assign(H, 1.0f);
    l.qkv_proj = random_tensor((q + 2 * kv) * H, in_scale, seed++);
    l.o_proj = random_tensor(H * q, 1.0 / std::sqrt(double(q)), seed++);
    l.gate_up_proj = random_tensor(2 * I * H, in_scale, seed++);
    l.down_proj = random_tensor(H * I, 1.0 / std::sqrt(double(I)), seed++);
    w.layers.push_back(std::move(l));
  }
  return w;
}

// ---- One preset on the device -----------------------------------------------------

std::string request_id(int32_t r) { return "r" + std::to_string(r); }

std::vector<TokenId> prompt(int32_t n, int32_t salt, int32_t vocab) {
  std::vector<TokenId> p(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = (i * 7919 + salt * 104729) % vocab;
  return p;
}

SamplingParams greedy() {
  SamplingParams s;
  s.temperature = 0.0f;
  s.ignore_eos = true;
  return s;
}

// A runner holding kMaxBatch requests of kContext prefilled tokens each, in blocks of
// their own (sharing blocks would let the KV reads hit L2 and beat the roofline), plus
// one 2048-token prefill request. Steps are SchedulerOutputs written by hand, not a
// Scheduler's: a decode step re-schedules each request's last prompt token (computed
// kContext - 1, scheduled 1) and sends no sampled tokens back, so every step attends
// over exactly kContext tokens however many iterations the benchmark runs, and
// overwrites the same KV slot with the same values.
class PresetOnDevice {
 public:
  explicit PresetOnDevice(std::string name)
      : name_(std::move(name)), config_(preset_config(name_)) {
    const int32_t prefill_blocks = kPrefillTokens / kBlockSize;
    const int32_t num_blocks = 1 + kMaxBatch * kBlocksPerRequest + prefill_blocks;
    // Refuse before building tens of GB of host weights for a device that cannot hold
    // them (cudaMemGetInfo's free, against the weights, the KV pool and 2 GiB for
    // activations, logits and cuBLAS).
    const double need = decode_weight_bytes(config_, 0) +
                        (config_.tie_word_embeddings
                             ? 0.0
                             : kBf16Bytes * config_.vocab_size * double(config_.hidden_size)) +
                        double(num_blocks) * double(DeviceKvCache::bytes_per_block(
                                                 config_.num_hidden_layers, kBlockSize,
                                                 config_.num_key_value_heads, config_.head_dim)) +
                        double(2ull << 30);
    size_t free_bytes = 0, total_bytes = 0;
    check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    if (double(free_bytes) < need) {
      throw std::runtime_error(name_ + " needs about " + std::to_string(int(need / 1e9)) +
                               " GB of device memory; " + std::to_string(free_bytes >> 30) +
                               " GiB are free");
    }
    std::printf("bench_cuda_step: building %s (random bf16 weights, %d KV blocks)...\n",
                name_.c_str(), num_blocks);
    std::fflush(stdout);
    runner_ = std::make_unique<CudaModelRunner>(config_, random_weights(config_),
                                                CudaModelRunnerConfig{
                                                    .num_blocks = num_blocks,
                                                    .block_size = kBlockSize,
                                                    .seed = 1,
                                                    .max_num_batched_tokens = kPrefillTokens,
                                                    .max_num_seqs = kMaxBatch,
                                                },
                                                comm_);
    // Two requests per 2048-token step.
    int32_t next_block = 1;  // block 0 is the null block
    for (int32_t r = 0; r < kMaxBatch;) {
      SchedulerOutput step;
      for (int32_t k = 0; k < kPrefillTokens / kContext && r < kMaxBatch; ++k, ++r) {
        NewRequestData n;
        n.request_id = request_id(r);
        n.prompt_token_ids = prompt(kContext, r, config_.vocab_size);
        n.sampling_params = greedy();
        for (int32_t b = 0; b < kBlocksPerRequest; ++b) n.block_ids.push_back(next_block++);
        n.num_scheduled_tokens = kContext;
        step.total_num_scheduled_tokens += kContext;
        step.scheduled_new_reqs.push_back(std::move(n));
      }
      execute(step);
    }
    NewRequestData p;
    p.request_id = "prefill";
    p.prompt_token_ids = prompt(kPrefillTokens, kMaxBatch, config_.vocab_size);
    p.sampling_params = greedy();
    for (int32_t b = 0; b < prefill_blocks; ++b) p.block_ids.push_back(next_block++);
    p.num_scheduled_tokens = kPrefillTokens;
    SchedulerOutput first;
    first.total_num_scheduled_tokens = kPrefillTokens;
    first.scheduled_new_reqs.push_back(std::move(p));
    execute(first);
  }

  const std::string& name() const { return name_; }
  const ModelConfig& config() const { return config_; }

  SchedulerOutput decode_step(int32_t batch) const {
    SchedulerOutput step;
    for (int32_t r = 0; r < batch; ++r) {
      CachedRequestData c;
      c.request_id = request_id(r);
      c.num_computed_tokens = kContext - 1;
      c.num_scheduled_tokens = 1;
      step.scheduled_cached_reqs.push_back(std::move(c));
    }
    step.total_num_scheduled_tokens = batch;
    return step;
  }

  // The whole prompt again from position 0: a full prefill each time.
  SchedulerOutput prefill_step() const {
    SchedulerOutput step;
    CachedRequestData c;
    c.request_id = "prefill";
    c.num_scheduled_tokens = kPrefillTokens;
    step.scheduled_cached_reqs.push_back(std::move(c));
    step.total_num_scheduled_tokens = kPrefillTokens;
    return step;
  }

  // Runs STEP; returns its wall time in seconds (execute_model synchronizes).
  double execute(SchedulerOutput& step) {
    step.scheduler_step = ++steps_;
    const auto start = std::chrono::steady_clock::now();
    const ModelRunnerOutput out = runner_->execute_model(step);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (out.req_ids.size() != step.scheduled_new_reqs.size() + step.scheduled_cached_reqs.size())
      throw std::runtime_error("step " + std::to_string(steps_) + " lost requests");
    return seconds;
  }

 private:
  std::string name_;
  ModelConfig config_;
  SingleDevice comm_;
  std::unique_ptr<CudaModelRunner> runner_;
  uint64_t steps_ = 0;
};

// One preset on the device at a time: the 8B shape's weights and KV pool take ~50 GB.
// Benchmarks are registered preset by preset, so each is built once.
// A preset that failed to build is not retried by its other benchmarks: each attempt
// would rebuild up to 32 GB of host weights to fail the same way.
PresetOnDevice& on_device(const std::string& name) {
  static std::unique_ptr<PresetOnDevice> current;
  static std::string failed, why;
  if (name == failed) throw std::runtime_error(why);
  if (!current || current->name() != name) {
    current.reset();  // free the previous preset's device memory first
    try {
      current = std::make_unique<PresetOnDevice>(name);
    } catch (const std::exception& e) {
      failed = name;
      why = e.what();
      throw;
    }
  }
  return *current;
}

// Runs STEP under the benchmark loop, after two untimed warm-up steps (kernel modules,
// cuBLAS's choice for the shape). Returns the mean step time in seconds.
double time_steps(benchmark::State& state, PresetOnDevice& preset, SchedulerOutput step) {
  for (int i = 0; i < 2; ++i) preset.execute(step);
  double total = 0;
  for (auto _ : state) {
    const double s = preset.execute(step);
    state.SetIterationTime(s);
    total += s;
  }
  return state.iterations() > 0 ? total / double(state.iterations()) : 0.0;
}

void BM_Decode(benchmark::State& state, const std::string& preset_name) {
  const auto batch = static_cast<int32_t>(state.range(0));
  try {
    PresetOnDevice& preset = on_device(preset_name);
    const double mean = time_steps(state, preset, preset.decode_step(batch));
    const ModelConfig& c = preset.config();
    const double weights = decode_weight_bytes(c, batch), kv = decode_kv_bytes(c, batch);
    state.counters["batch"] = batch;
    state.counters["context"] = kContext;
    state.counters["weight_GB"] = weights / 1e9;
    state.counters["kv_GB"] = kv / 1e9;
    state.counters["step_us"] = mean * 1e6;
    state.counters["tok_per_s"] = mean > 0 ? batch / mean : 0.0;
    if (peaks().hbm_bytes_per_s > 0) {
      const double roofline = (weights + kv) / peaks().hbm_bytes_per_s;
      state.counters["roofline_us"] = roofline * 1e6;
      state.counters["ratio_to_roofline"] = mean / roofline;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void BM_Prefill(benchmark::State& state, const std::string& preset_name) {
  try {
    PresetOnDevice& preset = on_device(preset_name);
    const double mean = time_steps(state, preset, preset.prefill_step());
    const double tflops =
        mean > 0 ? prefill_flops(preset.config(), kPrefillTokens) / mean / 1e12 : 0.0;
    state.counters["tokens"] = kPrefillTokens;
    state.counters["step_us"] = mean * 1e6;
    state.counters["TFLOPs"] = tflops;
    if (peaks().bf16_flops > 0) {
      state.counters["peak_TFLOPs"] = peaks().bf16_flops / 1e12;
      state.counters["fraction_of_peak"] = tflops * 1e12 / peaks().bf16_flops;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace
}  // namespace waypoint

int main(int argc, char** argv) {
  using namespace waypoint;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    std::printf("bench_cuda_step: no CUDA device (%s); nothing to measure\n",
                err != cudaSuccess ? cudaGetErrorString(err) : "cudaGetDeviceCount reported 0");
    return 0;
  }
  const DevicePeaks& p = peaks();
  char hbm[64], flops[64];
  std::snprintf(hbm, sizeof(hbm), "%.0f GB/s", p.hbm_bytes_per_s / 1e9);
  std::snprintf(flops, sizeof(flops), "%.0f TFLOP/s", p.bf16_flops / 1e12);
  std::printf("bench_cuda_step: device %s\n", p.name.c_str());
  std::printf("  HBM peak %s, from %s\n", hbm, p.hbm_source.c_str());
  std::printf("  BF16 dense peak %s, from %s\n", flops, p.bf16_source.c_str());
  std::printf("  decode: every request at %d tokens of context; weights are random\n", kContext);
  std::fflush(stdout);
  benchmark::AddCustomContext("cuda_device", p.name);
  benchmark::AddCustomContext("hbm_peak", std::string(hbm) + " (" + p.hbm_source + ")");
  benchmark::AddCustomContext("bf16_dense_peak", std::string(flops) + " (" + p.bf16_source + ")");

  for (const std::string preset : {"llama-3.2-1b-shape", "llama-3.1-8b-shape"}) {
    benchmark::RegisterBenchmark(("BM_Decode/" + preset).c_str(), BM_Decode, preset)
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(16)
        ->Arg(64)
        ->Arg(256)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_Prefill2048/" + preset).c_str(), BM_Prefill, preset)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
