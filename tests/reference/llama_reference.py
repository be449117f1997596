#!/usr/bin/python3
"""Independent numpy reference for Llama-family causal LMs (LlamaForCausalLM,
Qwen2ForCausalLM), used to check the logits of Waypoint's C++ worker.

This file was written from the Hugging Face `transformers` modelling code's
semantics only; it shares no code with (and was written without reading) the
C++ engine, so agreement between the two is meaningful evidence.

Precision: every weight is decoded from its stored dtype (F32, F16, BF16 or
F64) and then ALL arithmetic is done in float64 (numpy.float64). The result is
therefore the exact-arithmetic forward pass of the *stored* weights, up to
float64 rounding (~1e-15 relative), which is what a float32 engine should be
within ~1e-5..1e-4 of. Note that Hugging Face itself runs bf16/f16 models in
that dtype (rounding every intermediate), so for half-precision checkpoints
this reference is closer to an engine that upcasts to f32 than HF is.

Usage:
  llama_reference.py --model DIR --prompt-token-ids 1,2,3 [--max-tokens N]
                     [--all-logits] [--ignore-eos | --eos-token-ids 2,3]
                     [--check-incremental]
  llama_reference.py --self-test

Output (one JSON object on stdout):
  {"prompt_token_ids": [...],
   "token_ids": [greedy generated ids],
   "logits": [[vocab floats], ...],     # logits[i] picked token_ids[i];
                                        # logits[0] is at the last prompt position
   "finish_reason": "length" | "stop",
   "prompt_logits": [[...], ...]}       # only with --all-logits: one row per
                                        # prompt position
Only Debian's python3 + python3-numpy are needed; no torch.
"""

import argparse
import json
import math
import mmap
import os
import struct
import sys
import tempfile
import time

import numpy as np

# All computation is done in this dtype (see module docstring).
COMPUTE_DTYPE = np.float64

# --------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------

# dtype name -> (little-endian numpy storage dtype, bytes per element)
_ST_DTYPES = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),  # raw bits; decoded below
}


def bf16_bits_to_f32(bits):
    """uint16 bfloat16 bit patterns -> float32 (exact: bf16 is the high half)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x):
    """float32 -> bfloat16 bits, round-to-nearest-even (finite inputs only)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bias = ((u >> 16) & 1) + 0x7FFF
    return ((u + bias) >> 16).astype(np.uint16)


def read_safetensors(path):
    """Return {name: float64 ndarray} for one .safetensors file."""
    file_size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: file shorter than 8 bytes")
        (header_len,) = struct.unpack("<Q", head)
        if 8 + header_len > file_size:
            raise ValueError(f"{path}: header length {header_len} exceeds file size")
        header = json.loads(f.read(header_len).decode("utf-8"))
        data_start = 8 + header_len
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if file_size > 0 else b""
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt}")
        np_dt, itemsize = _ST_DTYPES[dt]
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * itemsize or begin < 0 or data_start + end > file_size:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {begin},{end} "
                             f"for shape {shape} dtype {dt}")
        raw = np.frombuffer(mm, dtype=np_dt, count=count, offset=data_start + begin)
        if dt == "BF16":
            vals = bf16_bits_to_f32(raw)
        else:
            vals = raw
        out[name] = np.array(vals, dtype=COMPUTE_DTYPE).reshape(shape)  # copy
        del raw, vals
    return out


def write_safetensors(path, tensors, dtype):
    """Write {name: float ndarray} as one safetensors file with every tensor in
    `dtype` ("F32", "F16", "BF16" or "F64"). Used by the self-test."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if dtype == "F32":
            b = a.astype("<f4").tobytes()
        elif dtype == "F64":
            b = a.astype("<f8").tobytes()
        elif dtype == "F16":
            b = a.astype("<f2").tobytes()
        elif dtype == "BF16":
            b = f32_to_bf16_bits(a.astype(np.float32)).astype("<u2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load_weights(model_dir):
    """All tensors of a model dir: model.safetensors, or the shards listed in
    model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        weights = {}
        for shard in sorted(set(weight_map.values())):
            for name, arr in read_safetensors(os.path.join(model_dir, shard)).items():
                if name in weights:
                    raise ValueError(f"tensor {name} appears in more than one shard")
                weights[name] = arr
        missing = [n for n in weight_map if n not in weights]
        if missing:
            raise ValueError(f"index lists tensors not found in shards: {missing[:5]}")
        return weights
    if os.path.exists(single):
        return read_safetensors(single)
    raise FileNotFoundError(f"{model_dir}: no model.safetensors or model.safetensors.index.json")


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------

