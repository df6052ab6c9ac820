"""Stage 3: one ReLU transcoder per layer (blocks.{l}.mlp.hook_in -> blocks.{l}.hook_mlp_out), trained with the default
model's trainer (tools/train/transcoders.py train_tc: decoder-norm-weighted L1 adapted towards a target L0, seeded) on
the model's activations over its own sampled stories (build/train.npy); FVU, L0, dead features and the replacement
model's top-1 agreement measured on eval/heldout_tokens.u16. Writes transcoders/ (circuit-tracer per-layer format)
and build/transcoders.json."""
import json
import os
import sys
import time

import numpy as np
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llama import BUILD, MODEL_DIR, Llama  # noqa: E402

sys.path.insert(1, os.path.dirname(HERE))
from transcoders import train_tc  # noqa: E402  (the default model's trainer: one pipeline for both models)
from model import save_safetensors  # noqa: E402

CFG = json.load(open(os.path.join(HERE, "config.json")))
N_SUBSET = 64  # first 64 held-out rows: the numbers the engine test reproduces


def held_out():
    T = CFG["row_len"]
    raw = np.fromfile(os.path.join(MODEL_DIR, "eval", "heldout_tokens.u16"), dtype="<u2")
    return torch.from_numpy(raw.reshape(-1, T).astype(np.int64))


def collect(m, rows, bs=128):
    xs, ys = [[] for _ in range(m.L)], [[] for _ in range(m.L)]
    with torch.no_grad():
        for i in range(0, len(rows), bs):
            cache = {}
            m.forward(rows[i:i + bs], cache=cache)
            for l in range(m.L):
                xs[l].append(cache[f"blocks.{l}.mlp.hook_in"].reshape(-1, m.d))
                ys[l].append(cache[f"blocks.{l}.hook_mlp_out"].reshape(-1, m.d))
    return [torch.cat(x) for x in xs], [torch.cat(y) for y in ys]


def fvu(yh, y):
    return ((yh - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum()).item()


def main():
    torch.set_num_threads(1)
    t0 = time.time()
    m = Llama(MODEL_DIR)
    T = CFG["row_len"]
    train = torch.from_numpy(np.load(os.path.join(BUILD, "train.npy")).astype(np.int64))
    held = held_out()
    xs, ys = collect(m, train)
    hx, hy = collect(m, held)
    print(f"collected {xs[0].shape[0]} train / {hx[0].shape[0]} held-out tokens per layer [{time.time()-t0:.0f}s]", flush=True)
    out_dir = os.path.join(MODEL_DIR, "transcoders")
    os.makedirs(out_dir, exist_ok=True)
    width = CFG["tc_width"]
    nb = torch.ones(held.shape, dtype=torch.bool)
    nb[:, 0] = False  # positions after <s>: the model's text, not its constant first position
    nb = nb.reshape(-1)
    ns = N_SUBSET * T
    stats, tcs = [], []
    for l in range(m.L):
        tl = time.time()
        print(f"layer {l}", flush=True)
        tc, lam = train_tc(xs[l], ys[l], width, CFG["tc_steps"], seed=CFG["tc_seed"] + l, target_l0=float(CFG["tc_target_l0"][l]))
        tc.eval()
        with torch.no_grad():
            yh, f = tc(hx[l])
            act = f > 0
            s = {"layer": l, "fvu": fvu(yh, hy[l]), "l0": act.float().sum(1).mean().item(),
                 "fvu_text": fvu(yh[nb], hy[l][nb]), "l0_text": act[nb].float().sum(1).mean().item(),
                 "dead": int((act.sum(0) == 0).sum().item()), "d_transcoder": width, "activation": "relu",
                 "subset_fvu": fvu(yh[:ns], hy[l][:ns]), "subset_l0": act[:ns].float().sum(1).mean().item(),
                 "l1_coeff": lam, "target_l0": CFG["tc_target_l0"][l], "train_seconds": round(time.time() - tl, 1)}
        stats.append(s)
        print(f"layer {l}: FVU {s['fvu']:.4f} (text {s['fvu_text']:.4f}) L0 {s['l0']:.1f} dead {s['dead']} [{time.time()-tl:.0f}s]", flush=True)
        save_safetensors({"W_enc": tc.W_enc.detach(), "W_dec": tc.W_dec.detach(), "b_enc": tc.b_enc.detach(),
                          "b_dec": tc.b_dec.detach()}, os.path.join(out_dir, f"layer_{l}.safetensors"),
                         {"format": "pt", "layer": str(l), "activation": "relu"})
        tcs.append(tc)
    with open(os.path.join(out_dir, "config.yaml"), "w") as fcfg:
        yaml.safe_dump({"model_name": CFG["name"], "model_kind": "transcoder_set",
                        "feature_input_hook": "mlp.hook_in", "feature_output_hook": "hook_mlp_out",
                        "scan": f"{CFG['name']}-transcoders-relu-{width}", "d_model": m.d,
                        "d_transcoder": width, "n_layers": m.L, "activation": "relu", "dtype": "float32",
                        "transcoders": [f"layer_{l}.safetensors" for l in range(m.L)]}, fcfg, sort_keys=False)
    # replacement model: every MLP replaced by its transcoder, no error terms
    replace = {l: (lambda x, tc=tcs[l]: tc(x)[0]) for l in range(m.L)}
    agree = agree_text = n_text = 0
    with torch.no_grad():
        for i in range(0, len(held), N_SUBSET):
            same = m.forward(held[i:i + N_SUBSET]).argmax(-1) == m.forward(held[i:i + N_SUBSET], replace=replace).argmax(-1)
            if i == 0:
                subset = same.float().mean().item()
            agree += same.sum().item()
            agree_text += same[:, 1:].sum().item()
            n_text += same[:, 1:].numel()
    replacement = {"heldout_top1_agreement": agree / held.numel(), "text_top1_agreement": agree_text / n_text,
                   "subset_top1_agreement": subset, "heldout_tokens": held.numel()}
    print("replacement:", json.dumps(replacement), flush=True)
    json.dump({"transcoders": stats, "replacement": replacement, "train_tokens": train.numel(),
               "seconds": round(time.time() - t0, 1)}, open(os.path.join(BUILD, "transcoders.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
