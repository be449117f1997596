#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/sampling.hpp"
#include "kernels/cuda/uniform_draw.hpp"

// How a sampled row is computed. worker/sampler.cpp sorts the candidates by
// (probability desc, id asc) and each filter keeps a prefix of that order: top-k the
// first k, min-p those at or above its floor (at least one), top-p the shortest prefix
// reaching its share of the mass, and the draw walks the kept prefix until the
// running sum passes u * mass. Sorting 256k floats per row is what this kernel avoids.
// A prefix of that order is instead described by two numbers (struct Prefix): the
// weight t of its last token, and how many of the tokens weighing exactly t it holds,
// which are the lowest ids among them. Every question about a prefix is then a
// question about weights alone ("how many / how much weight is at least v?"),
// answered by one block-wide pass over the row, and the cut points are found by
// binary search over v. Weights lie in [0, 1], and non-negative floats order as their
// bit patterns do, so a search over the bits takes at most 30 passes and lands
// exactly on a weight that occurs in the row.
//
// The weights are exp(l/T - max) unnormalized: the CPU's probabilities divided by one
// positive constant, so every comparison and every share of mass is the same, and
// the row needs no normalizing pass.
//
// Cost: a sampled row makes 4 passes, plus about 32 for the draw, plus about 32 for
// each of top-k/min-p and top-p when they are on. Passes read the row (L2-resident
// for small batches); a radix select with per-bin sums would take fewer, but it is
// not needed for correctness and this is the version that is easy to check.

namespace waypoint::kernels::cuda {
namespace {

constexpr float kGreedyTemperature = 1e-5f;  // worker/sampler.cpp's threshold

// Fixed, whatever the batch: the block size fixes the order of every sum, and a row
// must round the same way (and so sample the same token) in any batch.
constexpr int kBlock = 1024;
constexpr int kWarpSize = 32;
constexpr int kWarps = kBlock / kWarpSize;
constexpr unsigned kFullMask = 0xffffffffu;

// ---- Block-wide reductions. Every thread of the block must call them (they hold
// __syncthreads), with the same arguments where the arguments steer control flow.

struct Sum {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Max {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct Min {
  __device__ float operator()(float a, float b) const { return fminf(a, b); }
};

// The result reaches every thread. A fixed shuffle tree, so the same inputs give the
// same rounding on every call. Back-to-back calls may share the shared-memory slots:
// warp 0 has read warp_vals before the second barrier, and every thread has read
// `total` before it can pass the next call's first barrier.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T warp_vals[kWarps];
  __shared__ T total;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  }
  if (lane == 0) warp_vals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? warp_vals[lane] : identity;
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      v = op(v, __shfl_xor_sync(kFullMask, v, offset));
    }
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

// The sum of v over the threads before this one (in threadIdx order).
__device__ int block_exclusive_scan(int v) {
  __shared__ int warp_offsets[kWarps];
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  int inclusive = v;
  for (int offset = 1; offset < kWarpSize; offset *= 2) {
    const int before = __shfl_up_sync(kFullMask, inclusive, offset);
    if (lane >= offset) inclusive += before;
  }
  if (lane == kWarpSize - 1) warp_offsets[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    const int total = lane < kWarps ? warp_offsets[lane] : 0;
    int scanned = total;
    for (int offset = 1; offset < kWarpSize; offset *= 2) {
      const int before = __shfl_up_sync(kFullMask, scanned, offset);
      if (lane >= offset) scanned += before;
    }
    if (lane < kWarps) warp_offsets[lane] = scanned - total;
  }
  __syncthreads();
  const int result = warp_offsets[warp] + inclusive - v;
  __syncthreads();  // everyone has read warp_offsets before a later call rewrites it
  return result;
}

// The largest value, and the lowest id holding it: std::max_element's answer, which
// is what worker/sampler.cpp's argmax returns. NaN compares as -infinity (the CPU's
// answer with NaN depends on where it sits), so a NaN is never picked over a number
// and a row of only NaN and -infinity still yields an id.
struct Best {
  float value;
  int index;
};

__device__ float nan_as_lowest(float v) { return v != v ? -INFINITY : v; }

// (value desc, index asc) is a total order on the candidates, so the result does not
// depend on how the reduction pairs them up.
__device__ Best better(Best a, Best b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}

template <class Value>
__device__ Best row_argmax(int vocab, Value value) {
  __shared__ Best warp_best[kWarps];
  __shared__ Best total;
  // INT_MAX loses every tie, so a thread with no elements never wins.
  Best best{-INFINITY, INT_MAX};
  for (int j = static_cast<int>(threadIdx.x); j < vocab; j += kBlock) {
    best = better(best, Best{nan_as_lowest(value(j)), j});
  }
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    best = better(best, Best{__shfl_xor_sync(kFullMask, best.value, offset),
                             __shfl_xor_sync(kFullMask, best.index, offset)});
  }
  if (lane == 0) warp_best[warp] = best;
  __syncthreads();
  if (warp == 0) {
    best = lane < kWarps ? warp_best[lane] : Best{-INFINITY, INT_MAX};
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      best = better(best, Best{__shfl_xor_sync(kFullMask, best.value, offset),
                               __shfl_xor_sync(kFullMask, best.index, offset)});
    }
    if (lane == 0) total = best;
  }
  __syncthreads();
  return total;
}

