#include "modelgen/random_weights.hpp"

#include <algorithm>
#include <cmath>

#include "base/splitmix64.hpp"

namespace waypoint::tools {
namespace {

constexpr double kTwoPow33 = 8589934592.0;
constexpr double kTwoPow53 = 9007199254740992.0;

// Weight scales: a well-conditioned forward pass whose greedy choice depends on the whole
// context and is rarely close to a tie.
//  - q, k, v, gate, up ~ N(0, 1/fan_in): every output feature of an RMS-normalised input
//    has variance ~1, so attention scores (q.k / sqrt(head_dim)) are ~N(0, 1) and softmax
//    is neither uniform nor one-hot: the output really depends on earlier tokens.
//  - The residual branches (o_proj, down_proj) ~ N(0, 32^2/fan_in) and the embeddings
//    ~ N(0, 2^2): each branch adds ~16x the embedding's norm to the residual stream. With
//    tied embeddings a stream dominated by the current token's own embedding makes that
//    token the top logit, and greedy decoding repeats one token forever (measured: with
//    1/fan_in everywhere, 4 of 4 prompts did), which would hide a broken KV cache. With
//    the branches 16x larger, greedy output is varied (7 to 18 distinct tokens in 24).
//  - Norm weights 1 +- 0.1: not all equal (a loader mixing them up is caught) but scale
//    neutral.
//  - Logits are h . w with h the final normalised state (|h| ~ sqrt(hidden)) and w a row
//    of the tied embeddings (N(0, 4): logit sd ~16 for tiny) or of lm_head (N(0, 1): logit
//    sd ~28 for small). Measured on tiny with tests/reference/llama_reference.py (two seeds,
//    6 prompts x 30 positions each): median top-1 minus runner-up gap 3.6 to 4.4 logits,
//    5th percentile 0.36 to 0.41, top-1 probability median 0.97. The smallest gap seen was
//    4e-4 of the logits' standard deviation, against f32 round-off of ~1e-6 of it, so f32
//    engines agree on every greedy token; the gaps' size relative to the spread is what
//    random Gaussian logits give and no scale factor can change it, so a bf16 engine
//    (round-off ~1e-2) can still flip an occasional near-tie.
constexpr double kNormHalfWidth = 0.1;
constexpr double kEmbeddingStddev = 2.0;
constexpr double kLmHeadStddev = 1.0;
constexpr double kBranchGain = 32.0;
// A power of two, so the scaled value is exact and bf16 rounding commutes with it.
constexpr float kReservedRowScale = 0.125f;

double fan_in_stddev(int64_t fan_in) { return 1.0 / std::sqrt(static_cast<double>(fan_in)); }
double branch_stddev(int64_t fan_in) {
  return kBranchGain / std::sqrt(static_cast<double>(fan_in));
}

NamedTensor normal_tensor(std::string name, std::vector<int64_t> shape, double stddev,
                          uint64_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  PortableRandom rng(tensor_seed(seed, name));
  std::vector<float> data(static_cast<size_t>(n));
  for (float& x : data) x = rng.normal(stddev);
  return {std::move(name), std::move(shape), std::move(data)};
}

NamedTensor norm_tensor(std::string name, int64_t size, uint64_t seed) {
  PortableRandom rng(tensor_seed(seed, name));
  std::vector<float> data(static_cast<size_t>(size));
  // The float addition after the conversion cannot be fused with the multiply inside
  // symmetric_uniform, so no compiler contracts it into an FMA with different rounding.
  for (float& x : data) x = 1.0f + rng.symmetric_uniform(kNormHalfWidth);
  return {std::move(name), {size}, std::move(data)};
}

}  // namespace

float PortableRandom::normal(double stddev) {
  const uint64_t a = gen_(), b = gen_();
  // Four 32-bit uniforms u_i; (u_i + 1/2) / 2^32 is uniform on (0, 1) with mean 1/2.
  const int64_t sum =
      static_cast<int64_t>((a & 0xFFFFFFFFu) + (a >> 32) + (b & 0xFFFFFFFFu) + (b >> 32));
  // sum_i (u_i + 1/2)/2^32 - 2 = (2*sum + 4 - 2^34) / 2^33 exactly, variance 4/12; sqrt(3)
  // brings it to 1. Integer arithmetic until the single multiply.
  const int64_t centred = 2 * sum + 4 - (int64_t{1} << 34);
  const double scale = stddev * std::sqrt(3.0) / kTwoPow33;
  return static_cast<float>(static_cast<double>(centred) * scale);
}

float PortableRandom::symmetric_uniform(double half_width) {
  // 53 random bits k: (2k + 1 - 2^53) / 2^53 is uniform on (-1, 1), exact in a double.
  const int64_t k = static_cast<int64_t>(gen_() >> 11);
  const int64_t centred = 2 * k + 1 - (int64_t{1} << 53);
  return static_cast<float>(static_cast<double>(centred) * (half_width / kTwoPow53));
}

uint64_t tensor_seed(uint64_t seed, std::string_view tensor_name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (unsigned char c : tensor_name) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return splitmix64(seed ^ splitmix64(h));
}

std::vector<NamedTensor> random_llama_weights(const ModelPreset& p, uint64_t seed,
                                              std::span<const IdRange> padding) {
  const int64_t h = p.hidden_size;
  const int64_t q = p.num_attention_heads * p.head_dim;
  const int64_t kv = p.num_key_value_heads * p.head_dim;
  const int64_t ff = p.intermediate_size;
  std::vector<NamedTensor> out;
  out.push_back(
      normal_tensor("model.embed_tokens.weight", {p.vocab_size, h}, kEmbeddingStddev, seed));
  for (int64_t l = 0; l < p.num_hidden_layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    out.push_back(normal_tensor(pre + "self_attn.q_proj.weight", {q, h}, fan_in_stddev(h), seed));
    out.push_back(normal_tensor(pre + "self_attn.k_proj.weight", {kv, h}, fan_in_stddev(h), seed));
    out.push_back(normal_tensor(pre + "self_attn.v_proj.weight", {kv, h}, fan_in_stddev(h), seed));
    out.push_back(normal_tensor(pre + "self_attn.o_proj.weight", {h, q}, branch_stddev(q), seed));
    out.push_back(normal_tensor(pre + "mlp.gate_proj.weight", {ff, h}, fan_in_stddev(h), seed));
    out.push_back(normal_tensor(pre + "mlp.up_proj.weight", {ff, h}, fan_in_stddev(h), seed));
    out.push_back(normal_tensor(pre + "mlp.down_proj.weight", {h, ff}, branch_stddev(ff), seed));
    out.push_back(norm_tensor(pre + "input_layernorm.weight", h, seed));
    out.push_back(norm_tensor(pre + "post_attention_layernorm.weight", h, seed));
  }
  out.push_back(norm_tensor("model.norm.weight", h, seed));
  if (!p.tie_word_embeddings) {
    out.push_back(normal_tensor("lm_head.weight", {p.vocab_size, h}, kLmHeadStddev, seed));
  }
  NamedTensor& output_rows = p.tie_word_embeddings ? out.front() : out.back();
  for (const IdRange& range : padding) {
    const int64_t end = std::min(range.end, p.vocab_size);
    for (int64_t row = std::max<int64_t>(range.begin, 0); row < end; ++row) {
      for (int64_t i = row * h; i < (row + 1) * h; ++i) {
        output_rows.data[static_cast<size_t>(i)] *= kReservedRowScale;
      }
    }
  }
  return out;
}

}  // namespace waypoint::tools
