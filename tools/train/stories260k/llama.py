"""A plain torch Llama (Hugging Face LlamaForCausalLM conventions) for stories260K: forward with TransformerLens-
named hooks (the engine's names), hook replacement for transcoder splicing, and seeded sampling with a key/value
cache. Checked against tools/reference/hf_style.py and against the engine's logits by check.py."""
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
from safetensors_io import load_file  # noqa: E402

MODEL_DIR = os.environ.get("STORIES_MODEL_DIR") or os.path.join(ROOT, "models", "stories260K")
BUILD = os.environ.get("STORIES_BUILD_DIR") or os.path.join(HERE, "build")
BOS = 1


def _rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Llama:
    def __init__(self, model_dir=MODEL_DIR):
        self.cfg = cfg = json.load(open(os.path.join(model_dir, "config.json")))
        sd = load_file(os.path.join(model_dir, "model.safetensors"))
        self.w = {k: v.float() for k, v in sd.items()}
        self.L, self.d = cfg["num_hidden_layers"], cfg["hidden_size"]
        self.H, self.Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.dh = cfg.get("head_dim") or self.d // self.H
        self.eps = cfg["rms_norm_eps"]
        self.n_ctx = cfg["max_position_embeddings"]
        self.W_E = self.w["model.embed_tokens.weight"]
        self.W_U = self.w.get("lm_head.weight", self.W_E)
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, self.dh, 2, dtype=torch.float64) / self.dh))
        ang = torch.arange(self.n_ctx, dtype=torch.float64)[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        self.cos, self.sin = emb.cos().float(), emb.sin().float()

    def _rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def forward(self, ids, cache=None, replace=None, past=None, start=0):
        """ids [B, T] int64. cache: dict filled with mlp.hook_in, hook_mlp_out, attn.hook_pattern per layer.
        replace: {layer: fn(mlp_in) -> mlp_out} (transcoder splicing). past: list of (k, v) per layer, extended in
        place (generation); start: position of ids[:, 0]. Returns logits [B, T, V]."""
        w = self.w
        B, T = ids.shape
        h = self.W_E[ids]
        cos, sin = self.cos[start:start + T], self.sin[start:start + T]
        S = start + T
        mask = torch.full((T, S), float("-inf")).triu(start + 1)
        for l in range(self.L):
            p = f"model.layers.{l}."
            x = self._rms(h, w[p + "input_layernorm.weight"])
            q = F.linear(x, w[p + "self_attn.q_proj.weight"]).view(B, T, self.H, self.dh).transpose(1, 2)
            k = F.linear(x, w[p + "self_attn.k_proj.weight"]).view(B, T, self.Hkv, self.dh).transpose(1, 2)
            v = F.linear(x, w[p + "self_attn.v_proj.weight"]).view(B, T, self.Hkv, self.dh).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            if past is not None:
                if len(past) > l:
                    k = torch.cat((past[l][0], k), dim=2)
                    v = torch.cat((past[l][1], v), dim=2)
                    past[l] = (k, v)
                else:
                    past.append((k, v))
            rep = self.H // self.Hkv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            pat = torch.softmax(q @ k.transpose(2, 3) * self.dh ** -0.5 + mask, dim=-1)
            o = (pat @ v).transpose(1, 2).reshape(B, T, self.H * self.dh)
            h = h + F.linear(o, w[p + "self_attn.o_proj.weight"])
            x = self._rms(h, w[p + "post_attention_layernorm.weight"])
            if replace is not None and l in replace:
                y = replace[l](x)
            else:
                y = F.linear(F.silu(F.linear(x, w[p + "mlp.gate_proj.weight"])) * F.linear(x, w[p + "mlp.up_proj.weight"]),
                             w[p + "mlp.down_proj.weight"])
            if cache is not None:
                cache[f"blocks.{l}.attn.hook_pattern"] = pat
                cache[f"blocks.{l}.mlp.hook_in"] = x
                cache[f"blocks.{l}.hook_mlp_out"] = y
            h = h + y
        return self._rms(h, w["model.norm.weight"]) @ self.W_U.T

    @torch.no_grad()
    def sample(self, n_rows, length, seed, temperature=1.0, batch=64):
        """n_rows seeded samples of `length` tokens, each starting with BOS; sampling from softmax(logits / T)
        (temperature 0: greedy). A generated BOS starts the next story inside the row, as in TinyStories."""
        g = torch.Generator().manual_seed(seed)
        rows = []
        for i in range(0, n_rows, batch):
            b = min(batch, n_rows - i)
            ids = torch.full((b, 1), BOS, dtype=torch.long)
            past = []
            logits = self.forward(ids, past=past, start=0)[:, -1]
            out = [ids]
            for t in range(1, length):
                if temperature == 0:
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=g)
                out.append(nxt)
                if t == length - 1:
                    break
                logits = self.forward(nxt, past=past, start=t)[:, -1]
            rows.append(torch.cat(out, dim=1))
        return torch.cat(rows)


def vocab():
    tj = json.load(open(os.path.join(MODEL_DIR, "tokenizer.json")))
    v = [None] * 512
    for t, i in tj["model"]["vocab"].items():
        v[i] = t
    return v


def decode(ids, pieces=None):
    """Text of token ids (SentencePiece: '▁' is a space, <0xNN> byte pieces, BOS/EOS dropped)."""
    pieces = pieces or vocab()
    out = bytearray()
    for i in ids:
        p = pieces[int(i)]
        if p in ("<s>", "</s>", "<unk>"):
            if p == "<s>" and out:
                out += b"\n"
            continue
        if p.startswith("<0x") and p.endswith(">"):
            out.append(int(p[3:-1], 16))
        else:
            out += p.replace("\u2581", " ").encode()
    return out.decode("utf-8", errors="replace").replace("\n ", "\n").lstrip(" ")
