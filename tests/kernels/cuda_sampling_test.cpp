// The device sampler against a CPU reference of worker/sampler.cpp's rules with the
// draw u = uniform_from(seed, offset) put in, and against the distributions it should
// draw from. Skips without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/sampling.hpp"
#include "kernels/cuda/uniform_draw.hpp"
#include "tests/kernels/cuda_test_support.hpp"
#include "tests/kernels/device_buffer.hpp"

namespace waypoint::kernels {
namespace {

using cuda::SamplingRow;
using testing::DeviceBuffer;
using KernelsCudaSampling = testing::CudaTest;

constexpr float kInf = std::numeric_limits<float>::infinity();

// Rows of `vocab` logits, one per entry of `rows`, sampled on the device.
std::vector<std::int32_t> sample_on_device(const std::vector<float>& logits,
                                           const std::vector<SamplingRow>& rows,
                                           std::size_t vocab) {
  EXPECT_EQ(logits.size(), rows.size() * vocab);
  DeviceBuffer<float> d_logits{std::span<const float>(logits)};
  DeviceBuffer<SamplingRow> d_rows{std::span<const SamplingRow>(rows)};
  DeviceBuffer<std::int32_t> d_tokens(rows.size());
  cuda::sample(d_tokens.get(), d_logits.get(), d_rows.get(), rows.size(), vocab, nullptr);
  return d_tokens.to_host();
}

SamplingRow make_row(float temperature, std::int32_t top_k = 0, float top_p = 1.0f,
                     float min_p = 0.0f, std::uint64_t seed = 0, std::uint64_t offset = 0) {
  SamplingRow row;
  row.temperature = temperature;
  row.top_k = top_k;
  row.top_p = top_p;
  row.min_p = min_p;
  row.seed = seed;
  row.offset = offset;
  return row;
}

std::int32_t lowest_argmax(std::span<const float> logits) {
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// worker/sampler.cpp's rules in f64, with the draw put in: the same f32 scaling and
// subtraction as the device, then exp in f64. The device's expf is within 2 ulp
// (2.4e-7) of that, except at the maximum, where both sides get exactly 1 (CUDA
// documents expf(0) = 1), and tokens with equal logits get equal weights on both.
// `near_boundary` says that a decision (the top-k cut between unequal weights, the
// min-p floor, the top-p cutoff, the draw) fell within kMargin times the uncertain
// part of the weights involved (those below the maximum), where the device's
// rounding may fairly decide otherwise. Decisions among exactly-1 weights alone are
// exact on both sides, so they are checked, not excused.
constexpr double kMargin = 1e-6;

struct Expected {
  std::int32_t token;
  bool near_boundary;
};

// A running sum and its uncertain part.
struct Mass {
  double value = 0.0;
  double uncertain = 0.0;
};

Expected reference_sample(std::span<const float> logits, const SamplingRow& p) {
  if (p.temperature < 1e-5f) return {lowest_argmax(logits), false};
  const auto vocab = static_cast<std::int32_t>(logits.size());
  const float inv_t = 1.0f / p.temperature;
  std::vector<float> scaled(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) scaled[i] = logits[i] * inv_t;
  const float max_scaled = *std::max_element(scaled.begin(), scaled.end());
  std::vector<double> w(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const float shifted = scaled[i] - max_scaled;
    w[i] = std::exp(static_cast<double>(shifted));
  }
  const auto uncertain = [&](std::int32_t id) { return w[id] == 1.0 ? 0.0 : w[id]; };
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return w[a] > w[b];  // stable: equal weights stay in id order
  });
  bool near = false;
  // Strictly within: with nothing uncertain, only exact arithmetic is involved.
  const auto close = [](double a, double b, double uncertain) {
    return std::abs(a - b) < kMargin * uncertain;
  };

