"""Independent PyTorch reference forward passes for Hugging Face checkpoints.

Written from the Hugging Face `transformers` modeling conventions (modeling_gpt2, modeling_gpt_neox,
modeling_llama, modeling_qwen2, modeling_qwen3, modeling_gemma2, modeling_gemma3, modeling_rope_utils), not
from MechLens' TypeScript engine. Each
architecture's HF tensors are mapped onto one generic decoder (`RefModel`) whose forward pass
returns logits and, on request, TransformerLens-named hook activations (batch dimension first).

Orientation convention inside RefModel: every projection is stored as W [in, out] so y = x @ W + b.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from safetensors_io import load_checkpoint

SUPPORTED = ("gpt2", "gpt_neox", "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text")


# ----------------------------------------------------------------------------- activations
def gelu_new(x):
    """GPT-2's `gelu_new` (tanh approximation), also HF's `gelu_pytorch_tanh`."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gelu_pytorch_tanh(x):
    return F.gelu(x, approximate="tanh")


ACTIVATIONS = {
    "gelu_new": gelu_new,
    "gelu_pytorch_tanh": gelu_pytorch_tanh,
    "gelu_fast": gelu_new,
    "gelu": lambda x: F.gelu(x),  # exact erf form (HF "gelu")
    "silu": F.silu,
    "swish": F.silu,
    "relu": F.relu,
}


def rotate_half(x):
    """HF rotate-half: [x1, x2] -> [-x2, x1] with x1 the first half of the last dim."""
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_inv_freq(dim, base, scaling=None):
    """inv_freq [dim/2] as transformers' modeling_rope_utils ROPE_INIT_FUNCTIONS compute it (fp32):
    default, linear (divided by factor) and llama3 (_compute_llama3_parameters)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    kind = None if scaling is None else scaling.get("rope_type", scaling.get("type"))
    if kind in (None, "default"):
        return inv_freq
    if kind == "linear":
        return inv_freq / scaling["factor"]
    if kind == "llama3":
        factor = scaling["factor"]
        low_freq_factor = scaling["low_freq_factor"]
        high_freq_factor = scaling["high_freq_factor"]
        old_context_len = scaling["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    raise NotImplementedError(f"rope_scaling type {kind!r} is not modelled")


def rope_cos_sin(positions, dim, base, scaling=None):
    """cos/sin [T, dim] exactly as HF's rotary embeddings compute them (fp32)."""
    inv_freq = rope_inv_freq(dim, base, scaling)
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


