// Engine benchmark: a GPT-2-small-shaped checkpoint (12 layers, d_model 768, 12 heads, vocab 50257)
// generated on the fly, T = 64, side by side in one run with PyTorch eager on the same weights and
// threads (bench/torch_baseline.py: Debian python3-torch, OMP_WAIT_POLICY=PASSIVE, caching hooks the
// way TransformerLens' run_with_cache does). Prints figures; asserts nothing.
//
//   npm run bench            (or: node --import tsx bench/engine.bench.ts [--iters N] [--threads N] [--no-torch])
//   npm run bench:readme     the README's table from the last runs (bench/out/engine-runs.jsonl keeps every run)
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Model } from '../src/engine/model';
import { patchingSweep, patchingSweepByFullForwards } from '../src/engine/analysis/patching';
import { GPT2_SMALL_SHAPE, randomGpt2Checkpoint } from '../src/engine/checkpoint/synthetic';
import { medianMs } from './timing';

const { values } = parseArgs({
  options: {
    iters: { type: 'string', default: '10' },
    threads: { type: 'string', default: '2' },
    'no-torch': { type: 'boolean', default: false },
    'memory-probe': { type: 'string' },
  },
});
const ITERS = Number(values.iters);
const THREADS = Number(values.threads);
const T = 64;
const OUT = join(__dirname, 'out');
const MODEL_DIR = join(OUT, 'gpt2-small-shaped');

const time = (fn: () => Promise<unknown>, iters = ITERS, warmup = 2) => medianMs(fn, iters, warmup);

function tokens(seed: number, n = T): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % GPT2_SMALL_SHAPE.dVocab;
  });
}

async function minimalForward(prompt: number[]): Promise<number> {
  const { loadCheckpoint } = await import('../src/engine/checkpoint/load');
  const { buildForwardGraph } = await import('../src/engine/onnx/forwardGraph');
  const ort = await import('onnxruntime-node');
  const { ortSessionOptions } = await import('../src/engine/onnx/session');
  const { spec } = loadCheckpoint(MODEL_DIR);
  const built = buildForwardGraph(spec, { startLayer: 0, residInput: false, outputs: new Set(), interventions: new Set(), logits: 'all', past: false, weightsAsInputs: false });
  const session = await ort.InferenceSession.create(built.bytes, ortSessionOptions({ threads: THREADS, executionProvider: 'cpu' }));
  const feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]) };
  const ms = await time(() => session.run(feeds));
  await session.release();
  return ms;
}

