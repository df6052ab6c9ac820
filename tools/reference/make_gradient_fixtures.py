#!/usr/bin/python3
"""Golden gradients from torch autograd, for the engine's generated backward graphs:

    OMP_NUM_THREADS=1 /usr/bin/python3 tools/reference/make_gradient_fixtures.py [--fixtures test/fixtures]

Run after make_fixtures.py. For each architecture case it reads the case's weights and golden input ids
and writes `gradients.safetensors` next to them, with the gradient of every hook (TransformerLens
names; hooks on the computation path, see models.RefModel) for four set-ups:

  full    forward rows = the two golden prompts; row 0's metric is logit(t0) - logit(b0) at the last
          position, row 1's is log p(t1). Nothing frozen.
  frozen  the same metrics with attention patterns, every norm's scale (Gemma-2's post-norms included)
          and the MLP outputs (mlp.hook_out) detached: the linearised model of attribution graphs.
  skip    as frozen, plus a live linear skip path per layer, mlp.hook_out += mlp.hook_in @ W_skip in
          gradient only (value unchanged), W_skip random [d, d] (stored as skip.W.<layer>).
  seeds   one forward (golden prompt 0) shared by four seed rows, each the dot product of a random vector
          with a hook's activation at one position (stored as seeds.vector.<row>), frozen as above.

Tensors: `<setup>.grad.<hook>` [rows, ...], `<setup>.metric` [rows] (full, frozen, skip), `skip.W.<l>`,
`seeds.vector.<i>`; metadata `spec` (JSON) names the metrics and seeds.

Real weights: with --real (default ../shared/reference/models/stories260K, Karpathy's TinyStories Llama), it also
writes test/fixtures/stories260K/gradients.safetensors: `input_ids` (a TinyStories prompt, tokenized by looking
its SentencePiece pieces up in tokenizer.json) and the `full` and `frozen` gradients of logit(top-1) - logit(top-2)
at the last position.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

CASES = ["gpt2", "neox", "neox-seq", "llama", "qwen2", "gemma2", "llama3", "qwen3", "gemma3"]
METRICS = [{"target": 3, "baseline": 7}, {"target": 11, "logprob": True}]
SEEDS = [("blocks.1.hook_resid_post", 11), ("blocks.1.mlp.hook_in", 6), ("blocks.0.hook_attn_out", 9),
         ("ln_final.hook_normalized", 4)]


def engine_hooks(model):
    # Gemma-2's post-norm hooks exist only in the reference.
    return [h for h in model.hook_names() if "_post." not in h]


def run(model, ids, names, freeze, skips=None):
    """Forward with every hook in `names` retained for gradients; returns (logits, tensors)."""
    kept = {}

    def fn(x, name):
        frozen = freeze and (name.endswith("hook_scale") or name.endswith("attn.hook_pattern")
                             or name.endswith("mlp.hook_out"))
        if frozen or not x.requires_grad:
            x = x.detach().requires_grad_(True)
        if skips is not None and name.endswith("mlp.hook_out"):
            layer = int(name.split(".")[1])
            through = kept[f"blocks.{layer}.mlp.hook_in"] @ skips[layer]
            x = x + (through - through.detach())  # the value stays; the gradient gains the skip path
        if not x.is_leaf:
            x.retain_grad()
        kept.setdefault(name, x)
        return x

    hooks = {n: fn for n in names}
    hooks.update({n: fn for n in model.hook_names() if n.endswith("hook_scale")})  # freeze post-norms too
    logits = model.forward(ids, hooks=hooks)
    return logits, kept


def metrics_of(logits):
    last = logits[:, -1]
    m0 = last[0, METRICS[0]["target"]] - last[0, METRICS[0]["baseline"]]
    m1 = torch.log_softmax(last[1], -1)[METRICS[1]["target"]]
    return torch.stack([m0, m1])


def grads_of(kept, names):
    return {n: (kept[n].grad if kept[n].grad is not None else torch.zeros_like(kept[n])).detach().clone() for n in names}


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--fixtures", default=os.path.normpath(os.path.join(here, "..", "..", "test", "fixtures")))
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--real", default=os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "reference", "models", "stories260K")))
    ap.add_argument("--only", default="", help="comma-separated cases to (re)write; default all (and --real)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    only = set(filter(None, args.only.split(",")))
    for case in CASES:
        if only and case not in only:
            continue
        folder = os.path.join(args.fixtures, case)
        model = models.load_model(folder)
        model.result_in_path = True
        ids = load_file(os.path.join(folder, "golden.safetensors"))["input_ids"]
        names = engine_hooks(model)
        d, L = model.s["d_model"], model.s["n_layers"]
        g = torch.Generator().manual_seed(args.seed)
        out = {}

        for setup, freeze in (("full", False), ("frozen", True)):
            logits, kept = run(model, ids, names, freeze)
            m = metrics_of(logits)
            m.sum().backward()
            out[f"{setup}.metric"] = m.detach().clone()
            for n, t in grads_of(kept, names).items():
                out[f"{setup}.grad.{n}"] = t

        skips = [torch.randn(d, d, generator=g) * 0.2 for _ in range(L)]
        logits, kept = run(model, ids, names, True, skips)
        m = metrics_of(logits)
        m.sum().backward()
        out["skip.metric"] = m.detach().clone()
        for n, t in grads_of(kept, names).items():
            out[f"skip.grad.{n}"] = t
        for l, W in enumerate(skips):
            out[f"skip.W.{l}"] = W

        rows = []
        for i, (hook, pos) in enumerate(SEEDS):
            logits, kept = run(model, ids[:1], names, True)
            vec = torch.randn(kept[hook].shape[-1], generator=g)
            (kept[hook][0, pos] * vec).sum().backward()
            rows.append(grads_of(kept, names))
            out[f"seeds.vector.{i}"] = vec
        for n in names:
            out[f"seeds.grad.{n}"] = torch.cat([r[n] for r in rows], 0)

        out = {k: v.float().contiguous() for k, v in out.items()}
        spec = {"metrics": METRICS, "seeds": [{"hook": h, "position": p} for h, p in SEEDS], "hooks": names,
                "script": "tools/reference/make_gradient_fixtures.py", "torch_version": torch.__version__,
                "seed": args.seed}
        save_file(out, os.path.join(folder, "gradients.safetensors"), metadata={"spec": json.dumps(spec)})
        nz = sum(1 for k, v in out.items() if k.startswith("full.grad.") and v.abs().max() > 0)
        print(f"{case:10s} {len(names)} hooks, {nz} with a nonzero full gradient, "
              f"metric {out['full.metric'].tolist()}, "
              f"|grad resid_pre0| full {out['full.grad.blocks.0.hook_resid_pre'].abs().max():.3g} "
              f"frozen {out['frozen.grad.blocks.0.hook_resid_pre'].abs().max():.3g}")
    if os.path.isdir(args.real) and not only:
        real_weights(args.real, os.path.join(args.fixtures, "stories260K"))


def real_weights(folder, out_dir):
    model = models.load_model(folder)
    model.result_in_path = True
    with open(os.path.join(folder, "tokenizer.json")) as f:
        vocab = json.load(f)["model"]["vocab"]
    # "Once upon a time, there was a little ... named Lily. She" as whole pieces of this 512-piece vocabulary.
    pieces = ["<s>", "\u2581Once", "\u2581upon", "\u2581a", "\u2581time", ",", "\u2581there", "\u2581was", "\u2581a",
              "\u2581little", "\u2581named", "\u2581L", "ily", "\u2581She"]
    ids = torch.tensor([[vocab[p] for p in pieces]])
    names = engine_hooks(model)
    with torch.no_grad():
        top = model.forward(ids)[0, -1].topk(2).indices.tolist()
    out = {"input_ids": ids}
    for setup, freeze in (("full", False), ("frozen", True)):
        logits, kept = run(model, ids, names, freeze)
        m = logits[0, -1, top[0]] - logits[0, -1, top[1]]
        m.backward()
        out[f"{setup}.metric"] = m.detach().reshape(1).clone()
        for n, t in grads_of(kept, names).items():
            out[f"{setup}.grad.{n}"] = t.float().contiguous()
    os.makedirs(out_dir, exist_ok=True)
    spec = {"metrics": [{"target": top[0], "baseline": top[1]}], "hooks": names, "pieces": pieces,
            "script": "tools/reference/make_gradient_fixtures.py --real", "torch_version": torch.__version__}
    save_file(out, os.path.join(out_dir, "gradients.safetensors"), metadata={"spec": json.dumps(spec)})
    print(f"stories260K  {len(names)} hooks, metric {out['full.metric'].item():.4f} (top {top})")


if __name__ == "__main__":
    main()
