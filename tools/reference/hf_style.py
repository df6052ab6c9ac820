"""A second, deliberately different formulation of the five forward passes (logits only), written
in the shape of the Hugging Face modules: weights kept in their stored orientation (F.linear on
nn.Linear [out, in], addmm on GPT-2 Conv1D [in, out]), split/merge-head helpers, an additive causal
mask filled with finfo.min, HF's repeat_kv, per-module functions. make_fixtures.py checks that
models.RefModel agrees with it; a bug in one formulation is unlikely to be repeated in the other."""
import math

import torch
import torch.nn.functional as F


def _conv1d(x, w, b):  # transformers.pytorch_utils.Conv1D
    size_out = x.size()[:-1] + (w.size(-1),)
    return torch.addmm(b, x.view(-1, x.size(-1)), w).view(size_out)


def _split_heads(t, n, dh):
    return t.view(t.size()[:-1] + (n, dh)).permute(0, 2, 1, 3)


def _merge_heads(t):
    t = t.permute(0, 2, 1, 3).contiguous()
    return t.view(t.size()[:-2] + (t.size(-2) * t.size(-1),))


def _causal_additive(T, dtype, window=None):
    i = torch.arange(T).view(T, 1)
    j = torch.arange(T).view(1, T)
    allowed = j <= i
    if window is not None:
        allowed = allowed & (j > i - window)
    m = torch.zeros(T, T, dtype=dtype)
    return m.masked_fill(~allowed, torch.finfo(dtype).min)[None, None]


def _rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def _rope_factors(dim, base, scaling):
    """Per-frequency divisors of a rope_scaling, one frequency at a time as llama.cpp's converter writes its
    rope_freqs tensor (convert_hf_to_gguf.py, LlamaModel): 1 (short wavelengths), factor (long), or the
    smooth blend 1 / ((1 - s) / factor + s) between them."""
    kind = None if scaling is None else scaling.get("rope_type", scaling.get("type"))
    n = dim // 2
    if kind in (None, "default"):
        return [1.0] * n
    if kind == "linear":
        return [float(scaling["factor"])] * n
    assert kind == "llama3", kind
    factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    out = []
    for i in range(n):
        freq = 1.0 / (base ** (2 * i / dim))
        wavelen = 2 * math.pi / freq
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return out


def _rope(T, dim, base, scaling=None):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    inv_freq = inv_freq / torch.tensor(_rope_factors(dim, base, scaling), dtype=torch.float64).float()
    pos = torch.arange(T).float()
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[None, None], emb.sin()[None, None]  # [1,1,T,dim]


def gpt2_logits(cfg, sd, ids):
    p = "transformer." if "transformer.wte.weight" in sd else ""
    g = lambda k: sd[p + k].float()
    d, H = cfg["n_embd"], cfg["n_head"]
    dh = d // H
    eps = cfg["layer_norm_epsilon"]
    T = ids.shape[1]
    h = g("wte.weight")[ids] + g("wpe.weight")[torch.arange(T)][None]
    mask = _causal_additive(T, h.dtype)
    for i in range(cfg["n_layer"]):
        q = f"h.{i}."
        r = h
        x = F.layer_norm(h, (d,), g(q + "ln_1.weight"), g(q + "ln_1.bias"), eps)
        qkv = _conv1d(x, g(q + "attn.c_attn.weight"), g(q + "attn.c_attn.bias"))
        qq, kk, vv = qkv.split(d, dim=2)
        qq, kk, vv = (_split_heads(t, H, dh) for t in (qq, kk, vv))
        w = torch.matmul(qq, kk.transpose(-1, -2)) / torch.full([], vv.size(-1) ** 0.5)
        w = torch.softmax(w + mask, dim=-1)
        a = _merge_heads(torch.matmul(w, vv))
        h = r + _conv1d(a, g(q + "attn.c_proj.weight"), g(q + "attn.c_proj.bias"))
        r = h
        x = F.layer_norm(h, (d,), g(q + "ln_2.weight"), g(q + "ln_2.bias"), eps)
        x = _conv1d(x, g(q + "mlp.c_fc.weight"), g(q + "mlp.c_fc.bias"))
        x = 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
        h = r + _conv1d(x, g(q + "mlp.c_proj.weight"), g(q + "mlp.c_proj.bias"))
    h = F.layer_norm(h, (d,), g("ln_f.weight"), g("ln_f.bias"), eps)
    return F.linear(h, g("wte.weight"))


