#!/usr/bin/python3
"""PyTorch eager baseline: the alternative a MechLens user would otherwise pick (TransformerLens-style
hooked GPT-2 in plain PyTorch on CPU).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_baseline.py --model DIR --seq 64 --threads 2 --iters 10

DIR is a GPT-2 Hugging Face checkpoint folder (config.json + model.safetensors, e.g. one written by
tools/reference/make_gpt2_small_shaped.py). The model is tools/reference/models.py's RefModel (fp32,
torch.no_grad(), batch 1). Prints exactly one JSON object on stdout (progress goes to stderr):

  torch_version, threads (torch.get_num_threads() after set_num_threads), omp_wait_policy (env),
  omp_num_threads / openblas_num_threads (env), blas (BLAS libraries mapped into the process),
  model (n_layer, d_model, n_head, vocab), seq, iters, warmup,
  load_ms            reading config + safetensors and building the fp32 model, once
  forward_ms         median plain forward [1, seq] -> logits, no hooks kept
  forward_cache_ms   median forward that stores every hook (as run_with_cache does: each hook's tensor
                     kept, including per-head attn.hook_result [1,T,H,d]) -> logits + cache
  forward_cache_hooks number of hook tensors cached per forward
  patch_sweep_ms     one residual-stream activation-patching sweep, denoising: 1 clean run_with_cache
                     (hook_resid_pre only) + 1 corrupted plain forward (metric baseline) + one patched
                     forward per (layer, position) for all layers x the first `sweep_positions` positions,
                     each overwriting blocks.{l}.hook_resid_pre[:, p] with the clean value and reading
                     the logit-difference metric; wall time of the whole thing (median of sweep_iters)
  patch_sweep_forwards n_layer * sweep_positions + 2
  generate_tokens_per_s greedy generation of gen_new tokens from a gen_prompt-token prompt with a KV
                     cache: gen_new forwards (the prompt prefill yields the first token), prefill included
                     in the time; gen_new / seconds (median of gen_iters)
  peak_rss_mb        peak resident set size of the process (VmHWM: ru_maxrss would include the parent's
                     peak from before exec when this script is spawned by a bigger process)
Timed sections run after `warmup` untimed repetitions each (sweep: one untimed patched forward warm-up).
--measures picks some of forward,cache,sweep,generate (default all; the others' keys are absent), so that
a long prompt or a big model can be measured, and its peak RSS read, one measure per process.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import models  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def timed(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(ts), ts


def blas_libs():
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                base = os.path.basename(p)
                if "blas" in base or "mkl" in base.lower() or "lapack" in base:
                    libs.add(base)
    except OSError:
        pass
    return sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--sweep-positions", type=int, default=16)
    ap.add_argument("--sweep-iters", type=int, default=1)
    ap.add_argument("--gen-prompt", type=int, default=16)
    ap.add_argument("--gen-new", type=int, default=32)
    ap.add_argument("--gen-iters", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--measures", default="forward,cache,sweep,generate")
    args = ap.parse_args()
    measures = set(args.measures.split(","))

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    t0 = time.perf_counter()
    model = models.load_model(args.model)
    load_ms = (time.perf_counter() - t0) * 1000.0
    s = model.s
    if measures & {"sweep", "generate"} and (model.s["pos"] != "learned" or model.s["norm"] != "layernorm"):
        log("warning: the sweep and generation baselines are meant for GPT-2 checkpoints")
    L, V = s["n_layers"], s["vocab"]
    log(f"loaded in {load_ms:.0f} ms: {L} layers, d {s['d_model']}, vocab {V}")

    g = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, V, (1, args.seq), generator=g)

    out = {}
    # 1. plain forward
    if "forward" in measures:
        fwd_ms, _ = timed(lambda: model.forward(ids), args.iters, args.warmup)
        log(f"forward {fwd_ms:.1f} ms")
        out["forward_ms"] = round(fwd_ms, 3)

    # 2. forward caching every hook
    if "cache" in measures:
        n_hooks = len(model.run_with_cache(ids)[1])
        cache_ms, _ = timed(lambda: model.run_with_cache(ids), args.iters, args.warmup)
        log(f"forward+cache {cache_ms:.1f} ms ({n_hooks} hooks)")
        out.update(forward_cache_ms=round(cache_ms, 3), forward_cache_hooks=n_hooks)

    # 3. residual patching sweep (denoising: clean resid_pre patched into the corrupted run)
    P = min(args.sweep_positions, args.seq)
    corrupted = ids.clone()
    corrupted[0, : args.seq // 2] = torch.randint(0, V, (args.seq // 2,), generator=g)

    def sweep():
        clean_logits, clean_cache = model.run_with_cache(ids, names_filter=lambda n: n.endswith("hook_resid_pre"))
        a = int(clean_logits[0, -1].argmax())
        corr_logits = model.forward(corrupted)
        b = int(corr_logits[0, -1].argmax())
        if b == a:
            b = (a + 1) % V
        metric = lambda lg: float(lg[0, -1, a] - lg[0, -1, b])
        clean_m, corr_m = metric(clean_logits), metric(corr_logits)
        denom = (clean_m - corr_m) or 1.0
        res = torch.empty(L, P)
        for l in range(L):
            name = f"blocks.{l}.hook_resid_pre"
            for p in range(P):
                def hook(act, hname, p=p):
                    act[:, p, :] = clean_cache[hname][:, p, :]
                    return act
                res[l, p] = (metric(model.forward(corrupted, hooks={name: hook})) - corr_m) / denom
        sweep.result = res
        return res

    if "sweep" in measures:
        model.forward(corrupted, hooks={"blocks.0.hook_resid_pre": lambda a, n: a})  # warm-up
        sweep_ms, _ = timed(sweep, args.sweep_iters, 0)
        log(f"patch sweep {sweep_ms:.0f} ms ({L}x{P} patched forwards)")
        if os.environ.get("BASELINE_DEBUG"):
            log(sweep.result)
        out.update(patch_sweep_ms=round(sweep_ms, 2), patch_sweep_forwards=L * P + 2, sweep_positions=P, sweep_iters=args.sweep_iters)

    # 4. greedy generation with a KV cache
    if "generate" in measures:
        if "pos_embed" in model.w and args.gen_prompt + args.gen_new > model.w["pos_embed"].shape[0]:
            sys.exit(f"gen_prompt + gen_new exceeds n_positions {model.w['pos_embed'].shape[0]}")
        prompt = torch.randint(0, V, (1, args.gen_prompt), generator=g)

        def generate():
            logits, past = model.forward(prompt, use_cache=True)
            toks = []
            for i in range(args.gen_new):
                nxt = logits[:, -1:].argmax(-1)
                toks.append(int(nxt))
                if i + 1 < args.gen_new:
                    logits, past = model.forward(nxt, past=past, use_cache=True)
            return toks

        gen_ms, _ = timed(generate, args.gen_iters, 1)
        tps = args.gen_new / (gen_ms / 1000.0)
        log(f"generate {tps:.1f} tokens/s")
        out.update(generate_tokens_per_s=round(tps, 3), gen_prompt=args.gen_prompt, gen_new=args.gen_new, gen_iters=args.gen_iters)

    out = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "blas": blas_libs(),
        "model": {"n_layer": L, "d_model": s["d_model"], "n_head": s["n_heads"], "vocab": V},
        "seq": args.seq,
        "iters": args.iters,
        "warmup": args.warmup,
        "load_ms": round(load_ms, 2),
        **out,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
