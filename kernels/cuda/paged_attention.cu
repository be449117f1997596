#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/device_bf16.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/paged_attention.hpp"

// The work: a block takes a tile of query rows of one sequence and one kv head, and
// one split of the KV positions those rows see. A row is one (query token, q head)
// pair, numbered token * G + (head within the kv head's group of G q heads), so the G
// heads that share a kv head share every K and V load, and a tile may cover several
// tokens (prefill) or a single token's heads (decode).
//
// Inside the block, each warp walks its own 32-position chunks of the split (warp w
// takes chunks w, w + kWarps, ...): it stages the chunk's K rows in shared memory, lane
// c scores position c against every row, the running max/sum/output of each row are
// rescaled, and then the chunk's V rows are staged and accumulated, lane l owning
// output dims {64 i + 2 l, 64 i + 2 l + 1}. A head of 16 or 32 dims has fewer pairs
// than lanes: lane l < head_dim / 2 owns pair l and the other lanes only score and
// shuffle, which idles lanes in the V loop but keeps one code path. At the end the
// warps' partial results are merged in shared memory, and either written out (one
// split) or left for the split merge kernel. Scores are kept in the log2 domain (q is
// pre-scaled by scale * log2 e) so that each exponential is one exp2.
namespace waypoint::kernels::cuda {
namespace {

using detail::kWarpSize;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kChunk = kWarpSize;  // KV positions a warp scores at once: one per lane
constexpr int kVec = 8;            // bf16 per 16-byte access
constexpr float kLog2e = 1.4426950408889634f;

// Per head_dim: the warps of a block and the most query rows it holds. They keep the
// block's static shared memory under the 48 KiB that needs no opt-in, and the output
// accumulators (rows * head_dim / 32 floats per thread) in registers: ptxas spills
// at 16 rows of 128 dims or 8 of 256. Heads of 16 and 32 dims take the 64-dim
// tiling: a lane holds the same one pair per row, so the same 16 rows fit.
template <int kHeadDim>
struct Tile {
  static_assert(kHeadDim % 64 == 0 || kHeadDim == 16 || kHeadDim == 32,
                "a lane owns head_dim / 64 pairs of output dims, or one pair below 64");
  static constexpr int kWarps = kHeadDim > 128 ? 2 : 4;
  static constexpr int kThreads = kWarps * kWarpSize;
  static constexpr int kMaxRows = kHeadDim > 128 ? 4 : kHeadDim > 64 ? 8 : 16;
  static constexpr int kPieces = kHeadDim / kVec;  // 16-byte pieces of a K/V row
  // A staged K/V row is padded by 16 bytes: in the score loop lane c reads row c 16
  // bytes at a time, and an odd number of 16-byte units between rows puts the 8 lanes
  // of each quarter-warp in distinct banks.
  static constexpr int kRowStride = kHeadDim + kVec;
  static_assert((kRowStride / kVec) % 2 == 1);
  static constexpr int kPairs = kHeadDim >= 64 ? kHeadDim / 64 : 1;
  // Lanes that own output dims: all of them from 64 dims up.
  static constexpr int kDimLanes = kHeadDim >= 64 ? kWarpSize : kHeadDim / 2;
};

// What the kernels need, sizes as int (the host checked they fit).
struct Params {
  __nv_bfloat16* out;
  const __nv_bfloat16* q;
  long long q_stride;
  const __nv_bfloat16* key_cache;
  const __nv_bfloat16* value_cache;
  const std::int32_t* block_tables;
  const std::int32_t* query_start;
  const std::int32_t* seq_lens;
  int num_seqs;
  int max_blocks_per_seq;
  int num_q_heads;
  int num_kv_heads;
  int group;  // q heads per kv head
  int block_size;
  float scale_log2;  // scale * log2(e)
  int num_splits;
  int partition;       // KV positions per split; INT_MAX when unsplit
  float* partial_acc;  // [num_tokens * num_q_heads, num_splits, head_dim], if split
  float2* partial_ml;  // [num_tokens * num_q_heads, num_splits]: (max, sum), if split
};

__device__ inline float warp_max(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  }
  return v;
}

// The largest s in [0, n) with key(s) <= target, for a nondecreasing key; -1 if none.
template <class Key>
__device__ int last_at_most(int n, long long target, Key key) {
  int lo = 0;
  int hi = n;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (key(mid) <= target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo - 1;
}

// The grid's tiles (blockIdx.x) are laid out per sequence: seq s owns tiles
// [tile_base(s), tile_base(s + 1)). tile_base is strictly increasing, and the gap is
// floor((qs[s] + q_len) G / R) - floor(qs[s] G / R) + 1 >= ceil(q_len G / R), enough for
// the sequence's rows; the last sequence ends at or below floor(num_tokens G / R) +
// num_seqs, the grid size. Blocks in a gap past a sequence's rows exit at once.
__device__ inline long long tile_base(const std::int32_t* query_start, int group, int tile_rows,
                                      int seq) {
  return static_cast<long long>(query_start[seq]) * group / tile_rows + seq;
}

// bf16 to f32 is a 16-bit shift; element 2j is the low half of word j.
__device__ inline void unpack_bf16x8(const uint4 raw, float (&f)[kVec]) {
  const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    f[2 * j] = __uint_as_float(words[j] << 16);
    f[2 * j + 1] = __uint_as_float(words[j] & 0xffff0000u);
  }
}

// Copies a chunk's K or V rows from the cache into the warp's staging buffer, 16
// bytes per lane per access with consecutive lanes along a row, so the reads are
// coalesced even though the chunk's positions may sit in several scattered blocks.
// row_offset is, on lane c, the cache offset of position c's row, or -1 past the end
// of the range: that row is staged as zeros, and nothing is read for it.
template <int kHeadDim>
__device__ void stage_chunk(__nv_bfloat16* stage, const __nv_bfloat16* __restrict__ cache,
                            long long row_offset, int lane) {
  using T = Tile<kHeadDim>;
  __syncwarp();  // every lane is done reading what the buffer held before
  // 8 loads of 16 bytes in flight per lane: enough to cover the latency with the
  // other warps, where a full unroll at head_dim 256 would hold 32 (128 registers).
#pragma unroll 8
  for (int it = 0; it < T::kPieces; ++it) {  // kChunk * kPieces pieces, kWarpSize per pass
    const int idx = it * kWarpSize + lane;
    const int c = idx / T::kPieces;
    const int piece = idx % T::kPieces;
    const long long src = __shfl_sync(kFullMask, row_offset, c);
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (src >= 0) v = *reinterpret_cast<const uint4*>(cache + src + piece * kVec);
    *reinterpret_cast<uint4*>(stage + c * T::kRowStride + piece * kVec) = v;
  }
  __syncwarp();  // the rows are visible to every lane
}

template <int kHeadDim, int kRows>
__global__ void __launch_bounds__(Tile<kHeadDim>::kThreads) paged_attention_kernel(const Params p) {
  using T = Tile<kHeadDim>;
  constexpr int kWarps = T::kWarps;
  // Shared memory: the tile's q rows (f32, pre-scaled), then the warps' staging
  // buffers, which the final merge of the warps' results reuses.
  constexpr int kQBytes = kRows * kHeadDim * static_cast<int>(sizeof(float));
  constexpr int kStageBytes =
      kWarps * kChunk * T::kRowStride * static_cast<int>(sizeof(__nv_bfloat16));
  constexpr int kMergeBytes = kWarps * kRows * (kHeadDim + 2) * static_cast<int>(sizeof(float));
  constexpr int kBytes = kQBytes + (kStageBytes > kMergeBytes ? kStageBytes : kMergeBytes);
  static_assert(kBytes <= 48 * 1024, "static shared memory is limited to 48 KiB");
  static_assert(kBytes % sizeof(uint4) == 0);
  // Declared as uint4 so that it is 16-byte aligned for the vector accesses.
  __shared__ uint4 smem_words[kBytes / sizeof(uint4)];
  unsigned char* smem = reinterpret_cast<unsigned char*>(smem_words);
  float* q_s = reinterpret_cast<float*>(smem);

  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  // Constant true from 64 dims up. Below, the other lanes' dims would lie past the
  // staged row (and, for the warp's last row, past its staging buffer).
  const bool owns_dims = T::kDimLanes == kWarpSize || lane < T::kDimLanes;
  const int kv_head = static_cast<int>(blockIdx.y);
  const int split = static_cast<int>(blockIdx.z);

  // Which sequence, and which of its rows. Every exit before the first
  // __syncthreads depends only on the block index, so the whole block takes it.
  const long long tile = blockIdx.x;
  // The lambdas capture pointers and sizes by value: taking a kernel parameter's
  // address would copy it to local memory.
  const std::int32_t* query_start = p.query_start;
  const int group = p.group;
  const int seq = last_at_most(p.num_seqs, tile,
                               [=](int s) { return tile_base(query_start, group, kRows, s); });
  if (seq < 0) return;
  const int q_begin = p.query_start[seq];
  const int q_len = p.query_start[seq + 1] - q_begin;
  const long long first_row = (tile - tile_base(query_start, group, kRows, seq)) * kRows;
  const long long seq_rows = static_cast<long long>(q_len) * p.group;
  if (first_row >= seq_rows) return;
  const int rows = static_cast<int>(min(static_cast<long long>(kRows), seq_rows - first_row));
  const int pos0 = p.seq_lens[seq] - q_len;  // position of the sequence's first query token
  // The tile's last row sits at the largest position, so the tile needs KV
  // [0, tile_kv_end); this block takes the split's share of it.
  const int tile_kv_end = pos0 + static_cast<int>((first_row + rows - 1) / p.group) + 1;
  const long long split_begin = static_cast<long long>(split) * p.partition;
  // Split 0 always runs, so that every row is written even if it has no keys at all.
  if (split > 0 && split_begin >= tile_kv_end) return;
  const int kv_begin = static_cast<int>(split_begin);
  // The last split takes everything to the end, so a max_seq_len below a sequence's
  // length costs balance, not keys.
  const int kv_end =
      split + 1 == p.num_splits
          ? tile_kv_end
          : static_cast<int>(min(static_cast<long long>(tile_kv_end), split_begin + p.partition));

  // Each row's query position; -1 for rows past the sequence, which masks every key.
  int qpos[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    qpos[r] = r < rows ? pos0 + static_cast<int>((first_row + r) / p.group) : -1;
  }

  for (int idx = static_cast<int>(threadIdx.x); idx < kRows * kHeadDim; idx += T::kThreads) {
    const int r = idx / kHeadDim;
    const int d = idx % kHeadDim;
    float v = 0.0f;
    if (r < rows) {
      const long long row = first_row + r;
      const long long token = q_begin + row / p.group;
      const int head = kv_head * p.group + static_cast<int>(row % p.group);
      v = __bfloat162float(p.q[token * p.q_stride + static_cast<long long>(head) * kHeadDim + d]) *
          p.scale_log2;
    }
    q_s[idx] = v;
  }
  __syncthreads();

  __nv_bfloat16* stage =
      reinterpret_cast<__nv_bfloat16*>(smem + kQBytes) + warp * kChunk * T::kRowStride;
  const std::int32_t* table = p.block_tables + static_cast<std::size_t>(seq) * p.max_blocks_per_seq;
  float m[kRows];                // running max of the row's scores, the same on every lane
  float l[kRows];                // running sum of exp2(score - m) over this lane's positions
  float2 acc[kRows][T::kPairs];  // running sum of exp2(score - m) * V, this lane's dims
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int i = 0; i < T::kPairs; ++i) acc[r][i] = make_float2(0.0f, 0.0f);
  }

  // c0 and n are the same on every lane, so the shuffles below see the whole warp.
  for (int c0 = kv_begin + warp * kChunk; c0 < kv_end; c0 += kWarps * kChunk) {
    const int n = min(kChunk, kv_end - c0);
    const int pos = c0 + lane;
    long long row_offset = -1;
    if (lane < n) {
      const long long slot =
          static_cast<long long>(table[pos / p.block_size]) * p.block_size + pos % p.block_size;
      row_offset = (slot * p.num_kv_heads + kv_head) * kHeadDim;
    }

    stage_chunk<kHeadDim>(stage, p.key_cache, row_offset, lane);
    float s[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) s[r] = 0.0f;
    const __nv_bfloat16* k_row = stage + lane * T::kRowStride;
#pragma unroll 4
    for (int piece = 0; piece < T::kPieces; ++piece) {
      float k[kVec];
      unpack_bf16x8(*reinterpret_cast<const uint4*>(k_row + piece * kVec), k);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        // Every lane reads the same q address: a broadcast.
        const float* q_r = q_s + r * kHeadDim + piece * kVec;
        const float4 a = *reinterpret_cast<const float4*>(q_r);
        const float4 b = *reinterpret_cast<const float4*>(q_r + 4);
        s[r] += a.x * k[0] + a.y * k[1] + a.z * k[2] + a.w * k[3] + b.x * k[4] + b.y * k[5] +
                b.z * k[6] + b.w * k[7];
      }
    }

