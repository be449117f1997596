// The CPU matmul at Llama 3.2 1B layer shapes (hidden 2048, intermediate
// 8192, GQA 32:8), beside OpenBLAS's sgemm on the same f32 product, and the
// physical floors measured in the same run: read bandwidth with every core
// streaming, and peak multiply-add rate (f32 FMA, and bf16 vdpbf16ps where
// the CPU has it). Counters: GFLOP/s, and GB/s of weight bytes streamed.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cpu/matmul.hpp"
#include "tests/bench/read_bandwidth.hpp"

// GCC 12's avx512fintrin.h reads an unset variable on purpose in its
// _mm512_undefined_* helpers; -Wuninitialized flags it once inlined here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

using namespace waypoint::kernels::cpu;

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

int threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

void report(benchmark::State& state, int64_t m, int64_t n, int64_t k, int64_t weight_bytes) {
  const auto it = static_cast<double>(state.iterations());
  state.counters["GFLOPs"] = benchmark::Counter(it * 2.0 * double(m) * double(n) * double(k) / 1e9,
                                                benchmark::Counter::kIsRate);
  state.counters["weight_GBps"] =
      benchmark::Counter(it * double(weight_bytes) / 1e9, benchmark::Counter::kIsRate);
}

// Args: m, n, k, bf16?; TILES_ONLY keeps even large m off oneDNN.
void run_matmul(benchmark::State& state, bool tiles_only) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const WeightType type = state.range(3) != 0 ? WeightType::kBf16 : WeightType::kF32;
  const auto x = random_floats(static_cast<size_t>(m * k), 1);
  const WeightMatrix w =
      WeightMatrix::pack(random_floats(static_cast<size_t>(n * k), 2), n, k, type);
  std::vector<float> y(static_cast<size_t>(m * n));
  ThreadPool pool(threads());
  Matmul matmul(pool, detect_cpu_isa(), tiles_only ? INT64_MAX : Matmul::kLibraryMinRows);
  for (auto _ : state) {
    matmul(x.data(), m, w, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  report(state, m, n, k, w.bytes());
}

void BM_Matmul(benchmark::State& state) { run_matmul(state, false); }
void BM_MatmulTiles(benchmark::State& state) { run_matmul(state, true); }

void BM_OpenBlasSgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto x = random_floats(static_cast<size_t>(m * k), 1);
  const auto w = random_floats(static_cast<size_t>(n * k), 2);
  std::vector<float> y(static_cast<size_t>(m * n));
  openblas_set_num_threads(threads());
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
                static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, x.data(),
                static_cast<blasint>(k), w.data(), static_cast<blasint>(k), 0.0f, y.data(),
                static_cast<blasint>(n));
    benchmark::DoNotOptimize(y.data());
  }
  report(state, m, n, k, n * k * 4);
}

#define SHAPES(m, bf16)              \
  Args({m, 3072, 2048, bf16})        \
      ->Args({m, 2048, 2048, bf16})  \
      ->Args({m, 16384, 2048, bf16}) \
      ->Args({m, 2048, 8192, bf16})

BENCHMARK(BM_Matmul)
    ->ArgNames({"m", "n", "k", "bf16"})
    ->SHAPES(1, 1)
    ->SHAPES(1, 0)
    ->SHAPES(16, 1)
    ->SHAPES(16, 0)
    ->SHAPES(64, 1)
    ->SHAPES(64, 0)
    ->SHAPES(512, 1)
    ->SHAPES(512, 0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MatmulTiles)
    ->ArgNames({"m", "n", "k", "bf16"})
    ->SHAPES(64, 1)
    ->SHAPES(64, 0)
    ->SHAPES(512, 1)
    ->SHAPES(512, 0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpenBlasSgemm)
    ->ArgNames({"m", "n", "k", "bf16"})
    ->SHAPES(1, 0)
    ->SHAPES(16, 0)
    ->SHAPES(64, 0)
    ->SHAPES(512, 0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Read bandwidth, every core streaming its share of 512 MiB at the best vector
// width (tests/bench/read_bandwidth.hpp): the floor for the m = 1 rows' GB/s.
void BM_ReadBandwidth(benchmark::State& state) {
  double best = 0.0;
  for (auto _ : state)
    best = std::max(best,
                    waypoint::bench::read_bandwidth_bytes_per_s(static_cast<unsigned>(threads())));
  state.counters["GBps"] = best / 1e9;
}
BENCHMARK(BM_ReadBandwidth)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// Peak multiply-add rate on every core: 16 independent accumulator chains per
// core (enough to cover the instruction's latency), no memory traffic.
__attribute__((target("avx512f"))) float fma_loop(int64_t iters) {
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512 x = _mm512_set1_ps(1e-7f), y = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (auto& a : acc) a = _mm512_fmadd_ps(x, y, a);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16"))) float dpbf16_loop(int64_t iters) {
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0 in bf16
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (auto& a : acc) a = _mm512_dpbf16_ps(a, x, x);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  return _mm512_reduce_add_ps(s);
}

// Arg: 0 = f32 FMA (32 flops per instruction), 1 = vdpbf16ps (64).
void BM_PeakFlops(benchmark::State& state) {
  const bool bf16 = state.range(0) != 0;
  const CpuIsa need = bf16 ? CpuIsa::kAvx512Bf16 : CpuIsa::kAvx512;
  if (supported_cpu_isa() < need) {
    state.SkipWithError("this CPU lacks the instruction");
    return;
  }
  constexpr int64_t kIters = 1 << 22;
  ThreadPool pool(threads());
  for (auto _ : state) {
    std::vector<float> out(static_cast<size_t>(pool.size()));
    pool.parallel_for(pool.size(), 1, [&](int64_t part, int64_t, int) {
      out[static_cast<size_t>(part)] = bf16 ? dpbf16_loop(kIters) : fma_loop(kIters);
    });
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = double(kIters) * 16 * (bf16 ? 64 : 32) * threads();
  state.counters["GFLOPs"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * flops / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakFlops)
    ->ArgName("bf16")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