// ---- Passes over a row of weights. Threads stride over the row, so loads coalesce.

template <class Pred>
__device__ int count_if(const float* w, int vocab, Pred pred) {
  int count = 0;
  for (int j = static_cast<int>(threadIdx.x); j < vocab; j += kBlock) count += pred(w[j]) ? 1 : 0;
  return block_reduce(count, Sum{}, 0);
}

// In double, as the CPU sums its probabilities: f32 sums over 256k weights would lose
// the small ones' share.
template <class Pred>
__device__ double mass_if(const float* w, int vocab, Pred pred) {
  double mass = 0.0;
  for (int j = static_cast<int>(threadIdx.x); j < vocab; j += kBlock) {
    const float e = w[j];
    if (pred(e)) mass += e;
  }
  return block_reduce(mass, Sum{}, 0.0);
}

__device__ float from_bits(std::uint32_t bits) { return __uint_as_float(bits); }
__device__ std::uint32_t to_bits(float v) { return __float_as_uint(v); }

// A prefix of the candidate order (weight desc, id asc): every token weighing more
// than t, then the r lowest ids among those weighing exactly t. r >= 1 for a
// non-empty prefix; t is always a weight that occurs in the row.
struct Prefix {
  float t;
  int r;
};

__device__ double prefix_mass(const float* w, int vocab, Prefix p) {
  return mass_if(w, vocab, [t = p.t](float e) { return e > t; }) + static_cast<double>(p.r) * p.t;
}

// The whole row as a prefix.
__device__ Prefix whole_row(const float* w, int vocab, float w_min) {
  return {w_min, count_if(w, vocab, [w_min](float e) { return e == w_min; })};
}

// The first n tokens (1 <= n <= vocab). Its last weight is the largest v with at
// least n weights >= v; the count is a step function of v that only changes just
// above a weight in the row, so the largest such v is one of them. v = 0 always
// qualifies (all weights are >= 0), and none is above w_max.
__device__ Prefix prefix_of_length(const float* w, int vocab, int n, float w_max) {
  std::uint32_t lo = 0;
  std::uint32_t hi = to_bits(w_max);
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo + 1) / 2;
    const float v = from_bits(mid);
    if (count_if(w, vocab, [v](float e) { return e >= v; }) >= n) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const float t = from_bits(lo);
  return {t, n - count_if(w, vocab, [t](float e) { return e > t; })};
}

// The shortest prefix of `within` whose weight exceeds (kStrict) or reaches target;
// `within` itself if none does, which only rounding can cause, and which matches the
// CPU sampler falling through to its last kept token.
//
// The weight of within's tokens weighing at least v is, for v above within.t, simply
// the weight of all tokens >= v (they all lie inside the prefix); at v = within.t it
// is within's whole mass. It only grows as v falls, so the cut is at the largest v
// whose weight still reaches the target, found by binary search. Then the tokens
// heavier than the cut weigh less than the target, and the cut takes just enough of
// the tokens tied at it, lowest ids first, to reach it.
template <bool kStrict>
__device__ Prefix shortest_prefix_reaching(const float* w, int vocab, Prefix within,
                                           double within_mass, double target, float w_max) {
  const auto reaches = [target](double mass) { return kStrict ? mass > target : mass >= target; };
  if (!reaches(within_mass)) return within;
  std::uint32_t lo = to_bits(within.t);
  std::uint32_t hi = to_bits(w_max);
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo + 1) / 2;
    const float v = from_bits(mid);
    // v > within.t here, since mid > lo >= to_bits(within.t).
    if (reaches(mass_if(w, vocab, [v](float e) { return e >= v; }))) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const float t = from_bits(lo);
  const double heavier = mass_if(w, vocab, [t](float e) { return e > t; });
  const int tied = t > within.t ? count_if(w, vocab, [t](float e) { return e == t; }) : within.r;
  // The fewest tied tokens (each weighing t) that take `heavier` past the target.
  double need = 1.0;
  if (t > 0.0f) {
    const double q = (target - heavier) / t;
    need = kStrict ? floor(q) + 1.0 : ceil(q);
  }
  // fmax before fmin so that a NaN need becomes 1; the clamp also absorbs rounding.
  const double r = fmin(fmax(need, 1.0), static_cast<double>(tied));
  return {t, static_cast<int>(r)};
}

