#!/usr/bin/python3
"""Reference pruning of attribution graphs, dense in torch, written from circuit-tracer's prune_graph as
../shared/design/attribution-graphs.md §1b describes it (not from MechLens' TypeScript):

    /usr/bin/python3 tools/reference/prune_reference.py > test/fixtures/graphs/prune.json

Writes random full graphs (nodes ordered features, errors, tokens, logits, as circuit-tracer orders them;
edges only from earlier to later layers, signed weights) with, for several node / edge thresholds, the
node mask, edge mask and the per-node cumulative influence (the JSON `influence` field). Seeded."""
import json
import sys

import torch


def normalize(A):
    A = A.abs()
    return A / A.sum(dim=1, keepdim=True).clamp(min=1e-10)


def influence(An, w):
    current = w @ An
    total = current.clone()
    for _ in range(1000):
        if not current.any():
            break
        current = current @ An
        total += current
    return total


def find_threshold(scores, fraction):
    s = torch.sort(scores, descending=True).values
    cum = torch.cumsum(s, 0) / s.sum()
    i = min(int(torch.searchsorted(cum, torch.tensor(fraction, dtype=cum.dtype))), len(cum) - 1)
    return s[i]


def prune(A, w, n_features, n_tokens, n_logits, node_t, edge_t):
    n = A.shape[0]
    node_inf = influence(normalize(A), w)
    node_mask = node_inf >= find_threshold(node_inf, node_t)
    node_mask[n - n_logits - n_tokens:] = True
    P = A.clone()
    P[~node_mask] = 0
    P[:, ~node_mask] = 0
    Pn = normalize(P)
    edge_scores = Pn * (influence(Pn, w) + w)[:, None]
    edge_mask = edge_scores >= find_threshold(edge_scores.flatten(), edge_t)
    old = node_mask.clone()
    node_mask[: n - n_logits - n_tokens] &= edge_mask[:, : n - n_logits - n_tokens].any(0)
    node_mask[:n_features] &= edge_mask[:n_features].any(1)
    while not torch.all(node_mask == old):
        old[:] = node_mask
        edge_mask[~node_mask] = False
        edge_mask[:, ~node_mask] = False
        node_mask[: n - n_logits - n_tokens] &= edge_mask[:, : n - n_logits - n_tokens].any(0)
        node_mask[:n_features] &= edge_mask[:n_features].any(1)
    edge_mask[~node_mask] = False
    edge_mask[:, ~node_mask] = False
    order = torch.argsort(node_inf, descending=True)
    cum = torch.cumsum(node_inf[order], 0) / node_inf.sum()
    cumulative = torch.empty_like(cum)
    cumulative[order] = cum
    return node_mask, edge_mask, cumulative


def random_graph(g, n_layers, per_layer, n_pos, n_logits, density):
    # Node levels: tokens 0, features / errors of layer l at l + 1, logits at n_layers + 1.
    feats = [(l, int(torch.randint(0, n_pos, (1,), generator=g))) for l in range(n_layers) for _ in range(per_layer)]
    errs = [(l, p) for l in range(n_layers) for p in range(n_pos)]
    level = [l + 1 for l, _ in feats] + [l + 1 for l, _ in errs] + [0] * n_pos + [n_layers + 1] * n_logits
    kinds = ["feature"] * len(feats) + ["error"] * len(errs) + ["embedding"] * n_pos + ["logit"] * n_logits
    n = len(kinds)
    A = torch.zeros(n, n, dtype=torch.float64)
    for t in range(n):
        if kinds[t] in ("error", "embedding"):
            continue  # errors and tokens have no inputs
        for s in range(n):
            if level[s] < level[t] and kinds[s] != "logit" and torch.rand(1, generator=g).item() < density:
                A[t, s] = torch.randn(1, generator=g).item() * torch.rand(1, generator=g).item() ** 3
    p = torch.rand(n_logits, generator=g, dtype=torch.float64)
    w = torch.zeros(n, dtype=torch.float64)
    w[n - n_logits:] = p / p.sum() * 0.9
    return kinds, A, w, len(feats), n_pos, n_logits


def main():
    g = torch.Generator().manual_seed(2026)
    cases = []
    for (n_layers, per_layer, n_pos, n_logits, density) in ((3, 12, 5, 3, 0.5), (4, 15, 6, 4, 0.25), (2, 30, 4, 2, 0.8)):
        kinds, A, w, n_f, n_t, n_l = random_graph(g, n_layers, per_layer, n_pos, n_logits, density)
        t, s = torch.nonzero(A, as_tuple=True)
        case = {"kinds": kinds, "logit_weights": w.tolist(), "target": t.tolist(), "source": s.tolist(),
                "weight": A[t, s].tolist(), "prunes": []}
        for node_t, edge_t in ((0.8, 0.98), (0.5, 0.8), (0.95, 0.995)):
            nm, em, cum = prune(A, w, n_f, n_t, n_l, node_t, edge_t)
            case["prunes"].append({"node_threshold": node_t, "edge_threshold": edge_t,
                                   "node_mask": nm.int().tolist(), "edge_mask": em[t, s].int().tolist(),
                                   "cumulative_influence": cum.tolist(),
                                   "kept": [int(nm.sum()), int(em.sum())]})
        cases.append(case)
    json.dump(cases, sys.stdout)
    print()


if __name__ == "__main__":
    main()
