#!/usr/bin/python3
"""PyTorch autograd baseline for bench/attribution.bench.ts: circuit-tracer's attribution algorithm on the
same checkpoint, transcoders, prompt, batch size and threads.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_attribution.py --model DIR --transcoders DIR \
        --tokens 1,2,3 --max-feature-nodes 5000 --batch-size 64 --threads 2

As circuit-tracer does it (attribute_transformerlens.py): a setup pass encodes the transcoder inputs
(JumpReLU), keeps the active features, their activation-scaled decoder rows and the error vectors; one
forward over the prompt replicated batch_size times through the frozen model (attention patterns, norm
scales and MLP outputs detached) keeps the autograd graph; each batch of targets is one
torch.autograd.grad call with the targets' vectors injected at their read points (retain_graph), and the
gradients at every layer's MLP output and at hook_embed are contracted with the sources' vectors. Logit
rows first, then feature rows ranked by circuit-tracer's partial influence every `update_interval`
batches. The model is tools/reference/models.py's RefModel (fp32). Prints one JSON object.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import models  # noqa: E402
from safetensors_io import load_file  # noqa: E402


def partial_influences(edge_matrix, logit_p, row_to_node, max_iter=128):
    """circuit-tracer's compute_partial_influences."""
    m = edge_matrix.abs()
    m /= m.sum(dim=1, keepdim=True).clamp(min=1e-8)
    influences = torch.zeros(edge_matrix.shape[1], dtype=m.dtype)
    prod = torch.zeros(edge_matrix.shape[1], dtype=m.dtype)
    prod[-len(logit_p):] = logit_p
    for _ in range(max_iter):
        prod = prod[row_to_node] @ m
        if not prod.any():
            break
        influences += prod
    return influences


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--transcoders", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--max-feature-nodes", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--update-interval", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = models.load_model(a.model)
    L, d = model.s["n_layers"], model.s["d_model"]
    tc = [load_file(os.path.join(a.transcoders, f"layer_{l}.safetensors")) for l in range(L)]
    t_load = time.perf_counter()

    ids = torch.tensor([[int(x) for x in a.tokens.split(",")]])
    T = ids.shape[1]
    B = a.batch_size
    in_hooks = [f"blocks.{l}.mlp.hook_in" for l in range(L)]
    out_hooks = [f"blocks.{l}.mlp.hook_out" for l in range(L)]

    # ---- setup
    with torch.no_grad():
        cache = {}
        wanted = set(in_hooks + out_hooks + ["hook_embed"])
        logits = model.forward(ids, cache=cache, names_filter=lambda n: n in wanted)
        feats, acts_list, dec_list = [], [], []
        errors = []
        for l in range(L):
            x = cache[in_hooks[l]][0]
            pre = x @ tc[l]["W_enc"].T + tc[l]["b_enc"]
            act = torch.where(pre > tc[l]["activation_function.threshold"], pre, torch.zeros(()))
            pos, f = act.nonzero(as_tuple=True)
            a_s = act[pos, f]
            dec = tc[l]["W_dec"][f] * a_s[:, None]
            recon = tc[l]["b_dec"].expand(T, d).clone().index_add_(0, pos, dec)
            errors.append(cache[out_hooks[l]][0] - recon)
            feats.append(torch.stack([torch.full_like(pos, l), pos, f], 1))
            acts_list.append(a_s)
            dec_list.append((pos, dec))
        active = torch.cat(feats)
        n_active = active.shape[0]
        tokens_vec = cache["hook_embed"][0]
        probs = torch.softmax(logits[0, -1], -1)
        top_p, top_i = probs.topk(10)
        n_logits = int((top_p.cumsum(0) >= 0.95).nonzero()[0].item() + 1) if (top_p.cumsum(0) >= 0.95).any() else 10
        top_p, top_i = top_p[:n_logits], top_i[:n_logits]
    W_U = model.w["unembed"].T  # RefModel keeps it [d, V]
    lnf_w = model.w["ln_final"]["w"]
    logit_vecs = (W_U[top_i] - W_U.mean(0)) * lnf_w  # seeded at ln_final.hook_normalized (before its weight)
    t_setup = time.perf_counter()

    # ---- one frozen forward with batch B, graph retained
    kept = {}

    def hook(x, name):
        frozen = name.endswith("hook_scale") or name.endswith("hook_pattern") or name.endswith("mlp.hook_out")
        if frozen or not x.requires_grad:
            x = x.detach().requires_grad_(True)
        kept[name] = x
        return x

    names = set(in_hooks + out_hooks + ["hook_embed", "ln_final.hook_normalized"]) | {n for n in model.hook_names() if n.endswith(("hook_scale", "hook_pattern"))}
    model.forward(ids.expand(B, T), hooks={n: hook for n in names})
    seeds = in_hooks + ["ln_final.hook_normalized"]
    wrt = out_hooks + ["hook_embed"]

    n_cols = n_active + L * T + T + n_logits
    max_rows = n_logits + min(a.max_feature_nodes, n_active)
    edge_matrix = torch.zeros(max_rows, n_cols)
    row_to_node = torch.zeros(max_rows, dtype=torch.long)
    offsets = torch.cumsum(torch.tensor([0] + [len(x) for x in acts_list]), 0)
    n_rows = 0
    backward_runs = 0

    def run(targets):
        """targets: list of (seed hook index, position, vector, node index)."""
        nonlocal n_rows, backward_runs
        grads_out = [torch.zeros(B, T, d) for _ in seeds]
        for b, (h, p, v, _) in enumerate(targets):
            grads_out[h][b, p] = v
        used = sorted({h for h, _, _, _ in targets})
        grads = torch.autograd.grad([kept[seeds[h]] for h in used], [kept[n] for n in wrt], grad_outputs=[grads_out[h] for h in used],
                                    retain_graph=True, allow_unused=True)
        backward_runs += 1
        k = len(targets)
        rows = edge_matrix[n_rows:n_rows + k]
        for l in range(L):
            g = grads[l]
            if g is None:
                continue
            g = g[:k]
            pos, dec = dec_list[l]
            rows[:, offsets[l]:offsets[l + 1]] = torch.einsum("bnd,nd->bn", g[:, pos], dec)
            rows[:, n_active + l * T:n_active + (l + 1) * T] = torch.einsum("btd,td->bt", g, errors[l])
        ge = grads[L]
        if ge is not None:
            rows[:, n_active + L * T:n_active + L * T + T] = torch.einsum("btd,td->bt", ge[:k], tokens_vec)
        for i, (_, _, _, node) in enumerate(targets):
            row_to_node[n_rows + i] = node
        n_rows += k

    for i in range(0, n_logits, B):
        run([(L, T - 1, logit_vecs[j], n_active + L * T + T + j) for j in range(i, min(n_logits, i + B))])
    t_logits = time.perf_counter()

    visited = torch.zeros(n_active, dtype=torch.bool)
    n_visited = 0
    max_features = min(a.max_feature_nodes, n_active)

    def feature_batch(idx):
        nonlocal n_visited
        run([(int(active[f, 0]), int(active[f, 1]), tc[int(active[f, 0])]["W_enc"][int(active[f, 2])], int(f)) for f in idx])
        visited[idx] = True
        n_visited += len(idx)

    if max_features == n_active:
        for i in range(0, n_active, B):
            feature_batch(torch.arange(i, min(n_active, i + B)))
    else:
        while n_visited < max_features:
            infl = partial_influences(edge_matrix[:n_rows], top_p, row_to_node[:n_rows])
            pending = torch.where(~visited)[0]
            queue = pending[torch.argsort(infl[pending], descending=True)]
            queue = queue[:min(a.update_interval * B, max_features - n_visited)]
            for i in range(0, len(queue), B):
                feature_batch(queue[i:i + B])
    t_end = time.perf_counter()
    print(json.dumps({
        "torch_version": torch.__version__, "threads": torch.get_num_threads(), "seq": T, "batch_size": B,
        "active_features": n_active, "feature_nodes": n_visited, "logit_targets": n_logits, "backward_runs": backward_runs,
        "load_s": t_load - t0, "setup_s": t_setup - t_load, "rows_s": t_end - t_setup, "attribution_s": t_end - t_load,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
