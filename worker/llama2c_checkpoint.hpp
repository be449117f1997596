#pragma once
// Karpathy's llama2.c checkpoints (the legacy version-0 .bin of export.py's
// legacy_export): seven int32 header fields (dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size, seq_len; a negative vocab_size means an unshared classifier),
// then every weight as f32 in the order token_embedding, rms_att, wq, wk, wv, wo,
// rms_ffn, w1, w2, w3 (each for all layers), rms_final, freq_cis_real, freq_cis_imag,
// and wcls when unshared.
//
// The weights come out under Hugging Face Llama names (w1=gate_proj, w3=up_proj,
// w2=down_proj), so one forward pass serves both formats. A shared classifier is
// reported as tie_word_embeddings with no lm_head.weight, as Hugging Face does.
//
// RoPE layout. llama2.c rotates interleaved pairs (x[2j], x[2j+1]) of each head by the
// angle of frequency j; Hugging Face rotates (x[j], x[j + d/2]) (rotate_half). The two
// agree once the rows of wq and wk are permuted within each head of size d:
//     hf_row(h, p * d/2 + j) = llama2c_row(h, 2j + p)      for p in {0, 1}, j < d/2
// i.e. all even rows of a head first, then all odd rows. Rotating pair j in either
// layout applies the same 2x2 rotation to the same two values, so q and k come out
// permuted the same way and every q.k dot product (the only use of them) is unchanged.
// This is export.py's permute_original (its hf_export path), and the inverse of its
// permute_reverse (load_hf_model).
#include <cstdint>
#include <filesystem>
#include <span>

#include "base/result.hpp"
#include "worker/model_loader.hpp"

namespace waypoint {

Result<LoadedModel> load_llama2c_checkpoint(const std::filesystem::path& bin);

// Permutes the rows of a [n_heads * head_dim, cols] projection from llama2.c's
// interleaved RoPE layout to Hugging Face's rotate_half layout (see above).
void permute_rope_rows_to_hf(std::span<const float> src, std::span<float> dst, int64_t n_heads,
                             int64_t head_dim, int64_t cols);

}  // namespace waypoint
