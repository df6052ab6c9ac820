// Scale benchmark (issue #13): long prompts and bigger models, engine beside PyTorch eager on the same
// weights (bench/torch_baseline.py --measures). Every measure runs in its own process, so each peak RSS
// (VmHWM) is that measure's alone, and never two big-model processes at once. Prints figures, writes
// bench/out/scale.json; asserts nothing.
//
//   long:  GPT-2-small shape, T = 1024: forward, forward caching every hook, logit lens, every layer's
//          attention pattern at once vs one layer's, residual patching sweep over the last 32 positions
//          (patched runs from the corrupted run's key/value cache, and the full recomputation for comparison).
//   big:   generated bf16 checkpoints of Llama-3.2-1B and Gemma-2-2B shape: load, forward at T = 64,
//          peak RSS against the float32 weights (goal ≤ 1.5×) and PyTorch (goal: forward ahead).
//          Gemma-2-2B runs only with ≥ 16 GiB available right before each process (its float32 weights
//          are 10.5 GB); the generated checkpoints are deleted afterwards unless --keep.
//
//   npm run bench:scale   (or: node --import tsx bench/scale.bench.ts [--threads N] [--iters N]
//                          [--parts long,big] [--models llama,gemma] [--sweep-layers 0,6,11] [--no-torch] [--keep]
//                          [--long-measures forward,cache,lens,attention_all,attention_layer,sweep,sweep_full])
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Model } from '../src/engine/model';
import { patchingSweep } from '../src/engine/analysis/patching';
import { logitLens } from '../src/engine/analysis/logitLens';
import { attentionPatterns } from '../src/engine/analysis/attention';
import type { HookName } from '../src/engine/hooks';
import { GEMMA2_2B_SHAPE, GPT2_SMALL_SHAPE, LLAMA32_1B_SHAPE, randomGemma2Checkpoint, randomGpt2Checkpoint, randomLlamaCheckpoint } from '../src/engine/checkpoint/synthetic';
import { medianMs } from './timing';

const { values } = parseArgs({
  options: {
    iters: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    parts: { type: 'string', default: 'long,big' },
    models: { type: 'string', default: 'llama,gemma' },
    'sweep-layers': { type: 'string' },
    'long-measures': { type: 'string', default: 'forward,cache,lens,attention_all,attention_layer,sweep,sweep_full' },
    'no-torch': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    probe: { type: 'string' },
  },
});
const ITERS = Number(values.iters);
const THREADS = Number(values.threads);
const OUT = join(__dirname, 'out');
const LONG_T = 1024;
const BIG_T = 64;
const SWEEP_POSITIONS = 32;
const GPT2_DIR = join(OUT, 'gpt2-small-shaped'); // shared with bench/engine.bench.ts
const GIB = 2 ** 30;
const GEMMA_MIN_FREE = 16 * GIB;

type Measure = 'load' | 'forward' | 'cache' | 'lens' | 'attention_all' | 'attention_layer' | 'sweep' | 'sweep_full';
const LONG_MEASURES: Measure[] = ['forward', 'cache', 'lens', 'attention_all', 'attention_layer', 'sweep', 'sweep_full'];
interface Probe {
  dir: string;
  measure: Measure;
  T: number;
  sweepLayers?: number[];
}
interface ProbeResult {
  measure: Measure;
  loadMs: number;
  ms?: number;
  peakRssMb: number;
  weightMb: number;
  detail?: Record<string, number>;
}

function tokens(seed: number, n: number, vocab: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % vocab;
  });
}

