#!/usr/bin/python3
"""An independent numpy dequantiser for ggml's Q4_0, Q4_K and Q6_K blocks, and the golden file the engine's
GGUF reader is tested against:

    /usr/bin/python3 tools/reference/ggml_quants.py [--out test/fixtures/gguf-quants] [--seed 77]

Written from the block layouts in ggml (ggml-common.h, ggml-quants.c dequantize_row_*), vectorised over
whole tensors with numpy bit operations (not a transcription of the engine's loops). Every product is a
float32 operation in the order ggml's C code performs it, so the values are those llama.cpp dequantises.

  Q4_0  32 values in 18 bytes: f16 d; u8 qs[16]. Value j < 16 is d * ((qs[j] & 15) - 8), value j + 16 is
        d * ((qs[j] >> 4) - 8).
  Q4_K  256 values in 144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128]. Eight sub-blocks of 32, each
        with a 6-bit scale and a 6-bit min packed in `scales` (get_scale_min_k4); sub-blocks 2k and 2k+1 share
        the 32 bytes qs[32k:32k+32], low nibbles then high nibbles: value = d*sc * q - dmin*m.
  Q6_K  256 values in 210 bytes: u8 ql[128], u8 qh[64], i8 scales[16], f16 d. Each half of 128 values
        takes 64 bytes of ql and 32 of qh; q = (4 low bits from ql) | (2 high bits from qh) << 4, minus 32;
        value = d * scales[16ths] * q.

Writes blocks.gguf (GGUF v3, tensors "q4_0" [3, 64], "q4_k" [3, 512], "q6_k" [3, 512], random blocks with
random finite f16 scales, plus an F32 tensor between them so offsets are exercised) and expected.safetensors
(the same names, F32, dequantised here). Then a whole model: llama-q4k.gguf, a one-layer Llama (d_model 256, so
every matrix row is whole 256-value blocks) whose matrices are random Q4_K blocks and whose embedding and
down projection are Q6_K (as llama.cpp's Q4_K_M mixes them), Q and K stored in llama.cpp's rotary row order;
its golden (llama-q4k.golden.safetensors: input_ids, logits) comes from models.RefModel on the weights
dequantised here and put back in Hugging Face's row order (the inverse of convert_hf_to_gguf.py's permute).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from safetensors_io import save_file  # noqa: E402

QK_K = 256
BLOCK = {"Q4_0": (32, 18), "Q4_K": (QK_K, 144), "Q6_K": (QK_K, 210)}
TYPE_ID = {"F32": 0, "Q4_0": 2, "Q4_K": 12, "Q6_K": 14}


def _f16(raw, start):
    """Little-endian f16 at byte `start` of each block row, widened to float32."""
    return raw[:, start:start + 2].copy().view("<f2").astype(np.float32)[:, 0]


def dequant_q4_0(raw):
    raw = raw.reshape(-1, 18)
    d = _f16(raw, 0)[:, None]
    qs = raw[:, 2:18]
    q = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=1).astype(np.int32) - 8  # [nb, 32]
    return (q.astype(np.float32) * d).astype(np.float32).reshape(-1)


def _scale_min_k4(scales):
    """The eight 6-bit (scale, min) pairs of a Q4_K block from its 12 bytes: j < 4 read bytes j and j + 4;
    j >= 4 take 4 bits from byte j + 4 and their top 2 bits from the top bits of bytes j - 4 and j."""
    s = scales.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    mn = np.empty((s.shape[0], 8), np.int32)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0x0F) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def dequant_q4_k(raw):
    raw = raw.reshape(-1, 144)
    d = _f16(raw, 0)[:, None]
    dmin = _f16(raw, 2)[:, None]
    sc, mn = _scale_min_k4(raw[:, 4:16])
    qs = raw[:, 16:144].reshape(-1, 4, 32)  # four groups of 32 bytes
    q = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(-1, 8, 32).astype(np.float32)  # sub-block 2k low, 2k+1 high
    d_sub = (d * sc.astype(np.float32)).astype(np.float32)[:, :, None]
    m_sub = (dmin * mn.astype(np.float32)).astype(np.float32)[:, :, None]
    return ((d_sub * q).astype(np.float32) - m_sub).astype(np.float32).reshape(-1)


def dequant_q6_k(raw):
    raw = raw.reshape(-1, 210)
    ql = raw[:, 0:128].reshape(-1, 2, 64).astype(np.int32)  # two halves of 128 values
    qh = raw[:, 128:192].reshape(-1, 2, 32).astype(np.int32)
    scales = raw[:, 192:208].copy().view(np.int8).astype(np.float32).reshape(-1, 2, 8)
    d = _f16(raw, 208)[:, None, None]
    lo = [ql[:, :, 0:32] & 0x0F, ql[:, :, 32:64] & 0x0F, ql[:, :, 0:32] >> 4, ql[:, :, 32:64] >> 4]
    q = np.stack([lo[k] | (((qh >> (2 * k)) & 3) << 4) for k in range(4)], axis=2) - 32  # [nb, 2, 4, 32]
    # value l of quarter k uses scale index 2k + l // 16 of its half
    sc = scales.reshape(-1, 2, 4, 2)[:, :, :, :, None].repeat(16, axis=4).reshape(-1, 2, 4, 32)
    return ((d[..., None] * sc).astype(np.float32) * q.astype(np.float32)).astype(np.float32).reshape(-1)


DEQUANT = {"Q4_0": dequant_q4_0, "Q4_K": dequant_q4_k, "Q6_K": dequant_q6_k}


def random_blocks(kind, n_blocks, rng):
    """Random quantised bytes with finite f16 scales (both signs, a zero scale, a subnormal one)."""
    _, nbytes = BLOCK[kind]
    raw = rng.integers(0, 256, size=(n_blocks, nbytes), dtype=np.uint8)
    scales = (rng.standard_normal(n_blocks * 2) * 0.02).astype(np.float16)
    scales[0] = 0.0
    scales[1] = np.float16(3e-6)  # subnormal in f16
    pos = {"Q4_0": [0], "Q4_K": [0, 2], "Q6_K": [208]}[kind]
    for k, p in enumerate(pos):
        raw[:, p:p + 2] = scales[k * n_blocks:(k + 1) * n_blocks].view(np.uint8).reshape(n_blocks, 2)
    return raw


def write_gguf(path, tensors, alignment=32, metadata=(("general.architecture", "test"),)):
    """GGUF v3 (ggml docs/gguf.md): header, metadata (str, int as u32, float as f32), tensor infos (ne
    reversed), aligned data."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, value in metadata:
        if isinstance(value, str):
            head += s(key) + struct.pack("<I", 8) + s(value)
        elif isinstance(value, int):
            head += s(key) + struct.pack("<II", 4, value)
        else:
            head += s(key) + struct.pack("<If", 6, value)
    data = b""
    for name, kind, shape, raw in tensors:
        head += s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", n) for n in reversed(shape))
        head += struct.pack("<IQ", TYPE_ID[kind], len(data))
        data += raw + b"\0" * (-len(raw) % alignment)
    head += b"\0" * (-len(head) % alignment)
    with open(path, "wb") as f:
        f.write(head + data)


