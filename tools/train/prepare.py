"""Stage 1: corpora, held-out eval prompts, tokenizer, packed token arrays with loss masks.

Training rows (`row_len` tokens each, default n_positions) are of four kinds, drawn with `row_mix` from config.json:
  english         real English (sources.py), documents of one source joined by <|endoftext|>
  english_repeat  real English in which an earlier span (8-80 tokens) is repeated later in the row
  random_repeat   blocks of uniformly random token ids, each repeated once or twice; loss only on the repeats
  synthetic       the task families of corpus.py (IOI, facts, counting, brackets, induction) and filler

Writes models/mechlens-tiny/{tokenizer.json,tokenizer_config.json,eval/*.jsonl,eval/copy_*.json} and
tools/train/build/{train,heldout}.npy (+ *_mask.npy: 1 where the token is a training target),
heldout_english.npy, english_train_tokens.npy, meta.json (not committed; regenerated).
"""
import json
import os
import random
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
import sources  # noqa: E402

from common import BUILD, CFG, MODEL_DIR, PHASE1_CFG  # noqa: E402

CAST = (corpus.NAMES + corpus.OBJECTS + corpus.PLACES + corpus.CITIES + corpus.COUNTRIES + corpus.LANGUAGES
        + corpus.NUMBERS + [c for _, c in corpus.BRACKETS] + [o for o, _ in corpus.BRACKETS])


class Stream:
    """Endless token stream over documents (joined by <|endoftext|>), starting at a document start."""

    def __init__(self, docs, eot, rng):
        self.docs, self.eot, self.rng = docs, eot, rng

    def take(self, n):
        out = []
        i = self.rng.randrange(len(self.docs))
        while len(out) < n:
            out.extend(self.docs[i % len(self.docs)])
            out.append(self.eot)
            i += 1
        return out[:n]