#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float x = lane < n && pos <= qpos[r] ? s[r] : -INFINITY;  // causal mask
      const float m_new = fmaxf(m[r], warp_max(x));
      // Until a row has seen a key, m_new is -inf; subtracting 0 then keeps every
      // exp2 below at exactly 0 instead of NaN (-inf - -inf).
      const float base = m_new == -INFINITY ? 0.0f : m_new;
      const float rescale = exp2f(m[r] - base);
      s[r] = exp2f(x - base);  // from here on, the unnormalized probability
      l[r] = l[r] * rescale + s[r];
#pragma unroll
      for (int i = 0; i < T::kPairs; ++i) {
        acc[r][i].x *= rescale;
        acc[r][i].y *= rescale;
      }
      m[r] = m_new;
    }

    stage_chunk<kHeadDim>(stage, p.value_cache, row_offset, lane);
    for (int c = 0; c < n; ++c) {
      const __nv_bfloat16* v_row = stage + c * T::kRowStride + 2 * lane;
      float2 v[T::kPairs];
#pragma unroll
      for (int i = 0; i < T::kPairs; ++i) {
        // Zeros on lanes without dims keep their (unused) accumulators finite; every
        // lane still takes part in the shuffle below.
        v[i] = owns_dims
                   ? __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(v_row + 64 * i))
                   : make_float2(0.0f, 0.0f);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float prob = __shfl_sync(kFullMask, s[r], c);
#pragma unroll
        for (int i = 0; i < T::kPairs; ++i) {
          acc[r][i].x += prob * v[i].x;
          acc[r][i].y += prob * v[i].y;
        }
      }
    }
  }

  // Merge the warps: each saw every kWarps-th chunk of the split.
  float l_warp[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) l_warp[r] = detail::warp_sum(l[r]);
  __syncthreads();  // every warp is done with its staging buffer, which the merge reuses
  float* merge_acc = reinterpret_cast<float*>(smem + kQBytes);  // [kWarps][kRows][kHeadDim]
  float* merge_m = merge_acc + kWarps * kRows * kHeadDim;       // [kWarps][kRows]
  float* merge_l = merge_m + kWarps * kRows;                    // [kWarps][kRows]
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    float* dst = merge_acc + (warp * kRows + r) * kHeadDim + 2 * lane;
    if (owns_dims) {
#pragma unroll
      for (int i = 0; i < T::kPairs; ++i) *reinterpret_cast<float2*>(dst + 64 * i) = acc[r][i];
    }
    if (lane == 0) {
      merge_m[warp * kRows + r] = m[r];
      merge_l[warp * kRows + r] = l_warp[r];
    }
  }
  __syncthreads();

  for (int idx = static_cast<int>(threadIdx.x); idx < rows * kHeadDim; idx += T::kThreads) {
    const int r = idx / kHeadDim;
    const int d = idx % kHeadDim;
    float m_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) m_max = fmaxf(m_max, merge_m[w * kRows + r]);
    const float base = m_max == -INFINITY ? 0.0f : m_max;
    float sum = 0.0f;
    float a = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float f = exp2f(merge_m[w * kRows + r] - base);
      sum += merge_l[w * kRows + r] * f;
      a += merge_acc[(w * kRows + r) * kHeadDim + d] * f;
    }
    const long long row = first_row + r;
    const long long token = q_begin + row / p.group;
    const long long out_row =
        token * p.num_q_heads + kv_head * p.group + static_cast<int>(row % p.group);
    if (p.num_splits == 1) {
      p.out[out_row * kHeadDim + d] = __float2bfloat16(sum > 0.0f ? a / sum : 0.0f);
    } else {
      p.partial_acc[(out_row * p.num_splits + split) * kHeadDim + d] = a;
      if (d == 0) p.partial_ml[out_row * p.num_splits + split] = make_float2(m_max, sum);
    }
  }
}

