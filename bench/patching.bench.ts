// Patching benchmark: the head-output sweep by layer x head x position (every head at every position:
// 12 x 12 x 16 = 2,304 patched runs) on the GPT-2-small-shaped checkpoint (bench/out/gpt2-small-shaped,
// made by bench/engine.bench.ts' generator), T = 16, side by side in one run: the batched sweep (patched
// runs start at the patched layer, many per onnxruntime run), a loop of patched full forwards (one
// intervention each, what a hooked-forward loop does), and PyTorch eager doing it TransformerLens' way
// (bench/torch_patching.py); then attribution patching of every sweep kind (PATCH_SWEEPS), each in
// forward-equivalents (its wall time over one batch-1 forward of the prompt, the two timed in turn so that
// load from other jobs hits both alike), beside that kind's exact sweep with their correlation; the
// head-by-position sweep's figures are also the top-level fields, which PyTorch's are compared with. Each
// kind's attribution patching is also timed with the KL metric, denoising (`kl`), in the same turns as the
// forward it is a ratio to.
// --attribution-only skips the exact sweeps (no correlations, no json written): a quick look at the ratios.
// Prints figures (also to bench/out/patching-threads<N>.json); asserts nothing.
//
//   npm run bench:patching   (or: node --import tsx bench/patching.bench.ts [--threads N] [--no-torch] [--no-loop] [--attribution-only])
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Model } from '../src/engine/model';
import { patchSweep, patchSweepByLoop, pearson } from '../src/engine/analysis/patching';
import { PATCH_SWEEPS } from '../src/shared/patching';
import { GPT2_SMALL_SHAPE, randomGpt2Checkpoint } from '../src/engine/checkpoint/synthetic';
import { medianMs, medianMsInTurn } from './timing';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    'no-torch': { type: 'boolean', default: false },
    'no-loop': { type: 'boolean', default: false },
    'attribution-only': { type: 'boolean', default: false },
  },
});
const THREADS = Number(values.threads);
const ATTRIBUTION_ONLY = values['attribution-only'];
const T = 16;
const MODEL_DIR = join(__dirname, 'out', 'gpt2-small-shaped');

function tokens(seed: number, n = T): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % GPT2_SMALL_SHAPE.dVocab;
  });
}