def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf.py's LlamaModel.permute (w.reshape(n_head, 2, rows // n_head // 2, cols)
    .swapaxes(1, 2)): llama.cpp's rotary row order back to Hugging Face's rotate-half order."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def scaled_blocks(kind, n_blocks, rng, scale):
    """Random blocks whose f16 scales are small enough for a working model (|weights| about 0.05)."""
    raw = random_blocks(kind, n_blocks, rng)
    for p in {"Q4_K": [0, 2], "Q6_K": [208]}[kind]:
        d = (np.abs(rng.standard_normal(n_blocks)) * scale + scale / 4).astype(np.float16)
        raw[:, p:p + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    return raw


def write_model(out, rng):
    d, H, Hkv, dh, dm, V = 256, 2, 1, 128, 256, 64
    cfg = {"model_type": "llama", "hidden_size": d, "num_attention_heads": H, "num_key_value_heads": Hkv,
           "head_dim": dh, "intermediate_size": dm, "num_hidden_layers": 1, "vocab_size": V,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 64, "hidden_act": "silu",
           "tie_word_embeddings": True}
    shapes = {"token_embd.weight": ("Q6_K", [V, d], "model.embed_tokens.weight"),
              "blk.0.attn_q.weight": ("Q4_K", [H * dh, d], "model.layers.0.self_attn.q_proj.weight"),
              "blk.0.attn_k.weight": ("Q4_K", [Hkv * dh, d], "model.layers.0.self_attn.k_proj.weight"),
              "blk.0.attn_v.weight": ("Q4_K", [Hkv * dh, d], "model.layers.0.self_attn.v_proj.weight"),
              "blk.0.attn_output.weight": ("Q4_K", [d, H * dh], "model.layers.0.self_attn.o_proj.weight"),
              "blk.0.ffn_gate.weight": ("Q4_K", [dm, d], "model.layers.0.mlp.gate_proj.weight"),
              "blk.0.ffn_up.weight": ("Q4_K", [dm, d], "model.layers.0.mlp.up_proj.weight"),
              "blk.0.ffn_down.weight": ("Q6_K", [d, dm], "model.layers.0.mlp.down_proj.weight")}
    tensors, sd = [], {}
    for name, (kind, shape, hf) in shapes.items():
        blocks = scaled_blocks(kind, shape[0] * shape[1] // QK_K, rng, 4e-4 if kind == "Q4_K" else 1e-4)
        w = DEQUANT[kind](blocks).reshape(shape)
        if name.endswith(("attn_q.weight", "attn_k.weight")):
            w = unpermute(w, H if "attn_q" in name else Hkv)
        tensors.append((name, kind, shape, blocks.tobytes()))
        sd[hf] = torch.from_numpy(np.ascontiguousarray(w))
    for name, hf in [("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"),
                     ("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight"),
                     ("output_norm.weight", "model.norm.weight")]:
        w = (1 + 0.2 * rng.standard_normal(d)).astype(np.float32)
        tensors.append((name, "F32", [d], w.tobytes()))
        sd[hf] = torch.from_numpy(w)
    md = [("general.architecture", "llama"), ("llama.block_count", 1), ("llama.context_length", 64),
          ("llama.embedding_length", d), ("llama.feed_forward_length", dm), ("llama.attention.head_count", H),
          ("llama.attention.head_count_kv", Hkv), ("llama.attention.key_length", dh),
          ("llama.attention.value_length", dh), ("llama.rope.freq_base", 10000.0),
          ("llama.attention.layer_norm_rms_epsilon", 1e-5), ("llama.vocab_size", V)]
    write_gguf(os.path.join(out, "llama-q4k.gguf"), tensors, metadata=md)
    ids = torch.from_numpy(np.stack([rng.permutation(V)[:12] for _ in range(2)]).astype(np.int64))
    with torch.no_grad():
        logits = models.build(cfg, sd).forward(ids).contiguous()
    save_file({"input_ids": ids, "logits": logits}, os.path.join(out, "llama-q4k.golden.safetensors"),
              metadata={"script": "tools/reference/ggml_quants.py", "config": json.dumps(cfg)})
    print(f"llama-q4k.gguf  |logits| max {logits.abs().max():.3f}, std {logits.std():.3f}")


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "..", "test", "fixtures", "gguf-quants")))
    ap.add_argument("--seed", type=int, default=77)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    tensors, expected = [], {}
    for name, kind, shape in [("q4_0", "Q4_0", [3, 64]), ("q4_k", "Q4_K", [3, 512]), ("f32", "F32", [5]),
                              ("q6_k", "Q6_K", [3, 512])]:
        if kind == "F32":
            vals = rng.standard_normal(shape).astype(np.float32)
            raw = vals.tobytes()
        else:
            per, _ = BLOCK[kind]
            blocks = random_blocks(kind, shape[0] * shape[1] // per, rng)
            vals = DEQUANT[kind](blocks).reshape(shape)
            raw = blocks.tobytes()
        assert np.isfinite(vals).all()
        tensors.append((name, kind, shape, raw))
        expected[name] = torch.from_numpy(np.ascontiguousarray(vals))
    write_gguf(os.path.join(args.out, "blocks.gguf"), tensors)
    save_file(expected, os.path.join(args.out, "expected.safetensors"),
              metadata={"script": "tools/reference/ggml_quants.py", "seed": str(args.seed)})
    for name, kind, shape, _ in tensors:
        v = expected[name]
        print(f"{name:5s} {kind:5s} {shape}  range [{v.min():.4g}, {v.max():.4g}]")
    write_model(args.out, rng)


if __name__ == "__main__":
    main()