  std::int32_t keep = vocab;
  if (p.top_k > 0 && p.top_k < vocab) {
    keep = p.top_k;
    const std::int32_t last = order[keep - 1];
    const std::int32_t next = order[keep];
    if (w[last] != w[next] && close(w[last], w[next], w[last])) near = true;
  }
  if (p.min_p > 0.0f) {
    const double floor = static_cast<double>(p.min_p) * w[order[0]];  // exact: w = 1
    std::int32_t heavy = 0;
    for (std::int32_t k = 0; k < keep; ++k) {
      if (close(w[order[k]], floor, uncertain(order[k]))) near = true;
      if (w[order[k]] >= floor) ++heavy;
    }
    keep = std::max(1, heavy);
  }
  const auto mass_of = [&](std::int32_t n) {
    Mass mass;
    for (std::int32_t k = 0; k < n; ++k) {
      mass.value += w[order[k]];
      mass.uncertain += uncertain(order[k]);
    }
    return mass;
  };
  // Walks the first n tokens of the order and returns how many it takes for the
  // running sum to pass `target` (reach it, unless strict), or n if it never does.
  const auto walk = [&](std::int32_t n, Mass target, bool strict) {
    Mass cum;
    for (std::int32_t k = 0; k < n; ++k) {
      if (k > 0 && close(cum.value, target.value, cum.uncertain + target.uncertain)) near = true;
      cum.value += w[order[k]];
      cum.uncertain += uncertain(order[k]);
      if (strict ? cum.value > target.value : cum.value >= target.value) {
        if (close(cum.value, target.value, cum.uncertain + target.uncertain)) near = true;
        return k + 1;
      }
    }
    near = true;  // only rounding gets here
    return n;
  };
  if (p.top_p < 1.0f) {
    const Mass mass = mass_of(keep);
    const double top_p = p.top_p;
    keep = walk(keep, Mass{top_p * mass.value, top_p * mass.uncertain}, false);
  }
  const Mass mass = mass_of(keep);
  const double u = cuda::uniform_from(p.seed, p.offset);
  return {order[walk(keep, Mass{u * mass.value, u * mass.uncertain}, true) - 1], near};
}

// Random logits with planted ties: every 37th id copies id 5's logit and every 53rd
// id copies the maximum, so ties sit both at the top and in the middle of the order.
std::vector<float> random_logits(std::size_t vocab, std::uint32_t seed, float spread) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, spread);
  std::vector<float> logits(vocab);
  for (float& l : logits) l = dist(rng);
  if (vocab > 5) {
    const float max = *std::max_element(logits.begin(), logits.end());
    for (std::size_t i = 37; i < vocab; i += 37) logits[i] = logits[5];
    for (std::size_t i = 53; i < vocab; i += 53) logits[i] = max;
  }
  return logits;
}

// ---- Greedy and its equivalents.

TEST_F(KernelsCudaSampling, GreedyIsArgmaxWithLowestIdAmongTies) {
  constexpr std::size_t kVocab = 151936;
  std::vector<float> logits;
  std::vector<SamplingRow> rows;
  std::vector<std::int32_t> expected;
  // Ties at the maximum, far apart and across thread strides; the lowest id wins.
  auto row = random_logits(kVocab, 7, 3.0f);
  const float top = *std::max_element(row.begin(), row.end()) + 1.0f;
  for (std::size_t id : {150000u, 4242u, 100000u, 151935u}) row[id] = top;
  logits.insert(logits.end(), row.begin(), row.end());
  rows.push_back(make_row(0.0f));
  expected.push_back(4242);
  // All equal: id 0. A NaN never wins over a number.
  row.assign(kVocab, 0.5f);
  logits.insert(logits.end(), row.begin(), row.end());
  rows.push_back(make_row(1e-6f));
  expected.push_back(0);
  row.assign(kVocab, -1.0f);
  row[0] = std::numeric_limits<float>::quiet_NaN();
  row[77] = 2.0f;
  row[78] = std::numeric_limits<float>::quiet_NaN();
  logits.insert(logits.end(), row.begin(), row.end());
  rows.push_back(make_row(-1.0f));  // a negative temperature is greedy too
  expected.push_back(77);
  // The max at the very last id.
  row = random_logits(kVocab, 8, 1.0f);
  row[kVocab - 1] = 100.0f;
  logits.insert(logits.end(), row.begin(), row.end());
  rows.push_back(make_row(0.0f, 5, 0.5f, 0.1f, 3, 4));  // the filters do not matter
  expected.push_back(static_cast<std::int32_t>(kVocab - 1));

  // Greedy rows leave their logits alone.
  DeviceBuffer<float> d_logits{std::span<const float>(logits)};
  DeviceBuffer<SamplingRow> d_rows{std::span<const SamplingRow>(rows)};
  DeviceBuffer<std::int32_t> d_tokens(rows.size());
  cuda::sample(d_tokens.get(), d_logits.get(), d_rows.get(), rows.size(), kVocab, nullptr);
  EXPECT_EQ(d_tokens.to_host(), expected);
  const auto after = d_logits.to_host();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    ASSERT_TRUE(after[i] == logits[i] || (std::isnan(after[i]) && std::isnan(logits[i])))
        << "logit " << i;
  }
}

