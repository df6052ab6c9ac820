// Where a forward's time goes: onnxruntime's own per-operator profile of the GPT-2-small-shaped forward
// (T = 64, the bench's checkpoint, weights fed as in every engine graph, no hook outputs), with each
// operator's share and the matrix products' FLOP rate, so the arithmetic floor of a forward can be read
// off: its FLOPs at the rate the products reach. Then where caching every hook spends its extra time: the
// graph with every hook as an output, fetching all of them against fetching only the logits, against the
// plain graph (hook outputs are materialised and block fusions; each fetched one is copied into JavaScript).
// Prints figures; asserts nothing.
//
//   npm run bench:profile   (or: node --import tsx bench/profile.bench.ts [--threads N] [--seq T] [--runs N])
import * as ort from 'onnxruntime-node';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCheckpoint } from '../src/engine/checkpoint/load';
import { ortSessionOptions } from '../src/engine/onnx/session';
import { GPT2_SMALL_SHAPE, randomGpt2Checkpoint } from '../src/engine/checkpoint/synthetic';
import { buildForwardGraph } from '../src/engine/onnx/forwardGraph';
import { allHooks, hookRank, isMainInterventionPoint, localHookName } from '../src/engine/hooks';
import { median } from './stats';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' }, seq: { type: 'string', default: '64' }, runs: { type: 'string', default: '10' } } });
const MODEL_DIR = join(__dirname, 'out', 'gpt2-small-shaped');

interface ProfileEvent { cat: string; name: string; dur: number; args?: { op_name?: string } }

