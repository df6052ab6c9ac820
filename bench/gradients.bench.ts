// Gradient benchmark: the GPT-2-small-shaped checkpoint of bench/engine.bench.ts (generated on first
// use), T = 64, side by side in one run with PyTorch autograd on the same weights and threads
// (bench/torch_gradients.py). Prints figures; asserts nothing.
//   1. the gradient of one logit with respect to every residual hook, against one forward (goal ≤ 3x);
//   2. 256 seed rows through the frozen model, the forward shared by the rows: the attribution-graph
//      workload (a target feature's encoder vector at its layer's mlp.hook_in and position; gradients at
//      every layer's MLP output, where source features write, and at the token embeddings): time per row.
//
//   npm run bench:gradients   (or: node --import tsx bench/gradients.bench.ts [--iters N] [--threads N] [--rows N] [--no-torch])
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Model } from '../src/engine/model';
import { computeGradients } from '../src/engine/gradients';
import type { HookSeed } from '../src/engine/gradients';
import { GPT2_SMALL_SHAPE, randomGpt2Checkpoint } from '../src/engine/checkpoint/synthetic';
import { medianMs } from './timing';

const { values } = parseArgs({
  options: {
    iters: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    rows: { type: 'string', default: '256' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const ITERS = Number(values.iters);
const THREADS = Number(values.threads);
const ROWS = Number(values.rows);
const T = 64;
const OUT = join(__dirname, 'out');
const MODEL_DIR = join(OUT, 'gpt2-small-shaped');

const time = (fn: () => Promise<unknown>, iters = ITERS, warmup = 1) => medianMs(fn, iters, warmup);

/** Deterministic pseudo-random numbers (the same prompt and seeds every run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(join(MODEL_DIR, 'model.safetensors'))) {
    process.stderr.write(`generating ${MODEL_DIR} ...\n`);
    randomGpt2Checkpoint(MODEL_DIR, GPT2_SMALL_SHAPE, 0);
  }
  const model = await Model.load(MODEL_DIR, { threads: THREADS });
  const { nLayers: L, dModel: d, dVocab: V } = model.config;
  const rand = lcg(1);
  const prompt = Array.from({ length: T }, () => Math.floor(rand() * V));
  const resid = [...Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_pre`), ...Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_mid`), `blocks.${L - 1}.hook_resid_post`];

  const r: Record<string, unknown> = { model: 'GPT-2-small-shaped (12 x 768, vocab 50257), fp32', seq: T, threads: THREADS, iters: ITERS, rows: ROWS };
  r.forwardMs = await time(() => model.run(prompt));
  r.gradMs = await time(() => computeGradients(model, { tokens: [prompt], wrt: resid, metrics: [{ target: 5 }] }));
  r.gradOverForward = (r.gradMs as number) / (r.forwardMs as number);

  const seeds: HookSeed[] = Array.from({ length: ROWS }, (_, i) => ({
    hook: `blocks.${i % L}.mlp.hook_in`,
    position: (7 * i) % T,
    vector: Float32Array.from({ length: d }, () => rand() - 0.5),
  }));
  const wrt = ['hook_embed', ...Array.from({ length: L }, (_, l) => `blocks.${l}.mlp.hook_out`)];
  const freeze = { attention: true, norms: true, mlp: true };
  r.seededMs = await time(() => computeGradients(model, { tokens: [prompt], wrt, seeds, freeze }), Math.max(1, Math.floor(ITERS / 2)));
  r.seededPerRowMs = (r.seededMs as number) / ROWS;
  await model.dispose();

  let torch: Record<string, number | string> | null = null;
  if (!values['no-torch']) {
    try {
      const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_gradients.py'), '--model', MODEL_DIR, '--seq', String(T), '--threads', String(THREADS), '--rows', String(ROWS), '--iters', String(ITERS)], {
        encoding: 'utf8',
        env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      torch = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number | string>;
      r.torch = torch;
    } catch (e) {
      r.torch = `unavailable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)} (apt-get install python3-torch libopenblas0-pthread)`;
    }
  }
  writeFileSync(join(OUT, 'gradients.json'), JSON.stringify(r, null, 2));

  const f = (x: unknown, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : '-');
  const ratio = (ours: unknown, theirs: unknown) => {
    if (typeof ours !== 'number' || typeof theirs !== 'number') return '';
    return theirs >= ours ? `${(theirs / ours).toFixed(2)}x faster` : `${(ours / theirs).toFixed(2)}x slower`;
  };
  const rows: Array<[string, string, string, string]> = [
    ['forward, batch 1', `${f(r.forwardMs)} ms`, `${f(torch?.forward_ms)} ms`, ratio(r.forwardMs, torch?.forward_ms)],
    [`gradient of one logit -> ${resid.length} residual hooks`, `${f(r.gradMs)} ms`, `${f(torch?.grad_ms)} ms`, ratio(r.gradMs, torch?.grad_ms)],
    ['  gradient / forward (goal <= 3x)', `${f(r.gradOverForward, 2)}x`, torch ? `${f((torch.grad_ms as number) / (torch.forward_ms as number), 2)}x` : '-', ''],
    [`${ROWS} seed rows, frozen, -> embed + ${L} mlp.hook_out`, `${f(r.seededMs, 0)} ms`, `${f(torch?.seeded_ms, 0)} ms`, ratio(r.seededMs, torch?.seeded_ms)],
    ['  per seed row', `${f(r.seededPerRowMs, 2)} ms`, torch ? `${f((torch.seeded_ms as number) / ROWS, 2)} ms` : '-', ''],
  ];
  process.stdout.write(`\nMechLens gradients vs PyTorch autograd — ${r.model as string}, T=${T}, ${THREADS} threads, median of ${ITERS}\n`);
  process.stdout.write(`${'measure'.padEnd(54)}${'MechLens'.padEnd(14)}${'PyTorch'.padEnd(14)}ratio\n`);
  for (const [a, b, c, e] of rows) process.stdout.write(`${a.padEnd(54)}${b.padEnd(14)}${c.padEnd(14)}${e}\n`);
  if (torch) process.stdout.write(`PyTorch ${String(torch.torch_version)} (${String(torch.seeded_method)} for the seed rows), threads ${String(torch.threads)}\n`);
}

void main();
