// Where a forward's time goes: onnxruntime's own per-operator profile of the GPT-2-small-shaped forward
// (T = 64, the bench's checkpoint, weights fed as in every engine graph, no hook outputs), with each
// operator's share and the matrix products' FLOP rate, so the arithmetic floor of a forward can be read
// off: its FLOPs at the rate the products reach. Prints figures; asserts nothing.
//
//   npm run bench:profile   (or: node --import tsx bench/profile.bench.ts [--threads N] [--seq T] [--runs N])
import * as ort from 'onnxruntime-node';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCheckpoint } from '../src/engine/checkpoint/load';
import { GPT2_SMALL_SHAPE, randomGpt2Checkpoint } from '../src/engine/checkpoint/synthetic';
import { buildForwardGraph } from '../src/engine/onnx/forwardGraph';

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
      intraOpNumThreads: Number(values.threads),
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'forward'),
      extra: { session: { intra_op: { allow_spinning: '0' } } },
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
    const median = runMs.slice().sort((a, b) => a - b)[Math.floor(runMs.length / 2)]!;
    const perRun = (ms: number) => (ms / totalKernel) * median;
    const matmulFlops = 2 * T * (L * (d * 3 * d + d * d + 2 * d * dMlp) + d * V);
    const attnFlops = 2 * 2 * L * T * T * d;
    const productOps = ['MatMul', 'FusedMatMul', 'Gemm'];
    const productMs = productOps.reduce((a, op) => a + perRun(byOp.get(op) ?? 0), 0);
    console.log(`GPT-2-small shape, T = ${T}, ${values.threads} threads, weights fed: forward median ${median.toFixed(1)} ms over ${runMs.length} runs`);
    console.log('operator           ms/run   share');
    for (const [op, ms] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${op.padEnd(18)} ${perRun(ms).toFixed(1).padStart(6)}  ${((ms / totalKernel) * 100).toFixed(1).padStart(5)}%`);
    const rate = (matmulFlops + attnFlops) / (productMs / 1000) / 1e9;
    console.log(`matrix products: ${((matmulFlops + attnFlops) / 1e9).toFixed(2)} GFLOP in ${productMs.toFixed(1)} ms = ${rate.toFixed(0)} GFLOP/s (the unembedding alone: ${((2 * T * d * V) / 1e9).toFixed(2)} GFLOP)`);
    console.log(`everything else: ${(median - productMs).toFixed(1)} ms (${(((median - productMs) / median) * 100).toFixed(0)}%): the floor at this rate is ${productMs.toFixed(1)} ms, so ${(median / productMs).toFixed(2)}x of it is spent`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
