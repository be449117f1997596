// CPU kernel throughput at Llama 3.2 1B sizes (hidden 2048) for a 64-token batch.
// Bytes are the minimum traffic: every input read once, every output written once.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cpu/rms_norm.hpp"
#include "kernels/cpu/silu_and_mul.hpp"

namespace {

using namespace waypoint::kernels;

constexpr std::size_t kTokens = 64;
constexpr std::size_t kHidden = 2048;
constexpr float kEps = 1e-5f;

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void set_bytes(benchmark::State& state, std::size_t floats_per_call) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(floats_per_call * sizeof(float)));
}

void BM_RmsNorm(benchmark::State& state) {
  const auto x = random_floats(kTokens * kHidden, 1);
  const auto weight = random_floats(kHidden, 2);
  std::vector<float> out(x.size());
  for (auto _ : state) {
    cpu::rms_norm(out, x, weight, kTokens, kHidden, kEps);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, x.size() + weight.size() + out.size());
}
BENCHMARK(BM_RmsNorm);

void BM_FusedAddRmsNorm(benchmark::State& state) {
  const auto x = random_floats(kTokens * kHidden, 1);
  const auto weight = random_floats(kHidden, 2);
  // Small values keep the residual from growing without bound across iterations.
  std::vector<float> residual(x.size(), 0.0f);
  std::vector<float> out(x.size());
  for (auto _ : state) {
    cpu::fused_add_rms_norm(out, x, residual, weight, kTokens, kHidden, kEps);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  // x and weight read, residual read and written, out written.
  set_bytes(state, x.size() + weight.size() + 2 * residual.size() + out.size());
}
BENCHMARK(BM_FusedAddRmsNorm);

void BM_SiluAndMul(benchmark::State& state) {
  const auto input = random_floats(kTokens * 2 * kHidden, 3);
  std::vector<float> out(kTokens * kHidden);
  for (auto _ : state) {
    cpu::silu_and_mul(out, input, kTokens, kHidden);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, input.size() + out.size());
}
BENCHMARK(BM_SiluAndMul);

}  // namespace

BENCHMARK_MAIN();