async function main(): Promise<void> {
  if (!existsSync(join(MODEL_DIR, 'model.safetensors'))) {
    mkdirSync(MODEL_DIR, { recursive: true });
    process.stderr.write(`generating ${MODEL_DIR} ...\n`);
    randomGpt2Checkpoint(MODEL_DIR, GPT2_SMALL_SHAPE, 0);
  }
  const model = await Model.load(MODEL_DIR, { threads: THREADS });
  const clean = tokens(7);
  const corrupted = clean.slice();
  corrupted[3] = (corrupted[3]! + 1) % GPT2_SMALL_SHAPE.dVocab;
  corrupted[9] = (corrupted[9]! + 1) % GPT2_SMALL_SHAPE.dVocab;
  const [target, baseline] = [11, 12];
  const req = { clean, corrupted, sweep: 'z_by_pos' as const, target, baseline };
  const { nLayers: L, nHeads: H } = model.config;
  const results: Record<string, unknown> = { model: 'GPT-2-small-shaped (12 x 768, 12 heads, vocab 50257), fp32', seq: T, threads: THREADS, cells: L * H * T };

  results.forwardMs = await medianMs(() => model.run(corrupted, { lastOnly: true }), 20, 3);
  let exact: Float32Array | undefined;
  if (!ATTRIBUTION_ONLY) results.batchedSweepMs = await medianMs(async () => void (exact = (await patchSweep(model, req)).exact), 1, 1);
  if (!values['no-loop'] && !ATTRIBUTION_ONLY) {
    let loop: Float32Array | undefined;
    results.loopSweepMs = await medianMs(async () => void (loop = await patchSweepByLoop(model, req)), 1, 0);
    let worst = 0;
    for (let i = 0; i < loop!.length; i++) worst = Math.max(worst, Math.abs(loop![i]! - exact![i]!));
    results.loopMaxAbsDiff = worst;
    results.batchedSpeedupVsLoop = (results.loopSweepMs as number) / (results.batchedSweepMs as number);
  }
  let attribution: Float32Array | undefined;
  const byKind: Record<string, { ms: number; forwardEquivalents: number; correlation?: number; kl: { ms: number; forwardEquivalents: number } }> = {};
  for (const sweep of PATCH_SWEEPS) {
    const kindReq = { ...req, sweep };
    let attr: Float32Array | undefined;
    const [fw, ms, klMs] = await medianMsInTurn(
      [
        () => model.run(corrupted, { lastOnly: true }),
        async () => void (attr = (await patchSweep(model, { ...kindReq, method: 'attribution' })).attribution),
        () => patchSweep(model, { ...kindReq, method: 'attribution', metric: 'kl' }),
      ],
      9,
      2,
    );
    const kl = { ms: klMs!, forwardEquivalents: klMs! / fw! };
    if (ATTRIBUTION_ONLY) byKind[sweep] = { ms: ms!, forwardEquivalents: ms! / fw!, kl };
    else {
      const kindExact = sweep === req.sweep ? exact! : (await patchSweep(model, kindReq)).exact!;
      byKind[sweep] = { ms: ms!, forwardEquivalents: ms! / fw!, correlation: pearson(kindExact, attr!), kl };
    }
    if (sweep === req.sweep) attribution = attr;
    process.stderr.write(`${sweep}: ${JSON.stringify(byKind[sweep])}\n`);
  }
  results.attributionMs = byKind[req.sweep]!.ms;
  results.attributionForwardEquivalents = byKind[req.sweep]!.forwardEquivalents;
  results.exactVsAttributionCorrelation = byKind[req.sweep]!.correlation;
  results.attributionByKind = byKind;
  results.attributionMaxForwardEquivalents = Math.max(...Object.values(byKind).map((k) => k.forwardEquivalents));
  results.klAttributionMaxForwardEquivalents = Math.max(...Object.values(byKind).map((k) => k.kl.forwardEquivalents));
  await model.dispose();
  if (ATTRIBUTION_ONLY) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  // Printed now too: the PyTorch loop that follows takes as long again.
  process.stderr.write(`${JSON.stringify(results)}\n`);

  if (!values['no-torch']) {
    const out = execFileSync(
      '/usr/bin/python3',
      [join(__dirname, 'torch_patching.py'), '--model', MODEL_DIR, '--clean', clean.join(','), '--corrupted', corrupted.join(','), '--target', String(target), '--baseline', String(baseline), '--threads', String(THREADS)],
      { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 },
    );
    const torch = JSON.parse(out.trim().split('\n').pop()!) as { forward_ms: number; sweep_ms: number; attribution_ms: number; metric: number[][][]; attribution: number[][][]; torch_version: string };
    const flat = (x: number[][][]) => Float32Array.from(x.flat(2));
    let worst = 0;
    const tm = flat(torch.metric);
    for (let i = 0; i < tm.length; i++) worst = Math.max(worst, Math.abs(tm[i]! - exact![i]!));
    let worstAttr = 0;
    const ta = flat(torch.attribution);
    for (let i = 0; i < ta.length; i++) worstAttr = Math.max(worstAttr, Math.abs(ta[i]! - attribution![i]!));
    results.torch = { version: torch.torch_version, forwardMs: torch.forward_ms, sweepMs: torch.sweep_ms, attributionMs: torch.attribution_ms, attributionForwardEquivalents: torch.attribution_ms / torch.forward_ms };
    results.batchedSpeedupVsTorch = torch.sweep_ms / (results.batchedSweepMs as number);
    results.torchMaxAbsDiff = worst;
    results.torchAttributionMaxAbsDiff = worstAttr;
  }
  console.log(JSON.stringify(results, null, 2));
  writeFileSync(join(__dirname, 'out', `patching-threads${THREADS}.json`), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
