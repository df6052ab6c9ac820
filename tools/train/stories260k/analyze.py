"""Stage 4: head scores (previous-token, duplicate-token, induction; the engine's definitions, on eval/head_probe.json)
and measured behaviour: loss on its own held-out samples, top-1 on the repeated half of random-piece rows and of
repeated story text, the greedy story. Writes build/analysis.json."""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llama import BOS, BUILD, MODEL_DIR, Llama  # noqa: E402

KINDS = ("previous_token", "duplicate_token", "induction")
THRESH = {"previous_token": 0.3, "duplicate_token": 0.2, "induction": 0.2}


def head_scores(pat, toks):
    """pat [H, T, T], toks [T] -> {kind: [H]}: src/engine/analysis/attention.ts headScores, vectorised."""
    T = len(toks)
    t = torch.tensor(toks)
    same = (t[None, :] == t[:, None]).tril(-1).float()  # [q, k]: k < q holds the query's token
    has = same.sum(1) > 0
    nxt = torch.zeros_like(same)
    nxt[:, 1:] = same[:, :-1]  # key k+1 after an earlier copy at k (k+1 <= q holds as k < q)
    prev = pat[:, torch.arange(1, T), torch.arange(0, T - 1)].mean(1)
    dup = (pat * same).sum(2)[:, has].mean(1)
    ind = (pat * nxt).sum(2)[:, has].mean(1)
    return {"previous_token": prev, "duplicate_token": dup, "induction": ind}


def top1_on_repeats(m, rows, half):
    """Top-1 on the second copy's tokens (after its first) and on the first copy's (the same predictions without an
    earlier copy to look at); rows are BOS + x + x."""
    ids = torch.tensor(rows)
    with torch.no_grad():
        pred = m.forward(ids).argmax(-1)
    q = torch.arange(1 + half, 2 * half)  # predicting positions q+1 inside the second copy
    first = torch.arange(1, half)
    return ((pred[:, q] == ids[:, q + 1]).float().mean().item(), (pred[:, first] == ids[:, first + 1]).float().mean().item())


def mean_scores(m, rows):
    sums = {k: torch.zeros(m.L, m.H) for k in KINDS}
    for row in rows:
        cache = {}
        with torch.no_grad():
            m.forward(torch.tensor([row]), cache=cache)
        for l in range(m.L):
            s = head_scores(cache[f"blocks.{l}.attn.hook_pattern"][0], row)
            for k in KINDS:
                sums[k][l] += s[k] / len(rows)
    return sums


def main():
    torch.set_num_threads(1)
    m = Llama(MODEL_DIR)
    probe = json.load(open(os.path.join(MODEL_DIR, "eval", "head_probe.json")))
    sums = mean_scores(m, probe["repeated"])
    head_scores_out = {f"L{l}H{h}": {k: round(sums[k][l, h].item(), 4) for k in KINDS} for l in range(m.L) for h in range(m.H)}
    heads = {k: sorted(([n, v[k]] for n, v in head_scores_out.items() if v[k] >= THRESH[k]), key=lambda x: -x[1]) for k in KINDS}
    best = {k: max(([n, v[k]] for n, v in head_scores_out.items()), key=lambda x: x[1]) for k in KINDS}

    held = torch.from_numpy(np.fromfile(os.path.join(MODEL_DIR, "eval", "heldout_tokens.u16"), dtype="<u2")
                            .reshape(-1, 128)[:256].astype(np.int64))
    with torch.no_grad():
        logits = m.forward(held)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), held[:, 1:].reshape(-1)).item()
    # unigram baseline: the entropy of the held-out token frequencies
    counts = torch.bincount(held[:, 1:].reshape(-1), minlength=512).float()
    p = counts / counts.sum()
    unigram = -(p[p > 0] * p[p > 0].log()).sum().item()
    half = probe["half"]
    random_top1, random_first = top1_on_repeats(m, probe["repeated"], half)
    text_rows = [[BOS] + r[1:1 + half] + r[1:1 + half] for r in held[:32].tolist()]
    text_top1, text_first = top1_on_repeats(m, text_rows, half)
    text_sums = mean_scores(m, text_rows)
    text_best = {k: max(([f"L{l}H{h}", round(text_sums[k][l, h].item(), 4)] for l in range(m.L) for h in range(m.H)),
                        key=lambda x: x[1]) for k in KINDS}
    out = {"head_scores": head_scores_out, "heads": heads, "best": best, "thresholds": THRESH,
           "heldout_loss": round(nll, 4), "heldout_loss_tokens": held[:, 1:].numel(), "unigram_entropy": round(unigram, 4),
           "repeat_top1": {"random_pieces": round(random_top1, 4), "random_pieces_first_copy": round(random_first, 4),
                           "story_text": round(text_top1, 4), "story_text_first_copy": round(text_first, 4),
                           "rows": 32, "half": half},
           "best_on_repeated_story_text": text_best,
           "greedy": json.load(open(os.path.join(BUILD, "greedy.json")))}
    print(json.dumps({k: v for k, v in out.items() if k not in ("head_scores", "greedy")}, indent=1))
    json.dump(out, open(os.path.join(BUILD, "analysis.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
