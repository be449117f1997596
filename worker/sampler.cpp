#include "worker/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace waypoint {

namespace {
// Below this a temperature means greedy, as in vLLM.
constexpr float kGreedyTemperature = 1e-5f;

// A uniform double in [0, 1) from 53 random bits: the same on every platform,
// unlike std::uniform_real_distribution.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
}  // namespace

TokenId argmax(std::span<const float> logits) {
  return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TokenId Sampler::sample(std::span<float> logits, const SamplingParams& p, std::mt19937_64& rng) {
  if (p.temperature < kGreedyTemperature) return argmax(logits);
  const auto vocab = static_cast<int32_t>(logits.size());
  const float inv_t = 1.0f / p.temperature;
  for (float& l : logits) l *= inv_t;

  // Softmax over the whole vocabulary.
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  probs_.resize(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs_[i] = std::exp(logits[i] - max_logit);
    total += probs_[i];
  }
  for (float& q : probs_) q = static_cast<float>(q / total);

  // Candidates by descending probability, ties by id: a fixed order makes the
  // draw below reproducible.
  order_.resize(logits.size());
  std::iota(order_.begin(), order_.end(), 0);
  auto by_prob = [&](int32_t a, int32_t b) {
    return probs_[a] != probs_[b] ? probs_[a] > probs_[b] : a < b;
  };
  int32_t keep = vocab;
  if (p.top_k > 0 && p.top_k < vocab) {
    keep = p.top_k;
    std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), by_prob);
  } else {
    std::sort(order_.begin(), order_.end(), by_prob);
  }
  if (p.min_p > 0.0f) {
    const float floor = p.min_p * probs_[order_[0]];
    while (keep > 1 && probs_[order_[keep - 1]] < floor) --keep;
  }
  if (p.top_p < 1.0f) {
    double mass = 0.0;
    for (int32_t k = 0; k < keep; ++k) mass += probs_[order_[k]];
    double cum = 0.0;
    int32_t k = 0;
    // The smallest prefix whose share of the kept mass reaches top_p.
    while (k < keep) {
      cum += probs_[order_[k]];
      ++k;
      if (cum >= p.top_p * mass) break;
    }
    keep = k;
  }

  double mass = 0.0;
  for (int32_t k = 0; k < keep; ++k) mass += probs_[order_[k]];
  const double u = uniform01(rng) * mass;
  double cum = 0.0;
  for (int32_t k = 0; k < keep; ++k) {
    cum += probs_[order_[k]];
    if (u < cum) return order_[k];
  }
  return order_[keep - 1];
}

}  // namespace waypoint
