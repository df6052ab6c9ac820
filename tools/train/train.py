"""Stage 2: train the GPT-2 model on the packed corpus (seeded, 1 CPU thread) and save it in HF format."""
import csv
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT2, hf_config, load_safetensors, save_safetensors  # noqa: E402
from common import MODEL_DIR, BUILD, CFG, PHASE, copy_accuracy, eval_accuracy, load_copy_evals, load_evals, tokenizer  # noqa: E402,E501


def main():
    torch.set_num_threads(1)
    torch.manual_seed(CFG["seed_model"])
    meta = json.load(open(os.path.join(BUILD, "meta.json")))
    cfg = hf_config(CFG["n_layer"], CFG["n_embd"], CFG["n_head"], CFG["n_positions"], meta["vocab_size"],
                    meta["eot_id"])
    model = GPT2(cfg)
    init = os.environ.get("MECHLENS_INIT_FROM") or CFG.get("init_from")
    if init:  # continue from saved weights (a second phase with another row mix); the optimizer starts afresh
        model.load_hf_state(load_safetensors(init if os.path.isabs(init) else os.path.join(BUILD, init)))
        print(f"initialised from {init}", flush=True)
    data = torch.from_numpy(np.load(os.path.join(BUILD, "train.npy")).astype(np.int64))
    mask = torch.from_numpy(np.load(os.path.join(BUILD, "train_mask.npy")).astype(np.float32))
    held = torch.from_numpy(np.load(os.path.join(BUILD, "heldout.npy")).astype(np.int64))[:128]
    held_m = torch.from_numpy(np.load(os.path.join(BUILD, "heldout_mask.npy")).astype(np.float32))[:128]
    tok = tokenizer()
    evals = load_evals(tok, per_family=50)
    c_rand, c_eng = load_copy_evals()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": CFG["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=CFG["lr"], betas=(0.9, 0.98))
    steps, B = CFG["steps"], CFG["batch"]
    # wall-clock budget: training ends after `train_budget_s` seconds or `steps` steps, whichever comes first; the
    # cosine schedule follows whichever is further along, so the learning rate has decayed when either ends
    budget = float(os.environ.get("MECHLENS_TRAIN_BUDGET_S", CFG.get("train_budget_s", 1e9)))

    def lr_at(s, elapsed):
        if s < CFG["warmup"]:
            return CFG["lr"] * (s + 1) / CFG["warmup"]
        p = max((s - CFG["warmup"]) / max(1, steps - CFG["warmup"]), elapsed / budget)
        p = min(1.0, p)
        return CFG["lr"] * (CFG["min_lr_frac"] + (1 - CFG["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * p)))

    def masked_loss(logits, y, m):
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        return (ce * m.reshape(-1)).sum() / m.sum().clamp(min=1)

    def save():
        json.dump(cfg, open(os.path.join(MODEL_DIR, "config.json"), "w"), indent=2)
        # stored as F16 when config.json says so (halves the folder; the engine widens F16 exactly, and every
        # later stage loads these rounded weights, so all reported numbers are of the shipped model)
        half = CFG.get("weights_dtype") == "float16"
        state = {k: (v.half() if half else v) for k, v in model.hf_state().items()}
        save_safetensors(state, os.path.join(MODEL_DIR, "model.safetensors"), {"format": "pt"})

    last_phase = PHASE == 2 or "phase2" not in CFG
    curve_name = "training_curve.csv" if last_phase else f"training_curve_phase{PHASE}.csv"
    curve = open(os.path.join(MODEL_DIR, curve_name), "w", newline="")
    w = csv.writer(curve)
    fams = sorted(evals)
    w.writerow(["step", "train_loss", "heldout_loss"] + [f"top1_{f}" for f in fams]
               + ["top1_copy_random", "top1_copy_english"])
    t0, acc_loss, n_loss = time.time(), 0.0, 0
    every = 50
    stop = int(os.environ.get("MECHLENS_STOP_AFTER", steps))  # for determinism checks only
    done = 0
    stopped_early = False
    formed = False
    for s in range(steps):
        elapsed = time.time() - t0
        if s >= stop or elapsed >= min(budget, CFG.get("stop_s") or budget):
            break
        lr = lr_at(s, elapsed)
        for g in opt.param_groups:
            g["lr"] = lr
        x = data[s * B:(s + 1) * B]
        logits = model(x[:, :-1])
        loss = masked_loss(logits, x[:, 1:], mask[s * B:(s + 1) * B, 1:])
        done = s + 1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        acc_loss += loss.item()
        n_loss += 1
        if (s + 1) % every == 0 or s == steps - 1:
            row = [s + 1, round(acc_loss / n_loss, 5)]
            acc_loss, n_loss = 0.0, 0
            if (s + 1) % 250 == 0 or s == steps - 1:
                model.eval()
                with torch.no_grad():
                    hl = masked_loss(model(held[:, :-1]), held[:, 1:], held_m[:, 1:]).item()
                    acc = eval_accuracy(model, evals)
                    cp = copy_accuracy(model, c_rand, c_eng, n=50)
                model.train()
                save()
                row += [round(hl, 5)] + [round(acc[f]["top1"], 4) for f in fams] + [
                    round(cp["random_ids"], 4), round(cp["english"], 4)]
                # a phase can end once the copy circuit has formed (`stop_at_copy_random`, checked at the fixed
                # evaluation steps, so a rerun stops at the same step); the next phase then has the time
                formed = cp["random_ids"] >= CFG.get("stop_at_copy_random", 2.0)
                print(f"step {s+1} loss {row[1]:.4f} heldout {hl:.4f} " +
                      " ".join(f"{f}={acc[f]['top1']:.2f}" for f in fams) +
                      f" copy_rand={cp['random_ids']:.2f} copy_eng={cp['english']:.2f} [{time.time()-t0:.0f}s]",
                      flush=True)
            else:
                row += [""] * (3 + len(fams))
                print(f"step {s+1} loss {row[1]:.4f} lr {lr:.5f} [{time.time()-t0:.0f}s]", flush=True)
            w.writerow(row)
            curve.flush()
            if (s + 1) % 250 == 0 and formed:
                stopped_early = True
                break
    curve.close()
    model.eval()
    save()
    stats_name = "train_stats.json" if last_phase else f"train_stats_phase{PHASE}.json"
    json.dump({"phase": PHASE, "train_seconds": round(time.time() - t0, 1), "steps": done, "steps_planned": steps, "batch": B,
               "budget_s": budget, "init_from": init or None, "stopped_by": "copy formed" if stopped_early else "budget" if done < steps and done < stop else "steps",
               "tokens": done * B * (data.shape[1] - 1), "row_len": int(data.shape[1]),
               "target_tokens": int(mask[:done * B, 1:].sum().item()), "batch_rows": B, "lr": CFG["lr"],
               "row_mix": CFG["row_mix"]},
              open(os.path.join(BUILD, stats_name), "w"))
    print(f"done in {time.time()-t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