constexpr int kMergeWarps = 4;

// One warp per output row (token, q head): the splits' partial results, each
// relative to its own max, are rescaled to the largest max and summed. Only the
// splits that start at or before the row's position hold a key of it; the others
// may not have run. Below 32 dims some lanes have no dim.
template <int kHeadDim>
__global__ void __launch_bounds__(kMergeWarps* kWarpSize)
    merge_splits_kernel(const Params p, int num_tokens) {
  constexpr int kPerLane = (kHeadDim + kWarpSize - 1) / kWarpSize;
  constexpr bool kFullLanes = kHeadDim % kWarpSize == 0;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const long long out_row =
      static_cast<long long>(blockIdx.x) * kMergeWarps + static_cast<int>(threadIdx.x) / kWarpSize;
  if (out_row >= static_cast<long long>(num_tokens) * p.num_q_heads) return;
  const int token = static_cast<int>(out_row / p.num_q_heads);
  const std::int32_t* query_start = p.query_start;
  const int seq = last_at_most(p.num_seqs, token,
                               [=](int s) { return static_cast<long long>(query_start[s]); });
  if (seq < 0 || token >= p.query_start[seq + 1]) return;  // padding: left unwritten
  const int q_len = p.query_start[seq + 1] - p.query_start[seq];
  const int pos = p.seq_lens[seq] - q_len + (token - p.query_start[seq]);
  const int n = pos < 0 ? 0 : min(p.num_splits, pos / p.partition + 1);  // see kv_end

  const float2* ml = p.partial_ml + out_row * p.num_splits;
  const float* part = p.partial_acc + out_row * p.num_splits * kHeadDim;
  float m_max = -INFINITY;
  for (int j = 0; j < n; ++j) m_max = fmaxf(m_max, ml[j].x);
  const float base = m_max == -INFINITY ? 0.0f : m_max;
  float sum = 0.0f;
  float acc[kPerLane] = {};
  for (int j = 0; j < n; ++j) {
    const float2 x = ml[j];
    const float f = exp2f(x.x - base);
    sum += x.y * f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      if (kFullLanes || k * kWarpSize + lane < kHeadDim) {
        acc[k] += part[j * kHeadDim + k * kWarpSize + lane] * f;
      }
    }
  }
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
#pragma unroll
  for (int k = 0; k < kPerLane; ++k) {
    if (kFullLanes || k * kWarpSize + lane < kHeadDim) {
      p.out[out_row * kHeadDim + k * kWarpSize + lane] = __float2bfloat16(acc[k] * inv);
    }
  }
}

