#pragma once
// Random Llama weights that are the same bits on every platform for a given seed, scaled
// so that a forward pass stays well conditioned and greedy decoding is decisive.
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "modelgen/model_presets.hpp"

namespace waypoint::tools {

// std::mt19937_64's output is fixed by the standard, but std::normal_distribution's is
// not (and Box-Muller would go through libm's log and cos, which differ in the last bit
// between libraries). These transforms use only integer sums and one IEEE multiply.
class PortableRandom {
 public:
  explicit PortableRandom(uint64_t seed) : gen_(seed) {}
  // Mean 0, standard deviation STDDEV: an Irwin-Hall sum of four uniforms, bell shaped
  // and bounded at +-3.46 STDDEV (no outliers to dominate a tiny model).
  float normal(double stddev);
  // Uniform on (-HALF_WIDTH, HALF_WIDTH).
  float symmetric_uniform(double half_width);

 private:
  std::mt19937_64 gen_;
};

// A generator seed for one tensor: each tensor gets its own stream, so a tensor's values
// do not depend on which other tensors exist or in which order they are made.
uint64_t tensor_seed(uint64_t seed, std::string_view tensor_name);

struct NamedTensor {
  std::string name;  // Hugging Face LlamaForCausalLM name
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Every tensor of P's LlamaForCausalLM, in the order Hugging Face lists them. Token ids
// in PADDING pad the vocabulary (reserved special tokens, made-up BPE tokens; see
// TokenizerFiles): like Llama-3's untrained reserved tokens, their output rows (lm_head,
// or the tied embeddings) are 8x smaller, so greedy decoding never picks them and the
// demo's output stays text.
std::vector<NamedTensor> random_llama_weights(const ModelPreset& p, uint64_t seed,
                                              std::span<const IdRange> padding);

}  // namespace waypoint::tools
