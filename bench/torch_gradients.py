#!/usr/bin/python3
"""PyTorch autograd baseline for bench/gradients.bench.ts, on the same checkpoint and threads:

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_gradients.py --model DIR --seq 64 --threads 2 --rows 256

The model is tools/reference/models.py's RefModel (fp32, hooks on the computation path). Prints one
JSON object on stdout:
  forward_ms     median plain forward (no grad), batch 1
  grad_ms        median forward + backward of one logit (last position) with the gradient retained at
                 every residual hook (hook_resid_pre of every layer, hook_resid_mid, final hook_resid_post)
  seeded_ms      `rows` seed rows (a random vector at mlp.hook_in of layer i % L, position 7i % T)
                 through the frozen model (attention patterns, norm scales, MLP outputs detached): one
                 forward, then torch.autograd.grad with is_grads_batched=True (vmap over the rows) to
                 hook_embed and every layer's mlp.hook_out; `seeded_method` says whether that or a loop of
                 retain_graph backward calls (the fallback) was used
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import models  # noqa: E402
from torch_baseline import timed as timed_runs  # noqa: E402  (bench/ is on sys.path as this script's folder)


def timed(fn, iters, warmup=1):
    return timed_runs(fn, iters, warmup)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--iters", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = models.load_model(a.model)
    for w in [model.w["embed"], model.w["pos_embed"]]:
        w.requires_grad_(False)
    L, d, V = model.s["n_layers"], model.s["d_model"], model.s["vocab"]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, V, (1, a.seq), generator=g)
    resid = [f"blocks.{l}.hook_resid_pre" for l in range(L)] + [f"blocks.{l}.hook_resid_mid" for l in range(L)]
    resid.append(f"blocks.{L - 1}.hook_resid_post")

    def forward():
        with torch.no_grad():
            model.forward(ids)

    def grad_one_logit():
        kept = {}

        def keep(x, name):
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            elif not x.is_leaf:
                x.retain_grad()
            kept[name] = x
            return x

        logits = model.forward(ids, hooks={n: keep for n in resid})
        logits[0, -1, 5].backward()
        return [kept[n].grad for n in resid]

    rows = a.rows
    seeds = [(f"blocks.{i % L}.mlp.hook_in", (7 * i) % a.seq) for i in range(rows)]
    vectors = torch.randn(rows, d, generator=g)
    wrt_names = ["hook_embed"] + [f"blocks.{l}.mlp.hook_out" for l in range(L)]
    seed_names = sorted({h for h, _ in seeds})
    cot = {h: torch.zeros(rows, 1, a.seq, d) for h in seed_names}
    for i, (h, p) in enumerate(seeds):
        cot[h][i, 0, p] = vectors[i]

    def frozen_forward():
        kept = {}

        def fn(x, name):
            frozen = name.endswith("hook_scale") or name.endswith("hook_pattern") or name.endswith("mlp.hook_out")
            if frozen or not x.requires_grad:
                x = x.detach().requires_grad_(True)
            kept[name] = x
            return x

        names = set(wrt_names) | set(seed_names) | {n for n in model.hook_names() if n.endswith(("hook_scale", "hook_pattern", "mlp.hook_out"))}
        model.forward(ids, hooks={n: fn for n in names})
        return kept

    method = "is_grads_batched"

    def seeded_batched():
        kept = frozen_forward()
        return torch.autograd.grad([kept[h] for h in seed_names], [kept[n] for n in wrt_names],
                                   grad_outputs=[cot[h] for h in seed_names], is_grads_batched=True, allow_unused=True)

    def seeded_loop():
        kept = frozen_forward()
        out = []
        for i, (h, p) in enumerate(seeds):
            out.append(torch.autograd.grad([kept[h][0, p]], [kept[n] for n in wrt_names], grad_outputs=[vectors[i]],
                                           retain_graph=True, allow_unused=True))
        return out

    result = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "seq": a.seq, "rows": rows}
    result["forward_ms"] = timed(forward, a.iters)
    result["grad_ms"] = timed(grad_one_logit, a.iters)
    try:
        seeded_batched()
        seeded = seeded_batched
    except Exception as e:  # vmap cannot batch every op in torch 1.13
        print(f"is_grads_batched failed ({str(e).splitlines()[0]}); timing the retain_graph loop", file=sys.stderr)
        method = "retain_graph loop"
        seeded = seeded_loop
    result["seeded_ms"] = timed(seeded, max(1, a.iters // 2))
    result["seeded_method"] = method
    print(json.dumps(result))


if __name__ == "__main__":
    main()