constexpr const char* kName = "paged_attention";

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(std::string(kName) + ": " + message);
}

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

// Rows per tile. A decode-only batch has G rows per token, so a tile of the next
// power of two wastes little; with prefill in the batch, the largest tile shares each
// K/V load among the most rows.
int tile_rows(int max_rows, int group, int max_query_len) {
  if (max_query_len > 1) return max_rows;
  int rows = 1;
  while (rows < group && rows < max_rows) rows *= 2;
  return rows;
}

struct SplitPlan {
  int num_splits = 1;
  int partition = INT_MAX;
};

// Resident blocks per SM to aim for: a few, so that one block's loads overlap
// another's math.
constexpr long long kBlocksPerSm = 4;
// The fewest KV positions worth a split: below it, loading q and merging cost about
// as much as the split's own work.
constexpr long long kMinPartition = 256;

// Splits the KV range only when the (tile, kv head) blocks cannot fill the GPU, which
// is the case of a small decode batch with long contexts: a single block would
// otherwise walk all of a sequence's positions. busy is the number of blocks with
// work when unsplit; quantum is the positions a block's warps take in one round.
SplitPlan plan_splits(long long busy, int max_seq_len, int quantum) {
  int device = 0;
  int sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    throw std::runtime_error(std::string(kName) + ": cannot query the device: " +
                             cudaGetErrorString(cudaGetLastError()));
  }
  const long long target = sms * kBlocksPerSm;
  if (busy >= target || max_seq_len <= kMinPartition) return {};
  const long long splits = std::min(ceil_div(target, busy), ceil_div(max_seq_len, kMinPartition));
  const long long partition = ceil_div(ceil_div(max_seq_len, splits), quantum) * quantum;
  const long long num_splits = ceil_div(max_seq_len, partition);
  if (num_splits <= 1) return {};
  return {static_cast<int>(num_splits), static_cast<int>(partition)};
}

