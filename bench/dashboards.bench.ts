// Feature-dashboard benchmark (issue #10, "Speed"): prints figures, asserts nothing.
//   1. the bundled model over its 131,072 held-out tokens (eval/heldout_tokens.u16), 4 x 1024 features
//      (goal <= 30 s);
//   2. the GPT-2-small-shaped checkpoint with random 6144-wide JumpReLU transcoders (bench/out/gpt2-small-shaped
//      and bench/out/gpt2-small-transcoders-6144, written by `npm run bench:attribution`) over seeded random
//      tokens (--gpt2-tokens, default 16,384: one million takes hours on two cores; the time per token is
//      printed so the million-token figure can be read off).
// Each configuration runs in its own process (peak RSS is per process).
//
//   npm run bench:dashboards   (or: node --import tsx bench/dashboards.bench.ts [--threads N] [--gpt2-tokens N] [--only bundled|gpt2])
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDashboards, readCorpus } from '../src/engine/attribution/dashboards';
import { transcodersFor } from '../src/engine/attribution/transcoders';
import { Model } from '../src/engine/model';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    'gpt2-tokens': { type: 'string', default: '16384' },
    only: { type: 'string' },
    child: { type: 'string' },
  },
});
const OUT = join(__dirname, 'out');
const BUNDLED = join(__dirname, '..', 'models', 'mechlens-tiny');
const GPT2 = join(OUT, 'gpt2-small-shaped');
const GPT2_TC = join(OUT, 'gpt2-small-transcoders-6144');

async function child(which: string): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'mechlens-dash-bench-'));
  try {
    const threads = Number(values.threads);
    if (which === 'bundled') {
      const model = await Model.load(BUNDLED, { threads });
      const corpus = readCorpus(model, join(BUNDLED, 'eval', 'heldout_tokens.u16'));
      const t0 = performance.now();
      const r = await buildDashboards(model, transcodersFor(model), corpus, join(tmp, 'd'));
      report({ config: 'bundled', tokens: corpus.tokens.length, features: 4 * 1024, seconds: (performance.now() - t0) / 1000, passes: r.passes });
      await model.dispose();
    } else {
      const n = Number(values['gpt2-tokens']);
      // Seeded random token ids (uint16 file) as the corpus: the checkpoint has no tokenizer.
      const ids = new Uint16Array(n);
      let s = 12345;
      for (let i = 0; i < n; i++) ids[i] = (s = (s * 1103515245 + 12345) >>> 0) % 50257;
      const file = join(tmp, 'tokens.u16');
      writeFileSync(file, ids);
      const model = await Model.load(GPT2, { threads });
      const corpus = readCorpus(model, file);
      const set = transcodersFor(model, GPT2_TC);
      const t0 = performance.now();
      const r = await buildDashboards(model, set, corpus, join(tmp, 'd'), { onProgress: (p) => process.stderr.write(`\r${(p.fraction * 100).toFixed(0)}%`) });
      const seconds = (performance.now() - t0) / 1000;
      report({ config: 'gpt2-small-6144', tokens: n, features: set.layers.length * 6144, seconds, passes: r.passes, secondsPerMillionTokens: (seconds * 1e6) / n });
      await model.dispose();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function report(r: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...r, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
}

async function main(): Promise<void> {
  if (values.child) return child(values.child);
  const configs = values.only ? [values.only] : ['bundled', 'gpt2'];
  for (const c of configs) {
    if (c === 'gpt2' && (!existsSync(GPT2) || !existsSync(GPT2_TC))) {
      process.stdout.write('gpt2: bench/out/gpt2-small-shaped or gpt2-small-transcoders-6144 is missing; run npm run bench:attribution once first.\n');
      continue;
    }
    const out = execFileSync(process.execPath, ['--import', 'tsx', __filename, '--child', c, '--threads', values.threads!, '--gpt2-tokens', values['gpt2-tokens']!], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number | string>;
    const extra = r.secondsPerMillionTokens ? `, ${(Number(r.secondsPerMillionTokens) / 60).toFixed(0)} min per million tokens` : '';
    process.stdout.write(`\n${r.config}: ${r.tokens} tokens x ${r.features} features in ${Number(r.seconds).toFixed(1)} s (${r.passes} corpus pass${r.passes === 1 ? '' : 'es'})${extra}; peak RSS ${r.peakRssMiB} MiB\n`);
  }
}

void main();