// top_k = 1, a tiny top_p, and a min_p above 1 keep only the most probable token, the
// lowest id among ties (the CPU sampler's order), whatever the draw.
TEST_F(KernelsCudaSampling, SingleTokenFiltersAreGreedy) {
  constexpr std::size_t kVocab = 32000;
  std::vector<float> logits;
  std::vector<SamplingRow> rows;
  std::vector<std::int32_t> expected;
  for (std::uint32_t r = 0; r < 48; ++r) {
    auto row = random_logits(kVocab, 100 + r, 2.0f);  // ties at the max from id 53 on
    const std::int32_t greedy = lowest_argmax(row);
    const float temperature = r % 2 == 0 ? 1.0f : 0.7f;
    logits.insert(logits.end(), row.begin(), row.end());
    switch (r % 4) {
      case 0:
        rows.push_back(make_row(temperature, 1, 1.0f, 0.0f, r, r));
        break;
      case 1:
        rows.push_back(make_row(temperature, 0, 1e-9f, 0.0f, r, r));
        break;
      case 2:
        rows.push_back(make_row(temperature, 0, 0.0f, 0.0f, r, r));
        break;
      default:
        rows.push_back(make_row(temperature, 0, 1.0f, 1.5f, r, r));
        break;
    }
    expected.push_back(greedy);
  }
  EXPECT_EQ(sample_on_device(logits, rows, kVocab), expected);
}

// ---- Every rule at once, row by row, against the reference.

TEST_F(KernelsCudaSampling, MatchesReferenceOverRandomParameters) {
  for (std::size_t vocab : {std::size_t{1}, std::size_t{5}, std::size_t{1000}, std::size_t{5000}}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab));
    std::mt19937 rng(static_cast<std::uint32_t>(vocab));
    const float temperatures[] = {0.0f, 0.3f, 0.7f, 1.0f, 1.5f};
    const auto v = static_cast<std::int32_t>(vocab);
    const std::int32_t top_ks[] = {0, -1, 1, 2, 5, 50, v - 1, v, v + 10};
    const float top_ps[] = {1.0f, 1.0f, 0.95f, 0.8f, 0.5f, 0.1f, 0.0f};
    const float min_ps[] = {0.0f, 0.0f, 0.01f, 0.1f, 0.5f};
    constexpr std::size_t kRows = 400;
    std::vector<float> logits;
    std::vector<SamplingRow> rows;
    for (std::size_t r = 0; r < kRows; ++r) {
      const auto row =
          random_logits(vocab, static_cast<std::uint32_t>(1000 + r), r % 3 == 0 ? 1.0f : 4.0f);
      logits.insert(logits.end(), row.begin(), row.end());
      rows.push_back(make_row(temperatures[rng() % 5], top_ks[rng() % 9], top_ps[rng() % 7],
                              min_ps[rng() % 5], rng(), rng() % 4096));
    }
    const auto tokens = sample_on_device(logits, rows, vocab);
    std::size_t near = 0;
    for (std::size_t r = 0; r < kRows; ++r) {
      const std::span<const float> row(logits.data() + r * vocab, vocab);
      const Expected e = reference_sample(row, rows[r]);
      ASSERT_GE(tokens[r], 0);
      ASSERT_LT(tokens[r], v);
      if (e.near_boundary) {
        ++near;
        continue;
      }
      EXPECT_EQ(tokens[r], e.token)
          << "row " << r << ": temperature " << rows[r].temperature << " top_k " << rows[r].top_k
          << " top_p " << rows[r].top_p << " min_p " << rows[r].min_p << " seed " << rows[r].seed
          << " offset " << rows[r].offset;
    }
    // The margin is tiny, so almost every row is checked.
    EXPECT_LE(near, kRows / 20);
  }
}

