#!/usr/bin/python3
"""Reference replacement and completeness scores of attribution-graph JSON files, computed densely with
torch the way circuit-tracer's compute_graph_scores does (circuit_tracer/graph.py), on the graph the file
holds (as Neuronpedia recomputes them in the browser):

    /usr/bin/python3 tools/reference/graph_scores.py FILE... > test/fixtures/graphs/scores.json

Written from ../shared/design/attribution-graphs.md §1b, not from MechLens' TypeScript. Prints one JSON
object {basename: {"replacement_score", "completeness_score", "nodes": {kind: count}, "links"}}."""
import json
import os
import sys

import torch

KINDS = {"cross layer transcoder": "feature", "per layer transcoder": "feature", "transcoder": "feature",
         "lorsa": "feature", "mlp reconstruction error": "error", "lorsa error": "error",
         "embedding": "embedding", "logit": "logit"}


def scores(graph):
    nodes = graph["nodes"]
    index = {n["node_id"]: i for i, n in enumerate(nodes)}
    n = len(nodes)
    A = torch.zeros(n, n, dtype=torch.float64)
    for link in graph["links"]:
        A[index[link["target"]], index[link["source"]]] += link["weight"]
    kinds = [KINDS.get(x["feature_type"], "other") for x in nodes]
    logit_weights = torch.tensor([x["token_prob"] if k == "logit" else 0.0 for x, k in zip(nodes, kinds)],
                                 dtype=torch.float64)
    # normalize_matrix
    normalized = A.abs()
    normalized = normalized / normalized.sum(dim=1, keepdim=True).clamp(min=1e-10)
    # compute_influence: w Â + w Â² + ... until the term is zero
    current = logit_weights @ normalized
    influence = current.clone()
    for _ in range(1000):
        if not current.any():
            break
        current = current @ normalized
        influence += current
    is_error = torch.tensor([k == "error" for k in kinds])
    is_token = torch.tensor([k == "embedding" for k in kinds])
    error_influence = influence[is_error].sum()
    token_influence = influence[is_token].sum()
    replacement = token_influence / (token_influence + error_influence)
    non_error = 1 - normalized[:, is_error].sum(dim=-1)
    output = influence + logit_weights
    completeness = (non_error * output).sum() / output.sum()
    counts = {k: kinds.count(k) for k in ("feature", "error", "embedding", "logit")}
    return {"replacement_score": replacement.item(), "completeness_score": completeness.item(), "nodes": counts,
            "links": len(graph["links"])}


def main():
    out = {}
    for path in sys.argv[1:]:
        with open(path) as f:
            out[os.path.basename(path)] = scores(json.load(f))
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
