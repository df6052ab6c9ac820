// Patching sweeps of every kind (src/engine/analysis/patching.ts): the batched exact sweep equals a loop of
// patched full forwards; patching a run with its own activations changes nothing; attribution patching is
// the exact sweep's first-order term; and on the bundled model the IOI sweeps find the heads its model card
// names (models/mechlens-tiny/README.md).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomGpt2Checkpoint } from '../../src/engine/checkpoint/synthetic';
import { Model } from '../../src/engine/model';
import type { HookName } from '../../src/engine/hooks';
import { attributionSweepDeltas, chunkRows, exactSweepRows, metricFunction, patchSweep, patchSweepByLoop, sweepLayout } from '../../src/engine/analysis/patching';
import type { SweepInputs, SweepMetric } from '../../src/engine/analysis/patching';
import { PATCH_SWEEPS } from '../../src/shared/patching';
import type { PatchMetric, PatchSweepKind } from '../../src/shared/patching';
import { DEFAULT_MODEL, fixture } from '../support/fixtures';
import { cli } from '../support/cli';

const CLEAN = [3, 9, 27, 4, 12, 40, 7, 2];
/**
 * How much more each of the card's name movers must change the flip sweep's metric than any other head: the heads
 * that write the answer against those that only feed them. v1's single mover led by more than 10x; v2's two movers
 * (L3H1, L3H3) lead the next head (L1H0, a duplicate-token head) by 9.4x.
 */
const MOVER_DOMINANCE = 5;

/**
 * The IOI heads models/mechlens-tiny/card.json names: the name movers (DLA >= 25% of the best head's; the first is
 * the top one; a model may split the job over several) and the ablation-critical heads.
 */
function cardHeads(): { mover: string; movers: string[]; critical: string[] } {
  const card = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'card.json'), 'utf8')) as { heads: { ioi_movers: Array<[string, number, number]>; ioi_ablation_critical: Array<[string, number, number]> } };
  const movers = card.heads.ioi_movers.map(([h]) => h);
  return { mover: movers[0]!, movers, critical: card.heads.ioi_ablation_critical.map(([h]) => h) };
}
const CORRUPTED = [3, 9, 27, 5, 12, 41, 7, 2];

/** Sweeps a model has (parallel-residual models have no resid_mid). */
const sweepsOf = (model: Model) => PATCH_SWEEPS.filter((s) => s !== 'resid_mid' || !model.config.parallelResidual);

/** The inputs of a sweep of `base` against explicit source activations (what patchSweep builds from a prompt). */
async function inputsFor(model: Model, sweep: PatchSweepKind, base: number[], source: (l: number, baseAct: Float32Array) => Float32Array): Promise<SweepInputs> {
  const lay = sweepLayout(model, sweep, base.length);
  const layers = Array.from({ length: model.config.nLayers }, (_, i) => i);
  const swept = layers.map((l): HookName => `blocks.${l}.${lay.local}`);
  const starts = layers.map((l): HookName => (sweep === 'resid_post' ? `blocks.${l}.hook_resid_post` : `blocks.${l}.hook_resid_pre`));
  const r = await model.forward({ tokens: [base], hooks: [...swept, ...starts], logits: 'none' });
  return {
    lay,
    layers,
    base,
    source: new Map(layers.map((l, i) => [l, source(l, r.hooks.get(swept[i]!)!.data)])),
    baseResid: new Map(layers.map((l, i) => [l, r.hooks.get(starts[i]!)!.data])),
  };
}

async function lastLogits(model: Model, tokens: number[]): Promise<Float32Array> {
  return (await model.forward({ tokens: [tokens], logits: 'last' })).logits!.data;
}