class Config:
    """The subset of a HF LlamaConfig / Qwen2Config that the forward uses."""

    def __init__(self, d):
        self.raw = d
        self.model_type = d.get("model_type", "")
        archs = d.get("architectures") or []
        if self.model_type not in ("llama", "qwen2"):
            if "Qwen2ForCausalLM" in archs:
                self.model_type = "qwen2"
            elif "LlamaForCausalLM" in archs:
                self.model_type = "llama"
            else:
                raise ValueError(f"unsupported model_type {self.model_type!r} / architectures {archs}")
        self.hidden_size = int(d["hidden_size"])
        self.intermediate_size = int(d["intermediate_size"])
        self.num_hidden_layers = int(d["num_hidden_layers"])
        self.num_attention_heads = int(d["num_attention_heads"])
        # HF: num_key_value_heads defaults to num_attention_heads (MHA).
        kv = d.get("num_key_value_heads")
        self.num_key_value_heads = int(kv) if kv is not None else self.num_attention_heads
        # HF: head_dim = config.head_dim if set (and not null) else hidden/heads.
        hd = d.get("head_dim")
        self.head_dim = int(hd) if hd is not None else self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads not a multiple of num_key_value_heads")
        self.vocab_size = int(d["vocab_size"])
        self.rms_norm_eps = float(d.get("rms_norm_eps", 1e-6))
        act = d.get("hidden_act", "silu")
        if act != "silu":
            raise ValueError(f"unsupported hidden_act {act!r}")
        self.tie_word_embeddings = bool(d.get("tie_word_embeddings", False))
        if self.model_type == "qwen2":
            # Qwen2Attention: q/k/v have bias=True, o_proj bias=False; MLP no bias.
            self.qkv_bias, self.o_bias, self.mlp_bias = True, False, False
            if d.get("use_sliding_window", False):
                raise ValueError("use_sliding_window=true is not supported")
        else:
            # LlamaAttention: all four projections use config.attention_bias.
            ab = bool(d.get("attention_bias", False))
            self.qkv_bias, self.o_bias = ab, ab
            self.mlp_bias = bool(d.get("mlp_bias", False))

        # RoPE. transformers <5 keeps rope_theta / rope_scaling at top level;
        # transformers 5 uses rope_parameters {rope_type, rope_theta, ...}.
        rp = d.get("rope_parameters")
        if isinstance(rp, dict):
            self.rope_theta = float(rp.get("rope_theta", d.get("rope_theta", 10000.0)))
            scaling = rp
        else:
            self.rope_theta = float(d.get("rope_theta", 10000.0))
            scaling = d.get("rope_scaling")
        self.rope_type = "default"
        self.rope_scaling = None
        if scaling:
            # legacy key "type" is accepted like HF does.
            self.rope_type = scaling.get("rope_type", scaling.get("type", "default"))
            if self.rope_type not in ("default", "llama3"):
                raise ValueError(f"unsupported rope_type {self.rope_type!r}")
            if self.rope_type == "llama3":
                self.rope_scaling = {
                    "factor": float(scaling["factor"]),
                    "low_freq_factor": float(scaling["low_freq_factor"]),
                    "high_freq_factor": float(scaling["high_freq_factor"]),
                    "original_max_position_embeddings":
                        float(scaling["original_max_position_embeddings"]),
                }
        prf = d.get("partial_rotary_factor", 1.0)
        if prf is not None and float(prf) != 1.0:
            raise ValueError("partial_rotary_factor != 1 is not supported")

    def eos_token_ids(self, model_dir=None):
        """EOS set: config.json eos_token_id (int or list) united with
        generation_config.json's eos_token_id (int or list) when present."""
        ids = set()

        def add(v):
            if v is None:
                return
            if isinstance(v, list):
                ids.update(int(x) for x in v)
            else:
                ids.add(int(v))

        add(self.raw.get("eos_token_id"))
        if model_dir:
            gc = os.path.join(model_dir, "generation_config.json")
            if os.path.exists(gc):
                with open(gc) as f:
                    add(json.load(f).get("eos_token_id"))
        return ids


# --------------------------------------------------------------------------
# RoPE
# --------------------------------------------------------------------------

def rope_inv_freq(cfg):
    """inv_freq[i] = theta^(-2i/d), i < d/2, then llama3 scaling exactly as
    transformers' _compute_llama3_parameters (computed in float64 here; HF does
    it in float32)."""
    d = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (np.arange(0, d, 2, dtype=np.int64).astype(np.float64) / d))
    if cfg.rope_type == "llama3":
        s = cfg.rope_scaling
        factor = s["factor"]
        low_freq_factor = s["low_freq_factor"]
        high_freq_factor = s["high_freq_factor"]
        old_context_len = s["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        inv_freq = np.where(is_medium, smoothed, inv_freq_llama)
    # attention_factor is 1.0 for both default and llama3.
    return inv_freq


def rope_cos_sin(positions, inv_freq):
    freqs = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)  # [T, head_dim]
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def apply_rope(x, cos, sin):
    """x: [T, H, D]; cos/sin: [T, D]."""
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


