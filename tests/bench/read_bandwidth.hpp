#pragma once
// The memory-bandwidth floor the benchmarks compare decode against: the best
// rate at which every core of this machine streams a buffer far larger than
// its caches. Decode at batch 1 reads every weight once per token, so no
// kernel can beat this rate, and "fraction of the floor" is how close a
// kernel gets (docs/benchmarks.md).
//
// Why it is written this way: a scalar loop caps at one 8-byte load per cycle
// per core, which on this machine reads 19-30 GB/s where vector loads read
// 40-58 GB/s, so a scalar probe flatters every kernel measured against it.
// On AMD's Zen 4, 512-bit loads stream slower than 256-bit ones (29-31 against
// 39-42 GB/s in one run), so both widths are tried and the better counts.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

// GCC 12's AVX-512 headers trip these on their own setzero intrinsics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace waypoint::bench {

namespace read_bandwidth_detail {

// Eight independent XOR chains: enough loads in flight to cover memory
// latency, and no arithmetic dependency the compiler must keep.
__attribute__((target("avx2"))) inline uint64_t xor_256(const std::byte* p, size_t bytes) {
  __m256i acc[8];
  for (auto& a : acc) a = _mm256_setzero_si256();
  for (size_t i = 0; i + 256 <= bytes; i += 256) {
    for (int k = 0; k < 8; ++k) {
      acc[k] = _mm256_xor_si256(
          acc[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32 * k)));
    }
  }
  for (int k = 1; k < 8; ++k) acc[0] = _mm256_xor_si256(acc[0], acc[k]);
  return static_cast<uint64_t>(_mm256_extract_epi64(acc[0], 0));
}

__attribute__((target("avx512f"))) inline uint64_t xor_512(const std::byte* p, size_t bytes) {
  __m512i acc[8];
  for (auto& a : acc) a = _mm512_setzero_si512();
  for (size_t i = 0; i + 512 <= bytes; i += 512) {
    for (int k = 0; k < 8; ++k)
      acc[k] = _mm512_xor_si512(acc[k], _mm512_loadu_si512(p + i + 64 * k));
  }
  for (int k = 1; k < 8; ++k) acc[0] = _mm512_xor_si512(acc[0], acc[k]);
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(acc[0]));
}

// For machines without AVX2: four chains of 8-byte loads.
inline uint64_t xor_64(const std::byte* p, size_t bytes) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 32 <= bytes; i += 32) {
    uint64_t w[4];
    __builtin_memcpy(w, p + i, sizeof w);
    a ^= w[0], b ^= w[1], c ^= w[2], d ^= w[3];
  }
  return a ^ b ^ c ^ d;
}

using XorFn = uint64_t (*)(const std::byte*, size_t);

// Bytes per second of the best of `reps` passes over `bytes`, split across
// `threads` threads.
inline double best_rate(XorFn fn, const std::byte* data, size_t bytes, unsigned threads, int reps) {
  double best = 0.0;
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<uint64_t> sums(threads);
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> pool;
      for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          const size_t lo = bytes * t / threads / 512 * 512;
          const size_t hi = bytes * (t + 1) / threads / 512 * 512;
          sums[t] = fn(data + lo, hi - lo);
        });
      }
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Keeps the sums observable, so the loads cannot be dropped.
    asm volatile("" : : "r"(sums.data()) : "memory");
    best = std::max(best, static_cast<double>(bytes) / dt);
  }
  return best;
}

}  // namespace read_bandwidth_detail

// Read bandwidth in bytes/s, every core streaming 512 MiB: the best of five
// passes at each vector width the CPU has.
inline double read_bandwidth_bytes_per_s(unsigned threads = std::thread::hardware_concurrency()) {
  namespace d = read_bandwidth_detail;
  threads = std::max(1u, threads);
  const size_t bytes = size_t{512} << 20;
  const auto buffer = std::make_unique<std::byte[]>(bytes);
  std::fill_n(buffer.get(), bytes, std::byte{1});  // touch every page before timing
  __builtin_cpu_init();
  double best = d::best_rate(d::xor_64, buffer.get(), bytes, threads, 2);
  if (__builtin_cpu_supports("avx2"))
    best = std::max(best, d::best_rate(d::xor_256, buffer.get(), bytes, threads, 5));
  if (__builtin_cpu_supports("avx512f"))
    best = std::max(best, d::best_rate(d::xor_512, buffer.get(), bytes, threads, 5));
  return best;
}

}  // namespace waypoint::bench

#pragma GCC diagnostic pop