// The split kernels' scratch, returned to the stream's pool once the merge is queued
// (or if a launch throws).
struct Scratch {
  void* ptr = nullptr;
  Stream stream = nullptr;
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (ptr != nullptr) (void)cudaFreeAsync(ptr, stream);
  }
};

template <int kHeadDim, int kRows>
void launch_tiles(const Params& p, dim3 grid, Stream stream) {
  paged_attention_kernel<kHeadDim, kRows><<<grid, Tile<kHeadDim>::kThreads, 0, stream>>>(p);
}

template <int kHeadDim>
void launch_tiles(int rows, const Params& p, dim3 grid, Stream stream) {
  // Only the tile sizes tile_rows can pick for this head_dim are instantiated.
  constexpr int kMaxRows = Tile<kHeadDim>::kMaxRows;
  switch (rows) {
    case 1:
      return launch_tiles<kHeadDim, 1>(p, grid, stream);
    case 2:
      return launch_tiles<kHeadDim, 2>(p, grid, stream);
    case 4:
      return launch_tiles<kHeadDim, 4>(p, grid, stream);
    case 8:
      if constexpr (kMaxRows >= 8) return launch_tiles<kHeadDim, 8>(p, grid, stream);
      break;
    case 16:
      if constexpr (kMaxRows >= 16) return launch_tiles<kHeadDim, 16>(p, grid, stream);
      break;
    default:
      break;
  }
  throw std::logic_error(std::string(kName) + ": no kernel for " + std::to_string(rows) +
                         " rows per tile");
}

