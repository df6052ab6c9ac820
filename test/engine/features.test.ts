// Feature dashboards, search and interventions on the bundled model (real onnxruntime): records valid
// against Neuronpedia's feature-details schema, top contexts equal to the maxima recomputed independently
// (plain JS dot products with the transcoder's weights over the same tokens), resumption after a cancelled
// build, steering invariants (a feature set to its own activation changes nothing; ablation equals adding
// −a·W_dec at the write hook in a plain forward; a cross-layer feature writes every later layer; the returned
// interventions replay the continuation), and bad input refused with exit code 2 and one line.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import Ajv from 'ajv';
import { Model } from '../../src/engine/model';
import { transcodersFor } from '../../src/engine/attribution/transcoders';
import { buildDashboards, readCorpus, readDashboardIndex, readFeatureDetails, readLayerDetails } from '../../src/engine/attribution/dashboards';
import type { FeatureDetails } from '../../src/engine/attribution/dashboards';
import { featureInputs, featureOutputs, steerFeatures } from '../../src/engine/attribution/featureInterventions';
import { searchFeatures } from '../../src/engine/attribution/featureSearch';
import { loadTranscoders } from '../../src/engine/attribution/transcoders';
import type { HookName } from '../../src/engine/hooks';
import type { Intervention } from '../../src/shared/interventions';
import { cli } from '../support/cli';
import { DEFAULT_MODEL, maxAbsDiff } from '../support/fixtures';
import { writeCrossLayerTranscoders } from '../support/transcoderFixtures';

const SCHEMA = join(__dirname, '..', '..', '..', 'shared', 'reference', 'graphs', 'neuronpedia-feature-details-schema.json');
const HELDOUT = join(DEFAULT_MODEL, 'eval', 'heldout_tokens.u16');
const N_TOKENS = 2048;
const PROMPT = 'When Mary and John went to the store, John gave a drink to';