class RowMaker:
    def __init__(self, english, synthetic, vocab, eot, T, rng, mix=None):
        self.T, self.eot, self.V, self.rng = T, eot, vocab, rng
        names = sorted(english)
        w = [CFG["source_weights"][n] for n in names]
        self.sources = [(n, Stream(english[n], eot, rng)) for n in names]
        self.weights = w
        self.syn = synthetic
        self.syn_i = 0
        mix = mix or CFG["row_mix"]
        self.kinds = sorted(mix)
        self.kind_w = [mix[k] for k in self.kinds]

    def english_stream(self):
        return self.rng.choices(self.sources, self.weights)[0][1]

    def english(self):
        return self.english_stream().take(self.T), [1] * self.T

    def english_repeat(self):
        T, rng = self.T, self.rng
        src = self.english_stream().take(2 * T)
        row = []
        pos = 0
        while len(row) < T:
            P = rng.randint(0, 60)
            L = rng.randint(8, 80)
            G = rng.randint(0, 40)
            span = src[pos + P:pos + P + L]
            row += src[pos:pos + P + L + G] + span
            if rng.random() < 0.25:
                row += span
            pos += P + L + G
        return row[:T], [1] * T

    def random_repeat(self):
        T, rng = self.T, self.rng
        row, mask = [], []
        while len(row) < T:
            n = rng.randint(4, max(4, min(100, T // 2 - 1)))  # a block and its repeat fit in the row
            seq = [rng.randrange(self.V - 1) for _ in range(n)]  # every id but <|endoftext|>
            reps = 2 if rng.random() < 0.8 else 3
            row += seq * reps + [self.eot]
            mask += [0] * n + [1] * (n * (reps - 1)) + [0]
        return row[:T], mask[:T]

    def synthetic(self):
        row = []
        while len(row) < self.T:
            row.extend(self.syn[self.syn_i % len(self.syn)])
            row.append(self.eot)
            self.syn_i += 1
        return row[:self.T], [1] * self.T

    def rows(self, n):
        x = np.zeros((n, self.T), dtype=np.uint16)
        m = np.zeros((n, self.T), dtype=np.uint8)
        counts = {k: 0 for k in self.kinds}
        for r in range(n):
            k = self.rng.choices(self.kinds, self.kind_w)[0]
            counts[k] += 1
            row, mask = getattr(self, k)()
            x[r], m[r] = row, mask
        return x, m, counts


def sentences(docs):
    for d in docs:
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", d.replace("\n", " ")):
            s = s.strip()
            if 10 <= len(s.split()) <= 30 and s[-1] in ".!?" and sum(c.isalpha() for c in s) > 0.7 * len(s):
                yield s


def copy_evals(tok, held_docs, train_text, rng):
    """Held-out copying probes: uniformly random ids repeated, and held-out English sentences repeated."""
    n, half = CFG["copy_eval_n"], CFG["copy_eval_half"]
    V = len(tok.vocab)
    rand = []
    for _ in range(n):
        seq = [rng.randrange(V - 1) for _ in range(half)]
        rand.append(seq + seq)
    cands = sorted(set(s for d in held_docs for s in sentences([d])))
    rng.shuffle(cands)
    eng = []
    for s in cands:
        if s in train_text:
            continue
        first = tok.encode(s)
        ids = tok.encode(s + " " + s)
        if ids[:len(first)] != first or len(ids) > 2 * len(first) + 2:
            continue
        eng.append({"text": s + " " + s, "sentence": s, "ids": ids, "scored_from": len(first) + 1})
        if len(eng) == n:
            break
    return rand, eng


def main():
    t0 = time.time()
    os.makedirs(BUILD, exist_ok=True)
    os.makedirs(MODEL_DIR, exist_ok=True)
    # a phase may train on rows shorter than the context: short rows give many cheap steps, and the copying
    # circuit (previous-token head + induction head) forms after a number of steps, not of tokens
    T = CFG.get("row_len", CFG["n_positions"])
    evals = corpus.eval_prompts(seed=CFG["seed_eval"], n=CFG["eval_per_family"])
    corpus.write_evals(evals, os.path.join(MODEL_DIR, "eval"))
    banned = corpus.banned_index(evals)
    n_train = CFG["steps"] * CFG["batch"]
    n_syn_docs = int(n_train * CFG["row_mix"]["synthetic"] * 12) + 1000
    docs = corpus.training_docs(CFG["seed_corpus"], n_syn_docs, banned)
    held = corpus.training_docs(CFG["seed_heldout"], CFG["heldout_seqs"] * 12 + 100, banned)
    print(f"generated {len(docs)} synthetic train docs, {len(held)} held-out docs in {time.time()-t0:.1f}s",
          flush=True)
    eng = sources.load(BUILD)
    for k, (tr, he) in eng.items():
        print(f"  {k}: {len(tr)} train docs ({sum(map(len, tr))} chars), {len(he)} held-out", flush=True)
    print(f"sources read ({time.time()-t0:.1f}s)", flush=True)
    counts = bpe.word_counts(docs[:20000])
    for k, (tr, _) in eng.items():
        budget, sample = CFG["bpe_chars_per_source"], []
        for d in tr:
            if budget <= 0:
                break
            sample.append(d)
            budget -= len(d)
        bpe.word_counts(sample, counts)
    vocab, merges = bpe.train_bpe([], CFG["vocab_size_max"], counts=counts, forced=[" " + w for w in CAST])
    print(f"bpe: {len(vocab)} tokens, {len(merges)} merges ({time.time()-t0:.1f}s)", flush=True)
    bpe.save_tokenizer_json(vocab, merges, os.path.join(MODEL_DIR, "tokenizer.json"))
    bpe.save_tokenizer_config(os.path.join(MODEL_DIR, "tokenizer_config.json"), T, len(vocab) - 1)
    tok = bpe.BPE(vocab, merges)
    for w in CAST:
        assert len(tok.encode(" " + w)) == 1, (w, tok.encode(" " + w))
    for rows in evals.values():
        for r in rows:
            assert len(tok.encode(r["target"])) == 1, r
            assert tok.encode(r["prompt"] + r["target"])[:-1] == tok.encode(r["prompt"]), r
    eng_train = {k: [tok.encode(d) for d in tr] for k, (tr, _) in eng.items()}
    eng_held = {k: [tok.encode(d) for d in he] for k, (_, he) in eng.items()}
    print(f"english encoded: {sum(len(d) for v in eng_train.values() for d in v)} train tokens, "
          f"{sum(len(d) for v in eng_held.values() for d in v)} held-out ({time.time()-t0:.1f}s)", flush=True)
    syn = [tok.encode(d) for d in docs]
    syn_held = [tok.encode(d) for d in held]
    rng = random.Random(CFG["seed_rows"])
    x, m, kinds = RowMaker(eng_train, syn, len(vocab), tok.eot, T, rng).rows(n_train)
    rng_h = random.Random(CFG["seed_heldout"])
    # held-out rows always use the last phase's mix (the shipped model's data, English included), so every phase
    # and the transcoders are measured on the same kind of rows
    last_mix = PHASE1_CFG.get("phase2", {}).get("row_mix") or PHASE1_CFG["row_mix"]
    hx, hm, _ = RowMaker(eng_held, syn_held, len(vocab), tok.eot, T, rng_h, last_mix).rows(
        CFG["heldout_seqs"])
    he_rows = [RowMaker(eng_held, syn_held, len(vocab), tok.eot, T, rng_h).english()[0] for _ in range(256)]
    np.save(os.path.join(BUILD, "train.npy"), x)
    np.save(os.path.join(BUILD, "train_mask.npy"), m)
    np.save(os.path.join(BUILD, "heldout.npy"), hx)
    np.save(os.path.join(BUILD, "heldout_mask.npy"), hm)
    np.save(os.path.join(BUILD, "heldout_english.npy"), np.array(he_rows, dtype=np.uint16))
    flat = np.array([t for v in eng_train.values() for d in v for t in d + [tok.eot]], dtype=np.uint16)
    np.save(os.path.join(BUILD, "english_train_tokens.npy"), flat)
    train_text = "\n".join(d for tr, _ in eng.values() for d in tr)
    rand, eng_copy = copy_evals(tok, [d for _, he in eng.values() for d in he], train_text,
                                random.Random(CFG["seed_eval"] + 1))
    json.dump({"description": "copying probe: rows of `half` uniformly random token ids (every id but "
                              "<|endoftext|>), repeated once; top-1 is scored on positions half..2*half-2 "
                              "(predicting tokens half+1..2*half-1 of the row), no BOS",
               "seed": CFG["seed_eval"] + 1, "half": CFG["copy_eval_half"], "rows": rand},
              open(os.path.join(MODEL_DIR, "eval", "copy_random.json"), "w"))
    with open(os.path.join(MODEL_DIR, "eval", "copy_english.jsonl"), "w") as f:
        for r in eng_copy:
            f.write(json.dumps(r) + "\n")
    json.dump({"vocab_size": len(vocab), "eot_id": tok.eot, "row_kinds": kinds,
               "english_train_tokens": int(len(flat)), "copy_english_n": len(eng_copy),
               "sources": {k: {"train_docs": len(tr), "heldout_docs": len(he), "train_chars": sum(map(len, tr)),
                               "train_tokens": sum(len(d) for d in eng_train[k]), **sources.SOURCES[k]}
                           for k, (tr, he) in eng.items()}},
              open(os.path.join(BUILD, "meta.json"), "w"), indent=1)
    print(f"packed train {x.shape} {kinds}, heldout {hx.shape}; copy evals {len(rand)} random, "
          f"{len(eng_copy)} english; {time.time()-t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
