"""GPT-2 in plain torch, following Hugging Face GPT2LMHeadModel conventions exactly:
pre-LN blocks, LayerNorm eps = layer_norm_epsilon, gelu_new (tanh approximation), learned positions,
causal softmax attention scaled by 1/sqrt(d_head), final ln_f, logits = x @ wte^T (tied).
Conv1D weights are stored [in, out] (x @ W + b). Also a hand-written safetensors reader/writer.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Conv1D(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["n_embd"]
        self.n_head = cfg["n_head"]
        eps = cfg["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.c_attn = Conv1D(d, 3 * d)
        self.c_proj = Conv1D(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.c_fc = Conv1D(d, 4 * d)
        self.mlp_proj = Conv1D(4 * d, d)

    def attn(self, x, cache=None, li=None, hooks=None):
        B, T, D = x.shape
        H = self.n_head
        dh = D // H
        q, k, v = self.c_attn(x).split(D, dim=2)
        q = q.view(B, T, H, dh).transpose(1, 2)
        k = k.view(B, T, H, dh).transpose(1, 2)
        v = v.view(B, T, H, dh).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
        pattern = torch.softmax(scores, dim=-1)
        if hooks is not None and ("pattern", li) in hooks:
            pattern = hooks[("pattern", li)](pattern)
        z = pattern @ v  # B H T dh
        if cache is not None:
            cache[f"blocks.{li}.attn.hook_pattern"] = pattern
            cache[f"blocks.{li}.attn.hook_z"] = z.transpose(1, 2)
        z = z.transpose(1, 2).contiguous()  # B T H dh
        if hooks is not None and ("z", li) in hooks:
            z = hooks[("z", li)](z)
        return self.c_proj(z.view(B, T, D))

    def mlp(self, x):
        return self.mlp_proj(gelu_new(self.c_fc(x)))

    def forward(self, x, cache=None, li=None, hooks=None):
        x = x + self.attn(self.ln_1(x), cache, li, hooks)
        if cache is not None:
            cache[f"blocks.{li}.hook_resid_mid"] = x
        h = self.ln_2(x)
        if cache is not None:
            cache[f"blocks.{li}.mlp.hook_in"] = h  # the MLP input, after ln_2's weight and bias
        if hooks is not None and ("mlp", li) in hooks:
            m = hooks[("mlp", li)](h)
        else:
            m = self.mlp(h)
        if cache is not None:
            cache[f"blocks.{li}.hook_mlp_out"] = m
        return x + m


class GPT2(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["n_embd"]
        self.wte = nn.Embedding(cfg["vocab_size"], d)
        self.wpe = nn.Embedding(cfg["n_positions"], d)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(d, eps=cfg["layer_norm_epsilon"])
        for b in self.h:  # GPT-2's scaled init of residual projections
            nn.init.normal_(b.c_proj.weight, std=0.02 / math.sqrt(2 * cfg["n_layer"]))
            nn.init.normal_(b.mlp_proj.weight, std=0.02 / math.sqrt(2 * cfg["n_layer"]))

    def forward(self, idx, cache=None, hooks=None, return_resid=False):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))[None]
        for li, b in enumerate(self.h):
            x = b(x, cache, li, hooks)
        if return_resid:
            return x
        return self.ln_f(x) @ self.wte.weight.T

    # ---- HF naming
    def hf_state(self):
        out = {"transformer.wte.weight": self.wte.weight, "transformer.wpe.weight": self.wpe.weight,
               "transformer.ln_f.weight": self.ln_f.weight, "transformer.ln_f.bias": self.ln_f.bias}
        for i, b in enumerate(self.h):
            p = f"transformer.h.{i}."
            out.update({p + "ln_1.weight": b.ln_1.weight, p + "ln_1.bias": b.ln_1.bias,
                        p + "attn.c_attn.weight": b.c_attn.weight, p + "attn.c_attn.bias": b.c_attn.bias,
                        p + "attn.c_proj.weight": b.c_proj.weight, p + "attn.c_proj.bias": b.c_proj.bias,
                        p + "ln_2.weight": b.ln_2.weight, p + "ln_2.bias": b.ln_2.bias,
                        p + "mlp.c_fc.weight": b.c_fc.weight, p + "mlp.c_fc.bias": b.c_fc.bias,
                        p + "mlp.c_proj.weight": b.mlp_proj.weight, p + "mlp.c_proj.bias": b.mlp_proj.bias})
        return {k: v.detach().float().contiguous() for k, v in out.items()}

    def load_hf_state(self, sd):
        own = self.hf_state()
        params = dict(self._hf_params())
        assert set(sd) == set(own), (set(sd) ^ set(own))
        with torch.no_grad():
            for k, v in sd.items():
                params[k].copy_(torch.as_tensor(v))

    def _hf_params(self):
        yield "transformer.wte.weight", self.wte.weight
        yield "transformer.wpe.weight", self.wpe.weight
        yield "transformer.ln_f.weight", self.ln_f.weight
        yield "transformer.ln_f.bias", self.ln_f.bias
        for i, b in enumerate(self.h):
            p = f"transformer.h.{i}."
            for name, mod in [("ln_1", b.ln_1), ("attn.c_attn", b.c_attn), ("attn.c_proj", b.c_proj),
                              ("ln_2", b.ln_2), ("mlp.c_fc", b.c_fc), ("mlp.c_proj", b.mlp_proj)]:
                yield p + name + ".weight", mod.weight
                yield p + name + ".bias", mod.bias


def hf_config(n_layer, n_embd, n_head, n_positions, vocab_size, eot_id):
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": n_layer, "n_embd": n_embd,
            "n_head": n_head, "n_positions": n_positions, "n_ctx": n_positions, "n_inner": None,
            "vocab_size": vocab_size, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
            "tie_word_embeddings": True, "bos_token_id": eot_id, "eos_token_id": eot_id,
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
            "scale_attn_weights": True, "torch_dtype": "float32"}


# ------------------------------------------------------------------ safetensors
_DT = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int32"): "I32", np.dtype("int64"): "I64"}
_NP = {v: k for k, v in _DT.items()}


def save_safetensors(tensors, path, metadata=None):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = tensors[k]
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        b = a.tobytes()
        header[k] = {"dtype": _DT[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(data[s:e], dtype=_NP[v["dtype"]]).reshape(v["shape"]).copy()
    return out
