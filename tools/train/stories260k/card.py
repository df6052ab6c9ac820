"""Stage 6: card.json and the model card README.md from the numbers of the earlier stages (build/*.json)."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llama import BUILD, MODEL_DIR  # noqa: E402

CFG = json.load(open(os.path.join(HERE, "config.json")))


def load(name):
    return json.load(open(os.path.join(BUILD, name)))


def main():
    an, tc, ck = load("analysis.json"), load("transcoders.json"), load("check.json")
    times = load("times.json") if os.path.exists(os.path.join(BUILD, "times.json")) else {}
    hf = json.load(open(os.path.join(MODEL_DIR, "config.json")))
    card = {
        "model": CFG["name"], "card_version": 1,
        "source": "Andrej Karpathy, huggingface.co/karpathy/tinyllamas stories260K (llama2.c), converted to a Hugging Face "
                  "LlamaForCausalLM folder; provenance in ../shared/reference/models/stories260K/README.md",
        "license": "MIT",
        "files_sha256": CFG["files"],
        "architecture": {k: hf[k] for k in ("model_type", "num_hidden_layers", "hidden_size", "num_attention_heads",
                                            "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
                                            "max_position_embeddings", "rms_norm_eps", "rope_theta", "tie_word_embeddings")},
        "parameters": 260032,
        "tokenizer": {"type": "SentencePiece BPE with byte fallback (Hugging Face LlamaTokenizerFast layout)",
                      "vocab_size": 512, "bos_id": 1, "eos_id": 2, "bos_prepended": True},
        "samples": {"row_len": CFG["row_len"], "train_rows": CFG["train_rows"], "heldout_rows": CFG["heldout_rows"],
                    "temperature": CFG["temperature"], "seed_train": CFG["seed_train"], "seed_heldout": CFG["seed_heldout"],
                    "description": "each row is <s> followed by 127 tokens sampled from the model itself (softmax of the "
                                   "logits / temperature, torch.multinomial with a seeded generator); a sampled <s> starts "
                                   "the next story in the row"},
        "greedy": an["greedy"],
        "heldout_loss": an["heldout_loss"], "heldout_loss_tokens": an["heldout_loss_tokens"],
        "unigram_entropy": an["unigram_entropy"],
        "repeat_top1": an["repeat_top1"],
        "transcoders": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()} for s in tc["transcoders"]],
        "transcoder_train_tokens": tc["train_tokens"],
        "transcoder_eval_data": "eval/heldout_tokens.u16: uint16 ids, [1024, 128] rows (all positions; *_text: positions "
                                "after <s>; subset_*: the first 64 rows)",
        "replacement_top1_agreement": round(tc["replacement"]["heldout_top1_agreement"], 4),
        "replacement_text_top1_agreement": round(tc["replacement"]["text_top1_agreement"], 4),
        "replacement_subset_top1_agreement": round(tc["replacement"]["subset_top1_agreement"], 4),
        "heads": an["heads"], "head_thresholds": an["thresholds"], "best_heads": an["best"],
        "best_heads_on_repeated_story_text": an["best_on_repeated_story_text"],
        "head_scores": an["head_scores"], "head_probe": "eval/head_probe.json",
        "checks": ck,
        "stage_seconds": times,
    }
    json.dump(card, open(os.path.join(MODEL_DIR, "card.json"), "w"), indent=1)
    open(os.path.join(MODEL_DIR, "README.md"), "w").write(readme(card))


def fmt_heads(lst):
    return ", ".join(f"{n} {v:.2f}" for n, v in lst) or "none"


def readme(c):
    a = c["architecture"]
    r = c["repeat_top1"]
    tcs = c["transcoders"]
    rows = "\n".join(f"| {t['layer']} | {t['fvu']:.4f} | {t['l0']:.1f} | {t['fvu_text']:.4f} | {t['l0_text']:.1f} | {t['dead']} |" for t in tcs)
    st = c["stage_seconds"]
    stages = ", ".join(f"{k} {v} s" for k, v in st.items()) if st else "not recorded (stages run one by one)"
    greedy = c["greedy"]["text"].strip().replace("\n", "\n> ")
    ck = c["checks"]
    return f"""# stories260K (bundled)

