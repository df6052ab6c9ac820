// Attention at long prompts (issue #13), through the real engine worker (dist/worker.js) and the extension's
// EngineClient, the way the attention panel calls it. Prints figures; asserts nothing.
// On the GPT-2-small-shaped benchmark model (12 layers x 12 heads, d_model 768, vocab 50257, random weights)
// at T = 1024 (random token ids), one way per process (peak RSS is a process high-water mark):
//   --mode all:    `analysis/attention` with every layer's pattern in one reply (600 MB at T = 1024), as the
//                  panel asked before issue #13;
//   --mode layer:  as the panel asks now: the layer on screen first (its pattern only: the first paint), then
//                  every layer's head scores on this prompt (no patterns), then another layer (a layer switch).
// Reports the time to the first layer's pattern, the total, and the process' peak RSS over its RSS after the
// model was loaded and the sessions warmed on a short prompt.
//
//   npm run build && node --import tsx bench/attention.bench.ts --mode layer [--T 1024] [--threads 2] [--worker dist/worker-old.js]
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EngineClient } from '../src/host/engineClient';
import { GPT2_SMALL_SHAPE, randomGpt2Checkpoint } from '../src/engine/checkpoint/synthetic';

const ROOT = join(__dirname, '..');
const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'layer' },
    T: { type: 'string', default: '1024' },
    threads: { type: 'string', default: '2' },
    layer: { type: 'string', default: '5' },
    /** Another build of the worker (an older commit's dist/worker.js copied into dist/, for before/after figures). */
    worker: { type: 'string' },
  },
});
const T = Number(values.T);
const THREADS = Number(values.threads);
const LAYER = Number(values.layer);
const WORKER = values.worker ? resolve(values.worker) : join(ROOT, 'dist', 'worker.js');
const BIG = join(ROOT, 'bench', 'out', 'gpt2-small-shaped');
const MiB = 2 ** 20;

const peakRss = () => process.resourceUsage().maxRSS * 1024;
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;

async function main(): Promise<void> {
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run "npm run build" first.`);
  if (!existsSync(join(BIG, 'model.safetensors'))) {
    mkdirSync(BIG, { recursive: true });
    console.log(`generating ${BIG} …`);
    randomGpt2Checkpoint(BIG, GPT2_SMALL_SHAPE, 0);
  }
  const engine = new EngineClient({ workerPath: WORKER, log: () => undefined });
  try {
    engine.setModel({ dir: BIG, threads: THREADS });
    const info = await engine.load();
    let s = 11;
    const ids = Array.from({ length: T }, () => (s = (s * 1103515245 + 12345) % 2147483648) % info.dVocab);
    // Warm the sessions on a short prompt (small buffers), so the figures below are of the long prompt.
    const short = { prompt: { tokens: ids.slice(0, 16) } };
    if (values.mode === 'all') await engine.call('analysis/attention', short);
    else {
      await engine.call('analysis/attention', { ...short, layers: [LAYER], allScores: false });
      await engine.call('analysis/attention', { ...short, layers: [], allScores: true });
    }
    const base = process.memoryUsage().rss;
    const basePeak = peakRss();
    const prompt = { tokens: ids };
    const t0 = performance.now();
    let first: number;
    let bytes = 0;
    const lines: string[] = [];
    if (values.mode === 'all') {
      const r = await engine.call('analysis/attention', { prompt });
      first = performance.now() - t0;
      bytes = r.patterns.reduce((n, p) => n + p.byteLength, 0);
      lines.push(`every layer in one reply: ${first.toFixed(0)} ms, ${mib(bytes)} of patterns`);
    } else {
      const a = await engine.call('analysis/attention', { prompt, layers: [LAYER], allScores: false });
      first = performance.now() - t0;
      bytes = a.patterns[0]!.byteLength;
      lines.push(`layer ${LAYER} (the first paint): ${first.toFixed(0)} ms, ${mib(bytes)} of pattern`);
      const t1 = performance.now();
      await engine.call('analysis/attention', { prompt, layers: [], allScores: true });
      lines.push(`then every layer's head scores on this prompt (no patterns): ${(performance.now() - t1).toFixed(0)} ms`);
      const t2 = performance.now();
      await engine.call('analysis/attention', { prompt, layers: [(LAYER + 1) % info.nLayers], allScores: false });
      lines.push(`then a switch to layer ${(LAYER + 1) % info.nLayers}: ${(performance.now() - t2).toFixed(0)} ms`);
    }
    const total = performance.now() - t0;
    const peak = peakRss();
    console.log(`attention (--mode ${values.mode}) on ${info.name} (${info.nLayers} layers x ${info.nHeads} heads, d_model ${info.dModel}), T = ${T}, ${THREADS} threads:`);
    for (const l of lines) console.log(`  ${l}`);
    console.log(`  total ${total.toFixed(0)} ms; RSS after load and warm-up ${mib(base)} (peak so far ${mib(basePeak)}); peak RSS ${mib(peak)} (+${mib(peak - Math.max(base, basePeak))} over it)`);
  } finally {
    await engine.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