describe('patching sweeps', function () {
  for (const name of ['gpt2', 'llama', 'neox']) {
    it(`${name}: every batched sweep equals the loop of patched full forwards, both directions`, async function () {
      const model = await Model.load(fixture(name));
      try {
        for (const sweep of sweepsOf(model)) {
          for (const direction of ['denoise', 'noise'] as const) {
            const req = { clean: CLEAN, corrupted: CORRUPTED, sweep, direction, metric: 'logit_diff' as const, target: 1, baseline: 2 };
            const fast = await patchSweep(model, req);
            const loop = await patchSweepByLoop(model, req);
            assert.equal(fast.exact!.length, loop.length);
            assert.equal(fast.shape.reduce((a, b) => a * b, 1), loop.length);
            let worst = 0;
            for (let i = 0; i < loop.length; i++) worst = Math.max(worst, Math.abs(fast.exact![i]! - loop[i]!));
            assert.ok(worst < 1e-4, `${sweep} ${direction}: sweeps differ by ${worst}`);
            // A sweep that changed nothing would pass the comparison: some cell must move the metric.
            const moved = Math.max(...Array.from(loop, (v) => Math.abs(v - (direction === 'denoise' ? fast.corruptedMetric : fast.cleanMetric))));
            if (sweep !== 'q' && sweep !== 'k' && sweep !== 'pattern') assert.ok(moved > 1e-3, `${sweep} ${direction}: no cell changed the metric`);
          }
        }
        if (model.config.parallelResidual) {
          await assert.rejects(patchSweep(model, { clean: CLEAN, corrupted: CORRUPTED, sweep: 'resid_mid', target: 1, baseline: 2 }), /no hook_resid_mid/);
        }
      } finally {
        await model.dispose();
      }
    });
  }

  // gpt2 seeds logit differences at the unembedding's input; gemma2's final soft cap sends them the metric-weights route.
  // KL denoising takes p_clean in the run from its clean row; the separate run is given it from a forward of its own.
  for (const name of ['gpt2', 'gemma2']) {
    it(`${name}: attribution patching in one batched run (base and source rows) equals separate runs, every sweep, metric and direction`, async function () {
      const model = await Model.load(fixture(name));
      try {
        for (const sweep of sweepsOf(model)) {
          for (const direction of ['denoise', 'noise'] as const) {
            const [base, source] = direction === 'denoise' ? [CORRUPTED, CLEAN] : [CLEAN, CORRUPTED];
            const lay = sweepLayout(model, sweep, CLEAN.length);
            const sourceActs = await model.forward({ tokens: [source], hooks: Array.from({ length: model.config.nLayers }, (_, l): HookName => `blocks.${l}.${lay.local}`), logits: 'none' });
            const inp = await inputsFor(model, sweep, base, (l) => sourceActs.hooks.get(`blocks.${l}.${lay.local}`)!.data);
            for (const kind of ['logit_diff', 'logit_diff_norm', 'prob', 'kl'] as PatchMetric[]) {
              const req = { clean: CLEAN, corrupted: CORRUPTED, sweep, direction, metric: kind, target: 1, baseline: 2 };
              const both = await patchSweep(model, { ...req, method: 'both' });
              const metric: SweepMetric = { kind, target: 1, baseline: 2, cleanLogits: await lastLogits(model, CLEAN), corruptedLogits: await lastLogits(model, CORRUPTED) };
              const baseMetric = metricFunction(metric)(direction === 'denoise' ? metric.corruptedLogits : metric.cleanLogits);
              const separate = await attributionSweepDeltas(model, inp, metric);
              let worst = 0;
              for (let i = 0; i < separate.length; i++) worst = Math.max(worst, Math.abs(both.attribution![i]! - (baseMetric + separate[i]!)) / Math.max(1, Math.abs(baseMetric + separate[i]!)));
              assert.ok(worst < 1e-5, `${sweep} ${direction} ${kind}: batched and separate attribution differ by ${worst}`);
              // The exact sweep that follows starts from the batched run's residual streams: still the exact sweep.
              const exact = (await patchSweep(model, req)).exact!;
              for (let i = 0; i < exact.length; i++) assert.ok(Math.abs(both.exact![i]! - exact[i]!) < 1e-4 * Math.max(1, Math.abs(exact[i]!)), `${sweep} ${direction} ${kind}: exact sweep cell ${i}`);
            }
          }
        }
      } finally {
        await model.dispose();
      }
    });
  }

  it('dims: layer x position, layer x head, layer x head x position, kv heads for k and v', async function () {
    const model = await Model.load(fixture('llama')); // 4 query heads, 2 key/value heads
    try {
      const dims = async (sweep: PatchSweepKind) => {
        const r = await patchSweep(model, { clean: CLEAN, corrupted: CORRUPTED, sweep, target: 1, baseline: 2 });
        return [r.dims, r.shape];
      };
      assert.deepEqual(await dims('attn_out'), [['layer', 'pos'], [2, 8]]);
      assert.deepEqual(await dims('z'), [['layer', 'head'], [2, 4]]);
      assert.deepEqual(await dims('z_by_pos'), [['layer', 'head', 'pos'], [2, 4, 8]]);
      assert.deepEqual(await dims('k'), [['layer', 'kv_head'], [2, 2]]);
      assert.deepEqual(await dims('pattern'), [['layer', 'head'], [2, 4]]);
    } finally {
      await model.dispose();
    }
  });

  it('a head x position sweep on a wider model stops soon after a cancel (figure reported), no progress after it', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-sweep-cancel-'));
    randomGpt2Checkpoint(dir, { nLayers: 6, dModel: 512, nHeads: 8, dVocab: 2000, nCtx: 128 }, 1);
    const model = await Model.load(dir);
    try {
      const T = 64;
      const clean = Array.from({ length: T }, (_, i) => (i * 37) % 2000);
      const corrupted = clean.map((t, i) => (i === 20 ? (t + 1) % 2000 : t));
      assert.ok(chunkRows(model, T, 0) < 8 * T, 'a layer of the sweep is split into several runs');
      const controller = new AbortController();
      let progress = 0;
      let after = 0;
      const outcome = patchSweep(model, {
        clean,
        corrupted,
        sweep: 'z_by_pos',
        target: 1,
        baseline: 2,
        signal: controller.signal,
        onProgress: () => {
          progress++;
          if (controller.signal.aborted) after++;
        },
      }).then(
        () => 'finished',
        (e: unknown) => (e instanceof Error ? e.name : String(e)),
      );
      const t0 = performance.now();
      while (progress === 0 && performance.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
      const cancelledAt = performance.now();
      controller.abort();
      const result = await outcome;
      const latency = performance.now() - cancelledAt;
      console.log(`      cancel latency: ${latency.toFixed(0)} ms (${chunkRows(model, T, 0)} rows per run of ${T} tokens)`);
      assert.equal(result, 'AbortError');
      assert.equal(after, 0);
      // The goal is 200 ms; 1 s keeps a busy shared machine from making this flaky (the figure is printed).
      assert.ok(latency < 1000, `stopped ${latency.toFixed(0)} ms after the cancel`);
    } finally {
      await model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('on the bundled model (IOI)', function () {
    let model: Model;
    let clean: number[];
    let corrupted: number[];
    let io: number;
    let s: number;
    before(async function () {
      model = await Model.load(DEFAULT_MODEL);
      clean = model.tokenize('When Mary and John went to the store, John gave a drink to').ids;
      corrupted = model.tokenize('When Mary and John went to the store, Mary gave a drink to').ids;
      [io, s] = [model.tokenize(' Mary').ids[0]!, model.tokenize(' John').ids[0]!];
    });
    after(async function () {
      await model.dispose();
    });

    it('patching the clean run with its own activations gives 1 everywhere (normalised logit difference), every sweep', async function () {
      const metric: SweepMetric = { kind: 'logit_diff_norm', target: io, baseline: s, cleanLogits: await lastLogits(model, clean), corruptedLogits: await lastLogits(model, corrupted) };
      const f = metricFunction(metric);
      for (const sweep of PATCH_SWEEPS) {
        const inp = await inputsFor(model, sweep, clean, (_, own) => own);
        let worst = 0;
        await exactSweepRows(model, inp, (_l, _c, logits) => (worst = Math.max(worst, Math.abs(f(logits) - 1))));
        assert.ok(worst < 1e-4, `${sweep}: clean into clean is off 1 by ${worst}`);
        const deltas = await attributionSweepDeltas(model, inp, metric);
        assert.ok(Math.max(...deltas.map(Math.abs)) < 1e-5, `${sweep}: attribution of a zero change must be 0`);
      }
    });

    it('attribution patching equals the exact sweep to first order (a small step from the corrupted towards the clean activations)', async function () {
      const cleanLogits = await lastLogits(model, clean);
      const corruptedLogits = await lastLogits(model, corrupted);
      const eps = 0.001;
      for (const kind of ['logit_diff', 'prob', 'kl'] as PatchMetric[]) {
        const metric: SweepMetric = { kind, target: io, baseline: s, cleanLogits, corruptedLogits };
        const f = metricFunction(metric);
        const baseMetric = f(corruptedLogits);
        for (const sweep of ['resid_pre', 'resid_mid', 'attn_out', 'mlp_out', 'z', 'z_by_pos', 'q', 'k', 'v', 'pattern'] as PatchSweepKind[]) {
          const lay = sweepLayout(model, sweep, clean.length);
          const cleanActs = await model.forward({ tokens: [clean], hooks: Array.from({ length: model.config.nLayers }, (_, l): HookName => `blocks.${l}.${lay.local}`), logits: 'none' });
          const inp = await inputsFor(model, sweep, corrupted, (l, own) => {
            const c = cleanActs.hooks.get(`blocks.${l}.${lay.local}`)!.data;
            return Float32Array.from(own, (x, i) => x + eps * (c[i]! - x));
          });
          const n = lay.cells.length;
          const exact = new Float64Array(inp.layers.length * n);
          await exactSweepRows(model, inp, (li, c, logits) => (exact[li * n + c] = f(logits) - baseMetric));
          const attr = await attributionSweepDeltas(model, inp, metric);
          const scale = Math.max(...exact.map(Math.abs));
          assert.ok(scale > 0, `${kind} ${sweep}: the step changed nothing`);
          let worst = 0;
          for (let i = 0; i < exact.length; i++) worst = Math.max(worst, Math.abs(exact[i]! - attr[i]!));
          // Second-order terms are O(eps^2) against first-order O(eps): a few % of the largest change.
          assert.ok(worst < 0.05 * scale, `${kind} ${sweep}: exact and attribution differ by ${worst} (largest change ${scale})`);
        }
      }
    });

    it('IOI: the card\'s top name mover writes the answer; the heads the card names carry the names', async function () {
      // Corruptions over 16 held-out IOI prompts (the card's evaluation set): "flip" puts the IO name at S2
      // (the answer flips), "abc" renames both names (the IOI paper's ABC distribution). The heads come from
      // models/mechlens-tiny/card.json, so a retrain that moves the circuit keeps this test meaningful.
      const { mover, movers, critical } = cardHeads();
      const rows = readFileSync(join(DEFAULT_MODEL, 'eval', 'ioi.jsonl'), 'utf8').trim().split('\n').slice(0, 16).map((l) => JSON.parse(l) as { prompt: string; target: string });
      const others = [' Alice', ' Lucy', ' Tom', ' Anna', ' Paul', ' Emma', ' Sam'];
      const H = model.config.nHeads;
      const nHeads = model.config.nLayers * H;
      const totals = { flip: new Float64Array(nHeads), abc: new Float64Array(nHeads) };
      for (const [i, r] of rows.entries()) {
        const m = /(\w+) and (\w+)/.exec(r.prompt)!;
        const ioName = r.target;
        const sName = ` ${m[1]}` === ioName ? ` ${m[2]}` : ` ${m[1]}`;
        const spare = others.filter((x) => x !== ioName && x !== sName);
        const at = r.prompt.lastIndexOf(sName);
        const variants = {
          flip: r.prompt.slice(0, at) + ioName + r.prompt.slice(at + sName.length),
          abc: r.prompt.split(ioName).join('\u0000').split(sName).join(spare[(i + 3) % spare.length]!).split('\u0000').join(spare[i % spare.length]!),
        };
        for (const kind of ['flip', 'abc'] as const) {
          const c = model.tokenize(r.prompt).ids;
          const k = model.tokenize(variants[kind]).ids;
          assert.equal(c.length, k.length, `${kind}: ${variants[kind]}`);
          // flip: denoising finds what writes the answer; abc: noising finds what the answer depends on.
          const direction = kind === 'flip' ? 'denoise' : 'noise';
          const sw = await patchSweep(model, { clean: c, corrupted: k, sweep: 'z', direction, metric: 'logit_diff', target: model.tokenize(ioName).ids[0]!, baseline: model.tokenize(sName).ids[0]! });
          for (let j = 0; j < nHeads; j++) totals[kind][j]! += Math.abs(sw.exact![j]! - (direction === 'denoise' ? sw.corruptedMetric : sw.cleanMetric));
        }
      }
      const ranked = (t: Float64Array) => Array.from(t.keys()).sort((a, b) => t[b]! - t[a]!).map((j) => `L${Math.floor(j / H)}H${j % H}`);
      const index = (h: string) => { const m = /^L(\d+)H(\d+)$/.exec(h)!; return Number(m[1]) * H + Number(m[2]); };
      const flip = ranked(totals.flip);
      const abc = ranked(totals.abc);
      assert.equal(flip[0], mover, `flip denoising ranks ${flip.join(', ')}; the card's top name mover is ${mover}`);
      assert.deepEqual(flip.slice(0, movers.length).sort(), [...movers].sort(), `the card's name movers ${movers.join(', ')} lead the flip sweep (${flip.join(', ')})`);
      const weakest = Math.min(...movers.map((h) => totals.flip[index(h)]!));
      assert.ok(weakest > MOVER_DOMINANCE * totals.flip[index(flip[movers.length]!)]!, `the name movers dominate the flip sweep (${flip.slice(0, movers.length + 2).map((h) => `${h} ${totals.flip[index(h)]!.toFixed(2)}`).join(', ')}, ...)`);
      const top = abc.slice(0, Math.max(3, critical.length));
      assert.ok(top.includes(mover) && top.includes(critical[0]!), `abc noising ranks ${abc.join(', ')}; the card's mover ${mover} and top ablation-critical head ${critical[0]} are among the first ${top.length}`);
    });

    it('unequal token lengths: refused, naming where the prompts part', async function () {
      const longer = model.tokenize('When Mary and Johnathan went to the store, Mary gave a drink to').ids;
      const part = clean.findIndex((t, i) => t !== longer[i]);
      const word = JSON.stringify(model.tokenizer!.decode([clean[part]!])).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      await assert.rejects(patchSweep(model, { clean, corrupted: longer, sweep: 'z', target: io, baseline: s }), new RegExp(`equal token lengths .*clean ${clean.length} tokens, corrupted ${longer.length}.*part at position ${part}: clean ${word}`));
    });

    it('mechlens patch --sweep --json: the documented fields; without --sweep the original output', async function () {
      const args = ['patch', '--model', DEFAULT_MODEL, '--clean', 'When Mary and John went to the store, John gave a drink to', '--corrupted', 'When Mary and John went to the store, Mary gave a drink to', '--target', ' Mary', '--baseline', ' John'];
      const r = await cli(...args, '--sweep', 'z_by_pos', '--method', 'both', '--json');
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { sweep: string; dims: string[]; metric: number[][][]; clean_metric: number; corrupted_metric: number; attribution: number[][][]; correlation: number };
      assert.equal(j.sweep, 'z_by_pos');
      assert.deepEqual(j.dims, ['layer', 'head', 'pos']);
      assert.deepEqual([j.metric.length, j.metric[0]!.length, j.metric[0]![0]!.length], [model.config.nLayers, model.config.nHeads, clean.length]);
      assert.equal(j.clean_metric, 1);
      assert.equal(j.corrupted_metric, 0);
      // Each name mover's output at the last position restores part of the answer; together (nearly additive:
      // they write the answer side by side) all of it.
      const { movers } = cardHeads();
      const restored = movers.map((h) => { const [, ml, mh] = /^L(\d+)H(\d+)$/.exec(h)!.map(Number); return j.metric[ml!]![mh!]![clean.length - 1]!; });
      assert.ok(Math.min(...restored) > 0.1 && restored.reduce((a, b) => a + b, 0) > 0.9, `the card's name movers ${movers.join(', ')} at the last position restore the answer (${restored.map((x) => x.toFixed(3)).join(' + ')})`);
      assert.ok(j.correlation > 0.5 && j.correlation <= 1, `correlation ${j.correlation}`);
      const legacy = await cli(...args, '--json');
      assert.equal(legacy.code, 0, legacy.stderr);
      assert.deepEqual(Object.keys(JSON.parse(legacy.stdout) as object), ['tokens', 'token_strings', 'layers', 'positions', 'metric']);
      const bad = await cli(...args, '--sweep', 'heads');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--sweep must be one of resid_pre, /);
    });
  });
});
