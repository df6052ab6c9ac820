// DAS benchmark (issue #16): distributed alignment search on the bundled model's IOI "indirect object"
// variable at the residual stream after the last layer, last position; 1,000 training pairs, rank 16, batch
// 32, 3 epochs; time per epoch of MechLens (gradients from the engine's generated backward graphs, the d x k
// chain and the Stiefel Adam step in TypeScript) beside the same training in PyTorch (bench/torch_das.py:
// autograd through tools/reference's model) on the same weights, pairs, initial subspace, batch order and
// threads. The two loss curves are compared step by step (the same algorithm: they agree to float32
// rounding, a check of the engine's gradient against autograd); the held-out IIA of MechLens' subspace on
// 250 more pairs is printed. Writes bench/out/das.json; asserts nothing.
//
//   npm run bench:das   (or: node --import tsx bench/das.bench.ts [--threads N] [--epochs N] [--no-torch])
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Model } from '../src/engine/model';
import { buildPairs, permutation, resolveSite } from '../src/engine/analysis/causal';
import { randomOrthonormal, trainDas } from '../src/engine/analysis/das';
import { EXAMPLE_NAMES, exampleHypothesis } from '../src/shared/causal';
import { median } from './stats';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    epochs: { type: 'string', default: '3' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const THREADS = Number(values.threads);
const EPOCHS = Number(values.epochs);
const MODEL_DIR = join(__dirname, '..', 'models', 'mechlens-tiny');
const OUT = join(__dirname, 'out');
const N_TRAIN = 1000;
const N_TEST = 250;
const RANK = 16;
const BATCH = 32;
const LR = 0.01;
const SEED = 0;

async function main(): Promise<void> {
  const model = await Model.load(MODEL_DIR, { threads: THREADS });
  const names = EXAMPLE_NAMES.filter((n) => model.tokenize(` ${n}`).ids.length === 1);
  const hypothesis = { ...exampleHypothesis(model.config.nLayers, names), n: N_TRAIN + N_TEST };
  const { pairs } = buildPairs(model, hypothesis);
  const T = pairs[0]!.base.length;
  const site = resolveSite(model, hypothesis.variables[0]!.site!, T, 'site');
  const train = Array.from({ length: N_TRAIN }, (_, i) => i);
  const test = Array.from({ length: N_TEST }, (_, i) => N_TRAIN + i);
  const stepTimes: number[] = [];
  const started = performance.now();
  const run = await trainDas(model, pairs, 0, site, train, test, { rank: RANK, epochs: EPOCHS, batchSize: BATCH, lr: LR, seed: SEED, onStep: () => stepTimes.push(performance.now()) });
  const stepsPerEpoch = Math.ceil(N_TRAIN / BATCH);
  // Epoch e ends at step (e + 1) * stepsPerEpoch; the first starts after the site values are read.
  const epochMs = Array.from({ length: EPOCHS }, (_, e) => stepTimes[(e + 1) * stepsPerEpoch - 1]! - (e === 0 ? stepTimes[0]! - (stepTimes[1]! - stepTimes[0]!) : stepTimes[e * stepsPerEpoch - 1]!));
  const results: Record<string, unknown> = {
    model: `${model.info.name} (${model.config.nLayers} x ${model.config.dModel}, ${model.config.nHeads} heads), fp32`,
    site: `${site.hook} [${site.positions.join(',')}]`,
    trainPairs: N_TRAIN,
    rank: RANK,
    batch: BATCH,
    threads: THREADS,
    mechlensEpochMs: epochMs,
    mechlensTotalMs: performance.now() - started,
    heldOutIia: run.testIia,
    trainIia: run.trainIia,
    orthogonality: run.orthogonality,
  };
  await model.dispose();
  process.stderr.write(`${JSON.stringify(results)}\n`);

  if (!values['no-torch']) {
    mkdirSync(OUT, { recursive: true });
    const dataFile = join(OUT, 'das-data.json');
    const orders = Array.from({ length: EPOCHS }, (_, e) => permutation(train.length, SEED * 1000 + e + 1).map((i) => train[i]!));
    writeFileSync(
      dataFile,
      JSON.stringify({
        hook: site.hook,
        position: site.positions[0],
        rank: RANK,
        lr: LR,
        batch: BATCH,
        base: pairs.map((p) => p.base),
        source: pairs.map((p) => p.sources[0]),
        labels: pairs.map((p) => p.label),
        R0: Array.from(randomOrthonormal(site.dim, RANK, SEED)),
        orders,
      }),
    );
    const out = execFileSync('/usr/bin/python3', [join(__dirname, 'torch_das.py'), '--model', MODEL_DIR, '--data', dataFile, '--threads', String(THREADS)], {
      encoding: 'utf8',
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 26,
    });
    const torch = JSON.parse(out.trim().split('\n').pop()!) as { epoch_ms: number[]; loss: number[]; orthogonality: number; torch_version: string };
    let worst = 0;
    const firstEpoch = Math.min(stepsPerEpoch, run.loss.length, torch.loss.length);
    for (let i = 0; i < firstEpoch; i++) worst = Math.max(worst, Math.abs(run.loss[i]! - torch.loss[i]!) / Math.max(1, Math.abs(torch.loss[i]!)));
    results.torchEpochMs = torch.epoch_ms;
    results.torchVersion = torch.torch_version;
    results.torchOrthogonality = torch.orthogonality;
    results.mechlensMedianEpochMs = median(epochMs);
    results.torchMedianEpochMs = median(torch.epoch_ms);
    results.torchOverMechlens = (results.torchMedianEpochMs as number) / (results.mechlensMedianEpochMs as number);
    results.firstEpochLossMaxRelDiff = worst;
    results.finalLoss = { mechlens: run.loss.at(-1), torch: torch.loss.at(-1) };
  }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'das.json'), `${JSON.stringify(results, null, 2)}\n`);
  const r = results as Record<string, number & unknown>;
  process.stdout.write(
    `DAS, ${String(results.model)}, site ${String(results.site)}: ${N_TRAIN} training pairs, rank ${RANK}, batch ${BATCH}, ${THREADS} threads\n` +
      `  MechLens: ${epochMs.map((x) => x.toFixed(0)).join(' / ')} ms per epoch; held-out IIA ${(run.testIia * 100).toFixed(1)}% (${N_TEST} pairs), |R^T R - I| ${run.orthogonality.toExponential(1)}\n` +
      (results.torchEpochMs
        ? `  PyTorch ${String(results.torchVersion)} (autograd): ${(results.torchEpochMs as number[]).map((x) => x.toFixed(0)).join(' / ')} ms per epoch\n` +
          `  median epoch: MechLens ${Number(r.mechlensMedianEpochMs).toFixed(0)} ms, PyTorch ${Number(r.torchMedianEpochMs).toFixed(0)} ms (PyTorch / MechLens = ${Number(r.torchOverMechlens).toFixed(2)})\n` +
          `  same algorithm, same batches: first-epoch losses agree to ${Number(r.firstEpochLossMaxRelDiff).toExponential(1)} (relative)\n`
        : ''),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
