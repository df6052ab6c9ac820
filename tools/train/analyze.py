"""Stage 3: evaluation per family and head analysis (previous-token, induction, duplicate-token, IOI heads).

Writes build/analysis.json (merged into card.json by card.py) and models/mechlens-tiny/eval/head_probe.json
(the exact token sequences used for the head scores, so other implementations can recompute them).
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BUILD, MODEL_DIR, batch_last_logits, copy_accuracy, eval_accuracy, load_copy_evals,  # noqa
                    load_evals, load_model, tokenizer)
import corpus  # noqa: E402


def probe_pool(tok):
    """Every token id but <|endoftext|>: the head scores are measured on uniformly random token ids."""
    return torch.tensor([i for i in range(len(tok.vocab)) if i != tok.eot])


GREEDY_PROMPTS = [
    "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy",
    "It was the best of times, it was the worst of times. It was the best of",
    "The President of the United States said that",
    "In the beginning, God created the heavens and the earth. The earth was",
    "To install a package with pip, run",
]


def greedy(model, tok, prompt, n=24):
    ids = tok.encode(prompt)
    with torch.no_grad():
        for _ in range(n):
            nxt = model(torch.tensor([ids[-model.cfg["n_positions"]:]]))[0, -1].argmax().item()
            if nxt == tok.eot:
                break
            ids.append(nxt)
    return tok.decode(ids[len(tok.encode(prompt)):])


def english_loss_vs_bigram():
    """Mean next-token cross-entropy (nats) on held-out English rows: the model, and an add-alpha bigram model
    estimated on every English training token (alpha: the best of a small grid on these same rows, which
    favours the baseline)."""
    held = torch.from_numpy(np.load(os.path.join(BUILD, "heldout_english.npy")).astype(np.int64))
    tr = np.load(os.path.join(BUILD, "english_train_tokens.npy")).astype(np.int64)
    V = int(max(tr.max(), held.max().item())) + 1
    V = max(V, len(tokenizer().vocab))
    big = np.zeros((V, V), dtype=np.float64)
    np.add.at(big, (tr[:-1], tr[1:]), 1.0)
    x, y = held[:, :-1].reshape(-1).numpy(), held[:, 1:].reshape(-1).numpy()
    best = None
    for alpha in (0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        p = (big[x, y] + alpha) / (big[x].sum(1) + alpha * V)
        ce = float(-np.log(p).mean())
        if best is None or ce < best[0]:
            best = (ce, alpha)
    model = load_model()
    with torch.no_grad():
        tot = 0.0
        for i in range(0, len(held), 32):
            b = held[i:i + 32]
            lg = model(b[:, :-1])
            tot += torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), b[:, 1:].reshape(-1),
                                                     reduction="sum").item()
    return {"model_loss": tot / y.size, "bigram_loss": best[0], "bigram_alpha": best[1], "tokens": int(y.size),
            "rows": len(held), "train_english_tokens": int(tr.size)}


def head_probe(pool, seed=7, n=32, half=32):
    g = torch.Generator().manual_seed(seed)
    # rows of distinct cast-word tokens drawn without replacement; 'repeated' = 32 of them repeated once
    rand = torch.stack([pool[torch.randperm(len(pool), generator=g)[:2 * half]] for _ in range(n)])
    first = torch.stack([pool[torch.randperm(len(pool), generator=g)[:half]] for _ in range(n)])
    rep = torch.cat([first, first], dim=1)
    return rand, rep


def head_scores(model, rand, rep, half):
    cache = {}
    with torch.no_grad():
        model(rand, cache=cache)
    L = model.cfg["n_layer"]
    prev, ind, dup = {}, {}, {}
    for l in range(L):
        p = cache[f"blocks.{l}.attn.hook_pattern"]  # B H Q K
        T = p.shape[-1]
        q = torch.arange(1, T)
        pv = p[:, :, q, q - 1].mean(dim=(0, 2))
        for h in range(p.shape[1]):
            prev[f"L{l}H{h}"] = pv[h].item()
    cache = {}
    with torch.no_grad():
        model(rep, cache=cache)
    for l in range(L):
        p = cache[f"blocks.{l}.attn.hook_pattern"]
        q = torch.arange(half, 2 * half)
        iv = p[:, :, q, q - half + 1].mean(dim=(0, 2))
        dv = p[:, :, q, q - half].mean(dim=(0, 2))
        for h in range(p.shape[1]):
            ind[f"L{l}H{h}"] = iv[h].item()
            dup[f"L{l}H{h}"] = dv[h].item()
    return prev, ind, dup


def subject_id(tok, r):
    words = r["prompt"].replace(",", " ").replace(".", " ").split()
    return tok.encode(" " + [w for w in set(words) if w in corpus.NAMES and words.count(w) == 2][0])[0]


def ioi_analysis(model, tok, rows):
    """Per-head direct logit attribution to logit(IO) - logit(S) at the last position, and the drop in
    that logit difference when the head is mean-ablated (its z replaced by its mean over all IOI positions)."""
    names = set(corpus.NAMES)
    io_ids, s_ids, seqs = [], [], []
    for r in rows:
        words = r["prompt"].replace(",", " ").replace(".", " ").split()
        cnt = {w: words.count(w) for w in words if w in names}
        s = [w for w, c in cnt.items() if c == 2][0]
        io_ids.append(tok.encode(r["target"])[0])
        s_ids.append(tok.encode(" " + s)[0])
        seqs.append(r["ids"])
    io_ids, s_ids = torch.tensor(io_ids), torch.tensor(s_ids)
    cfg = model.cfg
    L, H, D = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
    dh = D // H
    W = model.wte.weight.detach()
    diff_dir = W[io_ids] - W[s_ids]  # N D
    dla = torch.zeros(L, H)
    zsum = torch.zeros(L, H, dh)
    zcount = 0
    clean = []
    dla_err = 0.0
    with torch.no_grad():
        for i, s in enumerate(seqs):
            x = torch.tensor([s])
            cache = {}
            resid = model(x, cache=cache, return_resid=True)[0, -1]
            ln = model.ln_f
            cen = resid - resid.mean()
            sigma = torch.sqrt(cen.pow(2).mean() + ln.eps)
            logits = ln(resid) @ W.T
            clean.append((logits[io_ids[i]] - logits[s_ids[i]]).item())
            for l in range(L):
                z = cache[f"blocks.{l}.attn.hook_z"][0]  # T H dh
                zsum[l] += z.sum(0)
                Wo = model.h[l].c_proj.weight.detach().view(H, dh, D)
                out = torch.einsum("hd,hdD->hD", z[-1], Wo)  # H D, per-head output at last position
                out = out - out.mean(-1, keepdim=True)
                dla[l] += (out / sigma * ln.weight) @ diff_dir[i]
            zcount += len(s)
            if i < 20:  # decomposition check: embeddings + heads + attn biases + MLPs sum to the logit diff
                parts = cache_parts(model, x, cache)
                tot = sum(((p - p.mean()) / sigma * ln.weight) @ diff_dir[i] for p in parts) + ln.bias @ diff_dir[i]
                dla_err = max(dla_err, abs(tot.item() - clean[-1]))
    dla /= len(seqs)
    zmean = zsum / zcount
    clean_ld = sum(clean) / len(clean)
    abl = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def hook(z, h=h, l=l):
                z = z.clone()
                z[:, :, h] = zmean[l, h]
                return z
            logits = batch_last_logits(model, seqs, hooks={("z", l): hook})
            ld = (logits[torch.arange(len(seqs)), io_ids] - logits[torch.arange(len(seqs)), s_ids]).mean().item()
            abl[l, h] = clean_ld - ld
    print(f"DLA decomposition check: max |sum of parts - logit diff| = {dla_err:.2e}")
    return clean_ld, dla, abl, dla_err


def cache_parts(model, x, cache):
    """Residual-stream parts at the last position: token+position embedding, each head, each c_proj bias, each MLP."""
    T = x.shape[1]
    parts = [model.wte.weight[x[0, -1]] + model.wpe.weight[T - 1]]
    H, D = model.cfg["n_head"], model.cfg["n_embd"]
    for l in range(model.cfg["n_layer"]):
        z = cache[f"blocks.{l}.attn.hook_z"][0, -1]  # H dh
        Wo = model.h[l].c_proj.weight.view(H, D // H, D)
        parts.extend(torch.einsum("hd,hdD->hD", z, Wo).unbind(0))
        parts.append(model.h[l].c_proj.bias)
        parts.append(cache[f"blocks.{l}.hook_mlp_out"][0, -1])
    return parts


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tok = tokenizer()
    model = load_model()
    evals = load_evals(tok)
    with torch.no_grad():
        acc = eval_accuracy(model, evals)
    for fam in ("ioi", "ioi_template"):  # does the IO beat the subject, even when top-1 is not a name?
        rows = evals[fam]
        with torch.no_grad():
            lg = batch_last_logits(model, [r["ids"] for r in rows])
        io = torch.tensor([r["target_id"] for r in rows])
        s_ids = torch.tensor([subject_id(tok, r) for r in rows])
        ar = torch.arange(len(rows))
        ld = lg[ar, io] - lg[ar, s_ids]
        acc[fam]["io_over_s"] = (ld > 0).float().mean().item()
        acc[fam]["mean_logit_diff"] = ld.mean().item()
    for f, v in acc.items():
        print(f"{f:14s} " + " ".join(f"{k}={x:.3f}" if isinstance(x, float) else f"{k}={x}" for k, x in v.items()))
    half = 32
    rand, rep = head_probe(probe_pool(tok), half=half)
    json.dump({"seed": 7, "description": "rows of distinct uniformly random token ids (every id but "
               "<|endoftext|>, drawn without replacement per row), no BOS; 'random' rows score "
               "previous-token attention (query q -> key q-1, q>=1); 'repeated' rows are 32 random tokens "
               "repeated once: induction = query q -> key q-31, duplicate = q -> q-32, for q in 32..63; scores "
               "are means over rows and queries", "half": half,
               "random": rand.tolist(), "repeated": rep.tolist()},
              open(os.path.join(MODEL_DIR, "eval", "head_probe.json"), "w"))
    prev, ind, dup = head_scores(model, rand, rep, half)
    with torch.no_grad():
        clean_ld, dla, abl, dla_err = ioi_analysis(model, tok, evals["ioi"])
    L, H = dla.shape
    heads = [f"L{l}H{h}" for l in range(L) for h in range(H)]
    print("head    prev   induct  dup    ioi_dla ioi_ablation")
    for hname in heads:
        l, h = int(hname[1:hname.index("H")]), int(hname[hname.index("H") + 1:])
        print(f"{hname:6s} {prev[hname]:.3f}  {ind[hname]:.3f}  {dup[hname]:.3f}  {dla[l, h]:+.3f}  {abl[l, h]:+.3f}")
    print(f"IOI clean logit diff {clean_ld:.3f}")
    c_rand, c_eng = load_copy_evals()
    with torch.no_grad():
        copy = copy_accuracy(model, c_rand, c_eng)
    print("copying:", json.dumps(copy))
    eng = english_loss_vs_bigram()
    print("held-out English:", json.dumps(eng))
    cont = [{"prompt": p, "greedy": greedy(model, tok, p)} for p in GREEDY_PROMPTS]
    for c in cont:
        print(f"greedy: {c['prompt']!r} -> {c['greedy']!r}")
    out = {"eval": acc, "copy": copy, "english": eng, "greedy": cont, "head_scores": {h: {"previous_token": prev[h], "induction": ind[h], "duplicate_token": dup[h],
                                            "ioi_dla": dla[int(h[1:h.index('H')]), int(h[h.index('H') + 1:])].item(),
                                            "ioi_mean_ablation_drop": abl[int(h[1:h.index('H')]),
                                                                          int(h[h.index('H') + 1:])].item()}
                                        for h in heads},
           "ioi_clean_logit_diff": clean_ld, "dla_sum_check_max_abs_err": dla_err}
    json.dump(out, open(os.path.join(BUILD, "analysis.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