describe('feature dashboards, search and steering', function () {
  this.timeout(300_000);
  let model: Model;
  let dir: string;
  let full: string;
  before(async () => {
    model = await Model.load(DEFAULT_MODEL, { threads: 1 });
    dir = mkdtempSync(join(tmpdir(), 'mechlens-features-'));
    full = join(dir, 'full');
    await buildDashboards(model, transcodersFor(model), readCorpus(model, HELDOUT, { maxTokens: N_TOKENS }), full);
  });
  after(async () => {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes Neuronpedia feature details (valid against the schema) and the circuit-tracer index', () => {
    const validate = new Ajv({ strict: false, allErrors: true }).compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    const idx = readDashboardIndex(full)!;
    assert.equal(idx.layers.length, 4);
    let checked = 0;
    for (let l = 0; l < 4; l++) {
      for (const d of readLayerDetails(full, idx, l)) {
        assert.ok(validate(d), JSON.stringify(validate.errors?.slice(0, 2)));
        assert.equal(d.layer, l);
        assert.equal(d.examples_quantiles[0]!.quantile_name, 'Top activations');
        assert.equal(d.top_logits.length, 10);
        checked++;
      }
    }
    const width = transcodersFor(model).layers[0]!.dTranscoder;
    assert.equal(checked, 4 * width);
    const ct = JSON.parse(gunzipSync(readFileSync(join(full, 'index.json.gz'))).toString()) as Array<{ filename: string; offsets: number[] }>;
    assert.deepEqual(ct.map((e) => e.filename), ['layer_0.bin', 'layer_1.bin', 'layer_2.bin', 'layer_3.bin']);
    assert.equal(ct[0]!.offsets.length, width + 1);
  });

  it('top contexts are the largest activations, recomputed independently', async () => {
    const set = transcodersFor(model);
    const L = 1;
    const t = set.layers[L]!;
    const d = model.config.dModel;
    const F = t.dTranscoder;
    const tokens = readCorpus(model, HELDOUT, { maxTokens: N_TOKENS }).tokens;
    // Every activation of layer 1 over the corpus, by JS dot products (float64) on the raw weights.
    const acts = new Float64Array(N_TOKENS * F);
    for (let w = 0; w < N_TOKENS / 128; w++) {
      const hook = `blocks.${L}.mlp.hook_in` as HookName;
      const r = await model.forward({ tokens: [Array.from(tokens.subarray(w * 128, (w + 1) * 128))], hooks: [hook], logits: 'none' });
      const x = r.hooks.get(hook)!.data;
      for (let p = 0; p < 128; p++) {
        for (let f = 0; f < F; f++) {
          let s = t.b_enc[f]!;
          for (let k = 0; k < d; k++) s += t.W_enc[f * d + k]! * x[p * d + k]!;
          acts[(w * 128 + p) * F + f] = Math.max(0, s);
        }
      }
    }
    const idx = readDashboardIndex(full)!;
    let compared = 0;
    for (const det of readLayerDetails(full, idx, L)) {
      const f = det.index;
      const column = Array.from({ length: N_TOKENS }, (_, i) => acts[i * F + f]!);
      const active = column.filter((a) => a > 1e-5);
      const want = [...column].sort((a, b) => b - a).slice(0, 20).filter((a) => a > 1e-5);
      const top = det.examples_quantiles[0]!.examples;
      // Activations near zero may round either way (float32 vs float64, 3 decimals shown): compare those above 0.01.
      const got = top.map((e) => e.tokens_acts_list[e.train_token_ind]!);
      const wantShown = want.filter((a) => a > 0.01);
      assert.ok(got.length >= wantShown.length, `feature ${f}: ${got.length} top examples, want at least ${wantShown.length}`);
      wantShown.forEach((a, i) => assert.ok(Math.abs(got[i]! - a) < 2e-3, `feature ${f} example ${i}: ${got[i]} vs ${a}`));
      for (const e of top) {
        // The example's tokens and activations are the corpus' at that position, ±16 clipped to the window.
        const at = e.sequence * 128 + e.position;
        assert.equal(e.token_id, tokens[at]);
        e.tokens_acts_list.forEach((a, k) => assert.ok(Math.abs(a - acts[(at - e.train_token_ind + k) * F + f]!) < 2e-3));
      }
      assert.ok(Math.abs(det.act_max - (want[0] ?? 0)) < 1e-4);
      assert.ok(Math.abs(det.activation_frequency * N_TOKENS - active.length) <= 2, `feature ${f}: frequency`);
      if (active.length > 0) assert.equal(det.histogram.counts.reduce((a, b) => a + b, 0), Math.round(det.activation_frequency * N_TOKENS));
      compared++;
    }
    assert.equal(compared, F);
  });

  it('a cancelled build keeps its finished layers and resumes to the same files', async () => {
    const set = transcodersFor(model);
    const corpus = readCorpus(model, HELDOUT, { maxTokens: N_TOKENS });
    const out = join(dir, 'resume');
    const controller = new AbortController();
    // A budget smaller than any layer's statistics: one layer per corpus pass, so layer 0 is finished when layer
    // 1's pass starts, whatever the transcoders' width.
    const budget = 1;
    await assert.rejects(
      buildDashboards(model, set, corpus, out, { memoryBudget: budget, signal: controller.signal, onProgress: (p) => p.layers[0] === 1 && controller.abort() }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.deepEqual(readDashboardIndex(out)!.layers.map((e) => e !== null), [true, false, false, false]);
    const mtime = statSync(join(out, 'layer_0.bin')).mtimeMs;
    const r = await buildDashboards(model, set, corpus, out, { memoryBudget: budget });
    assert.deepEqual(r.resumed, [0]);
    assert.deepEqual(r.built, [1, 2, 3]);
    assert.equal(statSync(join(out, 'layer_0.bin')).mtimeMs, mtime);
    for (let l = 0; l < 4; l++) assert.ok(readFileSync(join(out, `layer_${l}.bin`)).equals(readFileSync(join(full, `layer_${l}.bin`))), `layer ${l} as in one build`);
    // Another corpus into the same folder is refused, not mixed in.
    await assert.rejects(buildDashboards(model, set, readCorpus(model, HELDOUT, { maxTokens: 1024 }), out), /another model, transcoder set, corpus/);
  });

  it('packed layers read back the same details', async () => {
    const out = join(dir, 'packed');
    await buildDashboards(model, transcodersFor(model), readCorpus(model, HELDOUT, { maxTokens: N_TOKENS }), out, { pack: true, packQuality: 4 });
    const last = transcodersFor(model).layers[2]!.dTranscoder - 1;
    for (const [l, f] of [[0, 5], [2, last], [3, 0]] as const) assert.deepEqual(readFeatureDetails(out, l, f), readFeatureDetails(full, l, f));
  });

  it('search: features firing on a token and promoting it', () => {
    const set = transcodersFor(model);
    const det = readFeatureDetails(full, 2, [...readLayerDetails(full, readDashboardIndex(full)!, 2)].find((x) => x.act_max > 1)!.index);
    const top = det.examples_quantiles[0]!.examples[0]!;
    const r = searchFeatures(model, set, { token: top.token_id, dashboards: full, top: 5000 });
    assert.ok(r.firing.some((x) => x.layer === 2 && x.index === det.index));
    for (let i = 1; i < r.firing.length; i++) assert.ok(r.firing[i - 1]!.act >= r.firing[i]!.act);
    assert.equal(r.promoting.length, 4 * transcodersFor(model).layers[0]!.dTranscoder); // every feature of the 4 layers, at most `top`
    for (let i = 1; i < r.promoting.length; i++) assert.ok(r.promoting[i - 1]!.weight >= r.promoting[i]!.weight);
  });

  it('steering: a feature set to its own activation changes nothing', async () => {
    const set = transcodersFor(model);
    const tokens = model.tokenize(PROMPT).ids;
    const p = tokens.length - 1;
    const probe = await steerFeatures(model, set, tokens, { features: [{ layer: 2, index: 0, positions: [p], scale: 1 }], maxNewTokens: 0 });
    const acts = await featureActs(model, set, 2, tokens);
    const F = set.layers[2]!.dTranscoder;
    const f = acts.findIndex((a, i) => i >= p * F && a > 0.5) - p * F;
    assert.ok(f >= 0, 'an active feature at the last position');
    const a = acts[p * F + f]!;
    const r = await steerFeatures(model, set, tokens, { features: [{ layer: 2, index: f, positions: [p], value: a }], maxNewTokens: 6, freezeAttention: true });
    // The same continuation and top tokens; logits equal to float32 rounding (the clean side runs a graph
    // without intervention points, the steered side one with them, which onnxruntime fuses differently).
    assert.deepEqual(r.after.newTokens, r.before.newTokens);
    assert.deepEqual(r.after.top.map((t) => t.id), r.before.top.map((t) => t.id));
    for (const [i, t] of r.after.top.entries()) assert.ok(Math.abs(t.logit - r.before.top[i]!.logit) <= 1e-5 * Math.max(1, Math.abs(t.logit)), `logit of ${t.text}`);
    assert.equal(r.interventions.filter((iv) => iv.kind === 'add').length, 0);
    assert.equal(r.activations[0]!.clean, a);
    assert.equal(probe.activations.length, 1);
  });

  it('steering: ablation equals adding −a·W_dec at the write hook in a plain forward', async () => {
    const set = transcodersFor(model);
    const tokens = model.tokenize(PROMPT).ids;
    const p = 5;
    const acts = await featureActs(model, set, 1, tokens);
    const F = set.layers[1]!.dTranscoder;
    const f = acts.findIndex((a, i) => i >= p * F && a > 0.5) - p * F;
    const a = acts[p * F + f]!;
    const r = await steerFeatures(model, set, tokens, { features: [{ layer: 1, index: f, positions: [p], ablate: true }], maxNewTokens: 0, topK: 20 });
    const add: Intervention = { kind: 'add', hook: 'blocks.1.hook_mlp_out', vector: Array.from(set.layers[1]!.W_dec!.subarray(f * model.config.dModel, (f + 1) * model.config.dModel)), scale: -a, positions: [p] };
    const plain = await model.run(tokens, { interventions: [add], lastOnly: true });
    r.after.top.forEach((t) => assert.ok(Math.abs(t.logit - plain.data[t.id]!) < 1e-4, `${t.text}: ${t.logit} vs ${plain.data[t.id]}`));
    const clean = await model.run(tokens, { lastOnly: true });
    assert.ok(maxAbsDiff(plain.data, clean.data) > 1e-3, 'the ablation changes the logits');
  });

  it('steering: a cross-layer feature writes every later layer; the interventions replay the continuation', async () => {
    const clt = writeCrossLayerTranscoders(join(dir, 'clt'), model.config, 21, { dTranscoder: 64 });
    const set = loadTranscoders(clt.dir, model.config);
    const tokens = model.tokenize(PROMPT).ids;
    const p = 4;
    const r = await steerFeatures(model, set, tokens, { features: [{ layer: 1, index: 7, positions: [p], generated: true, value: 6 }], maxNewTokens: 5, freezeAttention: true });
    const adds = r.interventions.filter((iv): iv is Intervention & { kind: 'add' } => iv.kind === 'add');
    const atP = adds.filter((iv) => iv.positions?.[0] === p);
    assert.deepEqual(atP.map((iv) => iv.hook), ['blocks.1.mlp.hook_out', 'blocks.2.mlp.hook_out', 'blocks.3.mlp.hook_out']);
    atP.forEach((iv, j) => assert.deepEqual(Float32Array.from(iv.vector), clt.layers[1]!.W_dec.subarray((7 * 3 + j) * model.config.dModel, (7 * 3 + j + 1) * model.config.dModel)));
    // The current activation at p (attention patterns at their clean values): JumpReLU by hand.
    const current = r.activations.find((x) => x.position === p)!;
    assert.ok(atP.every((iv) => Math.abs(iv.scale! - (6 - current.current)) < 1e-6));
    // Generated positions are steered too, and the same interventions replay the continuation.
    assert.ok(adds.some((iv) => (iv.positions?.[0] ?? 0) >= tokens.length));
    const replay = await model.generate(tokens, { maxNewTokens: 5, interventions: r.interventions });
    assert.deepEqual(replay, r.after.newTokens);
  });

  it('top inputs and top outputs of a feature', async () => {
    const set = transcodersFor(model);
    const tokens = model.tokenize(PROMPT).ids;
    const acts = await featureActs(model, set, 3, tokens);
    const F = set.layers[3]!.dTranscoder;
    const p = tokens.length - 1;
    const f = acts.findIndex((a, i) => i >= p * F && a > 0.5) - p * F;
    const r = await featureInputs(model, set, tokens, { layer: 3, index: f, top: 10 });
    assert.equal(r.inputs.length, 10);
    assert.ok(Math.abs(r.activation - acts[p * F + f]!) < 1e-4);
    for (let i = 1; i < r.inputs.length; i++) assert.ok(Math.abs(r.inputs[i - 1]!.weight) >= Math.abs(r.inputs[i]!.weight));
    const o = await featureOutputs(model, set, { layer: 1, index: f, top: 5 });
    assert.equal(o.features.length, 5);
    assert.ok(o.features.every((x) => x.layer > 1));
    assert.deepEqual(o.topLogits.map((x) => x.id), readFeatureDetails(full, 1, f).top_logits_ids.slice(0, 5));
  });
});

async function featureActs(model: Model, set: ReturnType<typeof transcodersFor>, layer: number, tokens: number[]): Promise<Float32Array> {
  const hook = `blocks.${layer}.${set.inputHook}` as HookName;
  const r = await model.forward({ tokens: [tokens], hooks: [hook], logits: 'none' });
  const { TranscoderRunner } = await import('../../src/engine/attribution/transcoders');
  return (await TranscoderRunner.create(model.graphs, set, set.layers[layer]!, model.config.dModel)).encode(r.hooks.get(hook)!.data);
}

describe('mechlens features / feature / steer from the command line', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'mechlens-features-cli-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const oneLine = (r: { code: number; stderr: string }, pattern: RegExp) => {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };

  it('the bundled model ships dashboards that `feature` prints as valid feature details', async () => {
    const validate = new Ajv({ strict: false }).compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    const r = await cli('feature', '--model', DEFAULT_MODEL, '--layer', '2', '--index', '17', '--json');
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as FeatureDetails;
    assert.ok(validate(d));
    assert.equal(d.index, 17);
    assert.equal(d.n_tokens, 131072);
  });

  it('feature --corpus computes one feature straight from text; steer prints both sides', async () => {
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'When Mary and John went to the store, John gave a drink to Mary. The people of Sarth speak Sarthi.\n'.repeat(4));
    const r = await cli('feature', '--model', DEFAULT_MODEL, '--layer', '0', '--index', '3', '--corpus', text, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as FeatureDetails).index, 3);
    const out = join(dir, 'steer.json');
    const s = await cli('steer', '--model', DEFAULT_MODEL, '--prompt', PROMPT, '--layer', '3', '--index', '5', '--value', '8', '--generated', '--max-new-tokens', '4', '--out', out, '--json');
    assert.equal(s.code, 0, s.stderr);
    const j = JSON.parse(s.stdout) as { before: { new_tokens: number[] }; after: { new_tokens: number[] }; interventions: unknown[] };
    assert.equal(j.before.new_tokens.length, 4);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), j.interventions);
    const g = await cli('generate', '--model', DEFAULT_MODEL, '--prompt', PROMPT, '--max-new-tokens', '4', '--interventions', out, '--json');
    assert.equal(g.code, 0, g.stderr);
    assert.deepEqual((JSON.parse(g.stdout) as { new_tokens: number[] }).new_tokens, j.after.new_tokens);
  });

  it('bad input: no text, bad layer or index, a bad steer, a cancelled build', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'a.txt'), '   \n\n');
    oneLine(await cli('features', '--model', DEFAULT_MODEL, '--corpus', empty, '--out', join(dir, 'o1')), /has no text/);
    oneLine(await cli('feature', '--model', DEFAULT_MODEL, '--layer', '9', '--index', '0'), /Layer 9 is outside/);
    oneLine(await cli('feature', '--model', DEFAULT_MODEL, '--layer', '1', '--index', '5000'), /Feature 5000 is outside layer 1's \d+ features/);
    oneLine(await cli('steer', '--model', DEFAULT_MODEL, '--prompt', PROMPT, '--layer', '1', '--index', '3'), /exactly one of --value/);
    oneLine(await cli('steer', '--model', DEFAULT_MODEL, '--prompt', PROMPT, '--layer', '1', '--index', '3', '--ablate', '--positions', '99'), /position 99 is beyond the prompt/);
    // Cancel: SIGINT once the build reports progress.
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'cli.js'), 'features', '--model', DEFAULT_MODEL, '--corpus', HELDOUT, '--out', join(dir, 'cancelled')]);
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => {
        if (!stderr) child.kill('SIGINT');
        stderr += b.toString();
      });
      child.on('close', (code) => resolve({ code: code ?? -1, stderr: stderr.split('\n').filter((l) => !/^\s*\d+% /.test(l)).join('\n') }));
    });
    oneLine(r, /Cancelled: finished layers are kept/);
  });
});