// A real vocabulary size, so that rows span many strides of the block.
TEST_F(KernelsCudaSampling, MatchesReferenceAtFullVocabulary) {
  constexpr std::size_t kVocab = 151936;
  std::vector<float> logits;
  std::vector<SamplingRow> rows = {
      make_row(1.0f, 0, 1.0f, 0.0f, 1, 0),  make_row(0.7f, 50, 1.0f, 0.0f, 2, 1),
      make_row(1.0f, 0, 0.9f, 0.0f, 3, 2),  make_row(0.8f, 40, 0.95f, 0.05f, 4, 3),
      make_row(1.2f, 0, 1.0f, 0.02f, 5, 4), make_row(0.6f, 1000, 0.5f, 0.0f, 6, 5),
      make_row(1.0f, 20, 0.8f, 0.1f, 7, 6), make_row(2.0f, 0, 0.99f, 0.0f, 8, 7)};
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto row = random_logits(kVocab, static_cast<std::uint32_t>(2000 + r), 3.0f);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  const auto tokens = sample_on_device(logits, rows, kVocab);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const Expected e =
        reference_sample(std::span<const float>(logits.data() + r * kVocab, kVocab), rows[r]);
    if (e.near_boundary) continue;
    EXPECT_EQ(tokens[r], e.token) << "row " << r;
  }
}

// ---- Reproducibility.

// The same row (logits, parameters, seed, offset) samples the same token alone, in a
// small batch, and at another position of a large one.
TEST_F(KernelsCudaSampling, SameSeedAndOffsetSameTokenInAnyBatch) {
  constexpr std::size_t kVocab = 32000;
  const auto target_logits = random_logits(kVocab, 31, 3.0f);
  for (const SamplingRow& target :
       {make_row(1.0f, 0, 1.0f, 0.0f, 1234, 7), make_row(0.8f, 40, 0.9f, 0.05f, 99, 0),
        make_row(1.3f, 0, 0.7f, 0.0f, ~0ULL, 123456)}) {
    const std::int32_t alone = sample_on_device(target_logits, {target}, kVocab)[0];
    const Expected e = reference_sample(target_logits, target);
    if (!e.near_boundary) {
      EXPECT_EQ(alone, e.token);
    }

    for (std::size_t batch : {std::size_t{4}, std::size_t{300}}) {
      const std::size_t position = batch == 4 ? 1 : 257;
      std::vector<float> logits;
      std::vector<SamplingRow> rows;
      for (std::size_t r = 0; r < batch; ++r) {
        if (r == position) {
          logits.insert(logits.end(), target_logits.begin(), target_logits.end());
          rows.push_back(target);
          continue;
        }
        const auto other = random_logits(kVocab, static_cast<std::uint32_t>(500 + r), 2.0f);
        logits.insert(logits.end(), other.begin(), other.end());
        // Neighbors of every kind, greedy included, some with the target's seed.
        rows.push_back(make_row(r % 3 == 0 ? 0.0f : 1.0f, static_cast<std::int32_t>(r % 7),
                                r % 2 == 0 ? 1.0f : 0.9f, 0.0f, r % 5 == 0 ? target.seed : r, r));
      }
      EXPECT_EQ(sample_on_device(logits, rows, kVocab)[position], alone)
          << "batch of " << batch << ", seed " << target.seed;
    }
  }
}

// ---- Distributions: one row's logits, many offsets.

// Six tokens with these probabilities at temperature 1; the rest of the vocabulary is
// masked with -inf and must never be drawn.
constexpr double kProbs[] = {0.35, 0.25, 0.15, 0.12, 0.08, 0.05};
constexpr std::size_t kDistVocab = 64;
constexpr int kDraws = 20000;

