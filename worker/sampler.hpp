#pragma once
// Turns one request's logits into a token (docs/architecture.md,
// "Processes": only rank 0 samples). Greedy below a tiny temperature; otherwise temperature, min-p,
// top-k and top-p, then one draw from the request's own generator, so a
// seeded request samples the same tokens whatever else shares its batch.
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "proto/engine_core_request.hpp"

namespace waypoint {

class Sampler {
 public:
  // `logits` is modified (scaled, masked). `rng` is the request's generator.
  TokenId sample(std::span<float> logits, const SamplingParams& params, std::mt19937_64& rng);

 private:
  std::vector<int32_t> order_;  // candidate ids, reused
  std::vector<float> probs_;
};

// Lowest id among the maxima, so ties never depend on anything but the logits.
TokenId argmax(std::span<const float> logits);

}  // namespace waypoint
