#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/worker/scratch_dir.hpp"
#include "worker/llama2c_checkpoint.hpp"

namespace waypoint {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

// dim 8, hidden 12, 2 layers, 2 heads of 4, 1 kv head, vocab 5, seq_len 4. Every weight
// float holds its own index among the weights, so a value says where it came from.
constexpr int32_t kDim = 8, kHidden = 12, kLayers = 2, kHeads = 2, kKvHeads = 1, kVocab = 5,
                  kSeqLen = 4;
constexpr int64_t kHeadDim = kDim / kHeads, kKvDim = kKvHeads * kHeadDim;

int64_t weight_floats(bool shared) {
  return kVocab * kDim +
         kLayers * (2 * kDim + 2 * kDim * kDim + 2 * kDim * kKvDim + 3 * kDim * kHidden) + kDim +
         kSeqLen * kHeadDim + (shared ? 0 : kVocab * kDim);
}

void write_checkpoint(const fs::path& p, bool shared, int64_t drop_bytes = 0) {
  std::ofstream out(p, std::ios::binary);
  const int32_t header[7] = {kDim,   kHidden, kLayers, kHeads, kKvHeads, shared ? kVocab : -kVocab,
                             kSeqLen};
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  std::vector<float> w(static_cast<size_t>(weight_floats(shared)));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
  out.write(reinterpret_cast<const char*>(w.data()),
            static_cast<std::streamsize>(w.size() * 4 - static_cast<size_t>(drop_bytes)));
}

// Where each weight kind starts, in floats, in the file above.
constexpr int64_t kEmbed = 0;
constexpr int64_t kRmsAtt = kEmbed + kVocab * kDim;               // 40
constexpr int64_t kWq = kRmsAtt + kLayers * kDim;                 // 56
constexpr int64_t kWk = kWq + kLayers * kDim * kDim;              // 184
constexpr int64_t kWv = kWk + kLayers * kKvDim * kDim;            // 248
constexpr int64_t kWo = kWv + kLayers * kKvDim * kDim;            // 312
constexpr int64_t kRmsFfn = kWo + kLayers * kDim * kDim;          // 440
constexpr int64_t kW1 = kRmsFfn + kLayers * kDim;                 // 456
constexpr int64_t kW2 = kW1 + kLayers * kHidden * kDim;           // 648
constexpr int64_t kW3 = kW2 + kLayers * kDim * kHidden;           // 840
constexpr int64_t kRmsFinal = kW3 + kLayers * kHidden * kDim;     // 1032
constexpr int64_t kWcls = kRmsFinal + kDim + kSeqLen * kHeadDim;  // 1056, after freq_cis

float at(const LoadedModel& m, const std::string& name, std::vector<int64_t> shape, int64_t i) {
  return m.weights.read_f32(name, shape).value().at(static_cast<size_t>(i));
}

TEST(Llama2c, LoadsConfigAndWeightsUnderHuggingFaceNames) {
  ScratchDir dir;
  write_checkpoint(dir / "stories.bin", /*shared=*/false);
  auto m = load_llama2c_checkpoint(dir / "stories.bin");
  ASSERT_TRUE(m.ok()) << m.error().message;
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.hidden_size, kDim);
  EXPECT_EQ(c.intermediate_size, kHidden);
  EXPECT_EQ(c.num_hidden_layers, kLayers);
  EXPECT_EQ(c.num_attention_heads, kHeads);
  EXPECT_EQ(c.num_key_value_heads, kKvHeads);
  EXPECT_EQ(c.head_dim, kHeadDim);
  EXPECT_EQ(c.vocab_size, kVocab);
  EXPECT_EQ(c.max_position_embeddings, kSeqLen);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_FALSE(c.tie_word_embeddings);

  EXPECT_EQ(at(*m, "model.embed_tokens.weight", {kVocab, kDim}, 9), kEmbed + 9);
  EXPECT_EQ(at(*m, "model.layers.1.input_layernorm.weight", {kDim}, 3), kRmsAtt + kDim + 3);
  EXPECT_EQ(at(*m, "model.layers.1.self_attn.v_proj.weight", {kKvDim, kDim}, 5),
            kWv + kKvDim * kDim + 5);
  EXPECT_EQ(at(*m, "model.layers.0.self_attn.o_proj.weight", {kDim, kDim}, 63), kWo + 63);
  EXPECT_EQ(at(*m, "model.layers.0.post_attention_layernorm.weight", {kDim}, 0), kRmsFfn);
  EXPECT_EQ(at(*m, "model.layers.1.mlp.gate_proj.weight", {kHidden, kDim}, 0),
            kW1 + kHidden * kDim);
  EXPECT_EQ(at(*m, "model.layers.0.mlp.down_proj.weight", {kDim, kHidden}, 13), kW2 + 13);
  EXPECT_EQ(at(*m, "model.layers.0.mlp.up_proj.weight", {kHidden, kDim}, 95), kW3 + 95);
  EXPECT_EQ(at(*m, "model.norm.weight", {kDim}, 7), kRmsFinal + 7);
  EXPECT_EQ(at(*m, "lm_head.weight", {kVocab, kDim}, 0), kWcls);

