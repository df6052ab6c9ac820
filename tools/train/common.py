"""Shared paths, config, tokenizer loading and evaluation helpers."""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
from model import GPT2, load_safetensors  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CFG = json.load(open(os.environ.get("MECHLENS_CONFIG") or os.path.join(HERE, "config.json")))
# training runs in phases: phase 1 uses the top-level settings, phase 2 (MECHLENS_PHASE=2) overrides them with
# CFG["phase2"] (another row mix, batch, learning rate, budget) and continues from phase 1's weights
PHASE = int(os.environ.get("MECHLENS_PHASE", "1"))
PHASE1_CFG = dict(CFG)
if PHASE == 2:
    CFG = {**CFG, **CFG["phase2"]}
MODEL_DIR = os.environ.get("MECHLENS_MODEL_DIR") or os.path.join(ROOT, "models", CFG["name"])
BUILD = os.environ.get("MECHLENS_BUILD_DIR") or os.path.join(HERE, "build")


def tokenizer():
    tj = json.load(open(os.path.join(MODEL_DIR, "tokenizer.json")))
    m = tj["model"]
    n = 1 + max(list(m["vocab"].values()) + [a["id"] for a in tj["added_tokens"]])
    vocab = [None] * n
    for t, i in m["vocab"].items():
        vocab[i] = t
    for a in tj["added_tokens"]:
        vocab[a["id"]] = a["content"]
    merges = [tuple(x.split(" ")) for x in m["merges"]]
    return bpe.BPE(vocab, merges)


def load_model():
    cfg = json.load(open(os.path.join(MODEL_DIR, "config.json")))
    model = GPT2(cfg)
    model.load_hf_state(load_safetensors(os.path.join(MODEL_DIR, "model.safetensors")))
    model.eval()
    return model


def load_evals(tok, per_family=None):
    out = {}
    d = os.path.join(MODEL_DIR, "eval")
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".jsonl") or fn.startswith("copy_"):
            continue
        rows = [json.loads(l) for l in open(os.path.join(d, fn))]
        if per_family:
            rows = rows[:per_family]
        for r in rows:
            r["ids"] = tok.encode(r["prompt"])
            r["target_id"] = tok.encode(r["target"])[0]
        out[fn[:-6]] = rows
    return out


def batch_last_logits(model, seqs, hooks=None, bs=128):
    """Logits at the last position of each (unpadded) sequence; right padding is harmless (causal)."""
    outs = []
    for i in range(0, len(seqs), bs):
        chunk = seqs[i:i + bs]
        L = max(len(s) for s in chunk)
        x = torch.zeros(len(chunk), L, dtype=torch.long)
        for j, s in enumerate(chunk):
            x[j, :len(s)] = torch.tensor(s)
        logits = model(x, hooks=hooks) if hooks is not None else model(x)
        idx = torch.tensor([len(s) - 1 for s in chunk])
        outs.append(logits[torch.arange(len(chunk)), idx])
    return torch.cat(outs)


def eval_accuracy(model, evals, hooks=None):
    res = {}
    for fam, rows in evals.items():
        logits = batch_last_logits(model, [r["ids"] for r in rows], hooks)
        tgt = torch.tensor([r["target_id"] for r in rows])
        top1 = (logits.argmax(-1) == tgt).float().mean().item()
        res[fam] = {"n": len(rows), "top1": top1}
    return res


def load_copy_evals():
    """eval/copy_random.json rows and eval/copy_english.jsonl rows (see prepare.copy_evals)."""
    d = os.path.join(MODEL_DIR, "eval")
    rand = json.load(open(os.path.join(d, "copy_random.json")))
    eng = [json.loads(l) for l in open(os.path.join(d, "copy_english.jsonl"))]
    return rand, eng


def copy_accuracy(model, rand, eng, n=None):
    """Top-1 on the repeated half of random-id rows and on the second copy of repeated English sentences."""
    half = rand["half"]
    rows = rand["rows"][:n] if n else rand["rows"]
    with torch.no_grad():
        x = torch.tensor(rows)
        pred = model(x).argmax(-1)
        q = torch.arange(half, 2 * half - 1)
        r_acc = (pred[:, q] == x[:, q + 1]).float().mean().item()
        hit = tot = 0
        for r in (eng[:n] if n else eng):
            ids = torch.tensor([r["ids"]])
            p = model(ids).argmax(-1)[0]
            k = r["scored_from"]
            hit += (p[k - 1:-1] == ids[0, k:]).sum().item()
            tot += len(r["ids"]) - k
    return {"random_ids": r_acc, "english": hit / tot, "random_positions": len(rows) * (half - 1),
            "english_positions": tot}
