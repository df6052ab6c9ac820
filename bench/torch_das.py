#!/usr/bin/python3
"""PyTorch baseline for bench/das.bench.ts: distributed alignment search, the same algorithm as MechLens'
(src/engine/analysis/das.ts) on the same weights, pairs, initial subspace and batch order, with the
gradient from autograd instead of the engine's generated backward graphs:

  per batch: h' = h_base + R R^T (h_source - h_base) at the site (a forward hook), cross-entropy of the
  counterfactual label at the last position, loss.backward() for dL/dR; then the Riemannian step MechLens
  takes: project on the tangent space (G - R sym(R^T G)), Adam (beta 0.9 / 0.999, eps 1e-8, bias-corrected),
  retract by Gram-Schmidt (two passes) in float64.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_das.py --model DIR --data FILE.json --threads 2

The model is tools/reference/models.py's RefModel (fp32). Prints one JSON object on stdout: epoch_ms (wall
time of each epoch), loss (per step), orthogonality (|R^T R - I|_F at the end), torch_version.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import models  # noqa: E402


def orthonormalize(R):
    d, k = R.shape
    for j in range(k):
        for _ in range(2):
            if j > 0:
                Q = R[:, :j]
                R[:, j] -= Q @ (Q.T @ R[:, j])
        R[:, j] /= R[:, j].norm()
    return R


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = json.load(open(args.data))
    model = models.load_model(args.model)
    hook, pos, k, lr = data["hook"], data["position"], data["rank"], data["lr"]
    base = torch.tensor(data["base"], dtype=torch.long)
    source = torch.tensor(data["source"], dtype=torch.long)
    labels = torch.tensor(data["labels"], dtype=torch.long)
    # The site's base and source values (they do not depend on R).
    with torch.no_grad():
        hb, hs = [], []
        for i in range(0, base.shape[0], 64):
            _, cb = model.run_with_cache(base[i:i + 64], names_filter=lambda n: n == hook)
            _, cs = model.run_with_cache(source[i:i + 64], names_filter=lambda n: n == hook)
            hb.append(cb[hook][:, pos, :].clone())
            hs.append(cs[hook][:, pos, :].clone())
        hb, hs = torch.cat(hb), torch.cat(hs)
    d = hb.shape[1]
    R = torch.tensor(data["R0"], dtype=torch.float64).reshape(d, k)
    m = torch.zeros_like(R)
    v = torch.zeros_like(R)
    t = 0
    losses, epoch_ms = [], []
    for order in data["orders"]:
        t0 = time.perf_counter()
        for s in range(0, len(order), data["batch"]):
            idx = torch.tensor(order[s:s + data["batch"]], dtype=torch.long)
            Rg = R.clone().requires_grad_(True)
            delta = (hs[idx] - hb[idx]).double()

            def intervene(x, name, idx=idx, delta=delta, Rg=Rg):
                x = x.clone()
                x[:, pos, :] = x[:, pos, :] + ((delta @ Rg) @ Rg.T).float()
                return x

            logits = model.forward(base[idx], hooks={hook: intervene})
            loss = F.cross_entropy(logits[:, -1, :], labels[idx])
            loss.backward()
            G = Rg.grad
            S = R.T @ G
            G = G - R @ (0.5 * (S + S.T))
            t += 1
            m = 0.9 * m + 0.1 * G
            v = 0.999 * v + 0.001 * G * G
            R = R - lr * (m / (1 - 0.9 ** t)) / (torch.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            R = orthonormalize(R)
            losses.append(loss.item())
        epoch_ms.append((time.perf_counter() - t0) * 1000)
    R32 = R.float().double()
    orth = (R32.T @ R32 - torch.eye(k, dtype=torch.float64)).norm().item()
    print(json.dumps({"epoch_ms": epoch_ms, "loss": losses, "orthogonality": orth, "torch_version": torch.__version__}))


if __name__ == "__main__":
    main()