std::vector<float> six_token_logits() {
  std::vector<float> logits(kDistVocab, -kInf);
  for (std::size_t i = 0; i < 6; ++i) logits[i] = static_cast<float>(std::log(kProbs[i]));
  return logits;
}

// Draws `params` at offsets 0..kDraws-1 and checks the token counts against
// `expected` (unnormalized; 0 means never): never-tokens exactly, the rest by a
// chi-square test. Also checks each draw against the reference.
void expect_distribution(const SamplingRow& params, std::vector<double> expected) {
  const auto one = six_token_logits();
  std::vector<float> logits;
  std::vector<SamplingRow> rows;
  for (int i = 0; i < kDraws; ++i) {
    logits.insert(logits.end(), one.begin(), one.end());
    SamplingRow row = params;
    row.offset = static_cast<std::uint64_t>(i);
    rows.push_back(row);
  }
  const auto tokens = sample_on_device(logits, rows, kDistVocab);
  std::vector<int> counts(kDistVocab, 0);
  int mismatches = 0;
  for (int i = 0; i < kDraws; ++i) {
    ASSERT_GE(tokens[i], 0);
    ASSERT_LT(tokens[i], static_cast<std::int32_t>(kDistVocab));
    ++counts[tokens[i]];
    const Expected e = reference_sample(one, rows[i]);
    if (!e.near_boundary && e.token != tokens[i]) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0);
  expected.resize(kDistVocab, 0.0);
  const double total = std::accumulate(expected.begin(), expected.end(), 0.0);
  double chi2 = 0.0;
  int dof = -1;
  for (std::size_t t = 0; t < kDistVocab; ++t) {
    if (expected[t] == 0.0) {
      EXPECT_EQ(counts[t], 0) << "token " << t << " is not eligible";
      continue;
    }
    const double e = kDraws * expected[t] / total;
    chi2 += (counts[t] - e) * (counts[t] - e) / e;
    ++dof;
  }
  // At most 5 degrees of freedom: P(chi2 > 30) < 2e-5. The draws are a fixed
  // function of the offsets, so this passes or fails the same way every run.
  EXPECT_LT(chi2, 30.0) << dof << " degrees of freedom";
}

TEST_F(KernelsCudaSampling, DrawsFollowTheSoftmax) {
  expect_distribution(make_row(1.0f, 0, 1.0f, 0.0f, 42), {kProbs, kProbs + 6});
}

// Temperature T draws token i with probability proportional to p_i^(1/T).
TEST_F(KernelsCudaSampling, TemperatureScalesTheDistribution) {
  for (float temperature : {0.5f, 2.0f}) {
    SCOPED_TRACE("temperature " + std::to_string(temperature));
    std::vector<double> expected;
    for (double p : kProbs) expected.push_back(std::pow(p, 1.0 / temperature));
    expect_distribution(make_row(temperature, 0, 1.0f, 0.0f, 43), expected);
  }
}

// min_p = 0.3 keeps p >= 0.3 * 0.35 = 0.105: tokens 0..3, renormalized.
TEST_F(KernelsCudaSampling, MinPMasksTheUnlikely) {
  expect_distribution(make_row(1.0f, 0, 1.0f, 0.3f, 44), {0.35, 0.25, 0.15, 0.12});
}

TEST_F(KernelsCudaSampling, TopKKeepsTheMostLikely) {
  expect_distribution(make_row(1.0f, 3, 1.0f, 0.0f, 45), {0.35, 0.25, 0.15});
}

// top_p = 0.7: the running mass 0.35, 0.60, 0.75 first reaches 0.7 at token 2.
TEST_F(KernelsCudaSampling, TopPKeepsTheShortestPrefix) {
  expect_distribution(make_row(1.0f, 0, 0.7f, 0.0f, 46), {0.35, 0.25, 0.15});
}

// Order of application, as the CPU sampler: top-k 5 keeps tokens 0..4 (mass 0.95),
// min-p 0.2 then keeps p >= 0.07: tokens 0..4 still, and top-p 0.6 needs 0.57 of the
// kept 0.95: 0.35, 0.60: tokens 0 and 1.
TEST_F(KernelsCudaSampling, FiltersCombineInTheCpuOrder) {
  expect_distribution(make_row(1.0f, 5, 0.6f, 0.2f, 47), {0.35, 0.25});
}