def neox_logits(cfg, sd, ids):
    g = lambda k: sd[k].float()
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = d // H
    rd = int(dh * cfg["rotary_pct"])
    eps = cfg["layer_norm_eps"]
    B, T = ids.shape
    h = g("gpt_neox.embed_in.weight")[ids]
    mask = _causal_additive(T, h.dtype)
    cos, sin = _rope(T, rd, cfg["rotary_emb_base"])
    for i in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{i}."
        x = F.layer_norm(h, (d,), g(p + "input_layernorm.weight"), g(p + "input_layernorm.bias"), eps)
        qkv = F.linear(x, g(p + "attention.query_key_value.weight"), g(p + "attention.query_key_value.bias"))
        qkv = qkv.view(B, T, H, 3 * dh).permute(0, 2, 1, 3)
        q, k, v = qkv[..., :dh], qkv[..., dh:2 * dh], qkv[..., 2 * dh:]
        q = torch.cat((q[..., :rd] * cos + _rotate_half(q[..., :rd]) * sin, q[..., rd:]), dim=-1)
        k = torch.cat((k[..., :rd] * cos + _rotate_half(k[..., :rd]) * sin, k[..., rd:]), dim=-1)
        w = torch.baddbmm(torch.zeros(B * H, T, T), q.reshape(B * H, T, dh),
                          k.reshape(B * H, T, dh).transpose(1, 2), beta=1.0, alpha=1.0 / math.sqrt(dh))
        w = torch.softmax(w.view(B, H, T, T) + mask, dim=-1)
        a = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(B, T, d)
        attn = F.linear(a, g(p + "attention.dense.weight"), g(p + "attention.dense.bias"))

        def mlp(y):
            y = F.linear(y, g(p + "mlp.dense_h_to_4h.weight"), g(p + "mlp.dense_h_to_4h.bias"))
            return F.linear(F.gelu(y), g(p + "mlp.dense_4h_to_h.weight"), g(p + "mlp.dense_4h_to_h.bias"))

        ln2 = lambda y: F.layer_norm(y, (d,), g(p + "post_attention_layernorm.weight"),
                                     g(p + "post_attention_layernorm.bias"), eps)
        if cfg["use_parallel_residual"]:
            h = mlp(ln2(h)) + attn + h
        else:
            h = attn + h
            h = mlp(ln2(h)) + h
    h = F.layer_norm(h, (d,), g("gpt_neox.final_layer_norm.weight"), g("gpt_neox.final_layer_norm.bias"), eps)
    return F.linear(h, g("embed_out.weight"))


