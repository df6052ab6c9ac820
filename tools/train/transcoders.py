"""Stage 4: per-layer ReLU transcoders (mlp.hook_in -> hook_mlp_out) and their feature data.

Training data: the model's activations on training sequences (seeded). Evaluation and feature data:
held-out sequences (build/heldout.npy). L1 penalty weighted by decoder norms; its coefficient is adapted
during the first 70% of steps towards a per-layer target L0 (config.json tc_target_l0), then frozen (deterministic given the seed).
"""
import json
import os
import sys
import time

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BUILD, CFG, MODEL_DIR, load_model, load_evals, eval_accuracy, tokenizer  # noqa: E402
from model import save_safetensors  # noqa: E402

N_TRAIN_TOKENS = 256_000  # training rows: the last N_TRAIN_TOKENS / n_positions rows of build/train.npy
N_HELD_TOKENS = 131_072  # held-out rows: the first N_HELD_TOKENS / n_positions rows of build/heldout.npy
N_SUBSET_TOKENS = 8_192  # the first rows of those: quick-check numbers for engine tests


class Transcoder(torch.nn.Module):
    def __init__(self, d, m, g):
        super().__init__()
        w = torch.randn(m, d, generator=g)
        w = w / w.norm(dim=1, keepdim=True) * 0.1
        self.W_dec = torch.nn.Parameter(w.clone())
        self.W_enc = torch.nn.Parameter(w.clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(m))
        self.b_dec = torch.nn.Parameter(torch.zeros(d))

    def acts(self, x):
        return torch.relu(x @ self.W_enc.T + self.b_enc)

    def forward(self, x):
        f = self.acts(x)
        return f @ self.W_dec + self.b_dec, f


def collect(model, seqs, bs=64):
    L = model.cfg["n_layer"]
    xs = [[] for _ in range(L)]
    ys = [[] for _ in range(L)]
    with torch.no_grad():
        for i in range(0, len(seqs), bs):
            cache = {}
            model(seqs[i:i + bs], cache=cache)
            for l in range(L):
                xs[l].append(cache[f"blocks.{l}.mlp.hook_in"].reshape(-1, model.cfg["n_embd"]))
                ys[l].append(cache[f"blocks.{l}.hook_mlp_out"].reshape(-1, model.cfg["n_embd"]))
    return [torch.cat(x) for x in xs], [torch.cat(y) for y in ys]


def train_tc(x, y, width, steps, seed, target_l0=24.0, bs=1024, lr=2e-3):
    g = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    tc = Transcoder(d, width, g)
    # train on y / scale (unit mean-square per dimension; MLP outputs of late layers are large) and fold the
    # scale into W_dec and b_dec at the end
    scale = ((y - y.mean(0)).pow(2).sum(1).mean() / d).sqrt().item()
    y = y / scale
    with torch.no_grad():
        tc.b_dec.copy_(y.mean(0))
    yvar = (y - y.mean(0)).pow(2).sum(1).mean()
    opt = torch.optim.Adam(tc.parameters(), lr=lr)
    lam = 1e-3
    perm_g = torch.Generator().manual_seed(seed + 1)
    order = torch.randperm(x.shape[0], generator=perm_g)
    pos = 0
    for s in range(steps):
        if pos + bs > len(order):
            order = torch.randperm(x.shape[0], generator=perm_g)
            pos = 0
        idx = order[pos:pos + bs]
        pos += bs
        yh, f = tc(x[idx])
        mse = (yh - y[idx]).pow(2).sum(1).mean() / yvar
        l1 = (f * tc.W_dec.norm(dim=1)).sum(1).mean()
        loss = mse + lam * l1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for gr in opt.param_groups:
            gr["lr"] = lr * min(1.0, (steps - s) / (0.2 * steps))
        opt.step()
        if s < 0.7 * steps:
            l0 = (f > 0).float().sum(1).mean().item()
            lam *= float(np.exp(0.02 * np.clip(np.log(l0 / target_l0), -1, 1)))
        if s % 250 == 0 or s == steps - 1:
            print(f"  step {s} fvu~{mse.item():.4f} l0 {(f > 0).float().sum(1).mean().item():.1f} lam {lam:.2e}",
                  flush=True)
    with torch.no_grad():
        tc.W_dec.mul_(scale)
        tc.b_dec.mul_(scale)
    return tc, lam