/** Child-process mode: load, one forward with every hook, report peak RSS (a clean process measures it fairly). */
async function memoryProbe(dir: string): Promise<void> {
  const model = await Model.load(dir, { threads: THREADS });
  await model.runWithCache(tokens(1), model.hookNames());
  // VmHWM, not getrusage's maxRSS: that one keeps the spawning process's peak across exec.
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  const peakRssMb = hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ peakRssMb, weightMb: model.info.weightBytes / 2 ** 20 }));
  await model.dispose();
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(join(MODEL_DIR, 'model.safetensors'))) {
    process.stderr.write(`generating ${MODEL_DIR} ...\n`);
    randomGpt2Checkpoint(MODEL_DIR, GPT2_SMALL_SHAPE, 0);
  }
  if (values['memory-probe']) return memoryProbe(values['memory-probe']);

  const results: Record<string, unknown> = { threads: THREADS, seq: T, iters: ITERS, model: 'GPT-2-small-shaped (12 x 768, vocab 50257), fp32' };
  const t0 = performance.now();
  // Where session-ready time goes: reading the checkpoint (with GPT-2's Conv1D transposes; the first graph's
  // session is built meanwhile, Model.load) until the load takes that session.
  let graphStart = 0;
  const model = await Model.load(MODEL_DIR, { threads: THREADS, onProgress: (message) => { if (message.startsWith('Building')) graphStart = performance.now(); } });
  results.sessionReadyMs = performance.now() - t0;
  results.checkpointReadMs = graphStart - t0;
  results.graphAndSessionMs = performance.now() - graphStart;
  const prompt = tokens(1);

  results.forwardMs = await time(() => model.run(prompt));
  // For reference: a graph with no hook outputs and no intervention points at all.
  results.minimalGraphForwardMs = await minimalForward(prompt);
  const hooks = model.hookNames();
  results.cachedHooks = hooks.length;
  results.forwardCacheAllMs = await time(() => model.runWithCache(prompt, hooks));
  results.cacheOverhead = (results.forwardCacheAllMs as number) / (results.forwardMs as number);

  const clean = tokens(7);
  const corrupted = clean.slice();
  corrupted[3] = (corrupted[3]! + 1) % GPT2_SMALL_SHAPE.dVocab;
  const sweepReq = { clean, corrupted, positions: Array.from({ length: 16 }, (_, i) => i) };
  results.patchSweepMs = await time(() => patchingSweep(model, sweepReq), 1, 1);
  results.patchSweepLoopMs = await time(() => patchingSweepByFullForwards(model, sweepReq), 1, 0);
  results.patchSweepSpeedup = (results.patchSweepLoopMs as number) / (results.patchSweepMs as number);

  const genPrompt = prompt.slice(0, 16);
  const genMs = await time(() => model.generate(genPrompt, { maxNewTokens: 32 }), 3, 1);
  results.generateTokensPerS = 32 / (genMs / 1000);
  const genNoCacheMs = await time(() => model.generate(genPrompt, { maxNewTokens: 32, useCache: false }), 1, 0);
  results.generateNoCacheTokensPerS = 32 / (genNoCacheMs / 1000);
  await model.dispose();

  const probe = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--memory-probe', MODEL_DIR, '--threads', String(THREADS)], { encoding: 'utf8' });
  const mem = JSON.parse(probe.stdout) as { peakRssMb: number; weightMb: number };
  results.peakRssMb = mem.peakRssMb;
  results.weightMb = mem.weightMb;
  results.peakRssOverWeights = mem.peakRssMb / mem.weightMb;

  if (!values['no-torch']) {
    try {
      const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_baseline.py'), '--model', MODEL_DIR, '--seq', String(T), '--threads', String(THREADS), '--iters', String(ITERS)], {
        encoding: 'utf8',
        env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 24,
      });
      const torch = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number | string>;
      results.torch = torch;
      results.speedupVsTorchForward = (torch.forward_ms as number) / (results.forwardMs as number);
      results.speedupVsTorchCache = (torch.forward_cache_ms as number) / (results.forwardCacheAllMs as number);
      results.speedupVsTorchSweep = (torch.patch_sweep_ms as number) / (results.patchSweepMs as number);
      results.speedupVsTorchGenerate = (results.generateTokensPerS as number) / (torch.generate_tokens_per_s as number);
    } catch (e) {
      results.torch = `unavailable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)} (apt-get install python3-torch libopenblas0-pthread)`;
    }
  }

  results.date = new Date().toISOString();
  writeFileSync(join(OUT, 'engine.json'), JSON.stringify(results, null, 2));
  // Every run is kept: the README's table is the median of the last few (`npm run bench:readme`).
  appendFileSync(join(OUT, 'engine-runs.jsonl'), `${JSON.stringify(results)}\n`);
  const f = (x: unknown, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : String(x));
  const torch = typeof results.torch === 'object' ? (results.torch as Record<string, number>) : null;
  const rows: Array<[string, string, string, string]> = [
    ['session ready (load + graph)', `${f(results.sessionReadyMs, 0)} ms`, torch ? `${f(torch.load_ms, 0)} ms` : '-', ''],
    ['  of which: reading weights (+ session meanwhile)', `${f(results.checkpointReadMs, 0)} ms`, '', ''],
    ['  of which: after the read', `${f(results.graphAndSessionMs, 0)} ms`, '', ''],
    ['  minimal graph (no hook outputs or edits)', `${f(results.minimalGraphForwardMs)} ms`, '', ''],
    ['forward, no hooks', `${f(results.forwardMs)} ms`, torch ? `${f(torch.forward_ms)} ms` : '-', torch ? `${f(results.speedupVsTorchForward, 2)}x` : ''],
    [`forward + cache all ${hooks.length} hooks`, `${f(results.forwardCacheAllMs)} ms`, torch ? `${f(torch.forward_cache_ms)} ms` : '-', torch ? `${f(results.speedupVsTorchCache, 2)}x` : ''],
    ['  cache overhead (cache / no hooks)', `${f(results.cacheOverhead, 2)}x`, '', ''],
    ['resid patching sweep 12 x 16', `${f(results.patchSweepMs, 0)} ms`, torch ? `${f(torch.patch_sweep_ms, 0)} ms` : '-', torch ? `${f(results.speedupVsTorchSweep, 1)}x` : ''],
    ['  same sweep as a loop of full forwards (ours)', `${f(results.patchSweepLoopMs, 0)} ms`, '', `${f(results.patchSweepSpeedup, 1)}x faster`],
    ['generation, KV cache (tokens/s)', f(results.generateTokensPerS), torch ? f(torch.generate_tokens_per_s) : '-', torch ? `${f(results.speedupVsTorchGenerate, 2)}x` : ''],
    ['generation, no cache (tokens/s)', f(results.generateNoCacheTokensPerS), '', ''],
    ['peak RSS', `${f(results.peakRssMb, 0)} MB (${f(results.peakRssOverWeights, 2)}x weights)`, torch ? `${f(torch.peak_rss_mb, 0)} MB` : '-', ''],
  ];
  process.stdout.write(`\nMechLens engine vs PyTorch eager — ${results.model as string}, T=${T}, ${THREADS} threads, median of ${ITERS}\n`);
  process.stdout.write(`${'measure'.padEnd(50)}${'MechLens'.padEnd(26)}${'PyTorch'.padEnd(14)}ratio\n`);
  for (const [a, b, c, d] of rows) process.stdout.write(`${a.padEnd(50)}${b.padEnd(26)}${c.padEnd(14)}${d}\n`);
  if (torch) process.stdout.write(`PyTorch ${String(torch.torch_version)}, OMP_WAIT_POLICY=${String(torch.omp_wait_policy)}, threads ${String(torch.threads)}\n`);
}

void main();