// The id of the r-th (from 1) lowest token weighing exactly t, or `fallback` if there
// is none. Each thread takes a contiguous run of ids so that a scan of the per-thread
// counts says which thread holds it: one pass instead of a search.
__device__ int select_tied(const float* w, int vocab, float t, int r, int fallback) {
  __shared__ int token;
  if (threadIdx.x == 0) token = fallback;
  const int chunk = (vocab + kBlock - 1) / kBlock;
  const int begin = min(static_cast<int>(threadIdx.x) * chunk, vocab);
  const int end = min(begin + chunk, vocab);
  int count = 0;
  for (int j = begin; j < end; ++j) count += w[j] == t ? 1 : 0;
  const int before = block_exclusive_scan(count);  // its barriers order `token` above
  if (before < r && r <= before + count) {
    int left = r - before;
    for (int j = begin; j < end; ++j) {
      if (w[j] == t && --left == 0) {
        token = j;
        break;
      }
    }
  }
  __syncthreads();
  return token;
}

// One block per row.
__global__ void __launch_bounds__(kBlock)
    sample_kernel(std::int32_t* __restrict__ out_tokens, float* logits,
                  const SamplingRow* __restrict__ rows, int vocab) {
  const SamplingRow row = rows[blockIdx.x];
  float* w = logits + static_cast<std::size_t>(blockIdx.x) * vocab;

  if (row.temperature < kGreedyTemperature) {
    const Best best = row_argmax(vocab, [w](int j) { return w[j]; });
    if (threadIdx.x == 0) out_tokens[blockIdx.x] = best.index;
    return;
  }

  // The CPU's arithmetic: l * (1/T) in f32, then exp(l' - max l'). The explicit _rn
  // intrinsics keep nvcc from fusing the multiply into the subtraction (an FMA rounds
  // once, the CPU twice) and keep the division correctly rounded whatever -prec-div
  // says, so that the scaled logits are the CPU's to the bit.
  const float inv_t = __fdiv_rn(1.0f, row.temperature);
  const Best top = row_argmax(vocab, [w, inv_t](int j) { return __fmul_rn(w[j], inv_t); });
  float local_max = 0.0f;
  float local_min = INFINITY;
  for (int j = static_cast<int>(threadIdx.x); j < vocab; j += kBlock) {
    float e = expf(__fsub_rn(__fmul_rn(w[j], inv_t), top.value));
    // NaN (an infinite max, a NaN temperature) weighs nothing; see the fallback below.
    if (!(e >= 0.0f)) e = 0.0f;
    w[j] = e;  // each thread rewrites only what it read; the barriers below publish it
    local_max = fmaxf(local_max, e);
    local_min = fminf(local_min, e);
  }
  const float w_max = block_reduce(local_max, Max{}, 0.0f);
  const float w_min = block_reduce(local_min, Min{}, INFINITY);
  // Nothing to draw from: every weight is 0 or NaN. Take the argmax, the one token
  // that sampling at any temperature would favor (the first +inf logit, if any).
  if (!(w_max > 0.0f)) {
    if (threadIdx.x == 0) out_tokens[blockIdx.x] = top.index;
    return;
  }

  // top-k, then min-p: both cut the order at a length. The CPU drops tokens below
  // min_p * (top probability) from the end of the top-k prefix but keeps at least one.
  const bool top_k_on = row.top_k > 0 && row.top_k < vocab;
  int keep = top_k_on ? row.top_k : vocab;
  if (row.min_p > 0.0f) {
    const float min_weight = __fmul_rn(row.min_p, w_max);
    const int heavy = count_if(w, vocab, [min_weight](float e) { return e >= min_weight; });
    keep = max(1, min(keep, heavy));
  }
  Prefix kept = keep < vocab ? prefix_of_length(w, vocab, keep, w_max) : whole_row(w, vocab, w_min);
  double kept_mass = prefix_mass(w, vocab, kept);

  if (row.top_p < 1.0f) {
    kept = shortest_prefix_reaching<false>(w, vocab, kept, kept_mass,
                                           static_cast<double>(row.top_p) * kept_mass, w_max);
    kept_mass = prefix_mass(w, vocab, kept);
  }

  // The draw: the first token of the kept prefix at which the running weight exceeds
  // u * (kept weight), as the CPU's `u < cum` walk.
  const double u = uniform_from(row.seed, row.offset);
  const Prefix drawn =
      shortest_prefix_reaching<true>(w, vocab, kept, kept_mass, u * kept_mass, w_max);
  const int token = select_tied(w, vocab, drawn.t, drawn.r, top.index);
  if (threadIdx.x == 0) out_tokens[blockIdx.x] = token;
}

}  // namespace

void sample(std::int32_t* out_tokens, float* logits, const SamplingRow* rows, std::size_t num_rows,
            std::size_t vocab, Stream stream) {
  constexpr const char* kName = "sample";
  if (vocab == 0) throw std::invalid_argument("sample: vocab is 0, so there is no token to pick");
  // The kernel strides ids by the block size in int, so leave it headroom.
  if (vocab > static_cast<std::size_t>(INT_MAX - kBlock)) {
    throw std::invalid_argument("sample: vocab " + std::to_string(vocab) + " is too large");
  }
  const int grid = detail::checked_int(num_rows, kName, "num_rows");
  if (grid == 0) return;
  sample_kernel<<<grid, kBlock, 0, stream>>>(out_tokens, logits, rows, static_cast<int>(vocab));
  detail::check_launch(kName);
}

}  // namespace waypoint::kernels::cuda
