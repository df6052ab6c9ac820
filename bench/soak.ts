// Soak: every analysis of the registry run many times on the bundled model in one process, as the worker
// runs them; RSS is sampled after a warm-up and after RUNS more runs, and growth over 5% fails (issue #15).
// The warm-up is long because RSS first grows for some hundreds of runs and then stays flat (onnxruntime's
// arena and malloc settling: inspect went 133 -> 159 MiB over 1,000 runs, then 157-159 MiB up to 4,000).
// Not part of `npm test` (minutes): `npm run soak` or `node --import tsx bench/soak.ts [--runs N]`.
import '../src/engine/privacy';
import { join } from 'node:path';
import { Model } from '../src/engine/model';
import { runAnalysis } from '../src/engine/analysis/registry';
import type { AnalysisName } from '../src/shared/analyses';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 1000;
const WARMUP = 500;
const MODEL = join(__dirname, '..', 'models', 'mechlens-tiny');
const prompt = { text: 'When Mary and John went to the store, John gave a drink to' };

const PARAMS: Partial<Record<AnalysisName, unknown>> = {
  run: { prompt, topK: 5 },
  cache: { prompt, hooks: ['blocks.0.hook_resid_post', 'blocks.1.attn.hook_pattern'] },
  generate: { prompt, maxNewTokens: 4 },
  inspect: { prompt, topK: 5 },
  lens: { prompt },
  attention: { prompt },
  dla: { prompt, target: 5 },
  patch: { clean: prompt, corrupted: { text: 'When Mary and John went to the store, Mary gave a drink to' }, correct: 5, incorrect: 6 },
  grad: { prompt, target: 5, hooks: ['blocks.1.hook_resid_pre'] },
  saliency: { prompt, target: 5, method: 'grad_x_input' },
};

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

async function main(): Promise<number> {
  const model = await Model.load(MODEL);
  let failed = false;
  try {
    console.log(`soak: ${RUNS} runs per analysis on mechlens-tiny after ${WARMUP} warm-up runs (RSS before vs after)`);
    for (const [name, params] of Object.entries(PARAMS) as Array<[AnalysisName, unknown]>) {
      let before = 0;
      const started = performance.now();
      for (let i = 0; i < WARMUP + RUNS; i++) {
        if (i === WARMUP) {
          global.gc?.();
          before = rssMiB();
        }
        await runAnalysis(model, name, params);
      }
      global.gc?.();
      const after = rssMiB();
      const growth = (after - before) / before;
      failed ||= growth > 0.05;
      console.log(`  ${name.padEnd(10)} ${((performance.now() - started) / (WARMUP + RUNS)).toFixed(1).padStart(6)} ms/run  RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB (${(growth * 100).toFixed(1)}%)`);
    }
  } finally {
    await model.dispose();
  }
  console.log(failed ? 'FAIL: RSS grew more than 5% for some analysis' : 'ok: RSS growth under 5% for every analysis');
  return failed ? 1 : 0;
}

main().then((code) => (process.exitCode = code));
