#include "kernels/cpu/paged_attention.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace waypoint::kernels::cpu {

namespace {

// e^x for x <= 0, written so that the compiler vectorizes it (no libm call):
// x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial (relative
// error ~2e-7), 2^n built in the exponent bits. Below -87 the result is 0,
// which is what a softmax weight that small rounds to anyway.
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504f + shifter) - shifter;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(e);
}

// A KV head's rows are head_dim floats, a whole slot (every KV head) apart,
// in blocks that lie anywhere in the pool: too scattered for the hardware
// prefetcher, so without help each row waited on memory. Each loop asks for
// the row kPrefetchAhead positions on (docs/benchmarks.md).
constexpr int64_t kPrefetchAhead = 16;
inline void prefetch_row(const float* p, int32_t d) {
  for (int32_t e = 0; e < d; e += 16) __builtin_prefetch(p + e);
}
// Q·K for one position: 16 lane sums, folded in halves. Written as an `omp
// simd` reduction, GCC ended each dot with a chain of 15 dependent scalar
// adds, which made a 16-request decode step's attention compute-bound.
__attribute__((always_inline)) inline float dot_product(const float* q, const float* k, int32_t d) {
  float lane[16] = {};
  int32_t e = 0;
  for (; e + 16 <= d; e += 16) {
    for (int l = 0; l < 16; ++l) lane[l] += q[e + l] * k[e + l];
  }
  for (int l = 0; e + l < d; ++l) lane[l] += q[e + l] * k[e + l];
  for (int l = 0; l < 8; ++l) lane[l] += lane[l + 8];
  for (int l = 0; l < 4; ++l) lane[l] += lane[l + 4];
  for (int l = 0; l < 2; ++l) lane[l] += lane[l + 2];
  return lane[0] + lane[1];
}
// One query token and one KV head: the GROUP q heads that share it. SCORES
// holds group × context_len floats.
struct HeadWork {
  const float* q;  // the group's first q head
  const AttentionQuery* query;
  const PagedKv* kv;
  int64_t kv_offset;  // floats from a slot's start to this KV head
  int32_t group;
  int32_t d;
  float scale;
  float* out;  // the group's first q head
};

// Compiled three times, dispatched by the CPU at load (ifunc): the simd loops
// become zmm, ymm or xmm code.
__attribute__((target_clones("avx512f", "avx2", "default"))) void attend(const HeadWork& w,
                                                                         float* scores) {
  const int64_t n = w.query->context_len;
  const int32_t bs = w.kv->block_size;
  const int32_t d = w.d;
  auto row = [&](const float* base, int64_t j) {
    const int64_t slot = int64_t{w.query->block_ids[j / bs]} * bs + j % bs;
    return base + slot * w.kv->slot_stride + w.kv_offset;
  };
  for (int64_t j = 0; j < n; ++j) {
    if (j + kPrefetchAhead < n) prefetch_row(row(w.kv->key, j + kPrefetchAhead), d);
    const float* k = row(w.kv->key, j);
    for (int32_t h = 0; h < w.group; ++h) {
      const float* q = w.q + int64_t{h} * d;
      scores[h * n + j] = dot_product(q, k, d) * w.scale;
    }
  }
  for (int32_t h = 0; h < w.group; ++h) {
    float* s = scores + h * n;
    float max_score = -INFINITY;
    for (int64_t j = 0; j < n; ++j) max_score = std::max(max_score, s[j]);
    float denom = 0.0f;
#pragma omp simd reduction(+ : denom)
    for (int64_t j = 0; j < n; ++j) {
      s[j] = exp_nonpositive(s[j] - max_score);
      denom += s[j];
    }
    const float inv = 1.0f / denom;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) s[j] *= inv;
    std::fill_n(w.out + int64_t{h} * d, d, 0.0f);
  }
  for (int64_t j = 0; j < n; ++j) {
    if (j + kPrefetchAhead < n) prefetch_row(row(w.kv->value, j + kPrefetchAhead), d);
    const float* v = row(w.kv->value, j);
    for (int32_t h = 0; h < w.group; ++h) {
      const float p = scores[h * n + j];
      float* o = w.out + int64_t{h} * d;
#pragma omp simd
      for (int32_t e = 0; e < d; ++e) o[e] += p * v[e];
    }
  }
}

}  // namespace

void PagedAttention::operator()(std::span<const AttentionQuery> queries, const float* q,
                                const PagedKv& kv, const AttentionShape& shape, float* out) {
  const auto tokens = static_cast<int64_t>(queries.size());
  const int32_t group = shape.q_heads / shape.kv_heads;
  const int64_t width = int64_t{shape.q_heads} * shape.head_dim;
  int64_t longest = 0;
  for (const auto& qr : queries) longest = std::max(longest, qr.context_len);
  scores_.resize(static_cast<size_t>(pool_.size()));
  for (auto& s : scores_) s.resize(static_cast<size_t>(longest * group));
  const int64_t items = tokens * shape.kv_heads;
  // Long contexts cost more per item; small chunks keep both cores busy to the end.
  pool_.parallel_for(items, 1, [&](int64_t begin, int64_t end, int thread) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t t = i / shape.kv_heads;
      const auto g = static_cast<int32_t>(i % shape.kv_heads);
      const int64_t head = int64_t{g} * group * shape.head_dim;
      const HeadWork w{.q = q + t * width + head,
                       .query = &queries[static_cast<size_t>(t)],
                       .kv = &kv,
                       .kv_offset = int64_t{g} * shape.head_dim,
                       .group = group,
                       .d = shape.head_dim,
                       .scale = shape.scale,
                       .out = out + t * width + head};
      attend(w, scores_[static_cast<size_t>(thread)].data());
    }
  });
}

}  // namespace waypoint::kernels::cpu
