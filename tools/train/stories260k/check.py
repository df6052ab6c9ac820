"""Stage 2: this torch Llama against (a) tools/reference/hf_style.py (an independent HF-convention forward) and
(b) the engine (`node dist/cli.js run --json`, onnxruntime) on held-out sample rows; the sampler's key/value cache
against a full forward. Fails when any logit differs by more than 1e-3 (float32). Writes build/check.json."""
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llama import BUILD, MODEL_DIR, ROOT, Llama  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import hf_style  # noqa: E402

TOL = 1e-3


def main():
    torch.set_num_threads(1)
    m = Llama(MODEL_DIR)
    raw = np.fromfile(os.path.join(MODEL_DIR, "eval", "heldout_tokens.u16"), dtype="<u2").reshape(-1, 128)
    rows = torch.from_numpy(raw[:4].astype(np.int64))
    with torch.no_grad():
        ours = m.forward(rows)
        ref = hf_style.llama_like_logits(m.cfg, m.w, rows)
        past = []
        a = m.forward(rows[:, :50], past=past)
        b = m.forward(rows[:, 50:], past=past, start=50)
    out = {"rows": 4, "tokens_per_row": 128,
           "max_abs_vs_hf_style": (ours - ref).abs().max().item(),
           "max_abs_kv_cache": (torch.cat([a, b], 1) - ours).abs().max().item()}
    cli = os.path.join(ROOT, "dist", "cli.js")
    if os.path.exists(cli):
        worst = 0.0
        for i in range(len(rows)):
            r = subprocess.run(["node", cli, "run", "--model", MODEL_DIR, "--tokens", ",".join(map(str, rows[i].tolist())),
                                "--json", "--threads", "1"], capture_output=True, text=True, check=True)
            eng = torch.tensor(json.loads(r.stdout)["logits"])
            worst = max(worst, (eng - ours[i]).abs().max().item())
        out["max_abs_vs_engine"] = worst
    else:
        print(f"note: {cli} missing (npm run build): engine comparison skipped")
    print(json.dumps(out))
    json.dump(out, open(os.path.join(BUILD, "check.json"), "w"), indent=1)
    bad = {k: v for k, v in out.items() if k.startswith("max_abs") and v > TOL}
    if bad:
        sys.exit(f"logits differ by more than {TOL}: {bad}")


if __name__ == "__main__":
    main()