async function main(): Promise<void> {
  if (!existsSync(join(MODEL_DIR, 'model.safetensors'))) randomGpt2Checkpoint(MODEL_DIR, GPT2_SMALL_SHAPE, 0);
  const T = Number(values.seq);
  const runs = Number(values.runs);
  const { spec } = loadCheckpoint(MODEL_DIR);
  const { dModel: d, dMlp, nLayers: L, dVocab: V } = spec.config;
  const built = buildForwardGraph(spec, { startLayer: 0, residInput: false, outputs: new Set(), interventions: new Set(), logits: 'all', past: false, weightsAsInputs: true });
  const dir = mkdtempSync(join(tmpdir(), 'mechlens-profile-'));
  try {
    const session = await ort.InferenceSession.create(built.bytes, {
      ...ortSessionOptions({ threads: Number(values.threads), executionProvider: 'cpu' }),
      enableProfiling: true,
      profileFilePrefix: join(dir, 'forward'),
    });
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt((i * 7919) % V)), [1, T]) };
    for (const w of built.weightInputs) feeds[w.name] = new ort.Tensor('float32', w.data, w.dims);
    for (let i = 0; i < runs + 2; i++) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).map((f) => join(dir, f))[0]!;
    const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
    const runMs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.dur / 1000).slice(2);
    const byOp = new Map<string, number>();
    for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) byOp.set(e.args!.op_name!, (byOp.get(e.args!.op_name!) ?? 0) + e.dur / 1000);
    // The first two runs are warm-up: scale the per-op totals to one run of the measured ones.
    const totalKernel = [...byOp.values()].reduce((a, b) => a + b, 0);
    const forwardMs = median(runMs);
    const perRun = (ms: number) => (ms / totalKernel) * forwardMs;
    const matmulFlops = 2 * T * (L * (d * 3 * d + d * d + 2 * d * dMlp) + d * V);
    const attnFlops = 2 * 2 * L * T * T * d;
    const productOps = ['MatMul', 'FusedMatMul', 'Gemm'];
    const productMs = productOps.reduce((a, op) => a + perRun(byOp.get(op) ?? 0), 0);
    console.log(`GPT-2-small shape, T = ${T}, ${values.threads} threads, weights fed: forward median ${forwardMs.toFixed(1)} ms over ${runMs.length} runs`);
    console.log('operator           ms/run   share');
    for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${op.padEnd(18)} ${perRun(ms).toFixed(1).padStart(6)}  ${((ms / totalKernel) * 100).toFixed(1).padStart(5)}%`);
    const rate = (matmulFlops + attnFlops) / (productMs / 1000) / 1e9;
    console.log(`matrix products: ${((matmulFlops + attnFlops) / 1e9).toFixed(2)} GFLOP in ${productMs.toFixed(1)} ms = ${rate.toFixed(0)} GFLOP/s (the unembedding alone: ${((2 * T * d * V) / 1e9).toFixed(2)} GFLOP)`);
    console.log(`everything else: ${(forwardMs - productMs).toFixed(1)} ms (${(((forwardMs - productMs) / forwardMs) * 100).toFixed(0)}%): the floor at this rate is ${productMs.toFixed(1)} ms, so ${(forwardMs / productMs).toFixed(2)}x of it is spent`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await hookCost(spec, T, runs);
}

/** Median ms of `runs` runs (after two warm-up runs) of `session` fetching `fetches`. */
async function timeRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, fetches: string[], runs: number): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now();
    const out = await session.run(feeds, fetches);
    if (i >= 2) times.push(performance.now() - t0);
    bytes = Object.values(out).reduce((a, t) => a + (t.data as Float32Array).byteLength, 0);
  }
  return { ms: times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!, bytes };
}

async function hookCost(spec: ReturnType<typeof loadCheckpoint>['spec'], T: number, runs: number): Promise<void> {
  const hooks = allHooks(spec.config);
  const base = { startLayer: 0, residInput: false, interventions: new Set<string>(), logits: 'all' as const, past: false, weightsAsInputs: true };
  const session = async (outputs: Set<string>, interventions = new Set<string>()) => {
    const built = buildForwardGraph(spec, { ...base, outputs, interventions });
    const s = await ort.InferenceSession.create(built.bytes, ortSessionOptions({ threads: Number(values.threads), executionProvider: 'cpu' }));
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: T }, (_, i) => BigInt((i * 7919) % spec.config.dVocab)), [1, T]) };
    for (const w of built.weightInputs) feeds[w.name] = new ort.Tensor('float32', w.data, w.dims);
    // Intervention points fed the identity (x * 1 + 0), as the engine's main graph is when a run has no edits.
    for (const h of interventions) {
      const shape = Array.from({ length: hookRank(localHookName(h)) }, () => 1);
      feeds[`keep.${h}`] = new ort.Tensor('float32', Float32Array.from([1]), shape);
      feeds[`add.${h}`] = new ort.Tensor('float32', Float32Array.from([0]), shape);
    }
    return { s, feeds };
  };
  const plain = await session(new Set());
  const cached = await session(new Set(hooks));
  const points = new Set(hooks.filter((h) => isMainInterventionPoint(localHookName(h))));
  const main = await session(new Set(hooks), points);
  // Interleaved, twice, so that a busy moment of the machine does not land on one variant only.
  const ms = { plain: [] as number[], logits: [] as number[], all: [] as number[], main: [] as number[] };
  let bytes = 0;
  for (let round = 0; round < 2; round++) {
    ms.plain.push((await timeRuns(plain.s, plain.feeds, ['logits'], runs)).ms);
    ms.logits.push((await timeRuns(cached.s, cached.feeds, ['logits'], runs)).ms);
    const all = await timeRuns(cached.s, cached.feeds, ['logits', ...hooks], runs);
    ms.all.push(all.ms);
    bytes = all.bytes;
    ms.main.push((await timeRuns(main.s, main.feeds, ['logits', ...hooks], runs)).ms);
  }
  await plain.s.release();
  await cached.s.release();
  await main.s.release();
  const best = (a: number[]) => Math.min(...a);
  const [p, l, a, m] = [best(ms.plain), best(ms.logits), best(ms.all), best(ms.main)];
  console.log(`\ncaching every hook (${hooks.length} outputs, ${(bytes / 2 ** 20).toFixed(1)} MiB with the logits), best of two medians of ${runs}:`);
  console.log(`  plain graph, logits only                    ${p.toFixed(1).padStart(6)} ms`);
  console.log(`  graph with every hook output, logits only   ${l.toFixed(1).padStart(6)} ms  (+${(l - p).toFixed(1)} ms: hook outputs materialised, fusions blocked)`);
  console.log(`  the same graph, every hook fetched          ${a.toFixed(1).padStart(6)} ms  (+${(a - l).toFixed(1)} ms: onnxruntime-node's copy of each output into JavaScript)`);
  console.log(`  ... with the ${points.size} intervention points fed the identity ${m.toFixed(1).padStart(6)} ms  (+${(m - a).toFixed(1)} ms: the engine's main graph without edits)`);
}

void main();
