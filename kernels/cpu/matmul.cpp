#include "kernels/cpu/matmul.hpp"

#include <algorithm>
#include <bit>

#include "kernels/cpu/matmul_blocking.hpp"
#include "kernels/cpu/onednn_matmul.hpp"

namespace waypoint::kernels::cpu {

namespace detail {
namespace {

// The portable tiles: the same loop nest, one scalar accumulator per pair.
template <class Load>
struct ScalarTile {
  static constexpr int kMr = 4;
  template <int MR, int NR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n) {
    const float* x = static_cast<const float*>(a.x) + i * a.ldx;
    float acc[MR][NR] = {};
    for (int64_t k = 0; k < a.k; ++k) {
      for (int r = 0; r < NR; ++r) {
        const float w = Load::at(a.w, (n + r) * a.k + k);
        for (int t = 0; t < MR; ++t) acc[t][r] += x[t * a.ldx + k] * w;
      }
    }
    for (int t = 0; t < MR; ++t) {
      for (int r = 0; r < NR; ++r) a.y[(i + t) * a.ldy + n + r] = acc[t][r];
    }
  }
};

struct F32Load {
  static float at(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};

// MR tokens against one 64-row bf16 panel (kernels/cpu/weight_matrix.hpp),
// each output accumulated over k in column order.
struct Bf16Panel {
  static constexpr int kMr = 4;
  template <int MR>
  static void run(const MatmulArgs& a, int64_t i, int64_t n, KRange kr) {
    const float* x = static_cast<const float*>(a.x) + i * a.ldx;
    const uint16_t* w = panel(a, n);
    const int64_t valid = std::min<int64_t>(kPanelRows, a.n - n);
    float acc[MR][kPanelRows] = {};
    if (kr.begin > 0) {
      for (int t = 0; t < MR; ++t) std::copy_n(a.y + (i + t) * a.ldy + n, valid, acc[t]);
    }
    for (int64_t k = kr.begin; k < kr.end; ++k) {
      const uint16_t* wk = w + k / 2 * (kPanelRows * 2) + k % 2;
      for (int64_t r = 0; r < kPanelRows; ++r) {
        const float wv = std::bit_cast<float>(uint32_t{wk[2 * r]} << 16);
        for (int t = 0; t < MR; ++t) acc[t][r] += x[t * a.ldx + k] * wv;
      }
    }
    for (int t = 0; t < MR; ++t) std::copy_n(acc[t], valid, a.y + (i + t) * a.ldy + n);
  }
};

}  // namespace

void rows_f32w_scalar(const MatmulArgs& a, int64_t b, int64_t e) {
  drive<ScalarTile<F32Load>>(a, b, e);
}

void rows_bf16w_scalar(const MatmulArgs& a, int64_t b, int64_t e) {
  drive_panels<Bf16Panel>(a, b, e);
}

}  // namespace detail

namespace {

using detail::MatmulRows;

// A block of W this large stays in a core's L2 (1 MiB and up on current
// x86) with room for the tokens' rows of x.
constexpr int64_t kBlockBytes = 256 << 10;
// Below this many multiply-adds a product runs on the calling thread: waking
// the pool costs more than it saves (the tiny test models).
constexpr int64_t kSerialMacs = 1 << 16;

MatmulRows rows_kernel(CpuIsa isa, WeightType type) {
  const bool bf16 = type == WeightType::kBf16;
  switch (isa) {
    case CpuIsa::kAvx512Bf16:
      return bf16 ? detail::rows_bf16_avx512bf16 : detail::rows_f32w_avx512;
    case CpuIsa::kAvx512:
      return bf16 ? detail::rows_bf16w_avx512 : detail::rows_f32w_avx512;
    case CpuIsa::kAvx2:
      return bf16 ? detail::rows_bf16w_avx2 : detail::rows_f32w_avx2;
    case CpuIsa::kScalar:
      break;
  }
  return bf16 ? detail::rows_bf16w_scalar : detail::rows_f32w_scalar;
}

int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

}  // namespace

void Matmul::operator()(const float* x, int64_t m, const WeightMatrix& w, float* y) {
  const int64_t n = w.rows();
  const int64_t k = w.cols();
  if (m <= 0 || n <= 0) return;
  const bool bf16 = w.type() == WeightType::kBf16;
  // Threads and L2 blocks take whole tiles: four f32 rows, or a bf16 panel.
  const int64_t unit = bf16 ? detail::kPanelRows : detail::kTileRows;
  const int64_t row_bytes = k * (bf16 ? 2 : 4);
  detail::MatmulArgs a{
      .x = x,
      .ldx = k,
      .m = m,
      .w = bf16 ? static_cast<const void*>(w.bf16()) : w.f32(),
      .n = n,
      .k = k,
      .panel_elements = w.panel_elements(),
      .y = y,
      .ldy = n,
      .rows_per_block = std::clamp<int64_t>(
          kBlockBytes / std::max<int64_t>(1, row_bytes) / unit * unit, unit, 1024)};
  if (bf16 && isa_ == CpuIsa::kAvx512Bf16) {
    a.x = to_bf16(x, m, k, w.padded_cols());
    a.ldx = w.padded_cols();
  }
  if (!bf16 && m >= library_min_rows_ && isa_ >= CpuIsa::kAvx2) {
    library(x, m, w, y);
    return;
  }
  const MatmulRows rows = rows_kernel(isa_, w.type());
  if (m * n * k <= kSerialMacs || pool_.size() == 1) {
    rows(a, 0, n);
    return;
  }
  // A few chunks per thread balance a noisy machine; a prefill-sized m takes
  // whole L2 blocks so each block is read from memory once.
  const int64_t spread = round_up((n + pool_.size() * 4 - 1) / (pool_.size() * 4), unit);
  const int64_t chunk = m >= 16 ? a.rows_per_block : std::min(spread, a.rows_per_block);
  pool_.parallel_for(n, chunk, [&](int64_t b, int64_t e, int) { rows(a, b, e); });
}

// X's rows rounded to bf16 for vdpbf16ps, each padded with zeros to the
// weights' padded width so that a tile reads whole column pairs.
const uint16_t* Matmul::to_bf16(const float* x, int64_t m, int64_t k, int64_t ld) {
  x_bf16_.resize(static_cast<size_t>(m * ld));
  if (ld == k) {
    detail::to_bf16_avx512bf16(x, x_bf16_.data(), m * k);
    return x_bf16_.data();
  }
  for (int64_t i = 0; i < m; ++i) {
    uint16_t* row = x_bf16_.data() + i * ld;
    detail::to_bf16_avx512bf16(x + i * k, row, k);
    std::fill(row + k, row + ld, uint16_t{0});
  }
  return x_bf16_.data();
}

Matmul::Matmul(ThreadPool& pool, CpuIsa isa, int64_t library_min_rows)
    : pool_(pool), isa_(isa), library_min_rows_(library_min_rows) {}

Matmul::~Matmul() = default;

void Matmul::library(const float* x, int64_t m, const WeightMatrix& w, float* y) {
  if (onednn_.empty()) {
    // Each pool thread builds its own on first use: it sets that thread's
    // OpenMP team size, which is per thread.
    onednn_.resize(static_cast<size_t>(pool_.size()));
  }
  // Two slices per thread: a slow thread on a noisy host hands the other its
  // second one. Slices are whole 64-row multiples, so a model has few shapes.
  const int64_t n = w.rows();
  const int64_t chunk = round_up((n + pool_.size() * 2 - 1) / (pool_.size() * 2), 64);
  pool_.parallel_for(n, chunk, [&](int64_t b, int64_t e, int thread) {
    auto& mine = onednn_[static_cast<size_t>(thread)];
    if (!mine) mine = std::make_unique<detail::OnednnMatmul>();
    mine->run(x, m, w, b, e, y);
  });
}

}  // namespace waypoint::kernels::cpu
