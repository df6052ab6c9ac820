// Causal abstraction (src/engine/analysis/causal.ts, das.ts, probe.ts; issue #16). Invariants: an
// interchange of the whole residual stream at every position reproduces the source run; DAS's gradient with
// respect to R is the loss's directional derivative (central differences), its loss decreases, R stays
// orthonormal, seeded runs are identical. Reference result: on the bundled model, DAS for the IOI "indirect
// object" variable at the residual stream after the name-mover layer reaches high held-out IIA while the
// random-init and random-label controls stay near chance. Bad input gets a message naming the problem.
//
// Nothing here depends on one version of the bundled model: the name-mover layer comes from
// models/mechlens-tiny/card.json, the template from its first IOI evaluation prompt, and the names are
// the evaluation targets that the shipped tokenizer encodes as one token.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { randomInitModel } from '../../src/engine/randomInit';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { buildPairs, captureHooks, identityEdit, readSite, resolveSite, writeSite } from '../../src/engine/analysis/causal';
import { dasLossGradient, randomOrthonormal, siteData } from '../../src/engine/analysis/das';
import type { Hypothesis } from '../../src/shared/causal';
import { experimentRecord } from '../../src/engine/experimentRecord';
import { serializeExperiment } from '../../src/shared/experiment';
import { DEFAULT_MODEL } from '../support/fixtures';
import { cli } from '../support/cli';

/** The layer of the model card's first name-mover head ("L3H0" -> 3), else the last layer. */
function nameMoverLayer(nLayers: number): number {
  try {
    const card = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'card.json'), 'utf8')) as { heads?: { ioi_movers?: Array<[string, ...unknown[]]> } };
    const m = /^L(\d+)H\d+$/.exec(card.heads?.ioi_movers?.[0]?.[0] ?? '');
    if (m && Number(m[1]) < nLayers) return Number(m[1]);
  } catch {
    // no card: the last layer
  }
  return nLayers - 1;
}

