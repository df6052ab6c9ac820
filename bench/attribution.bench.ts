// Attribution-graph benchmark (issue: attribution graphs, "Speed and memory"). Prints figures side by
// side in one run; asserts nothing.
//   1. the bundled model, a 16-token prompt, every active feature (goal < 1 s);
//   2. the GPT-2-small-shaped checkpoint of bench/engine.bench.ts with random 6144-wide JumpReLU
//      transcoders at mlp.hook_in / mlp.hook_out (generated on first use, L0 ≈ 40 per position), T = 16
//      and T = 64, 5000 feature nodes, batch 64: time and peak RSS, beside the same algorithm in PyTorch
//      autograd (bench/torch_attribution.py) on the same weights, prompt, batch size and threads.
//   3. with --gemma: the Gemma-2-2B shape (26 layers, d 2304, 8 heads of 256, vocab 256000; bf16 storage) with
//      random 16384-wide JumpReLU transcoders (bf16), T = 16, 5000 feature nodes: time and peak RSS (no PyTorch
//      run: it would need the same 10 GB of float32 weights a second time on this machine).
// Each configuration runs in its own process (peak RSS is per process).
//
//   npm run bench:attribution   (or: node --import tsx bench/attribution.bench.ts [--threads N] [--no-torch] [--seq 16,64] [--gemma])
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { attribute } from '../src/engine/attribution/attribute';
import { attributionPrompt } from '../src/engine/attribution/graph';
import { transcodersFor } from '../src/engine/attribution/transcoders';
import { GEMMA2_2B_SHAPE, GPT2_SMALL_SHAPE, randomGemma2Checkpoint, randomGpt2Checkpoint, seededRandom } from '../src/engine/checkpoint/synthetic';
import { writeSafetensors } from '../src/engine/checkpoint/safetensorsWriter';
import { Model } from '../src/engine/model';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    seq: { type: 'string', default: '16,64' },
    'max-feature-nodes': { type: 'string', default: '5000' },
    'batch-size': { type: 'string', default: '64' },
    'no-torch': { type: 'boolean', default: false },
    gemma: { type: 'boolean', default: false },
    // internal: run one configuration in this process and print its JSON
    child: { type: 'string' },
  },
});
const THREADS = Number(values.threads);
const MAX_NODES = Number(values['max-feature-nodes']);
const BATCH = Number(values['batch-size']);
const OUT = join(__dirname, 'out');
const MODEL_DIR = join(OUT, 'gpt2-small-shaped');
const TC_DIR = join(OUT, 'gpt2-small-transcoders-6144');
const BUNDLED = join(__dirname, '..', 'models', 'mechlens-tiny');
const GEMMA_DIR = join(OUT, 'gemma2-2b-shaped');
const GEMMA_TC_DIR = join(OUT, 'gemma2-2b-transcoders-16k');

/** Seeded normal samples: the same transcoders every run. */
function normals(seed: number) {
  const random = seededRandom(seed);
  return (n: number, std: number) => Float32Array.from({ length: n }, () => std * random.normal());
}

/** Random JumpReLU transcoders: encoder rows of norm ~1 on inputs of RMS ~1, thresholds near 2.5σ (0.6% active). */
function writeTranscoders(dir: string, nLayers: number, d: number, dTc: number, dtype: 'F32' | 'BF16', scan: string): void {
  mkdirSync(dir, { recursive: true });
  const normal = normals(42);
  for (let l = 0; l < nLayers; l++) {
    writeSafetensors(join(dir, `layer_${l}.safetensors`), {
      W_enc: { dtype, shape: [dTc, d], data: normal(dTc * d, 1 / Math.sqrt(d)) },
      b_enc: { dtype, shape: [dTc], data: new Float32Array(dTc) },
      W_dec: { dtype, shape: [dTc, d], data: normal(dTc * d, 1 / Math.sqrt(dTc)) },
      b_dec: { dtype, shape: [d], data: normal(d, 0.05) },
      'activation_function.threshold': { dtype, shape: [dTc], data: Float32Array.from(normal(dTc, 0.1), (v) => 2.5 + v) },
    });
  }
  writeFileSync(join(dir, 'config.yaml'), `model_kind: transcoder_set\nfeature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\nscan: ${scan}\n`);
}

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

interface Figures {
  ms: number;
  setupMs: number;
  rowsMs: number;
  activeFeatures: number;
  featureNodes: number;
  backwardRuns: number;
  peakRssMiB: number;
  tokens?: number[];
}

async function child(config: string): Promise<Figures> {
  if (config === 'bundled') {
    const model = await Model.load(BUNDLED, { threads: THREADS });
    const set = transcodersFor(model);
    const { tokens, zeroPositions } = attributionPrompt(model, { text: 'When Mary and John went to the store, John gave a drink to' });
    const ids = tokens.ids.slice(0, 16);
    await attribute(model, set, ids, { zeroPositions }); // warm-up: sessions built
    const attr = await attribute(model, set, ids, { zeroPositions });
    return figures(attr, ids);
  }
  const gemma = config === 'gemma';
  const T = gemma ? 16 : Number(config);
  const model = await Model.load(gemma ? GEMMA_DIR : MODEL_DIR, { threads: THREADS });
  const set = transcodersFor(model, gemma ? GEMMA_TC_DIR : TC_DIR);
  const rand = lcg(T);
  const ids = Array.from({ length: T }, () => Math.floor(rand() * model.config.dVocab));
  const started = performance.now();
  let last = 0;
  // Progress on stderr (about every 10 s): a run that does not finish still tells its rate.
  const onProgress = (p: { phase: string; done: number; total: number }) => {
    const now = performance.now();
    if (now - last < 10_000 && p.done !== p.total) return;
    last = now;
    process.stderr.write(`  ${config}: ${p.phase} ${p.done}/${p.total} after ${((now - started) / 1000).toFixed(0)} s, RSS ${(process.memoryUsage().rss / 2 ** 30).toFixed(1)} GiB\n`);
  };
  const attr = await attribute(model, set, ids, { maxFeatureNodes: MAX_NODES, batchSize: BATCH, onProgress });
  return figures(attr, ids);
}