template <int kHeadDim>
void run(const PagedAttentionArgs& a, Stream stream) {
  Params p{};
  p.out = detail::device_view(a.out);
  p.q = detail::device_view(a.q);
  p.q_stride = static_cast<long long>(a.q_stride);
  p.key_cache = detail::device_view(a.key_cache);
  p.value_cache = detail::device_view(a.value_cache);
  p.block_tables = a.block_tables;
  p.query_start = a.query_start;
  p.seq_lens = a.seq_lens;
  p.num_seqs = a.num_seqs;
  p.max_blocks_per_seq = a.max_blocks_per_seq;
  p.num_q_heads = a.num_q_heads;
  p.num_kv_heads = a.num_kv_heads;
  p.group = a.num_q_heads / a.num_kv_heads;
  p.block_size = a.block_size;
  p.scale_log2 = a.scale * kLog2e;

  const int rows = tile_rows(Tile<kHeadDim>::kMaxRows, p.group, a.max_query_len);
  const long long total_rows = static_cast<long long>(a.num_tokens) * p.group;
  // See tile_base: the grid has a tile slot for every sequence's rows.
  const int tiles = detail::checked_int(static_cast<std::size_t>(total_rows / rows + a.num_seqs),
                                        kName, "number of query tiles");
  const long long busy =
      std::max(static_cast<long long>(a.num_seqs), ceil_div(total_rows, rows)) * a.num_kv_heads;
  SplitPlan plan = plan_splits(busy, a.max_seq_len, Tile<kHeadDim>::kWarps * kChunk);

  Scratch scratch;
  if (plan.num_splits > 1) {
    const std::size_t partials = static_cast<std::size_t>(a.num_tokens) *
                                 static_cast<std::size_t>(a.num_q_heads) *
                                 static_cast<std::size_t>(plan.num_splits);
    const std::size_t bytes = partials * (sizeof(float2) + kHeadDim * sizeof(float));
    if (cudaMallocAsync(&scratch.ptr, bytes, stream) == cudaSuccess) {
      scratch.stream = stream;
      p.partial_ml = static_cast<float2*>(scratch.ptr);
      p.partial_acc = reinterpret_cast<float*>(p.partial_ml + partials);
    } else {
      // Not fatal: unsplit is the same math in fewer, longer blocks.
      (void)cudaGetLastError();
      scratch.ptr = nullptr;
      plan = SplitPlan{};
    }
  }
  p.num_splits = plan.num_splits;
  p.partition = plan.partition;

  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(a.num_kv_heads),
                  static_cast<unsigned>(plan.num_splits));
  launch_tiles<kHeadDim>(rows, p, grid, stream);
  detail::check_launch(kName);
  if (plan.num_splits > 1) {
    const long long out_rows = static_cast<long long>(a.num_tokens) * a.num_q_heads;
    const int merge_grid = detail::checked_int(
        static_cast<std::size_t>(ceil_div(out_rows, kMergeWarps)), kName, "output rows");
    merge_splits_kernel<kHeadDim>
        <<<merge_grid, kMergeWarps * kWarpSize, 0, stream>>>(p, a.num_tokens);
    detail::check_launch("paged_attention (split merge)");
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

}  // namespace