# ----------------------------------------------------------------------------- model
class RefModel:
    """Generic pre-norm decoder covering the five architectures.

    spec keys:
      norm: "layernorm" | "rmsnorm";  norm_eps; rms_offset (1.0 for Gemma's (1 + w), else 0.0)
      n_layers, d_model, n_heads, n_kv_heads, d_head, vocab
      pos: "learned" | "rotary";  rotary_dims, rope_theta, rope_scaling (HF dict or None)
      rope_local_theta (Gemma-3: base of the sliding layers, unscaled; None = rope_theta everywhere)
      qk_norm (Qwen3 / Gemma-3: RMSNorm over each head of q and k before RoPE, weights q_norm / k_norm)
      parallel_residual (bool), post_norms (bool: Gemma-2 post-attn / post-ff norms)
      attn_scale (multiplier on q.k), attn_softcap (None or float), final_softcap (None or float)
      sliding_window (None or int), sliding_layers (set of layer indices)
      gated (bool), act (callable), embed_scale (None or float)
    weights: embed [V,d], pos_embed [n_ctx,d] (learned only), unembed [d,V], unembed_b (or None),
      ln_final {w,b}, layers[i] = {ln1, ln2, (ln1_post, ln2_post), W_Q,b_Q,W_K,b_K,W_V,b_V,W_O,b_O,
      W_in,b_in,(W_gate,b_gate),W_out,b_out}; b_* may be None.
    """

    def __init__(self, spec, weights):
        self.s = spec
        self.w = weights
        # The attention output is computed from z (as Hugging Face does); with this set, from the sum
        # of the per-head hook_result instead (same value up to rounding), so that it is differentiable.
        self.result_in_path = False

    # -- hook plumbing -----------------------------------------------------------------
    def _want(self, name):
        return (self._cache is not None and (self._filter is None or self._filter(name))) or (
            self._hooks is not None and name in self._hooks
        )

    def _h(self, name, x):
        if self._hooks is not None and name in self._hooks:
            r = self._hooks[name](x, name)
            if r is not None:
                x = r
        if self._cache is not None and (self._filter is None or self._filter(name)):
            self._cache[name] = x
        return x

    # -- pieces ------------------------------------------------------------------------
    def _norm(self, prefix, x, p):
        """TransformerLens' norm hooks: hook_scale = sqrt(mean(centred^2) + eps) (LayerNorm: biased
        variance) and hook_normalized = centred / scale, before the weight and bias. Both hooks sit on
        the computation path, so a hook that replaces one (e.g. detach, to freeze a norm's scale for
        gradients) changes what flows on."""
        s = self.s
        x = x.float()
        if s["norm"] == "layernorm":
            x = x - x.mean(-1, keepdim=True)
        scale = self._h(prefix + ".hook_scale", torch.sqrt(x.pow(2).mean(-1, keepdim=True) + s["norm_eps"]))
        y = self._h(prefix + ".hook_normalized", x / scale)
        y = y * (s["rms_offset"] + p["w"].float())
        return y if p.get("b") is None else y + p["b"]

    def _head_norm(self, x, w):
        """Qwen3RMSNorm / Gemma3RMSNorm over the last (d_head) dim: x * rsqrt(mean(x^2) + eps) * (offset + w)."""
        x = x.float()
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.s["norm_eps"])
        return y * (self.s["rms_offset"] + w.float())

    @staticmethod
    def _lin(x, W, b):
        y = x @ W
        return y if b is None else y + b

    def _attn(self, l, x, lw, positions, past):
        s = self.s
        B, T, _ = x.shape
        H, Hkv, dh = s["n_heads"], s["n_kv_heads"], s["d_head"]
        pre = f"blocks.{l}.attn."
        q = self._h(pre + "hook_q", self._lin(x, lw["W_Q"], lw["b_Q"]).view(B, T, H, dh))
        k = self._h(pre + "hook_k", self._lin(x, lw["W_K"], lw["b_K"]).view(B, T, Hkv, dh))
        v = self._h(pre + "hook_v", self._lin(x, lw["W_V"], lw["b_V"]).view(B, T, Hkv, dh))
        if s.get("qk_norm"):
            q = self._head_norm(q, lw["q_norm"])
            k = self._head_norm(k, lw["k_norm"])
        if s["pos"] == "rotary":
            r = s["rotary_dims"]
            if s.get("rope_local_theta") is not None and l in s["sliding_layers"]:
                cos, sin = rope_cos_sin(positions, r, s["rope_local_theta"])  # Gemma-3 rotary_emb_local
            else:
                cos, sin = rope_cos_sin(positions, r, s["rope_theta"], s.get("rope_scaling"))  # [T, r]
            cos, sin = cos[None, :, None, :], sin[None, :, None, :]

            def rot(t):
                tr, tp = t[..., :r], t[..., r:]
                return torch.cat((tr * cos + rotate_half(tr) * sin, tp), dim=-1)

            q = self._h(pre + "hook_rot_q", rot(q))
            k = self._h(pre + "hook_rot_k", rot(k))
        # [B, heads, T, dh]
        qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if past is not None:
            kh = torch.cat((past[0], kh), dim=2)
            vh = torch.cat((past[1], vh), dim=2)
        present = (kh, vh)
        if Hkv != H:  # GQA: query head h reads kv head h // (H / Hkv), as HF repeat_kv
            rep = H // Hkv
            kh = kh.repeat_interleave(rep, dim=1)
            vh = vh.repeat_interleave(rep, dim=1)
        scores = torch.matmul(qh, kh.transpose(2, 3)) * s["attn_scale"]
        if s["attn_softcap"] is not None:
            c = s["attn_softcap"]
            scores = torch.tanh(scores / c) * c
        Tk = kh.shape[2]
        qpos = positions[:, None]
        kpos = torch.arange(Tk)[None, :]
        visible = kpos <= qpos
        if s["sliding_window"] is not None and l in s["sliding_layers"]:
            visible = visible & (qpos - kpos < s["sliding_window"])
        scores = scores.masked_fill(~visible, float("-inf"))
        scores = self._h(pre + "hook_attn_scores", scores)
        pattern = self._h(pre + "hook_pattern", torch.softmax(scores, dim=-1))
        z = self._h(pre + "hook_z", torch.matmul(pattern, vh).transpose(1, 2))  # [B, T, H, dh]
        out = self._lin(z.reshape(B, T, H * dh), lw["W_O"], lw["b_O"])
        if self._want(pre + "hook_result"):
            WO = lw["W_O"].reshape(H, dh, -1)
            result = self._h(pre + "hook_result", torch.einsum("bthe,hed->bthd", z, WO))
            if self.result_in_path:  # gradients with respect to hook_result need it on the path
                out = result.sum(2) if lw["b_O"] is None else result.sum(2) + lw["b_O"]
        return out, present

    def _mlp(self, l, x, lw):
        """The MLP module. mlp.hook_in is its input (after the norm's weight and bias), mlp.hook_out its
        own output (before Gemma-2's post-feedforward norm): circuit-tracer's transcoder hook points."""
        s = self.s
        pre = f"blocks.{l}.mlp."
        x = self._h(pre + "hook_in", x)
        h = self._h(pre + "hook_pre", self._lin(x, lw["W_gate"] if s["gated"] else lw["W_in"],
                                                 lw["b_gate"] if s["gated"] else lw["b_in"]))
        if s["gated"]:
            lin = self._h(pre + "hook_pre_linear", self._lin(x, lw["W_in"], lw["b_in"]))
            post = self._h(pre + "hook_post", s["act"](h) * lin)
        else:
            post = self._h(pre + "hook_post", s["act"](h))
        return self._h(pre + "hook_out", self._lin(post, lw["W_out"], lw["b_out"]))

    # -- forward -----------------------------------------------------------------------
    def forward(self, input_ids, cache=None, hooks=None, names_filter=None, past=None, use_cache=False):
        """input_ids LongTensor [B, T]. cache: dict to fill with hook activations (or None).
        hooks: {hook_name: fn(tensor, name) -> tensor or None} applied in place of the activation.
        past: list per layer of (k, v) [B, Hkv, Tpast, dh] (keys after rotary), for generation.
        Returns logits [B, T, V] (and the new past when use_cache)."""
        self._cache, self._hooks, self._filter = cache, hooks, names_filter
        s, w = self.s, self.w
        B, T = input_ids.shape
        offset = 0 if past is None else past[0][0].shape[2]
        positions = torch.arange(offset, offset + T)
        x = self._h("hook_embed", w["embed"][input_ids])
        if s["pos"] == "learned":
            x = x + self._h("hook_pos_embed", w["pos_embed"][positions][None].expand(B, T, -1))
        if s["embed_scale"] is not None:
            x = x * torch.tensor(s["embed_scale"], dtype=x.dtype)
        presents = []
        for l, lw in enumerate(w["layers"]):
            b = f"blocks.{l}."
            x = self._h(b + "hook_resid_pre", x)
            a, present = self._attn(l, self._norm(b + "ln1", x, lw["ln1"]), lw, positions,
                                    None if past is None else past[l])
            presents.append(present)
            if s["post_norms"]:
                a = self._norm(b + "ln1_post", a, lw["ln1_post"])
            a = self._h(b + "hook_attn_out", a)
            if s["parallel_residual"]:
                m = self._h(b + "hook_mlp_out", self._mlp(l, self._norm(b + "ln2", x, lw["ln2"]), lw))
                x = x + a + m
            else:
                x = self._h(b + "hook_resid_mid", x + a)
                m = self._mlp(l, self._norm(b + "ln2", x, lw["ln2"]), lw)
                if s["post_norms"]:
                    m = self._norm(b + "ln2_post", m, lw["ln2_post"])
                m = self._h(b + "hook_mlp_out", m)
                x = x + m
            x = self._h(b + "hook_resid_post", x)
        x = self._norm("ln_final", x, w["ln_final"])
        logits = self._lin(x, w["unembed"], w["unembed_b"])
        if s["final_softcap"] is not None:
            c = s["final_softcap"]
            logits = torch.tanh(logits / c) * c
        self._cache = self._hooks = self._filter = None
        return (logits, presents) if use_cache else logits

    def run_with_cache(self, input_ids, names_filter=None):
        cache = {}
        logits = self.forward(input_ids, cache=cache, names_filter=names_filter)
        return logits, cache

    def hook_names(self):
        """Names of every hook the forward pass emits, in execution order."""
        cache = {}
        self.forward(torch.zeros(1, 2, dtype=torch.long), cache=cache)
        return list(cache)