function figures(attr: Awaited<ReturnType<typeof attribute>>, tokens: number[]): Figures {
  return {
    ms: attr.stats.ms.total,
    setupMs: attr.stats.ms.setup,
    rowsMs: attr.stats.ms.rows,
    activeFeatures: attr.stats.activeFeatures,
    featureNodes: attr.selected.length,
    backwardRuns: attr.stats.backwardRuns,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    tokens,
  };
}

function runChild(config: string): Figures {
  const out = execFileSync(process.execPath, ['--import', 'tsx', __filename, '--child', config, '--threads', String(THREADS), '--max-feature-nodes', String(MAX_NODES), '--batch-size', String(BATCH)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Figures;
}

function runTorch(tokens: number[]): Record<string, number> | null {
  try {
    const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_attribution.py'), '--model', MODEL_DIR, '--transcoders', TC_DIR, '--tokens', tokens.join(','), '--max-feature-nodes', String(MAX_NODES), '--batch-size', String(BATCH), '--threads', String(THREADS)], {
      encoding: 'utf8',
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  } catch (e) {
    process.stderr.write(`PyTorch baseline unavailable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
    return null;
  }
}

async function main(): Promise<void> {
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await child(values.child))}\n`);
    return;
  }
  mkdirSync(OUT, { recursive: true });
  if (!existsSync(join(MODEL_DIR, 'model.safetensors'))) {
    process.stderr.write(`generating ${MODEL_DIR} ...\n`);
    randomGpt2Checkpoint(MODEL_DIR, GPT2_SMALL_SHAPE, 0);
  }
  if (!existsSync(join(TC_DIR, 'config.yaml'))) {
    process.stderr.write(`generating ${TC_DIR} ...\n`);
    writeTranscoders(TC_DIR, GPT2_SMALL_SHAPE.nLayers, GPT2_SMALL_SHAPE.dModel, 6144, 'F32', 'bench-gpt2-small-jumprelu-6144');
  }
  if (values.gemma) {
    if (!existsSync(join(GEMMA_DIR, 'config.json'))) {
      process.stderr.write(`generating ${GEMMA_DIR} (bf16, about 5 GB) ...\n`);
      randomGemma2Checkpoint(GEMMA_DIR, GEMMA2_2B_SHAPE, 0);
    }
    if (!existsSync(join(GEMMA_TC_DIR, 'config.yaml'))) {
      process.stderr.write(`generating ${GEMMA_TC_DIR} (bf16, about 3.9 GB) ...\n`);
      writeTranscoders(GEMMA_TC_DIR, GEMMA2_2B_SHAPE.nLayers, GEMMA2_2B_SHAPE.dModel, 16384, 'BF16', 'bench-gemma2-2b-jumprelu-16k');
    }
  }
  const results: Record<string, unknown> = { threads: THREADS, batchSize: BATCH, maxFeatureNodes: MAX_NODES };
  const bundled = runChild('bundled');
  results.bundled = bundled;
  console.log(`bundled model (mechlens-tiny), ${bundled.tokens!.length} tokens, all ${bundled.activeFeatures} features: ${(bundled.ms / 1000).toFixed(2)} s (${bundled.backwardRuns} backward runs), peak RSS ${bundled.peakRssMiB.toFixed(0)} MiB`);
  for (const T of values.seq!.split(',').filter(Boolean).map(Number)) {
    const ours = runChild(String(T));
    const torch = values['no-torch'] ? null : runTorch(ours.tokens!);
    results[`gpt2_T${T}`] = { mechlens: { ...ours, tokens: undefined }, torch };
    const line = `GPT-2-small shape, 6144-wide JumpReLU transcoders, T = ${T}, ${ours.featureNodes} of ${ours.activeFeatures} features: MechLens ${(ours.ms / 1000).toFixed(1)} s (setup ${(ours.setupMs / 1000).toFixed(1)} s), peak RSS ${ours.peakRssMiB.toFixed(0)} MiB`;
    console.log(torch ? `${line}; PyTorch ${torch.attribution_s!.toFixed(1)} s, peak RSS ${torch.peak_rss_mib!.toFixed(0)} MiB; ${(torch.attribution_s! / (ours.ms / 1000)).toFixed(2)}x` : line);
  }
  if (values.gemma) {
    const g = runChild('gemma');
    results.gemma2_2b_T16 = { ...g, tokens: undefined };
    const floatGiB = (GEMMA2_2B_SHAPE.nLayers * (2 * 16384 * GEMMA2_2B_SHAPE.dModel) + 2614341888) * 4 / 2 ** 30;
    console.log(`Gemma-2-2B shape, 16384-wide JumpReLU transcoders (bf16 files), T = 16, ${g.featureNodes} of ${g.activeFeatures} features: ${(g.ms / 1000).toFixed(0)} s (setup ${(g.setupMs / 1000).toFixed(0)} s), peak RSS ${(g.peakRssMiB / 1024).toFixed(1)} GiB (${((g.peakRssMiB / 1024) / floatGiB).toFixed(2)}x the float32 bytes of model and transcoders, ${floatGiB.toFixed(1)} GiB)`);
  }
  writeFileSync(join(OUT, 'attribution.json'), JSON.stringify(results, null, 2));
}

void main();