A real language model that nobody on this project trained: Andrej Karpathy's 260K-parameter Llama-2-architecture
model, trained on [TinyStories](https://arxiv.org/abs/2305.07759) for [llama2.c](https://github.com/karpathy/llama2.c)
(`doc/stories260K.md`), converted to a Hugging Face `LlamaForCausalLM` folder. It writes short children's stories.
MechLens ships it beside `mechlens-tiny` so that every view can be tried on real, unexplained weights and a real
SentencePiece tokenizer, offline. Use it with `--model stories260K` or pick **stories260K (bundled)** in the Models view.

| | |
|---|---|
| source | huggingface.co/karpathy/tinyllamas `stories260K/stories260K.bin` + `tok512.bin`; conversion and provenance: `../shared/reference/models/stories260K/README.md` (this folder's four checkpoint files are byte-identical copies, sha256 in `card.json` `files_sha256`, checked by the pipeline) |
| licence | **MIT** (the tinyllamas model card's `license: mit`; llama2.c is MIT). The training data, TinyStories, is CDLA-Sharing-1.0; none of it is redistributed here (the shipped samples are the model's own output) |
| shape | Llama, {a['num_hidden_layers']} layers, d_model {a['hidden_size']}, {a['num_attention_heads']} query heads / {a['num_key_value_heads']} key-value heads (grouped-query, head_dim {a['head_dim']}), SwiGLU MLP {a['intermediate_size']}, RMSNorm eps {a['rms_norm_eps']}, rotary (theta {a['rope_theta']:.0f}), tied embeddings, context {a['max_position_embeddings']}; {c['parameters']:,} parameters |
| tokenizer | SentencePiece BPE, {c['tokenizer']['vocab_size']} pieces with byte fallback; `<s>` (id 1) is prepended to every prompt and kept as position 0 |

## What it does (measured)

Greedy decoding from `<s>` (the story quoted in llama2.c's `doc/stories260K.md`, reproduced by this pipeline's torch
Llama and by the engine):

> {greedy}

- Cross-entropy on its own held-out samples (temperature {c['samples']['temperature']}): **{c['heldout_loss']:.3f} nats/token**
  over {c['heldout_loss_tokens']:,} predictions, against {c['unigram_entropy']:.3f} for the samples' unigram distribution.
- It does **not copy**. On 32 rows of `<s>` + 32 distinct random pieces repeated once, top-1 on the second copy is
  {r['random_pieces']:.3f} (first copy {r['random_pieces_first_copy']:.3f}). On 32 spans of its own stories repeated once it is
  {r['story_text']:.3f} on the second copy against {r['story_text_first_copy']:.3f} on the first: the repeat adds nothing, the model
  predicts story text from its language model alone.
- Heads (scores as `mechlens heads`, on `eval/head_probe.json`), previous-token heads (score ≥ {c['head_thresholds']['previous_token']}):
  {fmt_heads(c['heads']['previous_token'])}.
- No duplicate-token or induction head: the best duplicate-token score is {c['best_heads']['duplicate_token'][0]} {c['best_heads']['duplicate_token'][1]:.3f}
  and the best induction score {c['best_heads']['induction'][0]} {c['best_heads']['induction'][1]:.3f} on the probe; on repeated story text
  {c['best_heads_on_repeated_story_text']['duplicate_token'][0]} {c['best_heads_on_repeated_story_text']['duplicate_token'][1]:.3f} and
  {c['best_heads_on_repeated_story_text']['induction'][0]} {c['best_heads_on_repeated_story_text']['induction'][1]:.3f}. At 260K parameters no
  induction circuit formed in this training run, which matches the repeat figures above. Every head's three scores are in
  `card.json` `head_scores`.

## Transcoders (`transcoders/`)

One ReLU transcoder per layer, width {tcs[0]['d_transcoder']}, circuit-tracer's per-layer format (the layout of
`mechlens-tiny/transcoders/`, see `models/README.md`): features read `blocks.L.mlp.hook_in` (the RMSNorm output, weight
applied) and write `blocks.L.hook_mlp_out`. Trained by the same trainer as the default model's
(`tools/train/transcoders.py` `train_tc`: L1 weighted by decoder norms, coefficient adapted towards a target L0, seeded)
on the model's activations over {c['transcoder_train_tokens']:,} tokens of its own sampled stories; measured on the
{c['samples']['heldout_rows']} × {c['samples']['row_len']} held-out sampled tokens (`eval/heldout_tokens.u16`):

| layer | FVU | L0 | FVU after `<s>` | L0 after `<s>` | dead |
|---|---|---|---|---|---|
{rows}

FVU is the squared reconstruction error over the total variance of the MLP output (about its mean); L0 the mean number
of active features per token. With every MLP replaced by its transcoder (no error terms) the model's top-1 prediction is
unchanged at {c['replacement_top1_agreement']:.1%} of held-out positions ({c['replacement_text_top1_agreement']:.1%} after `<s>`). Attribution graphs
keep error nodes, so they stay exact.

## Feature dashboards (`features/`)

Written by the engine's CLI over the 131,072 held-out tokens:
`mechlens features --model stories260K --corpus models/stories260K/eval/heldout_tokens.u16 --out models/stories260K/features --pack`
(Neuronpedia feature-details records: top activating contexts, quantile examples, frequency, histogram, top and
bottom logits; format in `docs/features.md`). `mechlens feature --model stories260K --layer L --index F` prints one.

## Checks and rebuilding

`bash tools/train/stories260k/run.sh` (also the last stage of `tools/train/run_all.sh`) rebuilds everything here from the
reference folder, seeded: copy and sha256-check the checkpoint, sample stories, check the torch Llama, head scores and
behaviour, transcoders, dashboards, this card. The torch Llama matches an independent Hugging Face-convention forward
(`tools/reference/hf_style.py`) to {ck['max_abs_vs_hf_style']:.1e} and the engine (onnxruntime) to {ck.get('max_abs_vs_engine', float('nan')):.1e} in the logits
on four held-out rows; its key/value cache to {ck['max_abs_kv_cache']:.1e}. `test/engine/stories260K.test.ts` reproduces the transcoders' FVU
and L0, the replacement agreement, the head scores and the greedy story through the engine, and validates the shipped
dashboards against Neuronpedia's schema. Stage times of the last full run on the project's shared 2-core machine:
{stages}. Seeded and single-threaded: a second full run on this machine reproduced every file here byte for byte
(timings aside).
"""


if __name__ == "__main__":
    main()