def main():
    torch.set_num_threads(1)
    t0 = time.time()
    model = load_model()
    for p in model.parameters():
        p.requires_grad_(False)
    L, D = model.cfg["n_layer"], model.cfg["n_embd"]
    width, steps = CFG["tc_width"], CFG["tc_steps"]
    T = np.load(os.path.join(BUILD, "train.npy"), mmap_mode="r").shape[1]  # the last phase's row length
    N_SUBSET = N_SUBSET_TOKENS // T
    train = torch.from_numpy(np.load(os.path.join(BUILD, "train.npy"))[-(N_TRAIN_TOKENS // T):].astype(np.int64))
    held = torch.from_numpy(np.load(os.path.join(BUILD, "heldout.npy"))[:N_HELD_TOKENS // T].astype(np.int64))
    # ship the held-out token ids so other implementations can recompute every transcoder number
    held.numpy().astype("<u2").tofile(os.path.join(MODEL_DIR, "eval", "heldout_tokens.u16"))
    xs, ys = collect(model, train)
    hx, hy = collect(model, held)
    print(f"collected {xs[0].shape[0]} train / {hx[0].shape[0]} held-out tokens per layer [{time.time()-t0:.0f}s]",
          flush=True)
    out_dir = os.path.join(MODEL_DIR, "transcoders")
    os.makedirs(out_dir, exist_ok=True)
    tcs, stats = [], []
    for l in range(L):
        tl = time.time()
        print(f"layer {l}", flush=True)
        tc, lam = train_tc(xs[l], ys[l], width, steps, seed=100 + l, target_l0=float(CFG["tc_target_l0"][l]))
        tc.eval()
        half = CFG.get("weights_dtype") == "float16"
        with torch.no_grad():
            if half:  # evaluate the weights as shipped (F16, widened exactly by every reader)
                for p in tc.parameters():
                    p.copy_(p.half().float())
            yh, f = tc(hx[l])
            fvu = ((yh - hy[l]).pow(2).sum() / (hy[l] - hy[l].mean(0)).pow(2).sum()).item()
            l0 = (f > 0).float().sum(1).mean().item()
            dead = int(((f > 0).sum(0) == 0).sum().item())
            ns = N_SUBSET * held.shape[1]
            fvu_s = ((yh[:ns] - hy[l][:ns]).pow(2).sum() / (hy[l][:ns] - hy[l][:ns].mean(0)).pow(2).sum()).item()
            l0_s = (f[:ns] > 0).float().sum(1).mean().item()
        stats.append({"layer": l, "fvu": fvu, "l0": l0, "dead": dead, "d_transcoder": width, "l1_coeff": lam,
                      "target_l0": CFG["tc_target_l0"][l],
                      "subset": {"fvu": fvu_s, "l0": l0_s},
                      "train_seconds": round(time.time() - tl, 1)})
        print(f"layer {l}: FVU {fvu:.4f} L0 {l0:.1f} dead {dead} [{time.time()-tl:.0f}s]", flush=True)
        save_safetensors({k: (v.detach().half() if half else v.detach()) for k, v in (
            ("W_enc", tc.W_enc), ("W_dec", tc.W_dec), ("b_enc", tc.b_enc), ("b_dec", tc.b_dec))},
            os.path.join(out_dir, f"layer_{l}.safetensors"),
                         {"format": "pt", "layer": l, "activation": "relu"})
        tcs.append(tc)
    with open(os.path.join(out_dir, "config.yaml"), "w") as fcfg:
        yaml.safe_dump({"model_name": CFG["name"], "model_kind": "transcoder_set",
                        "feature_input_hook": "mlp.hook_in", "feature_output_hook": "hook_mlp_out",
                        "scan": CFG["name"] + "-transcoders-relu-" + str(width), "d_model": D,
                        "d_transcoder": width, "n_layers": L, "activation": "relu",
                        "dtype": "float16" if CFG.get("weights_dtype") == "float16" else "float32",
                        "transcoders": [f"layer_{l}.safetensors" for l in range(L)]}, fcfg, sort_keys=False)

    # replacement model: every MLP replaced by its transcoder (no error terms)
    hooks = {("mlp", l): (lambda h, tc=tcs[l]: tc(h)[0]) for l in range(L)}
    agree, n, agree_s = 0, 0, 0
    with torch.no_grad():
        for i in range(0, len(held), 64):
            a = model(held[i:i + 64]).argmax(-1)
            b = model(held[i:i + 64], hooks=hooks).argmax(-1)
            agree += (a == b).sum().item()
            if i < N_SUBSET:
                agree_s += (a[:N_SUBSET - i] == b[:N_SUBSET - i]).sum().item()
            n += a.numel()
        tok = tokenizer()
        evals = load_evals(tok)
        repl_acc = eval_accuracy(model, evals, hooks=hooks)
    replacement = {"heldout_top1_agreement": agree / n, "heldout_tokens": n,
                   "subset_top1_agreement": agree_s / (N_SUBSET * held.shape[1]),
                   "eval_top1": {k: v["top1"] for k, v in repl_acc.items()}}
    print("replacement:", json.dumps(replacement), flush=True)
    json.dump({"transcoders": stats, "replacement": replacement, "seconds": round(time.time() - t0, 1),
               "held_rows": len(held), "subset_rows": N_SUBSET, "train_rows": len(train)},
              open(os.path.join(BUILD, "transcoders.json"), "w"), indent=1)
    # feature dashboards are written by the engine's CLI (run_all.sh, stage `features`)
    print(f"total {time.time()-t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
