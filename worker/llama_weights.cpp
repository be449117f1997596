#include "worker/llama_weights.hpp"

#include <string>

namespace waypoint {

Result<void> check_tp_divides(const ModelConfig& c, int32_t tp) {
  if (tp < 1) return Error{"--tensor-parallel-size must be at least 1"};
  auto divides = [&](const char* what, int32_t n) -> Result<void> {
    if (n % tp == 0) return {};
    return Error{std::string(what) + " (" + std::to_string(n) +
                 ") is not divisible by --tensor-parallel-size " + std::to_string(tp)};
  };
  for (auto r : {divides("num_attention_heads", c.num_attention_heads),
                 divides("num_key_value_heads", c.num_key_value_heads),
                 divides("intermediate_size", c.intermediate_size)}) {
    if (!r) return r;
  }
  return {};
}

namespace {

// Appends `part` to `out`, or reports why it could not be read.
Result<void> append(std::vector<float>& out, Result<std::vector<float>> part) {
  if (!part) return part.error();
  out.insert(out.end(), part->begin(), part->end());
  return {};
}

}  // namespace

Result<LlamaWeights> load_llama_weights(const ModelConfig& c, const WeightStore& store,
                                        TpShard shard) {
  if (auto ok = check_tp_divides(c, shard.world_size); !ok) return ok.error();
  const int64_t hidden = c.hidden_size;
  const int64_t d = c.head_dim;
  const int64_t q_rows = int64_t{c.num_attention_heads} * d;
  const int64_t kv_rows = int64_t{c.num_key_value_heads} * d;
  const int64_t inter = c.intermediate_size;
  const int64_t q_per = q_rows / shard.world_size;
  const int64_t kv_per = kv_rows / shard.world_size;
  const int64_t inter_per = inter / shard.world_size;
  const int64_t r = shard.rank;

  LlamaWeights w;
  auto embed = store.read_f32("model.embed_tokens.weight", {c.vocab_size, hidden});
  if (!embed) return embed.error();
  w.embed_tokens = std::move(*embed);
  auto norm = store.read_f32("model.norm.weight", {hidden});
  if (!norm) return norm.error();
  w.norm = std::move(*norm);
  if (!c.tie_word_embeddings && store.contains("lm_head.weight")) {
    auto head = store.read_f32("lm_head.weight", {c.vocab_size, hidden});
    if (!head) return head.error();
    w.lm_head = std::move(*head);
  }

  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int32_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LlamaLayerWeights& l = w.layers[static_cast<size_t>(i)];
    auto in_norm = store.read_f32(p + "input_layernorm.weight", {hidden});
    if (!in_norm) return in_norm.error();
    l.input_layernorm = std::move(*in_norm);
    auto post_norm = store.read_f32(p + "post_attention_layernorm.weight", {hidden});
    if (!post_norm) return post_norm.error();
    l.post_attention_layernorm = std::move(*post_norm);

    const std::string a = p + "self_attn.";
    for (auto ok : {append(l.qkv_proj, store.read_f32_rows(a + "q_proj.weight", {q_rows, hidden},
                                                           r * q_per, (r + 1) * q_per)),
                    append(l.qkv_proj, store.read_f32_rows(a + "k_proj.weight", {kv_rows, hidden},
                                                           r * kv_per, (r + 1) * kv_per)),
                    append(l.qkv_proj, store.read_f32_rows(a + "v_proj.weight", {kv_rows, hidden},
                                                           r * kv_per, (r + 1) * kv_per))}) {
      if (!ok) return ok.error();
    }
    if (c.attention_bias) {
      for (auto ok : {append(l.qkv_bias, store.read_f32_rows(a + "q_proj.bias", {q_rows}, r * q_per,
                                                             (r + 1) * q_per)),
                      append(l.qkv_bias, store.read_f32_rows(a + "k_proj.bias", {kv_rows},
                                                             r * kv_per, (r + 1) * kv_per)),
                      append(l.qkv_bias, store.read_f32_rows(a + "v_proj.bias", {kv_rows},
                                                             r * kv_per, (r + 1) * kv_per))}) {
        if (!ok) return ok.error();
      }
    }
    auto o = store.read_f32_cols(a + "o_proj.weight", {hidden, q_rows}, r * q_per, (r + 1) * q_per);
    if (!o) return o.error();
    l.o_proj = std::move(*o);

    const std::string m = p + "mlp.";
    for (auto ok :
         {append(l.gate_up_proj, store.read_f32_rows(m + "gate_proj.weight", {inter, hidden},
                                                     r * inter_per, (r + 1) * inter_per)),
          append(l.gate_up_proj, store.read_f32_rows(m + "up_proj.weight", {inter, hidden},
                                                     r * inter_per, (r + 1) * inter_per))}) {
      if (!ok) return ok.error();
    }
    auto down = store.read_f32_cols(m + "down_proj.weight", {hidden, inter}, r * inter_per,
                                    (r + 1) * inter_per);
    if (!down) return down.error();
    l.down_proj = std::move(*down);
  }
  return w;
}

}  // namespace waypoint
