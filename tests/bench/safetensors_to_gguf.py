#!/usr/bin/env python3
"""Convert a Waypoint / Hugging Face Llama model directory to a GGUF file for llama.cpp.

Input: a directory holding config.json, model.safetensors (or model-*.safetensors
with model.safetensors.index.json), tokenizer.json and optionally
tokenizer_config.json -- what `waypoint make-model` writes.

Output: one GGUF file with architecture "llama" and a gpt2-style BPE tokenizer,
written with llama.cpp's own gguf-py package (found through --llama-cpp-dir or
the LLAMA_CPP_DIR environment variable; it needs only numpy). The safetensors
files are read here with numpy (memory-mapped), so neither torch nor
transformers is needed. Use the Debian python (/usr/bin/python3).

Weight types: --dtype f32 writes every tensor as F32; --dtype bf16 writes 2-D
weights as BF16 and keeps 1-D tensors (norms, rope factors) in F32, as
llama.cpp's converter does. BF16 input written as BF16 keeps its exact bits, F32
input written as F32 keeps its exact values; BF16 -> F32 is exact, F32 -> BF16
rounds to nearest even. --dtype auto (the default) follows the input.

Layout: llama.cpp's rope pairs adjacent dimensions (2i, 2i+1) of each head
while Hugging Face's rotate_half pairs (i, i + head_dim/2), so the rows of
q_proj and k_proj are permuted per head (reshape(n_head, 2, head_dim/2, cols),
swap axes 1 and 2). rope_scaling of type "llama3" becomes llama.cpp's
rope_freqs.weight tensor of per-frequency divisors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------
# safetensors reading (numpy only)

_ST_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


class SafetensorsTensor:
    """A lazily read tensor: `dtype` is the safetensors dtype string; `raw()` is a
    read-only memory map (BF16 as uint16 bit patterns)."""

    def __init__(self, path: Path, dtype: str, shape: list[int], begin: int, end: int):
        self.path, self.dtype, self.shape, self.begin, self.end = path, dtype, tuple(shape), begin, end

    def raw(self) -> np.ndarray:
        npdt = _ST_DTYPES[self.dtype]
        count = int(np.prod(self.shape)) if self.shape else 1
        if count * npdt.itemsize != self.end - self.begin:
            raise ValueError(f"{self.path}: tensor byte range does not match its shape and dtype")
        arr = np.memmap(self.path, dtype=npdt, mode="r", offset=self.begin, shape=(count,))
        return arr.reshape(self.shape)


def read_safetensors_header(path: Path) -> dict[str, SafetensorsTensor]:
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n).decode("utf-8"))
    data_start = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        out[name] = SafetensorsTensor(path, info["dtype"], info["shape"], data_start + b, data_start + e)
    return out


def load_model_tensors(model_dir: Path) -> dict[str, SafetensorsTensor]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (model_dir / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        files = sorted(p.name for p in model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors files in {model_dir}")
    tensors: dict[str, SafetensorsTensor] = {}
    for fn in files:
        for name, t in read_safetensors_header(model_dir / fn).items():
            if name in tensors:
                raise ValueError(f"tensor {name} appears in more than one file")
            tensors[name] = t
    return tensors


# ---------------------------------------------------------------------------
# dtype handling

def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round to nearest even, NaN kept as a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded = np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), rounded)
    return rounded


def as_f32(t: SafetensorsTensor) -> np.ndarray:
    raw = t.raw()
    if t.dtype == "F32":
        return raw
    if t.dtype == "BF16":
        return bf16_bits_to_f32(raw)
    return raw.astype(np.float32)


def as_bf16_bits(t: SafetensorsTensor) -> np.ndarray:
    raw = t.raw()
    if t.dtype == "BF16":
        return raw
    return f32_to_bf16_bits(np.asarray(raw, dtype=np.float32))


# ---------------------------------------------------------------------------
# model description

def rope_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotate_half row order -> GGML interleaved rope row order (per head)."""
    rows = w.shape[0]
    if rows % (2 * n_head):
        raise ValueError(f"cannot permute {rows} rows over {n_head} heads")
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(rope: dict, head_dim: int, theta: float) -> np.ndarray:
    factor = float(rope.get("factor", 8.0))
    low = float(rope.get("low_freq_factor", 1.0))
    high = float(rope.get("high_freq_factor", 4.0))
    old_ctx = float(rope.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    freqs = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / float(f)
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


_LAYER_MAP = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL_MAP = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


def gguf_name(hf: str) -> str | None:
    if hf in _GLOBAL_MAP:
        return _GLOBAL_MAP[hf]
    if hf.startswith("model.layers."):
        rest = hf[len("model.layers."):]
        bid, _, tail = rest.partition(".")
        if tail in _LAYER_MAP:
            return f"blk.{int(bid)}.{_LAYER_MAP[tail]}"
    if hf.endswith("rotary_emb.inv_freq"):
        return None  # recomputed by llama.cpp
    raise ValueError(f"unknown tensor {hf!r}: not a plain Llama model?")


# ---------------------------------------------------------------------------
# tokenizer

def pick_pre_tokenizer(tok: dict) -> str:
    """Map tokenizer.json's pre_tokenizer to llama.cpp's tokenizer.ggml.pre."""
    pre = tok.get("pre_tokenizer") or {}
    pieces = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    regexes = [p.get("pattern", {}).get("Regex") for p in pieces if p.get("type") == "Split"]
    llama3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
              " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
    if regexes == [llama3]:
        return "llama-bpe"
    if not regexes and any(p.get("type") == "ByteLevel" and p.get("use_regex", True) for p in pieces):
        return "gpt-2"  # ByteLevel's built-in regex is GPT-2's
    if regexes == [gpt2]:
        return "gpt-2"
    print(f"warning: unrecognised pre-tokenizer {json.dumps(pre)[:200]}; writing 'default'", file=sys.stderr)
    return "default"


def add_tokenizer(writer, gguf, model_dir: Path, config: dict) -> None:
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tcfg_path = model_dir / "tokenizer_config.json"
    tcfg = json.loads(tcfg_path.read_text(encoding="utf-8")) if tcfg_path.is_file() else {}
    model = tok["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"tokenizer model type {model.get('type')!r} is not BPE")

    vocab: dict[str, int] = dict(model["vocab"])
    added = {a["id"]: a for a in tok.get("added_tokens", [])}
    for a in added.values():
        vocab[a["content"]] = a["id"]
    n_vocab = int(config.get("vocab_size", max(vocab.values()) + 1))
    if max(vocab.values()) >= n_vocab:
        raise ValueError("tokenizer has ids beyond config.json's vocab_size")

    by_id = {i: s for s, i in vocab.items()}
    tokens, types = [], []
    for i in range(n_vocab):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            s = by_id[i]
            tokens.append(s)
            special = added[i].get("special") or (s.startswith("<|") and s.endswith("|>"))
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)

    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pick_pre_tokenizer(tok))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)

    def tok_id(key: str) -> int | None:
        v = config.get(f"{key}_token_id")
        if isinstance(v, list):
            v = v[0] if v else None
        if v is None:
            s = tcfg.get(f"{key}_token")
            if isinstance(s, dict):
                s = s.get("content")
            v = vocab.get(s) if s is not None else None
        return v

    bos, eos, pad = tok_id("bos"), tok_id("eos"), tok_id("pad")
    if bos is not None:
        writer.add_bos_token_id(int(bos))
    if eos is not None:
        writer.add_eos_token_id(int(eos))
    if pad is not None:
        writer.add_pad_token_id(int(pad))

    add_bos = tcfg.get("add_bos_token")
    if add_bos is None:  # Llama-3 style: the post-processor prepends BOS
        pp = tok.get("post_processor") or {}
        single = pp.get("single") or []
        add_bos = bool(single) and "SpecialToken" in single[0] and bos is not None \
            and vocab.get(single[0]["SpecialToken"]["id"]) == bos
    writer.add_add_bos_token(bool(add_bos))
    writer.add_add_eos_token(bool(tcfg.get("add_eos_token", False)))
    if isinstance(tcfg.get("chat_template"), str):
        writer.add_chat_template(tcfg["chat_template"])