def llama_like_logits(cfg, sd, ids):
    """llama / qwen2 / qwen3 / gemma2 / gemma3_text."""
    g = lambda k: sd[k].float()
    gb = lambda k: sd[k].float() if k in sd else None
    mt = cfg["model_type"]
    gemma = mt in ("gemma2", "gemma3_text")
    gemma3 = mt == "gemma3_text"
    qk_norm = mt in ("qwen3", "gemma3_text")
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg["num_key_value_heads"]
    dh = cfg.get("head_dim") or d // H
    eps = cfg["rms_norm_eps"]
    B, T = ids.shape

    def rms(x, w):
        v = x.pow(2).mean(-1, keepdim=True)
        y = x * torch.rsqrt(v + eps)
        return y * (1.0 + w) if gemma else w * y

    def repeat_kv(x, n_rep):
        b, n, s, hd = x.shape
        if n_rep == 1:
            return x
        return x[:, :, None, :, :].expand(b, n, n_rep, s, hd).reshape(b, n * n_rep, s, hd)

    emb = g("model.embed_tokens.weight")
    h = emb[ids]
    if gemma:
        h = h * torch.tensor(d ** 0.5, dtype=h.dtype)
    n_layers = cfg["num_hidden_layers"]
    if gemma3:  # Gemma3TextConfig.layer_types, from the pattern when absent
        types = cfg.get("layer_types") or ["sliding_attention" if (j + 1) % cfg.get("sliding_window_pattern", 6) else
                                           "full_attention" for j in range(n_layers)]
        local = _rope(T, dh, cfg["rope_local_base_freq"])
        glob = _rope(T, dh, cfg["rope_theta"], cfg.get("rope_scaling"))
    else:
        if gemma:
            types = ["sliding_attention" if j % 2 == 0 else "full_attention" for j in range(n_layers)]
        elif mt == "mistral":
            types = ["sliding_attention" if cfg.get("sliding_window") else "full_attention"] * n_layers
        else:  # Qwen2Config.layer_types: SWA only with use_sliding_window, from max_window_layers on
            swa = cfg.get("sliding_window") if cfg.get("use_sliding_window") else None
            types = ["sliding_attention" if swa is not None and j >= cfg.get("max_window_layers", 28) else
                     "full_attention" for j in range(n_layers)]
        types = cfg.get("layer_types") or types
        local = glob = _rope(T, dh, cfg["rope_theta"], cfg.get("rope_scaling"))
    for i in range(n_layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        is_sliding = types[i] == "sliding_attention"
        window = cfg["sliding_window"] if is_sliding else None
        cos, sin = local if is_sliding else glob
        mask = _causal_additive(T, h.dtype, window)
        r = h
        x = rms(h, g(p + "input_layernorm.weight"))
        q = F.linear(x, g(a + "q_proj.weight"), gb(a + "q_proj.bias")).view(B, T, H, dh).transpose(1, 2)
        k = F.linear(x, g(a + "k_proj.weight"), gb(a + "k_proj.bias")).view(B, T, Hkv, dh).transpose(1, 2)
        v = F.linear(x, g(a + "v_proj.weight"), gb(a + "v_proj.bias")).view(B, T, Hkv, dh).transpose(1, 2)
        if qk_norm:  # over d_head, after the head split (q_norm(q_proj(x).view(...)) in HF)
            q = rms(q, g(a + "q_norm.weight"))
            k = rms(k, g(a + "k_norm.weight"))
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k, v = repeat_kv(k, H // Hkv), repeat_kv(v, H // Hkv)
        scaling = cfg["query_pre_attn_scalar"] ** -0.5 if gemma else dh ** -0.5
        w = torch.matmul(q, k.transpose(2, 3)) * scaling
        if gemma and cfg.get("attn_logit_softcapping") is not None:
            c = cfg["attn_logit_softcapping"]
            w = torch.tanh(w / c) * c
        w = torch.softmax(w + mask, dim=-1, dtype=torch.float32)
        o = torch.matmul(w, v).transpose(1, 2).reshape(B, T, H * dh)
        o = F.linear(o, g(a + "o_proj.weight"))
        if gemma:
            o = rms(o, g(p + "post_attention_layernorm.weight"))
            h = r + o
            r = h
            x = rms(h, g(p + "pre_feedforward_layernorm.weight"))
        else:
            h = r + o
            r = h
            x = rms(h, g(p + "post_attention_layernorm.weight"))
        act = (lambda t: F.gelu(t, approximate="tanh")) if gemma else F.silu
        m = p + "mlp."
        y = F.linear(act(F.linear(x, g(m + "gate_proj.weight"))) * F.linear(x, g(m + "up_proj.weight")),
                     g(m + "down_proj.weight"))
        if gemma:
            y = rms(y, g(p + "post_feedforward_layernorm.weight"))
        h = r + y
    h = rms(h, g("model.norm.weight"))
    logits = F.linear(h, sd["lm_head.weight"].float() if "lm_head.weight" in sd else emb)
    if gemma and cfg.get("final_logit_softcapping") is not None:
        c = cfg["final_logit_softcapping"]
        logits = torch.tanh(logits / c) * c
    return logits


def logits(cfg, sd, ids):
    mt = cfg["model_type"]
    if mt == "gpt2":
        return gpt2_logits(cfg, sd, ids)
    if mt == "gpt_neox":
        return neox_logits(cfg, sd, ids)
    return llama_like_logits(cfg, sd, ids)
