#!/usr/bin/python3
"""PyTorch eager baseline for bench/patching.bench.ts: the head-output patching sweep by layer x head x
position (TransformerLens' get_act_patch_attn_head_out_by_pos), done the way TransformerLens does it: one
clean run_with_cache of attn.hook_z, then one hooked forward of the corrupted prompt per (layer, head,
position) that overwrites hook_z[:, pos, head] with the clean value, reading the normalised logit difference.
Also attribution patching of the same sweep with autograd (one clean run_with_cache, one corrupted forward
and backward), and a plain forward for the unit of "forward-equivalents".

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_patching.py --model DIR --clean 1,2,3 --corrupted 1,2,4 \
        --target 5 --baseline 6 --threads 2

The model is tools/reference/models.py's RefModel (fp32, batch 1, torch.no_grad() for the exact sweep).
Prints one JSON object on stdout: forward_ms, sweep_ms, sweep_forwards, attribution_ms, metric (the
exact sweep, [layer][head][pos]) and attribution ([layer][head][pos], estimates of the same metric).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import models  # noqa: E402


def ids(s):
    return torch.tensor([[int(x) for x in s.split(",")]], dtype=torch.long)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--clean", required=True)
    ap.add_argument("--corrupted", required=True)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--baseline", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = models.load_model(args.model)
    clean, corrupted = ids(args.clean), ids(args.corrupted)
    L = len(model.w["layers"])
    T = clean.shape[1]
    t, b = args.target, args.baseline

    def ld(logits):
        return (logits[0, -1, t] - logits[0, -1, b]).item()

    with torch.no_grad():
        for _ in range(3):
            model.forward(corrupted)
        fw = []
        for _ in range(20):
            t0 = time.perf_counter()
            model.forward(corrupted)
            fw.append((time.perf_counter() - t0) * 1000)
    forward_ms = statistics.median(fw)

    def sweep():
        with torch.no_grad():
            logits, cache = model.run_with_cache(clean, names_filter=lambda n: n.endswith("attn.hook_z"))
            c = ld(logits)
            k = ld(model.forward(corrupted))
            H = cache["blocks.0.attn.hook_z"].shape[2]
            out = [[[0.0] * T for _ in range(H)] for _ in range(L)]
            for l in range(L):
                src = cache[f"blocks.{l}.attn.hook_z"]
                for h in range(H):
                    for p in range(T):
                        def hook(x, name, h=h, p=p, src=src):
                            x = x.clone()
                            x[:, p, h] = src[:, p, h]
                            return x
                        out[l][h][p] = (ld(model.forward(corrupted, hooks={f"blocks.{l}.attn.hook_z": hook})) - k) / (c - k)
            return out, H

    def attribution():
        with torch.no_grad():
            logits_c, cache = model.run_with_cache(clean, names_filter=lambda n: n.endswith("attn.hook_z"))
        acts = {}

        def keep(x, name):
            x.retain_grad()
            acts[name] = x
            return None

        def leaf(x, name):
            # The weights need no gradient: the embedding becomes the leaf, so every activation after it
            # is on the graph (detaching each hook_z instead would cut the paths through later heads).
            return x.detach().requires_grad_(True)

        names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
        logits = model.forward(corrupted, hooks={"hook_embed": leaf, **{n: keep for n in names}})
        metric = logits[0, -1, t] - logits[0, -1, b]
        metric.backward()
        c = ld(logits_c)
        k = metric.item()
        # (clean - corrupted) . grad, summed over d_head: [layer][head][pos], as a normalised estimate.
        est = [((cache[n] - acts[n].detach()) * acts[n].grad).sum(-1)[0].T / (c - k) for n in names]
        return [e.tolist() for e in est]

    ts = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        metric, H = sweep()
        ts.append((time.perf_counter() - t0) * 1000)
    attribution()  # warm-up
    ta = []
    for _ in range(5):
        t0 = time.perf_counter()
        attr = attribution()
        ta.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "forward_ms": forward_ms,
        "sweep_ms": statistics.median(ts),
        "sweep_forwards": L * H * T + 2,
        "attribution_ms": statistics.median(ta),
        "metric": metric,
        "attribution": attr,
    }))


if __name__ == "__main__":
    main()