  // wq rows within each head of 4: HF order is llama2.c rows 0, 2, 1, 3 (evens, then odds).
  const auto wq = m->weights.read_f32("model.layers.0.self_attn.q_proj.weight", {kDim, kDim});
  ASSERT_TRUE(wq.ok());
  const int64_t from_row[kDim] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int64_t r = 0; r < kDim; ++r) {
    for (int64_t col = 0; col < kDim; ++col) {
      ASSERT_EQ(wq.value()[static_cast<size_t>(r * kDim + col)], kWq + from_row[r] * kDim + col)
          << "row " << r << " col " << col;
    }
  }
  // wk of layer 1, one kv head.
  const auto wk = m->weights.read_f32("model.layers.1.self_attn.k_proj.weight", {kKvDim, kDim});
  ASSERT_TRUE(wk.ok());
  EXPECT_EQ(wk.value()[1 * kDim + 0], kWk + kKvDim * kDim + 2 * kDim);
  EXPECT_EQ(wk.value()[2 * kDim + 5], kWk + kKvDim * kDim + 1 * kDim + 5);
}

TEST(Llama2c, SharedClassifierIsTiedEmbeddings) {
  ScratchDir dir;
  write_checkpoint(dir / "m.bin", /*shared=*/true);
  auto m = load_model(dir.path());  // a directory holding one .bin
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->config.tie_word_embeddings);
  EXPECT_FALSE(m->weights.contains("lm_head.weight"));
  EXPECT_EQ(m->weights.names().size(), 2u + 9u * kLayers);
}

TEST(Llama2c, TruncatedAndVersionedFilesAreRejected) {
  ScratchDir dir;
  const auto p = dir / "m.bin";
  write_checkpoint(p, /*shared=*/true, /*drop_bytes=*/12);
  auto m = load_model(p);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message.rfind(p.string() + ": truncated: ", 0), 0u) << m.error().message;

  {
    std::ofstream out(p, std::ios::binary);
    const int32_t header[8] = {0x616b3432, 1, kDim, kHidden, kLayers, kHeads, kKvHeads, kVocab};
    out.write(reinterpret_cast<const char*>(header), sizeof(header));
  }
  m = load_model(p);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, p.string() +
                                   ": llama2.c version 1 checkpoint; only the legacy version-0 "
                                   "format is supported (export.py --version 0)");
}

// llama2.c's RoPE on one head: rotate pairs (x[2j], x[2j+1]) by pos * theta^(-2j/d).
std::vector<float> rope_interleaved(std::vector<float> x, int pos) {
  const size_t d = x.size();
  for (size_t j = 0; j < d / 2; ++j) {
    const double a = pos * std::pow(10000.0, -2.0 * static_cast<double>(j) / d);
    const float c = static_cast<float>(std::cos(a)), s = static_cast<float>(std::sin(a));
    const float x0 = x[2 * j], x1 = x[2 * j + 1];
    x[2 * j] = x0 * c - x1 * s;
    x[2 * j + 1] = x0 * s + x1 * c;
  }
  return x;
}

// Hugging Face's: x * cos + rotate_half(x) * sin, rotating (x[j], x[j + d/2]).
std::vector<float> rope_rotate_half(std::vector<float> x, int pos) {
  const size_t d = x.size(), h = d / 2;
  for (size_t j = 0; j < h; ++j) {
    const double a = pos * std::pow(10000.0, -2.0 * static_cast<double>(j) / d);
    const float c = static_cast<float>(std::cos(a)), s = static_cast<float>(std::sin(a));
    const float x0 = x[j], x1 = x[j + h];
    x[j] = x0 * c - x1 * s;
    x[j + h] = x1 * c + x0 * s;
  }
  return x;
}

std::vector<float> matvec(const std::vector<float>& w, const std::vector<float>& x) {
  std::vector<float> y(w.size() / x.size(), 0.0f);
  for (size_t r = 0; r < y.size(); ++r) {
    for (size_t c = 0; c < x.size(); ++c) y[r] += w[r * x.size() + c] * x[c];
  }
  return y;
}

TEST(Llama2c, PermutedRowsTurnInterleavedRopeIntoRotateHalf) {
  // One head of 6 over 3 inputs: q = W x, then each RoPE in its own layout.
  constexpr int64_t d = 6, cols = 3;
  std::vector<float> w(d * cols), x = {0.5f, -1.0f, 2.0f}, x2 = {1.5f, 0.25f, -0.75f};
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(static_cast<float>(i) + 1.0f);
  std::vector<float> w_hf(w.size());
  permute_rope_rows_to_hf(w, w_hf, 1, d, cols);
  // Rows 0, 2, 4 then 1, 3, 5.
  EXPECT_EQ(w_hf[1 * cols], w[2 * cols]);
  EXPECT_EQ(w_hf[3 * cols + 2], w[1 * cols + 2]);

  for (int pos : {0, 1, 7}) {
    const auto q_llama2c = rope_interleaved(matvec(w, x), pos);
    const auto q_hf = rope_rotate_half(matvec(w_hf, x), pos);
    for (int64_t j = 0; j < d / 2; ++j) {
      for (int64_t p = 0; p < 2; ++p) {
        EXPECT_FLOAT_EQ(q_hf[p * d / 2 + j], q_llama2c[2 * j + p]) << pos << " " << j;
      }
    }
    // And so attention scores agree: q.k is the same in both layouts.
    const auto k_llama2c = rope_interleaved(matvec(w, x2), pos + 2);
    const auto k_hf = rope_rotate_half(matvec(w_hf, x2), pos + 2);
    float s1 = 0, s2 = 0;
    for (int64_t i = 0; i < d; ++i) {
      s1 += q_llama2c[i] * k_llama2c[i];
      s2 += q_hf[i] * k_hf[i];
    }
    EXPECT_NEAR(s1, s2, 1e-5f);
  }
}

}  // namespace
}  // namespace waypoint
