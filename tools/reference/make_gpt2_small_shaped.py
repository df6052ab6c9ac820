#!/usr/bin/python3
"""Write a random GPT-2-small-shaped Hugging Face checkpoint (for reproducing the benchmark without
the TypeScript side):

    /usr/bin/python3 tools/reference/make_gpt2_small_shaped.py --out DIR [--seed 0]

DIR/config.json (GPT-2 small: 12 layers, n_embd 768, 12 heads, vocab 50257, n_positions/n_ctx 1024,
gelu_new, eps 1e-5) and DIR/model.safetensors (F32, `transformer.`-prefixed names as save_pretrained
writes them, lm_head tied and not stored). Init: every weight matrix and both embeddings N(0, 0.02),
every bias 0, LayerNorm weights 1 and biases 0. About 498 MB."""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402

CONFIG = {
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
    "n_inner": None, "n_layer": 12, "n_positions": 1024, "reorder_and_upcast_attn": False,
    "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
    "summary_activation": None, "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
    "summary_type": "cls_index", "summary_use_proj": True, "torch_dtype": "float32",
    "transformers_version": "4.44.2", "use_cache": True, "vocab_size": 50257,
}


def make(seed=0, cfg=CONFIG):
    g = torch.Generator().manual_seed(seed)
    n = lambda *s: torch.randn(*s, generator=g) * cfg["initializer_range"]
    d, L, V, P = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]
    sd = {"transformer.wte.weight": n(V, d), "transformer.wpe.weight": n(P, d)}
    for i in range(L):
        h = f"transformer.h.{i}."
        sd.update({
            h + "ln_1.weight": torch.ones(d), h + "ln_1.bias": torch.zeros(d),
            h + "attn.c_attn.weight": n(d, 3 * d), h + "attn.c_attn.bias": torch.zeros(3 * d),
            h + "attn.c_proj.weight": n(d, d), h + "attn.c_proj.bias": torch.zeros(d),
            h + "ln_2.weight": torch.ones(d), h + "ln_2.bias": torch.zeros(d),
            h + "mlp.c_fc.weight": n(d, 4 * d), h + "mlp.c_fc.bias": torch.zeros(4 * d),
            h + "mlp.c_proj.weight": n(4 * d, d), h + "mlp.c_proj.bias": torch.zeros(d),
        })
    sd.update({"transformer.ln_f.weight": torch.ones(d), "transformer.ln_f.bias": torch.zeros(d)})
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    sd = make(args.seed)
    save_file(sd, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    print(f"wrote {args.out}: {sum(t.numel() for t in sd.values())} parameters", file=sys.stderr)


if __name__ == "__main__":
    main()
