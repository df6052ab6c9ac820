#!/usr/bin/python3
"""Generate the golden test fixtures under test/fixtures/<case>/ (one command, seeded):

    OMP_NUM_THREADS=1 /usr/bin/python3 tools/reference/make_fixtures.py [--out test/fixtures] [--seed 1234]

Each case: config.json (HF-style), HF-named weights (model.safetensors, or shards + index), and
golden.safetensors = input_ids (I64 [B,T]), logits (F32 [B,T,V]) and every TransformerLens-named hook
activation (F32), computed in fp32 by models.RefModel from the weights as stored (F16/BF16 upcast).
Before writing, every case is checked against hf_style.py (a second formulation) and a set of
internal identities (see check_identities)."""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_style  # noqa: E402
import models  # noqa: E402
from safetensors_io import load_checkpoint, load_file, save_file, save_sharded  # noqa: E402

B, T = 2, 12
TRANSFORMERS_VERSION = "4.44.2"  # the version string written into the configs (format reference only)


# ----------------------------------------------------------------------------- configs
def gpt2_config(dtype="float32"):
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": 0, "embd_pdrop": 0.1, "eos_token_id": 0, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 32, "n_embd": 32, "n_head": 4,
        "n_inner": None, "n_layer": 2, "n_positions": 32, "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
        "summary_activation": None, "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
        "summary_type": "cls_index", "summary_use_proj": True, "torch_dtype": dtype,
        "transformers_version": TRANSFORMERS_VERSION, "use_cache": True, "vocab_size": 101,
    }


def neox_config(parallel):
    return {
        "architectures": ["GPTNeoXForCausalLM"], "attention_bias": True, "attention_dropout": 0.0,
        "bos_token_id": 0, "classifier_dropout": 0.1, "eos_token_id": 0, "hidden_act": "gelu",
        "hidden_dropout": 0.0, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 128,
        "layer_norm_eps": 1e-05, "max_position_embeddings": 64, "model_type": "gpt_neox",
        "num_attention_heads": 2, "num_hidden_layers": 2, "rope_scaling": None, "rotary_emb_base": 10000,
        "rotary_pct": 0.25, "tie_word_embeddings": False, "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION, "use_cache": True, "use_parallel_residual": parallel,
        "vocab_size": 103,
    }


def llama_config():
    return {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 64, "mlp_bias": False,
        "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
        "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True, "vocab_size": 107,
    }


def qwen2_config():
    return {
        "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 0,
        "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
        "intermediate_size": 64, "max_position_embeddings": 64, "max_window_layers": 2,
        "model_type": "qwen2", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": 64,
        "tie_word_embeddings": True, "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True, "use_sliding_window": False, "vocab_size": 109,
    }


def gemma2_config():
    return {
        "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "attn_logit_softcapping": 5.0, "bos_token_id": 2, "cache_implementation": "hybrid",
        "eos_token_id": 1, "final_logit_softcapping": 3.0, "head_dim": 16, "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 32, "initializer_range": 0.02,
        "intermediate_size": 64, "max_position_embeddings": 64, "model_type": "gemma2",
        "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "pad_token_id": 0,
        "query_pre_attn_scalar": 24, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4,
        "tie_word_embeddings": True, "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True, "vocab_size": 113,
    }


def llama3_config():
    """Llama-3.2-shaped: rope_scaling "llama3" (its three frequency bands all present at d_head 16 with
    rope_theta 5e5 and original_max_position_embeddings 64), tied embeddings, explicit head_dim."""
    cfg = llama_config()
    cfg.update({"head_dim": 16, "max_position_embeddings": 256, "rope_theta": 500000.0, "tie_word_embeddings": True,
                "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                 "original_max_position_embeddings": 64, "rope_type": "llama3"},
                "bos_token_id": 128, "eos_token_id": 129, "vocab_size": 131})
    return cfg


def llama_linear_config():
    """rope_scaling {"type": "linear"} (the older key spelling), untied."""
    cfg = llama_config()
    cfg.update({"rope_scaling": {"type": "linear", "factor": 4.0}, "max_position_embeddings": 256, "vocab_size": 127})
    return cfg