# When set (--bf16-activations), every matrix product rounds its input to
# bf16 first, as the CPU engine does for bf16 weights on AVX512-BF16 (and as
# llama.cpp does): the products themselves stay exact in float64.
BF16_ACTIVATIONS = False


def matmul_input(x):
    if not BF16_ACTIVATIONS:
        return x
    return bf16_bits_to_f32(f32_to_bf16_bits(np.asarray(x, dtype=np.float32))).astype(COMPUTE_DTYPE)


def linear(x, w, b=None):
    y = matmul_input(x) @ w.T
    return y + b if b is not None else y


class LlamaReference:
    def __init__(self, cfg, weights):
        self.cfg = cfg
        W = dict(weights)
        self.unused = set(W)

        def take(name, shape, required=True):
            if name not in W:
                if required:
                    raise KeyError(f"missing tensor {name}")
                return None
            a = W[name]
            if tuple(a.shape) != tuple(shape):
                raise ValueError(f"tensor {name}: shape {list(a.shape)} != expected {list(shape)}")
            self.unused.discard(name)
            return a

        H, I, V, D = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.head_dim
        nq, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.embed = take("model.embed_tokens.weight", (V, H))
        self.layers = []
        for i in range(cfg.num_hidden_layers):
            p = f"model.layers.{i}."
            L = {
                "in_norm": take(p + "input_layernorm.weight", (H,)),
                "post_norm": take(p + "post_attention_layernorm.weight", (H,)),
                "q": take(p + "self_attn.q_proj.weight", (nq * D, H)),
                "k": take(p + "self_attn.k_proj.weight", (nkv * D, H)),
                "v": take(p + "self_attn.v_proj.weight", (nkv * D, H)),
                "o": take(p + "self_attn.o_proj.weight", (H, nq * D)),
                "gate": take(p + "mlp.gate_proj.weight", (I, H)),
                "up": take(p + "mlp.up_proj.weight", (I, H)),
                "down": take(p + "mlp.down_proj.weight", (H, I)),
                "qb": None, "kb": None, "vb": None, "ob": None,
                "gateb": None, "upb": None, "downb": None,
            }
            if cfg.qkv_bias:
                L["qb"] = take(p + "self_attn.q_proj.bias", (nq * D,))
                L["kb"] = take(p + "self_attn.k_proj.bias", (nkv * D,))
                L["vb"] = take(p + "self_attn.v_proj.bias", (nkv * D,))
            if cfg.o_bias:
                L["ob"] = take(p + "self_attn.o_proj.bias", (H,))
            if cfg.mlp_bias:
                L["gateb"] = take(p + "mlp.gate_proj.bias", (I,))
                L["upb"] = take(p + "mlp.up_proj.bias", (I,))
                L["downb"] = take(p + "mlp.down_proj.bias", (H,))
            self.layers.append(L)
        self.norm = take("model.norm.weight", (H,))
        # HF ties lm_head to embed_tokens when tie_word_embeddings; a checkpoint
        # without lm_head.weight is also treated as tied.
        lm = None if cfg.tie_word_embeddings else take("lm_head.weight", (V, H), required=False)
        self.lm_head = lm if lm is not None else self.embed
        self.unused.discard("lm_head.weight")
        self.unused = {n for n in self.unused if not n.endswith("rotary_emb.inv_freq")}
        self.inv_freq = rope_inv_freq(cfg)

    @classmethod
    def from_dir(cls, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = Config(json.load(f))
        return cls(cfg, load_weights(model_dir))

    def _check_ids(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError("need a non-empty 1-D list of token ids")
        if ids.min() < 0 or ids.max() >= self.embed.shape[0]:
            raise ValueError(f"token id out of range [0, {self.embed.shape[0]})")
        return ids

    # ---- full (recompute) forward -------------------------------------
    def forward(self, ids):
        """Logits [T, vocab] for every position of `ids` (causal)."""
        cfg = self.cfg
        ids = self._check_ids(ids)
        T = ids.size
        nq, nkv, D = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        n_rep = nq // nkv
        scale = 1.0 / math.sqrt(D)
        cos, sin = rope_cos_sin(np.arange(T), self.inv_freq)
        causal = np.triu(np.ones((T, T), dtype=bool), k=1)  # True = masked (future)
        x = self.embed[ids].astype(COMPUTE_DTYPE)
        for L in self.layers:
            h = rms_norm(x, L["in_norm"], cfg.rms_norm_eps)
            q = linear(h, L["q"], L["qb"]).reshape(T, nq, D)
            k = linear(h, L["k"], L["kb"]).reshape(T, nkv, D)
            v = linear(h, L["v"], L["vb"]).reshape(T, nkv, D)
            q = apply_rope(q, cos, sin)
            k = apply_rope(k, cos, sin)
            attn = np.empty((T, nq, D), dtype=COMPUTE_DTYPE)
            for hq in range(nq):
                hk = hq // n_rep  # HF repeat_kv: kv head j serves q heads j*n_rep..(j+1)*n_rep-1
                s = (q[:, hq, :] @ k[:, hk, :].T) * scale
                s = np.where(causal, -np.inf, s)
                s = s - s.max(axis=-1, keepdims=True)
                p = np.exp(s)
                p = p / p.sum(axis=-1, keepdims=True)
                attn[:, hq, :] = p @ v[:, hk, :]
            x = x + linear(attn.reshape(T, nq * D), L["o"], L["ob"])
            h = rms_norm(x, L["post_norm"], cfg.rms_norm_eps)
            g = linear(h, L["gate"], L["gateb"])
            u = linear(h, L["up"], L["upb"])
            x = x + linear(silu(g) * u, L["down"], L["downb"])
        x = rms_norm(x, self.norm, cfg.rms_norm_eps)
        return matmul_input(x) @ self.lm_head.T

    # ---- incremental (KV cache) forward, used only to cross-check -----
    def new_cache(self):
        return [{"k": [], "v": []} for _ in self.layers]

    def step(self, token, pos, cache):
        """Logits [vocab] for one token at position `pos`, appending its K/V to
        `cache`. Written separately from forward() (per-token vectors, an
        explicit loop over cached keys, log-sum-exp softmax)."""
        cfg = self.cfg
        nq, nkv, D = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        group = nq // nkv
        x = self.embed[int(token)].astype(COMPUTE_DTYPE)
        ang = pos * self.inv_freq
        c, s_ = np.cos(ang), np.sin(ang)

        def rope_vec(vec):  # vec [heads, D]; rotate pairs (i, i + D/2)
            a, b = vec[:, : D // 2], vec[:, D // 2:]
            return np.concatenate([a * c - b * s_, b * c + a * s_], axis=-1)

        for li, L in enumerate(self.layers):
            h = rms_norm(x, L["in_norm"], cfg.rms_norm_eps)
            q = rope_vec(linear(h, L["q"], L["qb"]).reshape(nq, D))
            k = rope_vec(linear(h, L["k"], L["kb"]).reshape(nkv, D))
            v = linear(h, L["v"], L["vb"]).reshape(nkv, D)
            cache[li]["k"].append(k)
            cache[li]["v"].append(v)
            if len(cache[li]["k"]) != pos + 1:
                raise RuntimeError("cache length does not match position")
            out = np.zeros((nq, D))
            for hq in range(nq):
                hk = hq // group
                scores = np.array([float(np.dot(q[hq], kk[hk])) for kk in cache[li]["k"]]) / math.sqrt(D)
                m = scores.max()
                lse = m + math.log(np.sum(np.exp(scores - m)))
                w = np.exp(scores - lse)
                for j, vv in enumerate(cache[li]["v"]):
                    out[hq] += w[j] * vv[hk]
            x = x + linear(out.reshape(nq * D), L["o"], L["ob"])
            h = rms_norm(x, L["post_norm"], cfg.rms_norm_eps)
            x = x + linear(silu(linear(h, L["gate"], L["gateb"])) * linear(h, L["up"], L["upb"]),
                           L["down"], L["downb"])
        x = rms_norm(x, self.norm, cfg.rms_norm_eps)
        return self.lm_head @ matmul_input(x)

    def forward_incremental(self, ids):
        ids = self._check_ids(ids)
        cache = self.new_cache()
        return np.stack([self.step(t, p, cache) for p, t in enumerate(ids)])

    # ---- greedy generation --------------------------------------------
    def generate(self, prompt_ids, max_tokens, eos_ids=(), all_logits=False):
        """Greedy decoding by full recompute each step. Stops after max_tokens
        tokens, or right after emitting a token in eos_ids (that token is
        included in token_ids, as vLLM does)."""
        seq = [int(t) for t in self._check_ids(prompt_ids)]
        result = {"prompt_token_ids": list(seq), "token_ids": [], "logits": [],
                  "finish_reason": "length"}
        prompt_logits = None
        for step in range(max_tokens):
            all_l = self.forward(seq)
            if step == 0:
                prompt_logits = all_l
            row = all_l[-1]
            if not np.all(np.isfinite(row)):
                raise FloatingPointError("non-finite logits")
            tok = int(np.argmax(row))  # first maximum = lowest id on ties
            result["token_ids"].append(tok)
            result["logits"].append(row)
            seq.append(tok)
            if tok in eos_ids:
                result["finish_reason"] = "stop"
                break
        if all_logits:
            if prompt_logits is None:
                prompt_logits = self.forward(seq)
            result["prompt_logits"] = prompt_logits
        return result


# --------------------------------------------------------------------------
# self-test
# --------------------------------------------------------------------------

def _tiny_config(kind, **over):
    base = {
        "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 64,
        "rms_norm_eps": 1e-5, "hidden_act": "silu", "max_position_embeddings": 128,
        "bos_token_id": 1, "eos_token_id": 2,
    }
    if kind == "llama":
        base.update({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "head_dim": 16,  # != hidden/heads (8): exercises explicit head_dim
            "rope_theta": 10000.0, "tie_word_embeddings": True, "attention_bias": False,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        })
    else:
        base.update({
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            # no head_dim: derived as 32 / 4 = 8
            "rope_theta": 1000000.0, "tie_word_embeddings": False,
            "use_sliding_window": False, "eos_token_id": [2, 3],
        })
    base.update(over)
    return base


def _random_weights(cfg, rng, scale=0.2):
    H, I, V, D = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.head_dim
    nq, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    r = lambda *s: (rng.standard_normal(s) * scale).astype(np.float32)
    w = {"model.embed_tokens.weight": r(V, H) * 5, "model.norm.weight": 1 + r(H)}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        w.update({
            p + "input_layernorm.weight": 1 + r(H), p + "post_attention_layernorm.weight": 1 + r(H),
            p + "self_attn.q_proj.weight": r(nq * D, H), p + "self_attn.k_proj.weight": r(nkv * D, H),
            p + "self_attn.v_proj.weight": r(nkv * D, H), p + "self_attn.o_proj.weight": r(H, nq * D),
            p + "mlp.gate_proj.weight": r(I, H), p + "mlp.up_proj.weight": r(I, H),
            p + "mlp.down_proj.weight": r(H, I),
        })
        if cfg.qkv_bias:
            w.update({p + "self_attn.q_proj.bias": r(nq * D), p + "self_attn.k_proj.bias": r(nkv * D),
                      p + "self_attn.v_proj.bias": r(nkv * D)})
    if not cfg.tie_word_embeddings:
        w["lm_head.weight"] = r(V, H) * 5
    return w


def _save_model(dirname, cfg_dict, weights, dtype, shards=1):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, "config.json"), "w") as f:
        json.dump(cfg_dict, f)
    names = sorted(weights)
    if shards == 1:
        write_safetensors(os.path.join(dirname, "model.safetensors"), weights, dtype)
        return
    weight_map = {}
    for s in range(shards):
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: weights[n] for n in names[s::shards]}
        write_safetensors(os.path.join(dirname, fn), part, dtype)
        weight_map.update({n: fn for n in part})
    with open(os.path.join(dirname, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)


def _bf16_round_independent(x):
    """Nearest bf16 to each float32 by comparing the two neighbours (ties to
    even mantissa); deliberately a different method from f32_to_bf16_bits."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32)
    lo_bits = u & np.uint32(0xFFFF0000)
    hi_bits = lo_bits + np.uint32(0x10000)
    lo = lo_bits.view(np.float32).astype(np.float64)
    hi = hi_bits.view(np.float32).astype(np.float64)
    xd = np.asarray(x, dtype=np.float32).astype(np.float64)
    dlo, dhi = np.abs(xd - lo), np.abs(hi - xd)
    lo_even = ((lo_bits >> 16) & 1) == 0
    pick_lo = (dlo < dhi) | ((dlo == dhi) & lo_even)
    return np.where(pick_lo, lo, hi)


class _Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}" + (f"  ({detail})" if detail else ""))
        else:
            self.failed += 1
            print(f"FAIL {name}" + (f"  ({detail})" if detail else ""))


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def self_test():
    t0 = time.time()
    C = _Checks()
    rng = np.random.default_rng(1234)
    tmp = tempfile.mkdtemp(prefix="llama_ref_selftest_")
    try:
        # (a0) hand-made safetensors bytes: F32/F16/BF16 decode.
        hdr = {"a": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]},
               "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]},
               "c": {"dtype": "F32", "shape": [1, 2], "data_offsets": [12, 20]},
               "__metadata__": {"x": "y"}}
        hb = json.dumps(hdr).encode()
        data = (struct.pack("<4H", 0x3F80, 0xC000, 0x3FC0, 0x0000)
                + struct.pack("<2H", 0x3C00, 0xC400)          # f16 1.0, -4.0
                + struct.pack("<2f", 0.1, -3.5))
        p = os.path.join(tmp, "hand.safetensors")
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + data)
        t = read_safetensors(p)
        C.check("safetensors hand-made bytes decode",
                list(t["a"]) == [1.0, -2.0, 1.5, 0.0] and list(t["b"]) == [1.0, -4.0]
                and t["c"].shape == (1, 2) and t["c"][0, 0] == float(np.float32(0.1))
                and t["c"][0, 1] == -3.5 and set(t) == {"a", "b", "c"})
        # bf16 round-to-nearest-even on hand values
        hv = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20, -(1 + 2**-8 + 2**-20)],
                      dtype=np.float32)
        C.check("bf16 RNE hand values",
                list(bf16_bits_to_f32(f32_to_bf16_bits(hv)).astype(np.float64))
                == [1.0, 1.0, 1 + 2**-6, 1 + 2**-7, -(1 + 2**-7)])

        for kind in ("llama", "qwen2"):
            cfg_dict = _tiny_config(kind)
            cfg = Config(cfg_dict)
            w32 = _random_weights(cfg, rng)
            ids = [int(i) for i in rng.integers(0, cfg.vocab_size, size=7)]
            ref_model = None
            # (a) each dtype loads as the expected rounding; sharded == unsharded.
            for dtype in ("F32", "F16", "BF16"):
                d = os.path.join(tmp, f"{kind}_{dtype}")
                _save_model(d, cfg_dict, w32, dtype)
                m = LlamaReference.from_dir(d)
                loaded = load_weights(d)
                ok = set(loaded) == set(w32)
                for n, a in w32.items():
                    if dtype == "F32":
                        exp = a.astype(np.float64)
                    elif dtype == "F16":
                        exp = a.astype(np.float16).astype(np.float64)
                    else:
                        exp = _bf16_round_independent(a)
                    ok = ok and loaded[n].dtype == np.float64 and np.array_equal(loaded[n], exp)
                C.check(f"{kind} {dtype}: loaded values equal expected rounding", ok)
                C.check(f"{kind} {dtype}: no unused tensors", not m.unused, str(sorted(m.unused)))
                ds = os.path.join(tmp, f"{kind}_{dtype}_sharded")
                _save_model(ds, cfg_dict, w32, dtype, shards=3)
                ms = LlamaReference.from_dir(ds)
                C.check(f"{kind} {dtype}: sharded logits == single-file logits",
                        np.array_equal(ms.forward(ids), m.forward(ids)))
                if dtype == "F32":
                    ref_model = m
            m = ref_model
            full = m.forward(ids)
            C.check(f"{kind}: logits finite, shape", full.shape == (len(ids), cfg.vocab_size)
                    and np.all(np.isfinite(full)))
            # (b) causality
            ids2 = list(ids)
            for j in range(4, len(ids2)):
                ids2[j] = (ids2[j] + 17) % cfg.vocab_size
            full2 = m.forward(ids2)
            prefix = m.forward(ids[:4])
            C.check(f"{kind}: causality (later tokens changed)",
                    _rel(full2[:4], full[:4]) < 1e-13 and _rel(full2[4:], full[4:]) > 1e-3,
                    f"rel diff {_rel(full2[:4], full[:4]):.1e}")
            C.check(f"{kind}: causality (prefix-only forward)", _rel(prefix, full[:4]) < 1e-13)
            # (c) incremental KV cache == full recompute
            inc = m.forward_incremental(ids)
            C.check(f"{kind}: incremental KV-cache == full recompute (1e-10)",
                    _rel(inc, full) < 1e-10, f"rel diff {_rel(inc, full):.1e}")
            # generation: logits[i] picked token_ids[i]
            g = m.generate(ids, 4, eos_ids=set(), all_logits=True)
            seq = ids + g["token_ids"]
            fl = m.forward(seq)
            ok = len(g["token_ids"]) == 4 and np.array_equal(g["prompt_logits"], full)
            for i, tok in enumerate(g["token_ids"]):
                ok = ok and tok == int(np.argmax(g["logits"][i]))
                ok = ok and _rel(g["logits"][i], fl[len(ids) - 1 + i]) < 1e-12
            C.check(f"{kind}: greedy generate consistent", ok)
            # eos stop
            g1 = m.generate(ids, 3, eos_ids={g["token_ids"][0]})
            C.check(f"{kind}: stops after eos token",
                    g1["token_ids"] == g["token_ids"][:1] and g1["finish_reason"] == "stop")
            # (f) GQA mapping: duplicating each kv head (repeat_interleave) into a
            # 4-kv-head model must give identical logits.
            cfg_mha = dict(cfg_dict, num_key_value_heads=4)
            wm = dict(w32)
            D, H = cfg.head_dim, cfg.hidden_size
            for i in range(cfg.num_hidden_layers):
                for pr in ("k_proj", "v_proj"):
                    n = f"model.layers.{i}.self_attn.{pr}.weight"
                    wm[n] = np.repeat(w32[n].reshape(2, D, H), 2, axis=0).reshape(4 * D, H)
                    nb = f"model.layers.{i}.self_attn.{pr}.bias"
                    if nb in w32:
                        wm[nb] = np.repeat(w32[nb].reshape(2, D), 2, axis=0).reshape(4 * D)
            mm = LlamaReference(Config(cfg_mha), {k: v.astype(np.float64) for k, v in wm.items()})
            C.check(f"{kind}: GQA q-head h uses kv-head h // n_rep",
                    _rel(mm.forward(ids), full) < 1e-12)

        # tied vs untied / bias presence
        C.check("qwen2 config: qkv bias, untied", Config(_tiny_config("qwen2")).qkv_bias
                and not Config(_tiny_config("qwen2")).tie_word_embeddings)
        C.check("eos list from config", Config(_tiny_config("qwen2")).eos_token_ids() == {2, 3})

        # (d) hand-checkable: 1 layer, all projections zero, so each position's
        # final hidden state is its embedding e and logits = rmsnorm(e)*g . Head^T,
        # computed here with plain Python floats.
        def hand_logits(E, gw, head, ids, eps, hidden):
            out = np.zeros((len(ids), head.shape[0]))
            for t, tok in enumerate(ids):
                e = E[tok]
                ms = sum(float(v) * float(v) for v in e) / hidden
                r = [float(v) / math.sqrt(ms + eps) * float(gg) for v, gg in zip(e, gw)]
                for vv in range(head.shape[0]):
                    out[t, vv] = sum(a * float(b) for a, b in zip(r, head[vv]))
            return out

        for kind, tie, with_head in (("llama", True, False), ("llama", True, True),
                                     ("qwen2", False, True)):
            cfg_dict = _tiny_config(kind, num_hidden_layers=1, tie_word_embeddings=tie)
            cfg = Config(cfg_dict)
            w = {n: np.zeros_like(a) for n, a in _random_weights(cfg, rng).items()}
            E = rng.standard_normal((cfg.vocab_size, cfg.hidden_size))
            Lh = rng.standard_normal((cfg.vocab_size, cfg.hidden_size))
            gw = 1 + 0.3 * rng.standard_normal(cfg.hidden_size)
            w["model.embed_tokens.weight"] = E
            w["model.norm.weight"] = gw
            if with_head:
                w["lm_head.weight"] = Lh  # ignored when tie_word_embeddings (HF ties)
            m = LlamaReference(cfg, w)
            ids = [5, 9, 9, 63, 0]
            got = m.forward(ids)
            head = E if tie else Lh
            exp = hand_logits(E, gw, head, ids, cfg.rms_norm_eps, cfg.hidden_size)
            what = ("tied" if tie else "untied lm_head") + (" (lm_head.weight present)" if tie and with_head else "")
            C.check(f"zero-weight 1-layer {kind} {what}: logits = rmsnorm(e)*g . head^T",
                    _rel(got, exp) < 1e-12, f"rel diff {_rel(got, exp):.1e}")

        # (e) RoPE
        cfg = Config(_tiny_config("llama"))
        inv = rope_inv_freq(cfg)
        q = rng.standard_normal((1, 3, cfg.head_dim))
        c0, s0 = rope_cos_sin([0], inv)
        C.check("rope: position 0 leaves q unchanged", np.array_equal(apply_rope(q, c0, s0), q))
        # rotate_half == complex rotation of pairs (i, i + d/2) by pos * inv_freq[i]
        pos = 11
        c, s = rope_cos_sin([pos], inv)
        half = cfg.head_dim // 2
        z = (q[..., :half] + 1j * q[..., half:]) * np.exp(1j * pos * inv)
        C.check("rope: rotate_half == complex rotation",
                np.allclose(apply_rope(q, c, s), np.concatenate([z.real, z.imag], -1), rtol=0, atol=1e-14))
        # relative-position property
        k = rng.standard_normal((1, 3, cfg.head_dim))
        def dot_at(m_, n_):
            cm, sm = rope_cos_sin([m_], inv)
            cn, sn = rope_cos_sin([n_], inv)
            return np.sum(apply_rope(q, cm, sm) * apply_rope(k, cn, sn))
        C.check("rope: <q_m, k_n> depends only on m - n", abs(dot_at(7, 3) - dot_at(24, 20)) < 1e-12)
        # llama3 inv_freq hand values: head_dim 8, theta 1e4, factor 8, low 1, high 4, orig 64
        #   base inv_freq = [1, 0.1, 0.01, 0.001]; wavelen = 2pi/inv = [6.28, 62.8, 628, 6283]
        #   high_freq_wavelen = 16, low_freq_wavelen = 64
        #   6.28 < 16 -> keep 1; 62.8 in [16, 64] -> smooth; 628, 6283 > 64 -> /8
        c8 = Config(_tiny_config("llama", head_dim=8))
        s_mid = (64 * 0.1 / (2 * math.pi) - 1) / 3
        hand = [1.0, (1 - s_mid) * 0.1 / 8 + s_mid * 0.1, 0.01 / 8, 0.001 / 8]
        got8 = rope_inv_freq(c8)
        C.check("rope: llama3 inv_freq hand values", np.allclose(got8, hand, rtol=1e-14, atol=0),
                f"{list(got8)}")
        c8d = Config(_tiny_config("llama", head_dim=8, rope_scaling=None))
        C.check("rope: default inv_freq = theta^(-2i/d)",
                np.allclose(rope_inv_freq(c8d), [1, 0.1, 0.01, 0.001], rtol=1e-14, atol=0))
        # rope_type "default" in rope_scaling and transformers-5 rope_parameters
        c_rp = Config(_tiny_config("llama", head_dim=8, rope_scaling=None, rope_theta=None,
                                   rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0,
                                                    "factor": 8.0, "low_freq_factor": 1.0,
                                                    "high_freq_factor": 4.0,
                                                    "original_max_position_embeddings": 64}))
        C.check("rope: rope_parameters (transformers 5) form", np.allclose(rope_inv_freq(c_rp), hand, rtol=1e-14))

        # CLI end to end (in-process): JSON schema
        d = os.path.join(tmp, "qwen2_F32")
        import io
        import contextlib
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["--model", d, "--prompt-token-ids", "1,2,3", "--max-tokens", "3",
                       "--all-logits", "--ignore-eos", "--check-incremental"])
        out = json.loads(buf.getvalue())
        C.check("CLI JSON schema", rc == 0 and out["prompt_token_ids"] == [1, 2, 3]
                and len(out["token_ids"]) == 3 and len(out["logits"]) == 3
                and all(len(r) == 64 for r in out["logits"]) and len(out["prompt_logits"]) == 3
                and out["finish_reason"] == "length")
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    dt = time.time() - t0
    print(f"self-test: {C.passed} passed, {C.failed} failed in {dt:.2f}s")
    return 0 if C.failed == 0 else 1


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def _parse_ids(s):
    ids = [int(x) for x in s.replace(" ", "").split(",") if x != ""]
    if not ids:
        raise argparse.ArgumentTypeError("empty token id list")
    return ids


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--model", help="model directory (config.json + safetensors)")
    ap.add_argument("--prompt-token-ids", type=_parse_ids, help="comma-separated ids")
    ap.add_argument("--max-tokens", type=int, default=1,
                    help="greedy tokens to generate (default 1)")
    ap.add_argument("--all-logits", action="store_true",
                    help="also output prompt_logits (every prompt position)")
    eos = ap.add_mutually_exclusive_group()
    eos.add_argument("--ignore-eos", action="store_true",
                     help="never stop early on an EOS token")
    eos.add_argument("--eos-token-ids", type=_parse_ids,
                     help="override the EOS set (default: config.json eos_token_id "
                          "plus generation_config.json eos_token_id)")
    ap.add_argument("--check-incremental", action="store_true",
                    help="also run the KV-cache path on the final sequence and fail "
                         "unless it matches full recompute to 1e-10 relative")
    ap.add_argument("--bf16-activations", action="store_true",
                    help="round every matrix product's input to bf16, as the CPU engine "
                         "computes with bf16 weights on AVX512-BF16")
    args = ap.parse_args(argv)
    global BF16_ACTIVATIONS
    BF16_ACTIVATIONS = args.bf16_activations
    if args.self_test:
        return self_test()
    if not args.model or args.prompt_token_ids is None:
        ap.error("--model and --prompt-token-ids are required (or --self-test)")
    if args.max_tokens < 0:
        ap.error("--max-tokens must be >= 0")
    model = LlamaReference.from_dir(args.model)
    if model.unused:
        print(f"warning: unused tensors: {sorted(model.unused)[:10]}", file=sys.stderr)
    if args.ignore_eos:
        eos_ids = set()
    elif args.eos_token_ids is not None:
        eos_ids = set(args.eos_token_ids)
    else:
        eos_ids = model.cfg.eos_token_ids(args.model)
    res = model.generate(args.prompt_token_ids, args.max_tokens, eos_ids, args.all_logits)
    if args.check_incremental:
        seq = res["prompt_token_ids"] + res["token_ids"]
        full = model.forward(seq)
        inc = model.forward_incremental(seq)
        rel = _rel(inc, full)
        print(f"incremental vs full recompute: max rel diff {rel:.2e}", file=sys.stderr)
        if not rel < 1e-10:
            print("error: incremental KV-cache path disagrees with full recompute", file=sys.stderr)
            return 1
    out = {"prompt_token_ids": res["prompt_token_ids"], "token_ids": res["token_ids"],
           "logits": [[float(v) for v in row] for row in res["logits"]],
           "finish_reason": res["finish_reason"]}
    if args.all_logits:
        out["prompt_logits"] = [[float(v) for v in row] for row in res["prompt_logits"]]
    sys.stdout.write(json.dumps(out, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
