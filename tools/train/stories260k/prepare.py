"""Stage 1: copy the checkpoint from ../shared/reference/models/stories260K (sha256-checked) into models/stories260K,
then sample the model's own stories (seeded) for transcoder training and held-out evaluation, and write the head
probe. Outputs: build/train.npy, eval/heldout_tokens.u16, eval/samples.txt, eval/head_probe.json, build/greedy.json."""
import hashlib
import json
import os
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama import BOS, BUILD, MODEL_DIR, ROOT, Llama, decode  # noqa: E402

CFG = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json")))
SOURCE = os.environ.get("STORIES_SOURCE") or os.path.join(ROOT, "..", "shared", "reference", "models", "stories260K")


def copy_checkpoint():
    os.makedirs(os.path.join(MODEL_DIR, "eval"), exist_ok=True)
    for name, sha in CFG["files"].items():
        data = open(os.path.join(SOURCE, name), "rb").read()
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            sys.exit(f"{SOURCE}/{name}: sha256 {got}, expected {sha} (not the checked stories260K conversion)")
        shutil.copyfile(os.path.join(SOURCE, name), os.path.join(MODEL_DIR, name))


def head_probe(seed, n_rows, half):
    """Rows of BOS + `half` distinct random merged pieces (ids 259..511: whole SentencePiece pieces, not the
    byte-fallback or special ids), repeated once: the inputs of the card's head scores."""
    g = torch.Generator().manual_seed(seed)
    first = 259
    rows = []
    for _ in range(n_rows):
        r = (torch.randperm(512 - first, generator=g)[:half] + first).tolist()
        rows.append([BOS] + r + r)
    return rows


def main():
    torch.set_num_threads(1)
    t0 = time.time()
    copy_checkpoint()
    os.makedirs(BUILD, exist_ok=True)
    m = Llama(MODEL_DIR)
    L = CFG["row_len"]
    train = m.sample(CFG["train_rows"], L, CFG["seed_train"], CFG["temperature"]).numpy().astype(np.uint16)
    held = m.sample(CFG["heldout_rows"], L, CFG["seed_heldout"], CFG["temperature"]).numpy().astype(np.uint16)
    np.save(os.path.join(BUILD, "train.npy"), train)
    held.astype("<u2").tofile(os.path.join(MODEL_DIR, "eval", "heldout_tokens.u16"))
    with open(os.path.join(MODEL_DIR, "eval", "samples.txt"), "w") as f:
        for r in held[:20]:
            f.write(decode(r.tolist()) + "\n\n")
    greedy = m.sample(1, CFG["greedy_len"], 0, temperature=0)[0].tolist()
    json.dump({"tokens": greedy, "text": decode(greedy)}, open(os.path.join(BUILD, "greedy.json"), "w"), indent=1)
    probe = head_probe(CFG["seed_probe"], CFG["probe_rows"], CFG["probe_half"])
    json.dump({"seed": CFG["seed_probe"],
               "description": "rows of <s> (id 1) + distinct random SentencePiece pieces (ids 259..511, drawn without "
                              "replacement per row), the pieces then repeated once; scores as the engine's headScores "
                              "(src/engine/analysis/attention.ts): previous-token = mean over queries q >= 1 of "
                              "pattern[q, q-1]; duplicate = attention on earlier copies of the query's token; induction "
                              "= attention on the token after an earlier copy; means over queries and rows",
               "half": CFG["probe_half"], "repeated": probe},
              open(os.path.join(MODEL_DIR, "eval", "head_probe.json"), "w"))
    print(f"{train.shape} train rows, {held.shape} held-out rows, {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