void paged_attention(const PagedAttentionArgs& a, Stream stream) {
  require(a.head_dim == 16 || a.head_dim == 32 || a.head_dim == 64 || a.head_dim == 128 ||
              a.head_dim == 256,
          "head_dim " + std::to_string(a.head_dim) + " is not supported (16, 32, 64, 128 or 256)");
  require(a.num_q_heads > 0 && a.num_kv_heads > 0 && a.num_q_heads % a.num_kv_heads == 0,
          "num_q_heads " + std::to_string(a.num_q_heads) +
              " must be a positive multiple of num_kv_heads " + std::to_string(a.num_kv_heads));
  require(a.num_kv_heads <= 65535, "num_kv_heads must fit gridDim.y (65535)");
  require(a.num_seqs >= 0 && a.num_tokens >= 0 && a.max_query_len >= 0 && a.max_seq_len >= 0,
          "sizes must not be negative");
  if (a.num_seqs == 0 || a.num_tokens == 0) return;
  require(a.block_size > 0 && a.max_blocks_per_seq > 0,
          "block_size and max_blocks_per_seq must be positive");
  require(a.q_stride >= static_cast<std::size_t>(a.num_q_heads) * a.head_dim,
          "q_stride " + std::to_string(a.q_stride) + " is shorter than num_q_heads * head_dim");
  // The K/V rows are read 16 bytes at a time.
  require(aligned16(a.key_cache) && aligned16(a.value_cache),
          "key_cache and value_cache must be 16-byte aligned");
  switch (a.head_dim) {
    case 16:
      return run<16>(a, stream);
    case 32:
      return run<32>(a, stream);
    case 64:
      return run<64>(a, stream);
    case 128:
      return run<128>(a, stream);
    default:
      return run<256>(a, stream);
  }
}

}  // namespace waypoint::kernels::cuda
