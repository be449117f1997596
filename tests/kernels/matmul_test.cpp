// The CPU matmul against an f64 reference, on every instruction set this
// machine has, at shapes that exercise every tile and tail: m and n not
// multiples of the tile, k not a multiple of the vector width.
#include "kernels/cpu/matmul.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kernels/bf16.hpp"
#include "tests/kernels/test_support.hpp"

namespace waypoint::kernels::cpu {
namespace {

using testing::random_floats;

std::vector<CpuIsa> isas_here() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAvx512Bf16}) {
    if (isa <= supported_cpu_isa()) out.push_back(isa);
  }
  return out;
}

float bf16_round(float f) { return bf16_to_float(float_to_bf16(f)); }

// Checks y against sum_k x·w in f64, elementwise within TOL × sum_k |x·w|:
// the bound a sum of rounded products meets whatever its order.
::testing::AssertionResult matches_reference(const std::vector<float>& x,
                                             const std::vector<float>& w, int64_t m, int64_t n,
                                             int64_t k, const std::vector<float>& y, bool round_x,
                                             double tol) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = 0; r < n; ++r) {
      double sum = 0.0;
      double magnitude = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const float xv = round_x ? bf16_round(x[i * k + j]) : x[i * k + j];
        const double p = double{xv} * w[r * k + j];
        sum += p;
        magnitude += std::abs(p);
      }
      const double err = std::abs(y[i * n + r] - sum);
      if (err > tol * magnitude + 1e-30) {
        return ::testing::AssertionFailure() << "y[" << i << ", " << r << "] = " << y[i * n + r]
                                             << ", expected " << sum << " (error " << err << ")";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

struct Case {
  int64_t m, n, k;
};

TEST(Matmul, MatchesReferenceOnEveryIsaAndType) {
  ThreadPool pool(3);
  // n = 64, 65, 130 and 200 cross bf16 panels, whole and partial; 67 and 200
  // at m = 64 and 70 send partial panels to oneDNN.
  const Case cases[] = {{1, 1, 1},      {1, 4, 16},    {1, 7, 17},   {2, 5, 31},
                        {3, 9, 33},     {4, 8, 64},    {5, 13, 100}, {17, 33, 257},
                        {1, 130, 2048}, {64, 67, 96},  {3, 64, 32},  {6, 65, 63},
                        {2, 200, 75},   {70, 200, 33}, {1, 3, 2},    {9, 70, 4099}};
  for (CpuIsa isa : isas_here()) {
    for (WeightType type : {WeightType::kF32, WeightType::kBf16}) {
      Matmul matmul(pool, isa);
      for (const Case& c : cases) {
        SCOPED_TRACE(std::string(to_string(isa)) + " " + to_string(type) +
                     " m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) +
                     " k=" + std::to_string(c.k));
        const auto x = random_floats(static_cast<size_t>(c.m * c.k), 1);
        auto w = random_floats(static_cast<size_t>(c.n * c.k), 2);
        const WeightMatrix packed = WeightMatrix::pack(w, c.n, c.k, type);
        if (type == WeightType::kBf16) {
          for (float& v : w) v = bf16_round(v);  // the reference uses what the kernel holds
        }
        std::vector<float> y(static_cast<size_t>(c.m * c.n), NAN);
        matmul(x.data(), c.m, packed, y.data());
        // vdpbf16ps rounds x to bf16 (relative error 2^-9), so its reference
        // rounds x too; what is left is f32 accumulation, on every path.
        const bool bf16_x = type == WeightType::kBf16 && isa == CpuIsa::kAvx512Bf16;
        EXPECT_TRUE(matches_reference(x, w, c.m, c.n, c.k, y, bf16_x, 1e-5));
      }
    }
  }
}

// A token's row does not depend on how many other tokens share the product,
// nor on how many threads compute it: bit for bit, up to the 16 tokens below
// which f32 products stay on these tiles (bf16 ones always do, and at k =
// 4,100 a batch sums each bf16 panel in slices of k that one token does not).
class MatmulInvariance : public ::testing::TestWithParam<int64_t> {};

TEST_P(MatmulInvariance, RowsAreBatchAndThreadInvariant) {
  const int64_t n = 300, k = GetParam(), m = 16;
  const auto x = random_floats(static_cast<size_t>(m * k), 3);
  const auto w = random_floats(static_cast<size_t>(n * k), 4);
  ThreadPool one(1);
  ThreadPool three(3);
  for (CpuIsa isa : isas_here()) {
    for (WeightType type : {WeightType::kF32, WeightType::kBf16}) {
      SCOPED_TRACE(std::string(to_string(isa)) + " " + to_string(type));
      const WeightMatrix packed = WeightMatrix::pack(w, n, k, type);
      Matmul batched(three, isa);
      Matmul serial(one, isa);
      std::vector<float> all(static_cast<size_t>(m * n));
      batched(x.data(), m, packed, all.data());
      for (int64_t i = 0; i < m; ++i) {
        std::vector<float> alone(static_cast<size_t>(n));
        serial(x.data() + i * k, 1, packed, alone.data());
        for (int64_t r = 0; r < n; ++r) {
          ASSERT_EQ(alone[static_cast<size_t>(r)], all[static_cast<size_t>(i * n + r)])
              << "row " << i << " col " << r;
        }
      }
    }
  }
}

// The bf16 panels are exactly oneDNN's BA16a64b2a for the [k, n] operand, so
// oneDNN reads them without repacking: compare with oneDNN's own reorder.
INSTANTIATE_TEST_SUITE_P(K, MatmulInvariance, ::testing::Values(129, 4100));

TEST(WeightMatrix, Bf16PanelsAreOnednnBlockedLayout) {
  for (const auto& [n, k] : {std::pair<int64_t, int64_t>{70, 37}, {64, 32}, {1, 1}, {130, 100}}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k));
    const auto w = random_floats(static_cast<size_t>(n * k), 5);
    const WeightMatrix packed = WeightMatrix::pack(w, n, k, WeightType::kBf16);
    std::vector<uint16_t> plain(w.size());
    for (size_t i = 0; i < w.size(); ++i) plain[i] = float_to_bf16(w[i]).bits;
    using dt = dnnl::memory::data_type;
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    dnnl::memory src({{k, n}, dt::bf16, dnnl::memory::dims{1, k}}, engine, plain.data());
    dnnl::memory dst({{k, n}, dt::bf16, dnnl::memory::format_tag::BA16a64b2a}, engine);
    dnnl::reorder(src, dst).execute(stream, src, dst);
    stream.wait();
    const size_t elements = dst.get_desc().get_size() / sizeof(uint16_t);
    ASSERT_EQ(elements, static_cast<size_t>((n + 63) / 64 * packed.panel_elements()));
    const auto* want = static_cast<const uint16_t*>(dst.get_data_handle());
    for (size_t i = 0; i < elements; ++i) ASSERT_EQ(packed.bf16()[i], want[i]) << "element " << i;
  }
}