# ---------------------------------------------------------------------------

def convert(model_dir: Path, out: Path, dtype: str, gguf) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type", "llama") != "llama":
        raise ValueError(f"model_type {config.get('model_type')!r} is not llama")
    for flag in ("attention_bias", "mlp_bias"):
        if config.get(flag):
            raise ValueError(f"{flag}=true is not supported by this converter")

    n_embd = int(config["hidden_size"])
    n_head = int(config["num_attention_heads"])
    n_head_kv = int(config.get("num_key_value_heads", n_head))
    head_dim = int(config.get("head_dim") or n_embd // n_head)
    n_layer = int(config["num_hidden_layers"])
    theta = float(config.get("rope_theta", 10000.0))
    rope = config.get("rope_scaling") or {}
    rope_type = (rope.get("rope_type") or rope.get("type") or "").lower()
    tied = bool(config.get("tie_word_embeddings", False))

    tensors = load_model_tensors(model_dir)
    if dtype == "auto":
        dts = {t.dtype for t in tensors.values() if len(t.shape) == 2}
        dtype = "bf16" if dts == {"BF16"} else "f32"

    arch = gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA]
    w = gguf.GGUFWriter(out, arch)
    w.add_name(model_dir.name)
    w.add_block_count(n_layer)
    w.add_context_length(int(config.get("max_position_embeddings", 2048)))
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(int(config["intermediate_size"]))
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_freq_base(theta)
    w.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-5)))
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(int(config["vocab_size"]))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if dtype == "bf16" else gguf.LlamaFileType.ALL_F32)
    if rope_type == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(rope["factor"]))
    elif rope_type not in ("", "default", "llama3"):
        raise ValueError(f"rope_scaling type {rope_type!r} is not supported by this converter")
    add_tokenizer(w, gguf, model_dir, config)

    # Plan: (gguf name, shape, producer). Producers run one at a time while writing.
    plan = []
    if rope_type == "llama3":
        factors = llama3_rope_factors(rope, head_dim, theta)
        plan.append(("rope_freqs.weight", factors.shape, np.float32, lambda f=factors: f))

    names = sorted(tensors, key=lambda n: (0, n) if not n.startswith("model.layers.")
                   else (1, int(n.split(".")[2]), n))
    for hf in names:
        name = gguf_name(hf)
        if name is None:
            continue
        if tied and name == "output.weight":
            continue  # llama.cpp falls back to token_embd.weight
        t = tensors[hf]
        perm_heads = n_head if name.endswith("attn_q.weight") else n_head_kv if name.endswith("attn_k.weight") else 0
        if perm_heads and t.shape[0] != perm_heads * head_dim:
            raise ValueError(f"{hf}: {t.shape[0]} rows, expected {perm_heads} heads x {head_dim}")
        as_bf16 = dtype == "bf16" and len(t.shape) >= 2

        def produce(t=t, as_bf16=as_bf16, perm_heads=perm_heads):
            a = as_bf16_bits(t) if as_bf16 else as_f32(t)
            if perm_heads:
                a = rope_permute(a, perm_heads)
            return np.ascontiguousarray(a)

        plan.append((name, t.shape, np.uint16 if as_bf16 else np.float32, produce))

    have = {p[0] for p in plan}
    if "token_embd.weight" not in have:
        raise ValueError("model.embed_tokens.weight is missing")
    if not tied and "output.weight" not in have:
        print("note: no lm_head.weight; llama.cpp will use the tied embedding", file=sys.stderr)

    for name, shape, npdt, _ in plan:
        nbytes = int(np.prod(shape)) * np.dtype(npdt).itemsize
        raw = gguf.GGMLQuantizationType.BF16 if npdt == np.uint16 else None
        w.add_tensor_info(name, shape, np.dtype(npdt), nbytes, raw_dtype=raw)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, npdt, produce in plan:
        a = produce()
        assert a.shape == tuple(shape) and a.dtype == np.dtype(npdt), (name, a.shape, a.dtype)
        w.write_tensor_data(a)
        del a
    w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path, help="Waypoint / HF Llama model directory")
    ap.add_argument("out", type=Path, help="GGUF file to write")
    ap.add_argument("--dtype", choices=["auto", "f32", "bf16"], default="auto",
                    help="output weight type (default: follow the safetensors' 2-D weights)")
    ap.add_argument("--llama-cpp-dir", default=os.environ.get("LLAMA_CPP_DIR", "/work/peer/llama.cpp"),
                    help="llama.cpp source tree whose gguf-py is used (env LLAMA_CPP_DIR)")
    args = ap.parse_args()

    gguf_py = Path(args.llama_cpp_dir) / "gguf-py"
    if not (gguf_py / "gguf").is_dir():
        print(f"error: no gguf-py at {gguf_py}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(gguf_py))
    import logging
    logging.basicConfig(level=logging.WARNING)
    import gguf  # noqa: E402

    try:
        convert(args.model_dir, args.out, args.dtype, gguf)
    except BaseException:
        try:
            args.out.unlink()
        except OSError:
            pass
        raise
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
