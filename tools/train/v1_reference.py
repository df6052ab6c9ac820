"""One-off: the v1 bundled model's figures on v2's held-out probes, for the v2 model card's comparison.

Run against a v1 model folder (git show 8ac8be3:models/mechlens-tiny/..., the last v1 commit) and a v2 eval
folder: `python3 v1_reference.py V1_DIR V2_EVAL_DIR > v1_reference.json`. Random-id rows are redrawn in v1's
vocabulary with the same protocol (32 ids repeated once, same seed); English sentences are the v2 ones,
re-tokenized with v1's tokenizer (pairs longer than v1's 128-token context are skipped).
"""
import json
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    v1, ev = sys.argv[1], sys.argv[2]
    common.MODEL_DIR = v1
    tok = common.tokenizer()
    model = common.load_model()
    card = json.load(open(os.path.join(v1, "card.json")))
    rand = json.load(open(os.path.join(ev, "copy_random.json")))
    rng = random.Random(rand["seed"])
    half = rand["half"]
    rows = []
    for _ in range(len(rand["rows"])):
        seq = [rng.randrange(len(tok.vocab) - 1) for _ in range(half)]
        rows.append(seq + seq)
    eng = []
    for line in open(os.path.join(ev, "copy_english.jsonl")):
        r = json.loads(line)
        ids = tok.encode(r["text"])
        first = tok.encode(r["sentence"])
        if len(ids) <= model.cfg["n_positions"] and ids[:len(first)] == first:
            eng.append({"ids": ids, "scored_from": len(first) + 1})
    torch.set_num_threads(1)
    cp = common.copy_accuracy(model, {"half": half, "rows": rows}, eng)
    cp["english_sentences"] = len(eng)
    json.dump({"description": "v1 (commit 8ac8be3) figures: eval from its card.json; copy measured by "
                              "tools/train/v1_reference.py on the v2 probes (random ids redrawn in v1's vocabulary)",
               "eval": {k: v["top1"] for k, v in card["eval"].items()},
               "ioi_io_over_s": card["eval"]["ioi"].get("io_over_s"),
               "copy": cp, "heads": card["heads"]}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