TEST(WeightMatrix, KeepsBf16AsBf16AndWidensRowsExactly) {
  const std::vector<float> w = {1.0f, -2.5f, 3.0f, 0.1f, 1e-3f, 7.0f};
  const WeightMatrix m = WeightMatrix::pack(w, 2, 3, WeightType::kBf16);
  EXPECT_EQ(m.bytes(), 12);
  std::vector<float> row(3);
  m.row(1, row.data());
  EXPECT_EQ(row[0], bf16_round(0.1f));
  EXPECT_EQ(row[1], bf16_round(1e-3f));
  EXPECT_EQ(row[2], 7.0f);
  EXPECT_THROW(WeightMatrix::pack(w, 4, 3, WeightType::kF32), std::invalid_argument);
}

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  ThreadPool pool(4);
  for (int64_t n : {0, 1, 5, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (int rep = 0; rep < 50; ++rep) {
      pool.parallel_for(n, 7, [&](int64_t b, int64_t e, int thread) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, 4);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
    }
    for (auto& h : hits) EXPECT_EQ(h.load(), 50);
  }
}

TEST(ThreadPool, ParsesCpuListsAndPerRankBindings) {
  EXPECT_EQ(parse_cpu_list("0-3,8"), (std::vector<int>{0, 1, 2, 3, 8}));
  EXPECT_EQ(parse_cpu_list("5"), (std::vector<int>{5}));
  EXPECT_TRUE(parse_cpu_list("3-1").empty());
  EXPECT_TRUE(parse_cpu_list("x").empty());
  EXPECT_EQ(cpus_for_rank("0-1|2-3", 1), (std::vector<int>{2, 3}));
  EXPECT_TRUE(cpus_for_rank("0-1|2-3", 2).empty());
}

}  // namespace
}  // namespace waypoint::kernels::cpu
