#pragma once
// Token sampling on the device: one row of f32 logits per request in, one token id
// per request out. The eligible tokens are those of worker/sampler.cpp, chosen in the
// same order (greedy below a tiny temperature; otherwise temperature, softmax, top-k,
// min-p, top-p), and the draw inverts the same CDF order the CPU sampler walks:
// eligible tokens by descending probability, equal probabilities by ascending id.
// Only the random number differs: uniform_from(seed, offset) (uniform_draw.hpp)
// instead of the request's std::mt19937_64, so that the device needs no per-request
// generator state.
//
// Ties, exactly: the CPU sampler orders candidates by (probability desc, id asc) and
// every filter keeps a prefix of that order, so at the top-k boundary the tied tokens
// with the lowest ids are kept, and top-k = 1 or a tiny top-p yields the lowest id of
// the most probable ones, as greedy does. The device keeps the same prefixes, but it
// compares its own weights exp(l/T - max) (CUDA's expf, within 2 ulp of the host's),
// so two tokens count as tied exactly when their scaled logits are equal, while the
// CPU compares normalized f32 probabilities. They differ only when distinct logits
// round to the same probability on one side and not the other, or when a decision
// (a min-p floor, a top-p cutoff, the draw) falls within rounding of a boundary.
//
// Nonfinite logits: NaN counts as -infinity; -infinity is never drawn unless every
// token has zero weight, and then (or when an infinite logit makes the weights NaN)
// the row falls back to its argmax. The token is always in [0, vocab).
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/stream.hpp"
#include "kernels/cuda/uniform_draw.hpp"

namespace waypoint::kernels::cuda {

// One request's sampling parameters, laid out for the device: the caller fills an
// array of these on the host and copies it to the device as raw bytes, so the layout
// is part of the interface: four 4-byte fields, then two 8-byte ones, 32 bytes with
// no padding (checked below).
struct SamplingRow {
  float temperature = 1.0f;  // below 1e-5 (worker/sampler.cpp's threshold): greedy
  std::int32_t top_k = 0;    // <= 0 or >= vocab: off
  float top_p = 1.0f;        // >= 1 (or NaN): off; <= 0 keeps the single top token
  float min_p = 0.0f;        // <= 0 (or NaN): off; else drop p < min_p * max p
  std::uint64_t seed = 0;    // the request's seed, or one the runner drew for it
  std::uint64_t offset = 0;  // tokens this request has sampled before
};
static_assert(std::is_trivially_copyable_v<SamplingRow> && std::is_standard_layout_v<SamplingRow>);
static_assert(sizeof(SamplingRow) == 32 && alignof(SamplingRow) == 8);

// out_tokens[i] (device, num_rows) = a token for row i of logits (device,
// [num_rows, vocab]) under rows[i] (device, num_rows). Greedy rows take the argmax of
// the raw logits, the lowest id among equal maxima. Other rows draw
// u = uniform_from(seed, offset) and return the first eligible token, in the order
// above, at which the cumulative eligible weight exceeds u times the eligible total.
//
// logits is scratch: a sampled row is overwritten with its unnormalized weights
// exp(l/T - max); greedy rows are left alone.
//
// Each row is computed by one thread block of a fixed size, whatever num_rows is, so
// a row's result (the rounding of its sums included) cannot depend on its batch.
// Asynchronous on `stream`; throws std::invalid_argument for vocab 0 or sizes that do
// not fit an int, std::runtime_error if the launch fails.
void sample(std::int32_t* out_tokens, float* logits, const SamplingRow* rows, std::size_t num_rows,
            std::size_t vocab, Stream stream);

}  // namespace waypoint::kernels::cuda