// ---- Ties and edges.

// Equal logits at the top-k boundary: the lowest ids are kept, as the CPU sampler's
// (probability desc, id asc) order does.
TEST_F(KernelsCudaSampling, TopKBoundaryTiesKeepLowestIds) {
  constexpr std::size_t kVocab = 3000;
  // Token 2999 (logit 1) is the most likely; then ids 1000..1999 tie at logit 0,
  // above the rest at -5. top_k = 4 keeps 2999 and the three lowest tied ids.
  std::vector<float> one(kVocab, -5.0f);
  for (std::size_t i = 1000; i < 2000; ++i) one[i] = 0.0f;
  one[2999] = 1.0f;
  std::vector<float> logits;
  std::vector<SamplingRow> rows;
  constexpr int kRows = 4000;
  for (int i = 0; i < kRows; ++i) {
    logits.insert(logits.end(), one.begin(), one.end());
    rows.push_back(make_row(1.0f, 4, 1.0f, 0.0f, 5, static_cast<std::uint64_t>(i)));
  }
  const auto tokens = sample_on_device(logits, rows, kVocab);
  std::vector<int> counts(kVocab, 0);
  for (int i = 0; i < kRows; ++i) {
    ++counts[tokens[i]];
    const Expected e = reference_sample(one, rows[i]);
    if (!e.near_boundary) {
      EXPECT_EQ(tokens[i], e.token) << "row " << i;
    }
  }
  // e / (e + 3): 0.475 for 2999, 0.175 for each of 1000, 1001, 1002.
  EXPECT_EQ(counts[2999] + counts[1000] + counts[1001] + counts[1002], kRows);
  for (std::size_t t : {1000u, 1001u, 1002u}) EXPECT_GT(counts[t], kRows / 10);
  EXPECT_GT(counts[2999], kRows / 3);
}

TEST_F(KernelsCudaSampling, NonFiniteLogitsStayInRange) {
  constexpr std::size_t kVocab = 100;
  std::vector<float> logits;
  std::vector<SamplingRow> rows;
  std::vector<std::int32_t> expected;
  auto add = [&](std::vector<float> row, SamplingRow params, std::int32_t token) {
    logits.insert(logits.end(), row.begin(), row.end());
    rows.push_back(params);
    expected.push_back(token);
  };
  // One finite logit among -inf: always that token, whatever the filters.
  std::vector<float> row(kVocab, -kInf);
  row[9] = -3.0f;
  add(row, make_row(1.0f, 0, 1.0f, 0.0f, 1, 1), 9);
  add(row, make_row(0.5f, 50, 0.9f, 0.1f, 2, 2), 9);
  // Everything -inf: no weight anywhere, so the argmax, id 0.
  add(std::vector<float>(kVocab, -kInf), make_row(1.0f, 0, 1.0f, 0.0f, 3, 3), 0);
  // +inf logits: the first of them.
  row.assign(kVocab, 0.0f);
  row[3] = kInf;
  row[7] = kInf;
  add(row, make_row(1.0f, 0, 1.0f, 0.0f, 4, 4), 3);
  // NaN counts as -inf.
  row.assign(kVocab, std::numeric_limits<float>::quiet_NaN());
  row[42] = 0.0f;
  add(row, make_row(1.0f, 0, 1.0f, 0.0f, 5, 5), 42);
  // A NaN temperature: no weight, so the argmax of the (NaN) scaled logits, id 0.
  add(std::vector<float>(kVocab, 1.0f),
      make_row(std::numeric_limits<float>::quiet_NaN(), 0, 1.0f, 0.0f, 6, 6), 0);
  EXPECT_EQ(sample_on_device(logits, rows, kVocab), expected);
}

TEST_F(KernelsCudaSampling, EmptyBatchAndEmptyVocabulary) {
  EXPECT_NO_THROW(cuda::sample(nullptr, nullptr, nullptr, 0, 32000, nullptr));
  EXPECT_THROW(cuda::sample(nullptr, nullptr, nullptr, 1, 0, nullptr), std::invalid_argument);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace waypoint::kernels
