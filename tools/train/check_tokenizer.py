"""Writes build/tok_cases.json (texts + Python ids) and runs check_tokenizer.mjs with node if available."""
import json, os, subprocess, sys, random
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tokenizer, MODEL_DIR, BUILD, ROOT, CFG  # noqa
import corpus  # noqa
import sources  # noqa

tok = tokenizer()
cases = []
for fn in sorted(f for f in os.listdir(os.path.join(MODEL_DIR, "eval")) if f.endswith(".jsonl")):
    for l in open(os.path.join(MODEL_DIR, "eval", fn)):
        r = json.loads(l)
        texts = (r["text"],) if fn.startswith("copy_") else (r["prompt"], r["prompt"] + r["target"], r["target"])
        for t in texts:
            cases.append({"text": t, "ids": tok.encode(t)})
            if fn.startswith("copy_"):
                assert cases[-1]["ids"] == r["ids"], r
rng = random.Random(5)
for _ in range(300):
    t = corpus.document(rng)
    cases.append({"text": t, "ids": tok.encode(t)})
for name, (_, held) in sources.load(BUILD).items():  # real English: held-out documents of every source
    for d in held[:50]:
        cases.append({"text": d, "ids": tok.encode(d)})
cases.append({"text": "Hello, wörld! 123  x\n\ny <|endoftext|>z", "ids": tok.encode("Hello, wörld! 123  x\n\ny <|endoftext|>z")})
p = os.path.join(BUILD, "tok_cases.json")
json.dump(cases, open(p, "w"))
if os.path.isdir(os.path.join(ROOT, "node_modules", "@huggingface", "tokenizers")):
    subprocess.run(["node", "tools/train/check_tokenizer.mjs", p, MODEL_DIR], cwd=ROOT, check=True)
else:
    print("node_modules/@huggingface/tokenizers missing: skipped JS check")
