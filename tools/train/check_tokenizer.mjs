// Checks that @huggingface/tokenizers (JS) encodes like tools/train/bpe.py.
// Usage (from the repo root): node tools/train/check_tokenizer.mjs <expected.json> [model dir]
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
const dir = (process.argv[3] ?? "models/mechlens-tiny") + "/";
const tok = new Tokenizer(JSON.parse(readFileSync(dir + "tokenizer.json", "utf8")),
  JSON.parse(readFileSync(dir + "tokenizer_config.json", "utf8")));
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
let bad = 0;
for (const c of cases) {
  const enc = tok.encode(c.text, { add_special_tokens: false });
  const ids = Array.from(enc.ids, Number);
  if (JSON.stringify(ids) !== JSON.stringify(c.ids)) {
    if (bad++ < 5) console.log("MISMATCH", JSON.stringify(c.text), ids, c.ids, enc.tokens);
  }
  const dec = tok.decode(ids, { skip_special_tokens: false });
  if (dec !== c.text) { if (bad++ < 5) console.log("DECODE MISMATCH", JSON.stringify(c.text), JSON.stringify(dec)); }
}
console.log(`checked ${cases.length} strings, ${bad} mismatches`);
console.log(JSON.stringify(tok.encode(" Mary", { add_special_tokens: false })));
process.exit(bad ? 1 : 0);