def qwen3_config():
    return {
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 0,
        "eos_token_id": 0, "head_dim": 16, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
        "intermediate_size": 64, "max_position_embeddings": 64, "max_window_layers": 2, "model_type": "qwen3",
        "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
        "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": None, "tie_word_embeddings": True,
        "torch_dtype": "float32", "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False,
        "vocab_size": 137,
    }


def gemma3_config():
    """Gemma3ForCausalLM (gemma3_text): layers 0 and 1 slide (window 4, local base 1e4), layer 2 is global
    (rope_theta 1e6 with linear scaling 8, as the 4B+ models), no soft-capping."""
    return {
        "architectures": ["Gemma3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "attn_logit_softcapping": None, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
        "final_logit_softcapping": None, "head_dim": 16, "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 128,
        "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 3, "num_key_value_heads": 2,
        "pad_token_id": 0, "query_pre_attn_scalar": 24, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0, "sliding_window": 4,
        "sliding_window_pattern": 3, "tie_word_embeddings": True, "torch_dtype": "float32",
        "transformers_version": "4.50.0", "use_cache": True, "vocab_size": 139,
    }


def mistral_config():
    """MistralForCausalLM: a sliding window on every layer (4 of the 12 positions)."""
    cfg = llama_config()
    cfg.update({"architectures": ["MistralForCausalLM"], "model_type": "mistral", "sliding_window": 4,
                "rope_theta": 1000000.0, "vocab_size": 149})
    for k in ("attention_bias", "mlp_bias", "pretraining_tp"):
        cfg.pop(k)
    return cfg


def qwen2_swa_config():
    """Qwen2 with use_sliding_window: layer 0 full (max_window_layers 1), layer 1 within a window of 4."""
    cfg = qwen2_config()
    cfg.update({"use_sliding_window": True, "max_window_layers": 1, "sliding_window": 4, "vocab_size": 151})
    return cfg


# ----------------------------------------------------------------------------- random weights
class Rng:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def n(self, *shape, std=1.0, mean=0.0):
        return (torch.randn(*shape, generator=self.g) * std + mean).float()

    def perm(self, n):
        return torch.randperm(n, generator=self.g)


def gpt2_weights(cfg, r):
    d, V, P, L = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"]
    dm = 4 * d
    sd = {"wte.weight": r.n(V, d, std=0.3), "wpe.weight": r.n(P, d, std=0.1)}
    for i in range(L):
        h = f"h.{i}."
        Wq, Wk, Wv = r.n(d, d, std=0.2), r.n(d, d, std=0.2), r.n(d, d, std=0.2)
        sd.update({
            h + "ln_1.weight": r.n(d, std=0.2, mean=1.0), h + "ln_1.bias": r.n(d, std=0.1),
            h + "attn.c_attn.weight": torch.cat([Wq, Wk, Wv], dim=1),  # Conv1D [in, out]
            h + "attn.c_attn.bias": r.n(3 * d, std=0.1),
            h + "attn.c_proj.weight": r.n(d, d, std=0.2), h + "attn.c_proj.bias": r.n(d, std=0.05),
            h + "ln_2.weight": r.n(d, std=0.2, mean=1.0), h + "ln_2.bias": r.n(d, std=0.1),
            h + "mlp.c_fc.weight": r.n(d, dm, std=0.2), h + "mlp.c_fc.bias": r.n(dm, std=0.1),
            h + "mlp.c_proj.weight": r.n(dm, d, std=0.1), h + "mlp.c_proj.bias": r.n(d, std=0.05),
        })
    sd.update({"ln_f.weight": r.n(d, std=0.2, mean=1.0), "ln_f.bias": r.n(d, std=0.1)})
    return sd  # hub naming, no prefix


def neox_weights(cfg, r):
    d, V, L, dm = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    sd = {"gpt_neox.embed_in.weight": r.n(V, d, std=0.3), "embed_out.weight": r.n(V, d, std=0.3)}
    for i in range(L):
        p = f"gpt_neox.layers.{i}."
        sd.update({
            p + "input_layernorm.weight": r.n(d, std=0.2, mean=1.0), p + "input_layernorm.bias": r.n(d, std=0.1),
            p + "post_attention_layernorm.weight": r.n(d, std=0.2, mean=1.0),
            p + "post_attention_layernorm.bias": r.n(d, std=0.1),
            # nn.Linear [out=3d, in=d], out dim laid out as [heads][q,k,v][d_head]
            p + "attention.query_key_value.weight": r.n(3 * d, d, std=0.25),
            p + "attention.query_key_value.bias": r.n(3 * d, std=0.1),
            p + "attention.dense.weight": r.n(d, d, std=0.2), p + "attention.dense.bias": r.n(d, std=0.05),
            p + "mlp.dense_h_to_4h.weight": r.n(dm, d, std=0.2), p + "mlp.dense_h_to_4h.bias": r.n(dm, std=0.1),
            p + "mlp.dense_4h_to_h.weight": r.n(d, dm, std=0.1), p + "mlp.dense_4h_to_h.bias": r.n(d, std=0.05),
        })
    sd.update({"gpt_neox.final_layer_norm.weight": r.n(d, std=0.2, mean=1.0),
               "gpt_neox.final_layer_norm.bias": r.n(d, std=0.1)})
    return sd


def llama_like_weights(cfg, r, biases=False, gemma=False, qk_norm=False):
    d, V, L, dm = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dh = cfg.get("head_dim") or d // H
    # RMSNorm weights: w ~ 1 + noise for llama/qwen2 (x * w); w ~ noise for gemma (x * (1 + w)).
    nw = (lambda: r.n(d, std=0.2)) if gemma else (lambda: r.n(d, std=0.2, mean=1.0))
    sd = {"model.embed_tokens.weight": r.n(V, d, std=0.2 if gemma else 0.5)}
    for i in range(L):
        p = f"model.layers.{i}."
        a, m = p + "self_attn.", p + "mlp."
        sd.update({
            p + "input_layernorm.weight": nw(),
            a + "q_proj.weight": r.n(H * dh, d, std=0.25), a + "k_proj.weight": r.n(Hkv * dh, d, std=0.25),
            a + "v_proj.weight": r.n(Hkv * dh, d, std=0.2), a + "o_proj.weight": r.n(d, H * dh, std=0.2),
            p + "post_attention_layernorm.weight": nw(),
            m + "gate_proj.weight": r.n(dm, d, std=0.2), m + "up_proj.weight": r.n(dm, d, std=0.2),
            m + "down_proj.weight": r.n(d, dm, std=0.15),
        })
        if biases:
            sd.update({a + "q_proj.bias": r.n(H * dh, std=0.1), a + "k_proj.bias": r.n(Hkv * dh, std=0.1),
                       a + "v_proj.bias": r.n(Hkv * dh, std=0.1)})
        if gemma:
            sd.update({p + "pre_feedforward_layernorm.weight": nw(), p + "post_feedforward_layernorm.weight": nw()})
        if qk_norm:  # per-head norms over d_head (Qwen3: x * w, w ~ 1 + noise; Gemma-3: x * (1 + w))
            hn = (lambda: r.n(dh, std=0.3)) if gemma else (lambda: r.n(dh, std=0.3, mean=1.0))
            sd.update({a + "q_norm.weight": hn(), a + "k_norm.weight": hn()})
    sd["model.norm.weight"] = nw()
    if not cfg["tie_word_embeddings"]:
        sd["lm_head.weight"] = r.n(V, d, std=0.5)
    return sd


# ----------------------------------------------------------------------------- checks
def _close(a, b, tol, what):
    diff = (a - b).abs().max().item()
    if not diff <= tol:
        raise AssertionError(f"{what}: max abs diff {diff:g} > {tol:g}")
    return diff


def check_identities(case, model, cfg, ids, logits, cache):
    """Internal consistency of the hooks (a second formulation of each quantity)."""
    s, w = model.s, model.w
    tol = 2e-5
    L, H, Hkv = s["n_layers"], s["n_heads"], s["n_kv_heads"]
    x0 = cache["hook_embed"] + (cache["hook_pos_embed"] if s["pos"] == "learned" else 0)
    if s["embed_scale"] is not None:
        x0 = x0 * s["embed_scale"]
    _close(x0, cache["blocks.0.hook_resid_pre"], tol, "embed -> resid_pre0")
    for l in range(L):
        b = f"blocks.{l}."
        lw = w["layers"][l]
        pat = cache[b + "attn.hook_pattern"]
        _close(pat.sum(-1), torch.ones_like(pat.sum(-1)), 1e-5, "pattern rows sum to 1")
        sc = cache[b + "attn.hook_attn_scores"]
        assert torch.isinf(sc).any(), "masked scores are -inf"
        assert not torch.isinf(torch.diagonal(sc, dim1=-2, dim2=-1)).any()
        # softmax of the stored scores is the stored pattern
        _close(torch.softmax(sc, -1), pat, 1e-6, "softmax(scores) == pattern")
        # z = pattern @ v (kv heads repeated)
        v = cache[b + "attn.hook_v"].repeat_interleave(H // Hkv, dim=2)
        _close(torch.einsum("bhqk,bkhe->bqhe", pat, v), cache[b + "attn.hook_z"], tol, "z = pattern v")
        # sum over heads of result (+ b_O) == attention output (before any post-norm)
        attn_lin = cache[b + "attn.hook_result"].sum(2) + (0 if lw["b_O"] is None else lw["b_O"])
        if s["post_norms"]:
            _close(cache[b + "ln1_post.hook_normalized"] * (1 + lw["ln1_post"]["w"]), cache[b + "hook_attn_out"], tol,
                   "ln1_post normalized * (1 + w) == attn_out")
            xs = attn_lin.pow(2).mean(-1, keepdim=True) + s["norm_eps"]
            _close(torch.sqrt(xs), cache[b + "ln1_post.hook_scale"], tol, "ln1_post scale")
            attn_lin = attn_lin / torch.sqrt(xs) * (1 + lw["ln1_post"]["w"])
        _close(attn_lin, cache[b + "hook_attn_out"], tol, "sum_h result (+b_O) == attn_out")
        # norm hooks (TransformerLens): normalized == (x - mean)/scale (or x/scale), before weight and bias
        xin = cache[b + "hook_resid_pre"]
        for ln, src in (("ln1", xin), ("ln2", xin if s["parallel_residual"] else cache.get(b + "hook_resid_mid"))):
            sc_ = cache[b + ln + ".hook_scale"]
            if s["norm"] == "layernorm":
                ref = (src - src.mean(-1, keepdim=True)) / sc_
            else:
                ref = src / sc_
            _close(ref, cache[b + ln + ".hook_normalized"], tol, f"{ln} normalized")
        # the MLP reads ln2's normalized input after the weight (and bias)
        x2 = cache[b + "ln2.hook_normalized"] * (s["rms_offset"] + lw["ln2"]["w"])
        if lw["ln2"].get("b") is not None:
            x2 = x2 + lw["ln2"]["b"]
        _close(x2, cache[b + "mlp.hook_in"], tol, "mlp.hook_in == ln2 normalized * w + b")
        # q = (ln1_normalized * w + b) @ W_Q + b_Q
        x1 = cache[b + "ln1.hook_normalized"] * (s["rms_offset"] + lw["ln1"]["w"])
        if lw["ln1"].get("b") is not None:
            x1 = x1 + lw["ln1"]["b"]
        qref = model._lin(x1, lw["W_Q"], lw["b_Q"]).view(cache[b + "attn.hook_q"].shape)
        _close(qref, cache[b + "attn.hook_q"], tol, "q projection")
        # MLP: post = act(pre) (* pre_linear); out = post @ W_out + b_out
        post = s["act"](cache[b + "mlp.hook_pre"])
        if s["gated"]:
            post = post * cache[b + "mlp.hook_pre_linear"]
        _close(post, cache[b + "mlp.hook_post"], tol, "mlp post")
        mlp_out = model._lin(cache[b + "mlp.hook_post"], lw["W_out"], lw["b_out"])
        _close(mlp_out, cache[b + "mlp.hook_out"], tol, "mlp.hook_out = post @ W_out + b_out")
        if not s["post_norms"]:
            _close(cache[b + "mlp.hook_out"], cache[b + "hook_mlp_out"], 0, "mlp.hook_out == hook_mlp_out")
        # residual identities
        if s["parallel_residual"]:
            assert b + "hook_resid_mid" not in cache
            _close(cache[b + "hook_resid_pre"] + cache[b + "hook_attn_out"] + cache[b + "hook_mlp_out"],
                   cache[b + "hook_resid_post"], tol, "parallel residual")
        else:
            _close(cache[b + "hook_resid_pre"] + cache[b + "hook_attn_out"], cache[b + "hook_resid_mid"], tol,
                   "resid_mid = resid_pre + attn_out")
            _close(cache[b + "hook_resid_mid"] + cache[b + "hook_mlp_out"], cache[b + "hook_resid_post"], tol,
                   "resid_post = resid_mid + mlp_out")
        if l + 1 < L:
            assert torch.equal(cache[b + "hook_resid_post"], cache[f"blocks.{l + 1}.hook_resid_pre"])
        # sliding window: no query attends further back than the window
        if s["sliding_window"] is not None and l in s["sliding_layers"]:
            i = torch.arange(T)[:, None]
            j = torch.arange(T)[None, :]
            far = (i - j) >= s["sliding_window"]
            assert (pat[..., far] == 0).all() and torch.isinf(sc[..., far]).all()
            assert far.any()
    # logits from the final norm
    xf = cache["ln_final.hook_normalized"] * (s["rms_offset"] + w["ln_final"]["w"])
    if w["ln_final"].get("b") is not None:
        xf = xf + w["ln_final"]["b"]
    lg = xf @ w["unembed"]
    if s["final_softcap"] is not None:
        lg = torch.tanh(lg / s["final_softcap"]) * s["final_softcap"]
    _close(lg, logits, tol, "logits from ln_final")


def stats(cache, logits, L):
    out = []
    for l in range(L):
        p = cache[f"blocks.{l}.attn.hook_pattern"]
        out.append(f"L{l} max-attn mean {p.max(-1).values.mean():.2f}")
    out.append(f"|logits| max {logits.abs().max():.2f}")
    return ", ".join(out)


# ----------------------------------------------------------------------------- writing
def write_case(root, name, cfg, sd, seed, shards=1, expect_hooks=None):
    folder = os.path.join(root, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    if shards > 1:
        save_sharded(sd, folder, shards)
    else:
        save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})

    # Reload from disk exactly as a consumer would, upcast, and run.
    sd_disk = load_checkpoint(folder)
    for k, t in sd.items():
        assert torch.equal(sd_disk[k].view(-1), t.reshape(-1)) if t.dtype != torch.bfloat16 else torch.equal(
            sd_disk[k].view(torch.int16), t.view(torch.int16)), k
    model = models.load_model(folder)
    r = Rng(seed + 7)
    V = cfg["vocab_size"]
    ids = torch.stack([r.perm(V)[:T] for _ in range(B)]).long()
    with torch.no_grad():
        logits, cache = model.run_with_cache(ids)
        other = hf_style.logits(cfg, {k: v.float() for k, v in sd_disk.items()}, ids)
        d_hf = _close(logits, other, 3e-5, f"{name}: RefModel vs hf_style logits")
        check_identities(name, model, cfg, ids, logits, cache)
        # plain forward (no hooks) gives the same logits; incremental decoding with the KV cache too
        _close(model.forward(ids), logits, 0, "plain forward == cached forward")
        lg1, past = model.forward(ids[:, :5], use_cache=True)
        lg2, _ = model.forward(ids[:, 5:], past=past, use_cache=True)
        _close(torch.cat([lg1, lg2], 1), logits, 1e-5, "KV-cache forward")
    if expect_hooks is not None:
        assert list(cache) == expect_hooks, (name, set(cache) ^ set(expect_hooks))
    golden = {"input_ids": ids, "logits": logits.contiguous()}
    for k, v in cache.items():
        golden[k] = v.float().contiguous()
    meta = {"script": "tools/reference/make_fixtures.py", "torch_version": torch.__version__, "seed": str(seed),
            "case": name, "hooks": ",".join(cache)}
    save_file(golden, os.path.join(folder, "golden.safetensors"), metadata=meta)
    back = load_file(os.path.join(folder, "golden.safetensors"))
    assert all(torch.equal(back[k], golden[k]) for k in golden)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{name:14s} {size / 1024:6.1f} KB  hf_style diff {d_hf:.1e}  {stats(cache, logits, model.s['n_layers'])}")
    return list(cache)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "..", "test", "fixtures")))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only", default="", help="comma-separated case names to (re)write; default all")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seed = args.seed
    os.makedirs(args.out, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    if only:
        global write_case
        write_all = write_case
        write_case = lambda root, name, *a, **k: write_all(root, name, *a, **k) if name in only else None

    # GPT-2: one set of weights, four storage variants.
    cfg = gpt2_config()
    hub = gpt2_weights(cfg, Rng(seed))
    pref = {"transformer." + k: v for k, v in hub.items()}  # save_pretrained naming (lm_head tied, not saved)
    hooks = write_case(args.out, "gpt2", cfg, pref, seed) if not only or "gpt2" in only else None
    # Original hub naming, as in openai-community/gpt2's model.safetensors, including the causal-mask
    # buffers h.{i}.attn.bias [1,1,n_positions,n_positions] (F32 ones/zeros) that loaders must ignore.
    P = cfg["n_positions"]
    nopref = dict(hub)
    for i in range(cfg["n_layer"]):
        nopref[f"h.{i}.attn.bias"] = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
    write_case(args.out, "gpt2-noprefix", cfg, nopref, seed, expect_hooks=hooks)
    write_case(args.out, "gpt2-f16", gpt2_config("float16"), {k: v.half() for k, v in pref.items()}, seed,
               expect_hooks=hooks)
    write_case(args.out, "gpt2-bf16", gpt2_config("bfloat16"), {k: v.bfloat16() for k, v in pref.items()}, seed,
               expect_hooks=hooks)

    cfg = neox_config(True)
    write_case(args.out, "neox", cfg, neox_weights(cfg, Rng(seed + 1)), seed)
    cfg = neox_config(False)
    write_case(args.out, "neox-seq", cfg, neox_weights(cfg, Rng(seed + 2)), seed)
    cfg = llama_config()
    write_case(args.out, "llama", cfg, llama_like_weights(cfg, Rng(seed + 3)), seed, shards=2)
    cfg = qwen2_config()
    write_case(args.out, "qwen2", cfg, llama_like_weights(cfg, Rng(seed + 4), biases=True), seed)
    cfg = gemma2_config()
    write_case(args.out, "gemma2", cfg, llama_like_weights(cfg, Rng(seed + 5), gemma=True), seed)
    cfg = llama3_config()
    write_case(args.out, "llama3", cfg, llama_like_weights(cfg, Rng(seed + 6)), seed)
    cfg = llama_linear_config()
    write_case(args.out, "llama-linear", cfg, llama_like_weights(cfg, Rng(seed + 7)), seed)
    cfg = qwen3_config()
    write_case(args.out, "qwen3", cfg, llama_like_weights(cfg, Rng(seed + 8), qk_norm=True), seed)
    cfg = gemma3_config()
    write_case(args.out, "gemma3", cfg, llama_like_weights(cfg, Rng(seed + 9), gemma=True, qk_norm=True), seed)
    cfg = mistral_config()
    write_case(args.out, "mistral", cfg, llama_like_weights(cfg, Rng(seed + 10)), seed)
    cfg = qwen2_swa_config()
    write_case(args.out, "qwen2-swa", cfg, llama_like_weights(cfg, Rng(seed + 11), biases=True), seed)


if __name__ == "__main__":
    main()
