"""Stage 1: corpus, held-out eval prompts, tokenizer, packed token arrays.

Writes models/mechlens-tiny/{tokenizer.json,tokenizer_config.json,eval/*.jsonl} and
tools/train/build/{train.npy,heldout.npy} (not committed; regenerated).
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import bpe  # noqa: E402
import corpus  # noqa: E402

from common import BUILD, CFG, MODEL_DIR  # noqa: E402


def pack(docs, tok, n_seq, T, eot):
    """Each row starts at a document start; documents are joined by <|endoftext|> and the row is cut at T."""
    out = np.full((n_seq, T), eot, dtype=np.uint16)
    di = 0
    for r in range(n_seq):
        row = []
        while len(row) < T:
            row.extend(tok.encode(docs[di % len(docs)]))
            row.append(eot)
            di += 1
        out[r] = row[:T]
    return out, di


def main():
    t0 = time.time()
    os.makedirs(BUILD, exist_ok=True)
    os.makedirs(MODEL_DIR, exist_ok=True)
    T = CFG["n_positions"]
    evals = corpus.eval_prompts(seed=CFG["seed_eval"], n=CFG["eval_per_family"])
    corpus.write_evals(evals, os.path.join(MODEL_DIR, "eval"))
    banned = corpus.banned_index(evals)
    n_train_seq = CFG["steps"] * CFG["batch"]
    # ~4 documents fill a 128-token row; generate enough
    docs = corpus.training_docs(CFG["seed_corpus"], int(n_train_seq * 6) + 1000, banned)
    held = corpus.training_docs(CFG["seed_heldout"], CFG["heldout_seqs"] * 6 + 100, banned)
    print(f"generated {len(docs)} train docs, {len(held)} held-out docs in {time.time()-t0:.1f}s", flush=True)
    vocab, merges = bpe.train_bpe(docs[:20000], CFG["vocab_size_max"])
    print(f"bpe: {len(vocab)} tokens, {len(merges)} merges ({time.time()-t0:.1f}s)", flush=True)
    bpe.save_tokenizer_json(vocab, merges, os.path.join(MODEL_DIR, "tokenizer.json"))
    bpe.save_tokenizer_config(os.path.join(MODEL_DIR, "tokenizer_config.json"), T, len(vocab) - 1)
    tok = bpe.BPE(vocab, merges)
    # every cast word must be a single token after a space, and every eval target must be one token
    for w in (corpus.NAMES + corpus.OBJECTS + corpus.PLACES + corpus.CITIES + corpus.COUNTRIES + corpus.LANGUAGES
              + corpus.NUMBERS + [c for _, c in corpus.BRACKETS]):
        ids = tok.encode(" " + w)
        assert len(ids) == 1, (w, ids)
    for rows in evals.values():
        for r in rows:
            assert len(tok.encode(r["target"])) == 1, r
            assert tok.encode(r["prompt"] + r["target"])[:-1] == tok.encode(r["prompt"]), r
    train, used = pack(docs, tok, n_train_seq, T, tok.eot)
    assert used <= len(docs), "not enough documents generated"
    heldout, _ = pack(held, tok, CFG["heldout_seqs"], T, tok.eot)
    np.save(os.path.join(BUILD, "train.npy"), train)
    np.save(os.path.join(BUILD, "heldout.npy"), heldout)
    json.dump({"vocab_size": len(vocab), "eot_id": tok.eot, "train_docs_used": used},
              open(os.path.join(BUILD, "meta.json"), "w"))
    print(f"packed train {train.shape}, heldout {heldout.shape}; used {used} docs; {time.time()-t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