/** An IOI hypothesis from the model's own evaluation prompts: their first template, their single-token names. */
function ioiHypothesis(model: Model, layer: number, n: number): Hypothesis {
  const rows = readFileSync(join(DEFAULT_MODEL, 'eval', 'ioi.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; target: string });
  const names = [...new Set(rows.map((r) => r.target.trim()))].filter((name) => model.tokenize(` ${name}`).ids.length === 1 && /^\w+$/.test(name));
  assert.ok(names.length >= 6, `only ${names.length} single-token names in eval/ioi.jsonl`);
  // The first prompt whose two names are both in the list: IO is its target, S the name said twice.
  let template: string | undefined;
  for (const r of rows) {
    const io = r.target.trim();
    const s = names.find((x) => x !== io && r.prompt.split(new RegExp(`\\b${x}\\b`)).length === 3);
    if (names.includes(io) && s && r.prompt.split(new RegExp(`\\b${io}\\b`)).length === 2) {
      template = r.prompt.replace(new RegExp(`\\b${io}\\b`), '{IO}').replace(new RegExp(`\\b${s}\\b`, 'g'), '{S}');
      break;
    }
  }
  assert.ok(template, 'no IOI evaluation prompt to make a template from');
  return {
    name: 'IOI indirect object',
    templates: [template],
    slots: { IO: names, S: names },
    output: ' {IO}',
    n,
    seed: 5,
    variables: [{ name: 'IO', site: { hook: `blocks.${layer}.hook_resid_post`, positions: [-1] } }],
  };
}

describe('causal abstraction', function () {
  this.timeout(600_000);
  let model: Model;
  let layer: number;
  before(async function () {
    model = await Model.load(DEFAULT_MODEL, { threads: 1 });
    layer = nameMoverLayer(model.config.nLayers);
  });
  after(async () => model?.dispose());

  it('an interchange of the whole residual stream at every position reproduces the source run (every layer)', async function () {
    const h = ioiHypothesis(model, layer, 4);
    const { pairs } = buildPairs(model, h);
    const bases = pairs.map((p) => p.base);
    const sources = pairs.map((p) => p.sources[0]!);
    const want = (await model.forward({ tokens: sources, logits: 'all' })).logits!.data;
    const hooks = [...Array.from({ length: model.config.nLayers }, (_, l) => `blocks.${l}.hook_resid_pre`), `blocks.${model.config.nLayers - 1}.hook_resid_post`];
    for (const hook of hooks) {
      const site = resolveSite(model, { hook }, bases[0]!.length, hook);
      const src = (await captureHooks(model, sources, [hook])).get(site.hook)!;
      const edit = identityEdit(site, bases.length);
      bases.forEach((_, b) => writeSite(edit, b, site, readSite(src, b, site)));
      const got = (await model.forward({ tokens: bases, edits: new Map([[site.hook, edit]]), logits: 'all' })).logits!.data;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      // Identical computation from that point on; only the bases' different earlier activations are gone.
      assert.ok(worst <= 1e-4, `${hook}: patched logits differ from the source run's by ${worst}`);
    }
    // The same through the iia analysis: with the source's own top token as the label, IIA is 1.
    const top = (await model.forward({ tokens: sources, logits: 'last' })).logits!.data;
    const V = model.config.dVocab;
    const label = (b: number) => model.tokenText(top.subarray(b * V, (b + 1) * V).reduce((best, v, i, a) => (v > a[best]! ? i : best), 0));
    const r = await runAnalysis(model, 'iia', {
      hypothesis: { pairs: pairs.map((p, b) => ({ base: p.text.base, sources: p.text.sources, label: label(b) })), variables: [{ name: 'all', site: { hook: 'blocks.0.hook_resid_pre' } }] },
    });
    assert.equal(r.iia, 1);
  });

  it('multi-source interchange: the IO and S names, each from its own source, at their tokens before layer 0', async function () {
    const h = ioiHypothesis(model, layer, 60);
    const names = h.slots!.IO!;
    const fillT = (io: string, sName: string) => model.tokenize(h.templates![0]!.replace('{IO}', io).replace(/\{S\}/g, sName)).ids;
    const differ = (a: number[], b: number[]) => a.flatMap((x, i) => (x !== b[i] ? [i] : []));
    const ioPositions = differ(fillT(names[0]!, names[1]!), fillT(names[2]!, names[1]!));
    const sPositions = differ(fillT(names[0]!, names[1]!), fillT(names[0]!, names[2]!));
    assert.equal(ioPositions.length, 1);
    assert.equal(sPositions.length, 2);
    const two: Hypothesis = {
      ...h,
      variables: [
        { name: 'IO', site: { hook: 'blocks.0.hook_resid_pre', positions: ioPositions } },
        { name: 'S', site: { hook: 'blocks.0.hook_resid_pre', positions: sPositions } },
      ],
    };
    // Both names replaced: the run reads the IO source's IO and the S source's S, so its answer is the IO
    // source's name (the label), except when the two sources drew the same name (about 1 in 20 pairs).
    const both = await runAnalysis(model, 'iia', { hypothesis: two });
    assert.deepEqual(both.variables, ['IO', 'S']);
    assert.ok(both.iia >= 0.8, `IO + S interchanged: IIA ${both.iia}`);
    // S alone: the hypothesis' answer stays the base's IO, and so does the model's (again up to collisions).
    const sOnly = await runAnalysis(model, 'iia', { hypothesis: two, variables: ['S'] });
    assert.ok(sOnly.iia >= 0.8, `S alone: IIA ${sOnly.iia}`);
    // The labels follow the interchanged variables: IO alone expects the IO source's name, and gets it.
    const ioOnly = await runAnalysis(model, 'iia', { hypothesis: two, variables: ['IO'] });
    assert.ok(ioOnly.iia >= 0.8, `IO alone: IIA ${ioOnly.iia}`);
    assert.notDeepEqual(ioOnly.examples.map((e) => e.label), sOnly.examples.map((e) => e.label));
  });

  it("DAS's gradient with respect to R is the loss's directional derivative", async function () {
    const h = ioiHypothesis(model, layer, 8);
    const { pairs } = buildPairs(model, h);
    const site = resolveSite(model, h.variables[0]!.site!, pairs[0]!.base.length, 'site');
    const data = await siteData(model, pairs, 0, site);
    const k = 4;
    const R = randomOrthonormal(site.dim, k, 1);
    const E = randomOrthonormal(site.dim, k, 2);
    const batch = pairs.map((_, i) => i);
    const { G } = await dasLossGradient(model, pairs, batch, data, R, k);
    let analytic = 0;
    for (let i = 0; i < G.length; i++) analytic += G[i]! * E[i]!;
    const eps = 1e-2;
    const at = async (s: number) => (await dasLossGradient(model, pairs, batch, data, R.map((x, i) => x + s * eps * E[i]!), k)).loss;
    const numeric = ((await at(1)) - (await at(-1))) / (2 * eps);
    // Central differences of a float32 forward: agreement to a few percent of the derivative's size.
    assert.ok(Math.abs(numeric - analytic) <= 0.03 * Math.abs(analytic) + 1e-3, `analytic ${analytic}, central difference ${numeric}`);
  });

  it('DAS on IOI: loss decreases, R orthonormal, seeded runs identical, high held-out IIA, controls near chance', async function () {
    const hypothesis = ioiHypothesis(model, layer, 160);
    const params = { hypothesis, rank: 16, epochs: 6, seed: 3 };
    const r = await runAnalysis(model, 'das', params);
    const again = await runAnalysis(model, 'das', { ...params, controls: false });
    assert.deepEqual(again.trained.loss, r.trained.loss, 'a seeded run repeats its loss curve');
    assert.deepEqual(Array.from(again.trained.rotation), Array.from(r.trained.rotation), 'and its rotation');
    const runs = { trained: r.trained, randomLabels: r.controls!.randomLabels, randomInit: r.controls!.randomInit };
    for (const [name, run] of Object.entries(runs)) {
      assert.ok(run.orthogonality <= 1e-4, `${name}: |R^T R - I| = ${run.orthogonality}`);
      assert.equal(run.rotation.length, r.site.dim * 16);
    }
    const first = r.trained.epochLoss[0]!;
    const last = r.trained.epochLoss.at(-1)!;
    assert.ok(last < 0.5 * first, `the loss decreases (first epoch ${first}, last ${last})`);
    // Thresholds. The bundled model answers every IOI evaluation prompt (card: ioi top-1 1.0), and after the
    // name-mover layer the last position holds the answer, so interchanging the subspace that carries the
    // name should reproduce the source's answer almost always: 0.8 on 32 held-out pairs leaves room for a few
    // misses. A random-init network has no name to move: its intervened outputs are not the labels, and the
    // random-label control cannot exceed what a fixed interchange can make of labels unrelated to the
    // source; chance is 1 / (distinct labels), about 0.05-0.1 here, and 0.25 is more than 4 standard errors
    // above it at 32 pairs.
    assert.ok(r.trained.testIia >= 0.8, `held-out IIA ${r.trained.testIia}`);
    assert.ok(r.controls!.randomInit.testIia <= 0.25, `random-init control IIA ${r.controls!.randomInit.testIia} (chance ${r.chance})`);
    assert.ok(r.controls!.randomLabels.testIia <= 0.25, `random-label control IIA ${r.controls!.randomLabels.testIia} (chance ${r.chance})`);
    assert.match(r.verdict, /^Aligned/);
  });

  it('a saved subspace is a site for interchange interventions and a steering direction', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-das-'));
    try {
      const hypothesis = ioiHypothesis(model, layer, 100);
      writeFileSync(join(dir, 'ioi.json'), JSON.stringify(hypothesis));
      const prefix = join(dir, 'io');
      const das = await cli('das', '--model', DEFAULT_MODEL, '--hypothesis', join(dir, 'ioi.json'), '--rank', '8', '--out', prefix, '--no-controls', '--json');
      assert.equal(das.code, 0, das.stderr);
      const out = JSON.parse(das.stdout) as { trained: { test_iia: number; train_iia: number }; n_train: number; n_test: number; files: string[]; controls: unknown; verdict: string; site_dim: number };
      assert.equal(out.controls, null);
      assert.match(out.verdict, /not a finding/);
      assert.deepEqual(out.files, [`${prefix}.safetensors`, `${prefix}.json`, `${prefix}.steer.json`]);
      const meta = JSON.parse(readFileSync(`${prefix}.json`, 'utf8')) as { site: { hook: string }; rank: number; hypothesis: Hypothesis };
      assert.equal(meta.rank, 8);
      assert.equal(meta.site.hook, `blocks.${layer}.hook_resid_post`);
      const iia = await cli('iia', '--model', DEFAULT_MODEL, '--hypothesis', join(dir, 'ioi.json'), '--subspace', `${prefix}.safetensors`, '--json');
      assert.equal(iia.code, 0, iia.stderr);
      const r = JSON.parse(iia.stdout) as { iia: number; sites: Array<{ subspaceRank: number }> };
      assert.equal(r.sites[0]!.subspaceRank, 8);
      // The same pairs (same seed), the same float32 subspace: the iia path scores exactly what DAS measured on its two splits.
      const das2 = (out.trained.train_iia * out.n_train + out.trained.test_iia * out.n_test) / (out.n_train + out.n_test);
      assert.ok(Math.abs(r.iia - das2) < 1e-9, `IIA through the saved subspace ${r.iia}, DAS's ${das2}`);
      // Steering along the first direction (scaled by the training differences' RMS) moves the logits.
      const prompt = buildPairs(model, hypothesis).pairs[0]!.text.base;
      const plain = await cli('run', '--model', DEFAULT_MODEL, '--prompt', prompt, '--json');
      const steered = await cli('run', '--model', DEFAULT_MODEL, '--prompt', prompt, '--interventions', `${prefix}.steer.json`, '--json');
      assert.equal(steered.code, 0, steered.stderr);
      const last = (o: string) => (JSON.parse(o) as { logits: number[][] }).logits.at(-1)!;
      const moved = Math.max(...last(plain.stdout).map((v, i) => Math.abs(v - last(steered.stdout)[i]!)));
      assert.ok(moved > 0.1, `steering moved the last logits by at most ${moved}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("IIA by layer x position finds the name at its own position early and at the last position after the name movers", async function () {
    const hypothesis = ioiHypothesis(model, layer, 40);
    const r = await runAnalysis(model, 'iia', { hypothesis, sweep: { variable: 'IO', hook: 'blocks.{l}.hook_resid_post' } });
    const T = r.sweep!.tokens.length;
    // The card's IOI top-1 is at or near 1; a template from its own evaluation set is answered as well.
    assert.ok(r.baseAccuracy! >= 0.9, `base accuracy ${r.baseAccuracy}`);
    assert.ok(r.iia >= 0.9, `full interchange at the name movers' output: ${r.iia}`);
    // Layer 0: the IO name is only at its own token.
    const ioPos = r.sweep!.iia[0]!.indexOf(Math.max(...r.sweep!.iia[0]!));
    assert.ok(r.sweep!.iia[0]![ioPos]! >= 0.9 && ioPos < T - 1, `layer 0 row ${r.sweep!.iia[0]}`);
    assert.ok(r.sweep!.iia[layer]![T - 1]! >= 0.9, `after layer ${layer} at the last position: ${r.sweep!.iia[layer]}`);
  });

  it('a random-init model of the same architecture does not do the task', async function () {
    const random = await randomInitModel(model, 1, { threads: 1 });
    try {
      const r = await runAnalysis(random, 'iia', { hypothesis: ioiHypothesis(random, layer, 40) });
      assert.ok(r.iia <= 0.25, `random init full interchange IIA ${r.iia}`);
    } finally {
      await random.dispose();
    }
  });

  it('probes: accuracy beside the causal effect of projecting their directions out', async function () {
    const hypothesis = ioiHypothesis(model, layer, 80);
    const ioPos = model.tokenize(hypothesis.templates![0]!.split('{IO}')[0]! + hypothesis.slots!.IO![0]!).ids.length - 1;
    const r = await runAnalysis(model, 'probe', { hypothesis, labelSlot: 'IO', layers: [0], positions: [ioPos, -1] });
    // At the IO token in layer 0 the name is the token itself: the probe reads it perfectly, and removing
    // its directions there destroys the answer, far more than removing a random subspace of the same rank.
    assert.ok(r.accuracy[0]![0]! >= 0.9, `probe accuracy at the IO token ${r.accuracy[0]![0]}`);
    assert.ok(r.ablationEffect[0]![0]! < -1 && r.ablationEffect[0]![0]! < 10 * Math.min(-0.01, r.randomEffect[0]![0]!), `effects ${r.ablationEffect[0]} vs random ${r.randomEffect[0]}`);
    // Adding: moving the subspace component to another name's mean makes the model answer that name, mostly;
    // the same move in a random subspace almost never does.
    assert.ok(r.steerFlip[0]![0]! >= 0.5 && r.randomSteerFlip[0]![0]! <= 0.2, `steered ${r.steerFlip[0]} vs random ${r.randomSteerFlip[0]}`);
  });

  it('causal analyses are experiment types: an IIA experiment file re-runs to the same results', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-das-'));
    try {
      const params = { hypothesis: ioiHypothesis(model, layer, 30), sweep: { variable: 'IO', hook: 'blocks.{l}.hook_resid_post', layers: [0, layer] } };
      const result = await runAnalysis(model, 'iia', params);
      const file = join(dir, 'ioi-iia.mlexp.json');
      writeFileSync(file, serializeExperiment(experimentRecord(model.info, 'iia', params, result, { file })));
      const r = await cli('experiment', file, '--json');
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { analysis: string; results_changed: boolean; model_changed: boolean };
      assert.equal(out.analysis, 'iia');
      assert.equal(out.model_changed, false);
      assert.equal(out.results_changed, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('DAS stops at a cancel, with no progress after it', async function () {
    const controller = new AbortController();
    const seen: string[] = [];
    let after = 0;
    const run = runAnalysis(model, 'das', { hypothesis: ioiHypothesis(model, layer, 100), rank: 8, epochs: 1000 }, {
      signal: controller.signal,
      onProgress: (message) => {
        if (controller.signal.aborted) after++;
        seen.push(message);
        if (seen.length === 3) controller.abort();
      },
    });
    await assert.rejects(run, /cancel|abort/i);
    assert.equal(after, 0, 'no progress after the cancel');
    assert.match(seen[0]!, /^DAS trained model: step 1 \/ /);
  });

  it('CLI JSON: mechlens iia (with a sweep) and mechlens probe on a prompts file', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-das-'));
    try {
      const hypothesis = ioiHypothesis(model, layer, 20);
      writeFileSync(join(dir, 'h.json'), JSON.stringify(hypothesis));
      const iia = await cli('iia', '--model', DEFAULT_MODEL, '--hypothesis', join(dir, 'h.json'), '--sweep', 'blocks.{l}.hook_resid_post', '--json');
      assert.equal(iia.code, 0, iia.stderr);
      const r = JSON.parse(iia.stdout) as Record<string, unknown> & { sweep: { iia: number[][]; layers: number[]; tokens: string[] }; sites: Array<{ hook: string; positions: number[]; dim: number }> };
      assert.deepEqual(Object.keys(r).sort(), ['base_accuracy', 'chance', 'examples', 'hypothesis', 'iia', 'pairs', 'random_labels', 'sites', 'sweep', 'variables']);
      assert.equal(r.pairs, 20);
      assert.equal(r.sweep.iia.length, model.config.nLayers);
      assert.equal(r.sweep.iia[0]!.length, r.sweep.tokens.length);
      assert.equal(r.sites[0]!.dim, model.config.dModel);
      assert.equal(r.sites[0]!.positions[0], r.sweep.tokens.length - 1, 'position -1 resolved to the last token');
      // A probe over labelled prompts: the label is the IO name, the target the answer.
      const { pairs } = buildPairs(model, { ...hypothesis, n: 40 });
      const prompts = pairs.map((p) => ({ text: p.text.base, label: p.text.baseSlots!.IO!, target: model.tokenText(p.baseLabel!) }));
      writeFileSync(join(dir, 'prompts.json'), JSON.stringify(prompts));
      const probe = await cli('probe', '--model', DEFAULT_MODEL, '--prompts', join(dir, 'prompts.json'), '--layers', '0', '--positions=-1', '--method', 'logistic', '--json');
      assert.equal(probe.code, 0, probe.stderr);
      const q = JSON.parse(probe.stdout) as { accuracy: number[][]; ablation_effect: number[][]; random_effect: number[][]; task_accuracy: number; method: string; layers: number[] };
      assert.equal(q.method, 'logistic');
      assert.deepEqual(q.layers, [0]);
      assert.ok(q.task_accuracy >= 0.9, `task accuracy ${q.task_accuracy}`);
      assert.equal(q.accuracy.length, 1);
      assert.ok(Number.isFinite(q.ablation_effect[0]![0]!) && Number.isFinite(q.random_effect[0]![0]!));
      // A counterfactual-pair file (JSON lines, "source" for one variable) with the site from the command line.
      writeFileSync(join(dir, 'pairs.jsonl'), pairs.slice(0, 6).map((p) => JSON.stringify({ base: p.text.base, source: p.text.sources[0], label: model.tokenText(p.label) })).join('\n'));
      const fromPairs = await cli('iia', '--model', DEFAULT_MODEL, '--pairs', join(dir, 'pairs.jsonl'), '--variable', 'IO', '--site', `blocks.${layer}.hook_resid_post`, '--positions=-1', '--json');
      assert.equal(fromPairs.code, 0, fromPairs.stderr);
      const fp = JSON.parse(fromPairs.stdout) as { pairs: number; iia: number; variables: string[] };
      assert.equal(fp.pairs, 6);
      assert.deepEqual(fp.variables, ['IO']);
      const noSite = await cli('iia', '--model', DEFAULT_MODEL, '--pairs', join(dir, 'pairs.jsonl'));
      assert.equal(noSite.code, 2);
      assert.match(noSite.stderr, /No variable has a site to interchange: give X/);
      const bad = await cli('probe', '--model', DEFAULT_MODEL, '--prompts', join(dir, 'prompts.json'), '--method', 'svm');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--method must be least_squares or logistic/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad input: unknown site, prompts of different lengths, rank larger than the site', async function () {
    const h = ioiHypothesis(model, layer, 10);
    await assert.rejects(runAnalysis(model, 'das', { hypothesis: { ...h, variables: [{ name: 'IO', site: { hook: 'blocks.99.hook_resid_post' } }] }, rank: 4 }), /Unknown hook "blocks\.99\.hook_resid_post".*Did you mean/);
    await assert.rejects(runAnalysis(model, 'iia', { hypothesis: { ...h, variables: [{ name: 'IO', site: { hook: `blocks.${layer}.attn.hook_pattern` } }] } }), /attention pattern/);
    await assert.rejects(runAnalysis(model, 'das', { hypothesis: h, rank: model.config.dModel + 1 }), new RegExp(`Rank ${model.config.dModel + 1} is larger than the site: .* has ${model.config.dModel} values per position; choose a rank from 1 to ${model.config.dModel}`));
    const pairs = [{ base: 'When Mary and John went to the store, John gave the drink to', sources: ['When Mary and John went to the big store, Mary gave the drink to'], label: ' John' }];
    await assert.rejects(runAnalysis(model, 'iia', { hypothesis: { pairs, variables: [{ name: 'IO', site: { hook: 'blocks.0.hook_resid_pre' } }] } }), /Pair 1: the base .* has \d+ tokens but the source for IO .* has \d+\. Interchange sites align positions/);
    await assert.rejects(runAnalysis(model, 'iia', { hypothesis: { ...h, variables: [{ name: 'IO', slot: 'X', site: h.variables[0]!.site }] } }), /no slot "X"/);
    await assert.rejects(runAnalysis(model, 'das', { hypothesis: h, rank: 4, variable: 'Y' }), /Unknown variable "Y"/);
    await assert.rejects(runAnalysis(model, 'iia', { hypothesis: { ...h, variables: [{ name: 'IO', site: { hook: `blocks.${layer}.hook_resid_post`, positions: [99] } }] } }), /position 99 is outside the prompt/);
    // Through the CLI: exit code 2, one line.
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-das-'));
    try {
      writeFileSync(join(dir, 'h.json'), JSON.stringify(h));
      const r = await cli('das', '--model', DEFAULT_MODEL, '--hypothesis', join(dir, 'h.json'), '--rank', '100000');
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^mechlens: Rank 100000 is larger than the site/m);
      const bad = await cli('iia', '--model', DEFAULT_MODEL, '--hypothesis', join(dir, 'h.json'), '--site', 'blocks.0.hook_resid_psot');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Unknown hook "blocks\.0\.hook_resid_psot".*Did you mean: blocks\.0\.hook_resid_post/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