# ----------------------------------------------------------------------------- loaders
def _f32(t):
    return None if t is None else t.to(torch.float32)


def _T(t):
    return None if t is None else t.to(torch.float32).t().contiguous()


def _load_gpt2(cfg, sd):
    # Hub GPT-2 checkpoints exist both with and without the "transformer." prefix.
    p = "transformer." if "transformer.wte.weight" in sd else ""
    g = lambda k: sd[p + k]
    d, H = cfg["n_embd"], cfg["n_head"]
    layers = []
    for i in range(cfg["n_layer"]):
        h = f"h.{i}."
        Wqkv, bqkv = _f32(g(h + "attn.c_attn.weight")), _f32(g(h + "attn.c_attn.bias"))  # Conv1D [in, out]
        layers.append({
            "ln1": {"w": _f32(g(h + "ln_1.weight")), "b": _f32(g(h + "ln_1.bias"))},
            "ln2": {"w": _f32(g(h + "ln_2.weight")), "b": _f32(g(h + "ln_2.bias"))},
            "W_Q": Wqkv[:, :d].contiguous(), "W_K": Wqkv[:, d:2 * d].contiguous(),
            "W_V": Wqkv[:, 2 * d:].contiguous(),
            "b_Q": bqkv[:d], "b_K": bqkv[d:2 * d], "b_V": bqkv[2 * d:],
            "W_O": _f32(g(h + "attn.c_proj.weight")), "b_O": _f32(g(h + "attn.c_proj.bias")),
            "W_in": _f32(g(h + "mlp.c_fc.weight")), "b_in": _f32(g(h + "mlp.c_fc.bias")),
            "W_out": _f32(g(h + "mlp.c_proj.weight")), "b_out": _f32(g(h + "mlp.c_proj.bias")),
        })
    wte = _f32(g("wte.weight"))
    # tied: a transposed view of wte (no copy; matmul takes it as a transposed operand, like F.linear)
    unembed = _T(sd["lm_head.weight"]) if "lm_head.weight" in sd else wte.t()
    spec = dict(norm="layernorm", norm_eps=cfg.get("layer_norm_epsilon", 1e-5), rms_offset=0.0,
                n_layers=cfg["n_layer"], d_model=d, n_heads=H, n_kv_heads=H, d_head=d // H,
                vocab=cfg["vocab_size"], pos="learned", parallel_residual=False, post_norms=False,
                attn_scale=1.0 / math.sqrt(d // H), attn_softcap=None, final_softcap=None,
                sliding_window=None, sliding_layers=set(), gated=False,
                act=ACTIVATIONS[cfg.get("activation_function", "gelu_new")], embed_scale=None)
    weights = {"embed": wte, "pos_embed": _f32(g("wpe.weight")), "unembed": unembed, "unembed_b": None,
               "ln_final": {"w": _f32(g("ln_f.weight")), "b": _f32(g("ln_f.bias"))}, "layers": layers}
    return spec, weights


def _load_neox(cfg, sd):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = d // H
    rotary_pct = cfg.get("rotary_pct", cfg.get("partial_rotary_factor", 1.0))
    layers = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{i}."
        # nn.Linear [out=3d, in=d]; out dim is interleaved per head as [heads, (q,k,v), d_head]
        Wqkv = _f32(sd[p + "attention.query_key_value.weight"]).view(H, 3, dh, d)
        bq = sd.get(p + "attention.query_key_value.bias")
        bqkv = None if bq is None else _f32(bq).view(H, 3, dh)
        W = [Wqkv[:, j].reshape(H * dh, d).t().contiguous() for j in range(3)]
        bb = [None if bqkv is None else bqkv[:, j].reshape(H * dh).contiguous() for j in range(3)]
        layers.append({
            "ln1": {"w": _f32(sd[p + "input_layernorm.weight"]), "b": _f32(sd[p + "input_layernorm.bias"])},
            "ln2": {"w": _f32(sd[p + "post_attention_layernorm.weight"]),
                    "b": _f32(sd[p + "post_attention_layernorm.bias"])},
            "W_Q": W[0], "W_K": W[1], "W_V": W[2], "b_Q": bb[0], "b_K": bb[1], "b_V": bb[2],
            "W_O": _T(sd[p + "attention.dense.weight"]), "b_O": _f32(sd.get(p + "attention.dense.bias")),
            "W_in": _T(sd[p + "mlp.dense_h_to_4h.weight"]), "b_in": _f32(sd.get(p + "mlp.dense_h_to_4h.bias")),
            "W_out": _T(sd[p + "mlp.dense_4h_to_h.weight"]), "b_out": _f32(sd.get(p + "mlp.dense_4h_to_h.bias")),
        })
    embed = _f32(sd["gpt_neox.embed_in.weight"])
    unembed = _T(sd["embed_out.weight"]) if "embed_out.weight" in sd else embed.t().contiguous()
    spec = dict(norm="layernorm", norm_eps=cfg.get("layer_norm_eps", 1e-5), rms_offset=0.0,
                n_layers=cfg["num_hidden_layers"], d_model=d, n_heads=H, n_kv_heads=H, d_head=dh,
                vocab=cfg["vocab_size"], pos="rotary", rotary_dims=int(dh * rotary_pct),
                rope_theta=cfg.get("rotary_emb_base", cfg.get("rope_theta", 10000)),
                parallel_residual=cfg.get("use_parallel_residual", True), post_norms=False,
                attn_scale=1.0 / math.sqrt(dh), attn_softcap=None, final_softcap=None,
                sliding_window=None, sliding_layers=set(), gated=False,
                act=ACTIVATIONS[cfg.get("hidden_act", "gelu")], embed_scale=None)
    weights = {"embed": embed, "unembed": unembed, "unembed_b": None,
               "ln_final": {"w": _f32(sd["gpt_neox.final_layer_norm.weight"]),
                            "b": _f32(sd["gpt_neox.final_layer_norm.bias"])},
               "layers": layers}
    return spec, weights


def _load_llama_like(cfg, sd, mt):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    dh = cfg.get("head_dim") or d // H
    gemma = mt in ("gemma2", "gemma3_text")
    qk_norm = mt in ("qwen3", "gemma3_text")
    layers = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a, m = p + "self_attn.", p + "mlp."
        lw = {
            "ln1": {"w": _f32(sd[p + "input_layernorm.weight"])},
            "W_Q": _T(sd[a + "q_proj.weight"]), "b_Q": _f32(sd.get(a + "q_proj.bias")),
            "W_K": _T(sd[a + "k_proj.weight"]), "b_K": _f32(sd.get(a + "k_proj.bias")),
            "W_V": _T(sd[a + "v_proj.weight"]), "b_V": _f32(sd.get(a + "v_proj.bias")),
            "W_O": _T(sd[a + "o_proj.weight"]), "b_O": _f32(sd.get(a + "o_proj.bias")),
            "W_gate": _T(sd[m + "gate_proj.weight"]), "b_gate": _f32(sd.get(m + "gate_proj.bias")),
            "W_in": _T(sd[m + "up_proj.weight"]), "b_in": _f32(sd.get(m + "up_proj.bias")),
            "W_out": _T(sd[m + "down_proj.weight"]), "b_out": _f32(sd.get(m + "down_proj.bias")),
        }
        if qk_norm:
            lw["q_norm"] = _f32(sd[a + "q_norm.weight"])
            lw["k_norm"] = _f32(sd[a + "k_norm.weight"])
        if gemma:
            lw["ln1_post"] = {"w": _f32(sd[p + "post_attention_layernorm.weight"])}
            lw["ln2"] = {"w": _f32(sd[p + "pre_feedforward_layernorm.weight"])}
            lw["ln2_post"] = {"w": _f32(sd[p + "post_feedforward_layernorm.weight"])}
        else:
            lw["ln2"] = {"w": _f32(sd[p + "post_attention_layernorm.weight"])}
        layers.append(lw)
    embed = _f32(sd["model.embed_tokens.weight"])
    unembed = _T(sd["lm_head.weight"]) if "lm_head.weight" in sd else embed.t().contiguous()
    if gemma:
        act = ACTIVATIONS[cfg.get("hidden_activation") or cfg.get("hidden_act") or "gelu_pytorch_tanh"]
        if "layer_types" in cfg:
            sliding = {i for i, t in enumerate(cfg["layer_types"]) if t == "sliding_attention"}
        elif mt == "gemma3_text":  # Gemma3TextConfig: every sliding_window_pattern-th layer is global
            pattern = cfg.get("sliding_window_pattern", 6)
            sliding = {i for i in range(cfg["num_hidden_layers"]) if bool((i + 1) % pattern)}
        else:
            sliding = {i for i in range(cfg["num_hidden_layers"]) if i % 2 == 0}
        window = cfg.get("sliding_window")
        scale = cfg.get("query_pre_attn_scalar", dh) ** -0.5
    else:
        act = ACTIVATIONS[cfg.get("hidden_act", "silu")]
        sliding, window, scale = set(), None, dh ** -0.5
        L = cfg["num_hidden_layers"]
        if "layer_types" in cfg:
            sliding = {i for i, t in enumerate(cfg["layer_types"]) if t == "sliding_attention"}
            window = cfg.get("sliding_window")
        elif mt == "mistral" and cfg.get("sliding_window") is not None:  # MistralAttention: every layer
            sliding, window = set(range(L)), cfg["sliding_window"]
        elif cfg.get("use_sliding_window"):  # Qwen2/3: full attention below max_window_layers, SWA from there
            window = cfg["sliding_window"]
            sliding = {i for i in range(L) if i >= cfg.get("max_window_layers", 28)}
    gemma3 = mt == "gemma3_text"
    spec = dict(norm="rmsnorm", norm_eps=cfg.get("rms_norm_eps", 1e-6), rms_offset=1.0 if gemma else 0.0,
                n_layers=cfg["num_hidden_layers"], d_model=d, n_heads=H, n_kv_heads=Hkv, d_head=dh,
                vocab=cfg["vocab_size"], pos="rotary", rotary_dims=dh,
                rope_theta=cfg.get("rope_theta", 1000000.0 if gemma3 else 10000.0),
                rope_scaling=cfg.get("rope_scaling"), qk_norm=qk_norm,
                rope_local_theta=cfg.get("rope_local_base_freq", 10000.0) if gemma3 else None,
                parallel_residual=False, post_norms=gemma, attn_scale=scale,
                attn_softcap=cfg.get("attn_logit_softcapping") if gemma else None,
                final_softcap=cfg.get("final_logit_softcapping") if gemma else None,
                sliding_window=window, sliding_layers=sliding, gated=True, act=act,
                embed_scale=(d ** 0.5) if gemma else None)
    weights = {"embed": embed, "unembed": unembed, "unembed_b": None,
               "ln_final": {"w": _f32(sd["model.norm.weight"])}, "layers": layers}
    return spec, weights


def build(cfg, sd):
    mt = cfg["model_type"]
    if mt == "gpt2":
        spec, weights = _load_gpt2(cfg, sd)
    elif mt == "gpt_neox":
        spec, weights = _load_neox(cfg, sd)
    elif mt in ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text"):
        spec, weights = _load_llama_like(cfg, sd, mt)
    else:
        raise ValueError(f"unsupported model_type {mt!r}; supported: {SUPPORTED}")
    return RefModel(spec, weights)


def load_model(folder):
    """Load config.json + safetensors weights (any stored float dtype, upcast to fp32)."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    return build(cfg, load_checkpoint(folder))
