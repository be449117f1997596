#include "worker/llama2c_checkpoint.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace waypoint {
namespace {

namespace fs = std::filesystem;

// export.py's version 1 and 2 files begin with this magic ("ak42" little-endian).
constexpr uint32_t kVersionedMagic = 0x616b3432;
constexpr int64_t kHeaderBytes = 7 * 4;

std::string layer_name(int64_t l, const char* suffix) {
  return "model.layers." + std::to_string(l) + "." + suffix;
}

}  // namespace

void permute_rope_rows_to_hf(std::span<const float> src, std::span<float> dst, int64_t n_heads,
                             int64_t head_dim, int64_t cols) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t j = 0; j < half; ++j) {
      for (int64_t p = 0; p < 2; ++p) {
        const int64_t from = h * head_dim + 2 * j + p;
        const int64_t to = h * head_dim + p * half + j;
        std::copy_n(src.begin() + from * cols, cols, dst.begin() + to * cols);
      }
    }
  }
}

Result<LoadedModel> load_llama2c_checkpoint(const fs::path& bin) {
  const std::string src = bin.string();
  auto bad = [&](const std::string& problem) { return Error{src + ": " + problem}; };

  std::error_code ec;
  const auto file_size = fs::file_size(bin, ec);
  if (ec) return bad(ec == std::errc::no_such_file_or_directory ? "not found" : ec.message());
  std::ifstream in(bin, std::ios::binary);
  if (!in) return bad("cannot be opened");
  if (file_size < static_cast<uintmax_t>(kHeaderBytes)) {
    return bad("too short for a llama2.c header (" + std::to_string(file_size) + " bytes)");
  }
  std::array<int32_t, 7> h{};
  in.read(reinterpret_cast<char*>(h.data()), kHeaderBytes);
  if (static_cast<uint32_t>(h[0]) == kVersionedMagic) {
    return bad(
        "llama2.c version " + std::to_string(h[1]) +
        " checkpoint; only the legacy version-0 format is supported (export.py --version 0)");
  }
  const int64_t dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv = h[4];
  const bool shared = h[5] > 0;
  const int64_t vocab = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  const int64_t seq_len = h[6];
  if (dim <= 0 || hidden <= 0 || n_layers <= 0 || n_heads <= 0 || n_kv <= 0 || vocab <= 0 ||
      seq_len <= 0) {
    return bad("header (dim " + std::to_string(dim) + ", hidden_dim " + std::to_string(hidden) +
               ", n_layers " + std::to_string(n_layers) + ", n_heads " + std::to_string(n_heads) +
               ", n_kv_heads " + std::to_string(n_kv) + ", vocab_size " + std::to_string(h[5]) +
               ", seq_len " + std::to_string(seq_len) +
               ") has a non-positive size; not a llama2.c checkpoint?");
  }
  if (dim % n_heads != 0 || n_heads % n_kv != 0 || (dim / n_heads) % 2 != 0) {
    return bad("header: dim " + std::to_string(dim) + ", n_heads " + std::to_string(n_heads) +
               ", n_kv_heads " + std::to_string(n_kv) + " do not split into heads of an even size");
  }
  const int64_t head_dim = dim / n_heads;
  const int64_t kv_dim = n_kv * head_dim;

  // Every size is below 2^31 and the products below fit int64 easily; checking the
  // total against the file first means no allocation is driven by a corrupt header.
  const int64_t floats =
      vocab * dim + n_layers * (2 * dim + 2 * dim * dim + 2 * dim * kv_dim + 3 * dim * hidden) +
      dim + seq_len * head_dim + (shared ? 0 : vocab * dim);
  const auto want = static_cast<uintmax_t>(kHeaderBytes + 4 * floats);
  if (file_size != want) {
    return bad(std::string(file_size < want ? "truncated" : "longer than its header implies") +
               ": " + std::to_string(file_size) + " bytes, but the header (dim " +
               std::to_string(dim) + ", n_layers " + std::to_string(n_layers) + ", vocab " +
               std::to_string(vocab) + (shared ? "" : ", unshared classifier") + ") needs " +
               std::to_string(want));
  }

  std::map<std::string, F32Tensor> tensors;
  auto read = [&](std::vector<int64_t> shape) {
    F32Tensor t;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    t.shape = std::move(shape);
    t.data.resize(static_cast<size_t>(n));
    in.read(reinterpret_cast<char*>(t.data.data()), static_cast<std::streamsize>(n * 4));
    return t;
  };
  // One weight kind for every layer, stored back to back.
  auto read_layers = [&](const char* suffix, std::vector<int64_t> shape) {
    for (int64_t l = 0; l < n_layers; ++l) tensors[layer_name(l, suffix)] = read(shape);
  };
  auto permute_layers = [&](const char* suffix, int64_t heads) {
    for (int64_t l = 0; l < n_layers; ++l) {
      F32Tensor& t = tensors[layer_name(l, suffix)];
      std::vector<float> hf(t.data.size());
      permute_rope_rows_to_hf(t.data, hf, heads, head_dim, dim);
      t.data = std::move(hf);
    }
  };

  tensors["model.embed_tokens.weight"] = read({vocab, dim});
  read_layers("input_layernorm.weight", {dim});
  read_layers("self_attn.q_proj.weight", {dim, dim});
  read_layers("self_attn.k_proj.weight", {kv_dim, dim});
  read_layers("self_attn.v_proj.weight", {kv_dim, dim});
  read_layers("self_attn.o_proj.weight", {dim, dim});
  read_layers("post_attention_layernorm.weight", {dim});
  read_layers("mlp.gate_proj.weight", {hidden, dim});  // w1
  read_layers("mlp.down_proj.weight", {dim, hidden});  // w2
  read_layers("mlp.up_proj.weight", {hidden, dim});    // w3
  tensors["model.norm.weight"] = read({dim});
  // freq_cis_real and freq_cis_imag: the forward pass computes RoPE itself.
  in.seekg(static_cast<std::streamoff>(seq_len * head_dim * 4), std::ios::cur);
  if (!shared) tensors["lm_head.weight"] = read({vocab, dim});
  if (!in) return bad("read failed");
  permute_layers("self_attn.q_proj.weight", n_heads);
  permute_layers("self_attn.k_proj.weight", n_kv);

  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = static_cast<int32_t>(vocab);
  c.hidden_size = static_cast<int32_t>(dim);
  c.intermediate_size = static_cast<int32_t>(hidden);
  c.num_hidden_layers = static_cast<int32_t>(n_layers);
  c.num_attention_heads = static_cast<int32_t>(n_heads);
  c.num_key_value_heads = static_cast<int32_t>(n_kv);
  c.head_dim = static_cast<int32_t>(head_dim);
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = static_cast<int32_t>(seq_len);
  c.tie_word_embeddings = shared;
  // The Llama 2 sentencepiece ids that llama2.c's tokenizer.bin uses. Note that
  // llama2.c's run.c ends a sample when the model emits BOS (1), which TinyStories
  // training uses as the story delimiter.
  if (vocab > 2) {
    c.bos_token_id = 1;
    c.eos_token_id = 2;
  }
  c.torch_dtype = "float32";
  if (auto v = validate_model_config(c, src); !v) return v.error();
  return LoadedModel{std::move(c), WeightStore(src, std::move(tensors))};
}

}  // namespace waypoint