function peakRssMb(): number {
  // VmHWM, not getrusage's maxRSS: that one keeps the spawning process's peak across exec.
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** Child-process mode: load, run one measure (median of ITERS after one warm-up; one run for the slow ones), report. */
async function probe(p: Probe): Promise<void> {
  const t0 = performance.now();
  const model = await Model.load(p.dir, { threads: THREADS });
  const loadMs = performance.now() - t0;
  const V = model.config.dVocab;
  const prompt = tokens(1, p.T, V);
  const L = model.config.nLayers;
  const detail: Record<string, number> = {};
  let ms: number | undefined;
  switch (p.measure) {
    case 'load':
      break;
    case 'forward':
      ms = await medianMs(() => model.run(prompt), ITERS, 1);
      break;
    case 'cache': {
      const hooks = model.hookNames();
      detail.hooks = hooks.length;
      ms = await medianMs(() => model.runWithCache(prompt, hooks), ITERS, 1);
      break;
    }
    case 'lens':
      // What the lens view asks for: every layer at every position, top 5.
      ms = await medianMs(() => logitLens(model, { tokens: prompt, topK: 5 }), 1, 0);
      break;
    case 'attention_all': {
      // What the attention view asks for today: every layer's [H, T, T] pattern in one result.
      let bytes = 0;
      ms = await medianMs(async () => {
        const r = await attentionPatterns(model, prompt);
        bytes = r.patterns.reduce((a, x) => a + x.byteLength, 0);
      }, 1, 0);
      detail.patternBytes = bytes;
      break;
    }
    case 'attention_layer': {
      // One layer's pattern (the layer on screen): the per-layer alternative.
      const hook: HookName = `blocks.${L - 1}.attn.hook_pattern`;
      let bytes = 0;
      ms = await medianMs(async () => {
        const r = await model.forward({ tokens: [prompt], hooks: [hook], logits: 'none' });
        bytes = r.hooks.get(hook)!.data.byteLength;
      }, 1, 0);
      detail.patternBytes = bytes;
      break;
    }
    case 'sweep':
    case 'sweep_full': {
      // sweep: each patched run computes only the positions from its patched one on, from the corrupted run's
      // key/value cache; sweep_full recomputes every position from the patched layer (the engine before).
      const corrupted = prompt.slice();
      corrupted[LONG_T - SWEEP_POSITIONS - 1] = (corrupted[LONG_T - SWEEP_POSITIONS - 1]! + 1) % V;
      const positions = Array.from({ length: SWEEP_POSITIONS }, (_, i) => p.T - SWEEP_POSITIONS + i);
      const layers = p.sweepLayers ?? Array.from({ length: L }, (_, l) => l);
      detail.layers = layers.length;
      detail.cells = layers.length * positions.length;
      const reuseCache = p.measure === 'sweep';
      ms = await medianMs(() => patchingSweep(model, { clean: prompt, corrupted, positions, layers, reuseCache }), 1, 0);
      break;
    }
  }
  const out: ProbeResult = { measure: p.measure, loadMs, ms, peakRssMb: peakRssMb(), weightMb: model.info.weightBytes / 2 ** 20, detail };
  await model.dispose();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function runProbe(p: Probe): ProbeResult | string {
  process.stderr.write(`  engine ${p.measure} T=${p.T} ...\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--probe', JSON.stringify(p), '--threads', String(THREADS), '--iters', String(ITERS)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) return `failed (exit ${r.status ?? r.signal}): ${(r.stdout || '').slice(-200)}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ProbeResult;
}

function runTorch(dir: string, T: number, measures: string): Record<string, unknown> | string {
  if (values['no-torch']) return 'skipped (--no-torch)';
  process.stderr.write(`  torch ${measures} T=${T} ...\n`);
  const r = spawnSync('/usr/bin/python3', [join(__dirname, 'torch_baseline.py'), '--model', dir, '--seq', String(T), '--threads', String(THREADS), '--iters', String(ITERS), '--warmup', '1', '--measures', measures], {
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) return `failed (exit ${r.status ?? r.signal})`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

function availableGiB(): number {
  // MemAvailable (what `free` shows as available), not os.freemem's MemFree, which ignores reclaimable cache.
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return (m ? Number(m[1]) * 1024 : freemem()) / GIB;
}

const f = (x: unknown, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : '-');
const rows: Array<[string, string, string, string]> = [];
const row = (a: string, b: string, c = '', d = '') => rows.push([a, b, c, d]);
const ratio = (torchMs: unknown, oursMs: unknown) => (typeof torchMs === 'number' && typeof oursMs === 'number' ? `${(torchMs / oursMs).toFixed(2)}x` : '');

async function longPrompts(results: Record<string, unknown>): Promise<void> {
  if (!existsSync(join(GPT2_DIR, 'model.safetensors'))) {
    process.stderr.write(`generating ${GPT2_DIR} ...\n`);
    randomGpt2Checkpoint(GPT2_DIR, GPT2_SMALL_SHAPE, 0);
  }
  const sweepLayers = values['sweep-layers']?.split(',').map(Number);
  const engine: Record<string, ProbeResult | string> = {};
  const wanted = new Set(values['long-measures']!.split(','));
  for (const measure of LONG_MEASURES.filter((m) => wanted.has(m))) {
    engine[measure] = runProbe({ dir: GPT2_DIR, measure, T: LONG_T, sweepLayers: measure.startsWith('sweep') ? sweepLayers : undefined });
  }
  const torch = { forward: runTorch(GPT2_DIR, LONG_T, 'forward'), cache: runTorch(GPT2_DIR, LONG_T, 'cache') };
  results.long = { model: 'GPT-2-small-shaped (12 x 768, vocab 50257), fp32', T: LONG_T, engine, torch };

  const e = (m: string) => (typeof engine[m] === 'object' ? (engine[m] as ProbeResult) : undefined);
  const t = (m: 'forward' | 'cache') => (typeof torch[m] === 'object' ? (torch[m] as Record<string, number>) : undefined);
  const rss = (x?: { peakRssMb?: number; peak_rss_mb?: number }) => (x ? `${f(x.peakRssMb ?? x.peak_rss_mb, 0)} MB` : '-');
  row(`GPT-2-small shape, T=${LONG_T}`, '', '', '');
  row('  forward, no hooks', `${f(e('forward')?.ms)} ms`, `${f(t('forward')?.forward_ms)} ms`, ratio(t('forward')?.forward_ms, e('forward')?.ms));
  row('    peak RSS', rss(e('forward')), rss(t('forward')));
  row(`  forward caching all ${e('cache')?.detail?.hooks ?? ''} hooks`, `${f(e('cache')?.ms)} ms`, `${f(t('cache')?.forward_cache_ms)} ms`, ratio(t('cache')?.forward_cache_ms, e('cache')?.ms));
  row('    peak RSS', rss(e('cache')), rss(t('cache')));
  row('  logit lens (every layer x position, top 5)', `${f(e('lens')?.ms, 0)} ms`);
  row('    peak RSS', rss(e('lens')));
  const all = e('attention_all');
  row(`  attention, every layer's pattern (${f((all?.detail?.patternBytes ?? NaN) / 1e6, 0)} MB)`, `${f(all?.ms, 0)} ms`);
  row('    peak RSS', rss(all));
  const one = e('attention_layer');
  row(`  attention, one layer's pattern (${f((one?.detail?.patternBytes ?? NaN) / 1e6, 0)} MB)`, `${f(one?.ms, 0)} ms`);
  row('    peak RSS', rss(one));
  const sw = e('sweep');
  const swFull = e('sweep_full');
  row(`  resid patching sweep, ${sw?.detail?.layers ?? swFull?.detail?.layers ?? '?'} layers x last ${SWEEP_POSITIONS} positions, from the KV cache`, `${f((sw?.ms ?? NaN) / 1000)} s`);
  row('    peak RSS', rss(sw));
  row('  the same sweep recomputing every position', `${f((swFull?.ms ?? NaN) / 1000)} s`, '', ratio(swFull?.ms, sw?.ms));
  row('    peak RSS', rss(swFull));
  for (const [k, v] of Object.entries(engine)) if (typeof v === 'string') row(`  engine ${k}`, v);
  for (const [k, v] of Object.entries(torch)) if (typeof v === 'string') row(`  torch ${k}`, '', v);
}

async function bigModel(results: Record<string, unknown>, key: 'llama' | 'gemma'): Promise<void> {
  const name = key === 'llama' ? 'Llama-3.2-1B-shaped (16 x 2048, GQA 32/8, vocab 128256, llama3 rope), bf16' : 'Gemma-2-2B-shaped (26 x 2304, vocab 256000), bf16';
  const dir = join(OUT, key === 'llama' ? 'llama32-1b-shaped' : 'gemma2-2b-shaped');
  const entry: Record<string, unknown> = { model: name, T: BIG_T };
  (results.big as Record<string, unknown>)[key] = entry;
  row(name, '');
  const gate = (who: string): boolean => {
    if (key !== 'gemma') return true;
    const avail = availableGiB();
    if (avail >= GEMMA_MIN_FREE / GIB) return true;
    const why = `skipped for memory: ${avail.toFixed(1)} GiB available before the ${who} process, under the ${GEMMA_MIN_FREE / GIB} GiB this needs (float32 weights 10.5 GB; the machine is shared)`;
    entry[who] = why;
    row(`  ${who}`, why);
    return false;
  };
  try {
    if (!existsSync(join(dir, 'config.json'))) {
      if (!gate('generate')) return;
      process.stderr.write(`generating ${dir} ...\n`);
      const t0 = performance.now();
      if (key === 'llama') randomLlamaCheckpoint(dir, LLAMA32_1B_SHAPE, 0);
      else randomGemma2Checkpoint(dir, GEMMA2_2B_SHAPE, 0);
      entry.generateMs = performance.now() - t0;
    }
    const ours = gate('engine') ? runProbe({ dir, measure: 'forward', T: BIG_T }) : undefined;
    const torch = gate('torch') ? runTorch(dir, BIG_T, 'forward') : undefined;
    entry.engine = ours ?? entry.engine;
    entry.torch = torch ?? entry.torch;
    const o = typeof ours === 'object' ? ours : undefined;
    const t = typeof torch === 'object' ? (torch as Record<string, number>) : undefined;
    if (o) entry.peakRssOverF32Weights = o.peakRssMb / o.weightMb;
    if (o && t) entry.speedupVsTorchForward = t.forward_ms! / o.ms!;
    row('  load (read bf16, widen, build sessions)', `${f(o?.loadMs, 0)} ms`, `${f(t?.load_ms, 0)} ms`);
    row(`  forward, no hooks, T=${BIG_T}`, `${f(o?.ms)} ms`, `${f(t?.forward_ms)} ms`, ratio(t?.forward_ms, o?.ms));
    row('  peak RSS (load + forwards)', o ? `${f(o.peakRssMb, 0)} MB (${f(o.peakRssMb / o.weightMb, 2)}x f32 weights ${f(o.weightMb, 0)} MB)` : '-', t ? `${f(t.peak_rss_mb, 0)} MB` : '-');
    if (typeof ours === 'string') row('  engine', ours);
    if (typeof torch === 'string') row('  torch', '', torch);
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (values.probe) return probe(JSON.parse(values.probe) as Probe);
  mkdirSync(OUT, { recursive: true });
  const parts = new Set(values.parts!.split(','));
  const results: Record<string, unknown> = { threads: THREADS, iters: ITERS, availableGiBAtStart: availableGiB(), date: new Date().toISOString() };
  const file = join(OUT, THREADS === 2 ? 'scale.json' : `scale-threads${THREADS}.json`);
  const save = () => writeFileSync(file, JSON.stringify(results, null, 2));
  if (parts.has('long')) {
    await longPrompts(results);
    save();
  }
  if (parts.has('big')) {
    results.big = {};
    for (const key of values.models!.split(',') as Array<'llama' | 'gemma'>) {
      await bigModel(results, key);
      save();
    }
  }
  process.stdout.write(`\nMechLens engine vs PyTorch eager at scale — ${THREADS} threads, median of ${ITERS} (slow measures: one run), one process per measure\n`);
  process.stdout.write(`${'measure'.padEnd(56)}${'MechLens'.padEnd(44)}${'PyTorch'.padEnd(14)}ratio\n`);
  for (const [a, b, c, d] of rows) process.stdout.write(`${a.padEnd(56)}${b.padEnd(44)}${c.padEnd(14)}${d}\n`);
  process.stdout.write(`results: ${file}\n`);
}

void main();
