// Engine checks behind the views: a tuned lens file read from disk (a zero lens is the plain logit lens;
// a hand-made one changes it exactly as computed by hand), and the head-detector grid of the bundled
// model ranks the heads its model card lists first.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { logitLens } from '../../src/engine/analysis/logitLens';
import { readTunedLens } from '../../src/engine/analysis/tunedLens';
import { detectHeads } from '../../src/engine/analysis/attention';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import { softmax } from '../../src/shared/logits';
import { DEFAULT_MODEL, fixture, maxAbsDiff } from '../support/fixtures';
import { rankHeads } from '../../webview/attention/plot';

const TOKENS = [5, 17, 3, 42, 8, 5, 17, 3];

describe('tuned lens files', function () {
  let model: Model;
  let dir: string;
  before(async () => {
    model = await Model.load(fixture('gpt2'));
    dir = mkdtempSync(join(tmpdir(), 'mechlens-tuned-'));
  });
  after(async () => {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, weight: (l: number) => Float32Array, bias: (l: number) => Float32Array): string {
    const d = model.config.dModel;
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    for (let l = 0; l < model.config.nLayers; l++) {
      tensors[`layers.${l}.weight`] = { dtype: 'F32', shape: [d, d], data: weight(l) };
      tensors[`layers.${l}.bias`] = { dtype: 'F32', shape: [d], data: bias(l) };
    }
    const file = join(dir, name);
    writeSafetensors(file, tensors);
    return file;
  }

  it('a zero lens equals the plain logit lens', async function () {
    const d = model.config.dModel;
    const file = write('zero.safetensors', () => new Float32Array(d * d), () => new Float32Array(d));
    const tuned = readTunedLens(file, model.config.nLayers, d);
    const plain = await logitLens(model, { tokens: TOKENS, full: true });
    const lensed = await logitLens(model, { tokens: TOKENS, full: true, tuned });
    plain.logits!.forEach((layer, l) => layer.forEach((row, p) => assert.ok(maxAbsDiff(row, lensed.logits![l]![p]!) < 1e-6, `layer ${l} position ${p}`)));
  });

  it('a hand-made lens changes the lens as computed by hand', async function () {
    const { dModel: d, nLayers: L, dVocab: V, normEps } = model.config;
    // Layer 0: W = -I, b = v  =>  resid' = v at every position (nn.Linear layout: y = x W^T + b).
    // Layer 1: W = diag(1), so resid' = 2 resid: LayerNorm is scale-invariant (up to eps), the lens barely moves.
    const v = Float32Array.from({ length: d }, (_, i) => Math.sin(i + 1) * 3);
    const file = write(
      'hand.safetensors',
      (l) => {
        const W = new Float32Array(d * d);
        for (let i = 0; i < d; i++) W[i * d + i] = l === 0 ? -1 : 1;
        return W;
      },
      (l) => (l === 0 ? v : new Float32Array(d)),
    );
    const tuned = readTunedLens(file, L, d);
    const lensed = await logitLens(model, { tokens: TOKENS, full: true, tuned });
    const plain = await logitLens(model, { tokens: TOKENS, full: true });
    // By hand: logits = LayerNorm(v) @ W_U^T + b_U with the model's final norm.
    const w = model.spec.weights;
    let mean = 0;
    for (const x of v) mean += x;
    mean /= d;
    let varSum = 0;
    for (const x of v) varSum += (x - mean) ** 2;
    const inv = 1 / Math.sqrt(varSum / d + normEps);
    const normed = Array.from(v, (x, i) => (x - mean) * inv * w.lnFinal.w[i]! + (w.lnFinal.b?.[i] ?? 0));
    const expected = new Float32Array(V);
    for (let t = 0; t < V; t++) {
      let s = w.b_U?.[t] ?? 0;
      for (let i = 0; i < d; i++) s += normed[i]! * w.W_U[t * d + i]!;
      expected[t] = s;
    }
    for (let p = 0; p < TOKENS.length; p++) assert.ok(maxAbsDiff(lensed.logits![0]![p]!, expected) < 1e-4, `layer 0 position ${p}`);
    const top = softmax(expected);
    assert.ok(Math.abs(lensed.top[0]![3]![0]!.prob - Math.max(...top)) < 1e-5);
    // Layer 1 doubled: same distribution up to eps; layer 0 really changed; the final row is untouched.
    for (let p = 0; p < TOKENS.length; p++) {
      assert.ok(maxAbsDiff(lensed.logits![1]![p]!, plain.logits![1]![p]!) < 1e-3, `layer 1 position ${p}`);
      assert.ok(maxAbsDiff(lensed.logits![0]![p]!, plain.logits![0]![p]!) > 1e-2, `layer 0 position ${p} changed`);
      assert.ok(maxAbsDiff(lensed.logits![L]![p]!, plain.logits![L]![p]!) < 1e-6, `final row position ${p}`);
    }
  });

  it('refuses a file with a missing layer or a wrong shape, naming the tensor', function () {
    const d = model.config.dModel;
    const file = join(dir, 'short.safetensors');
    writeSafetensors(file, { 'layers.0.weight': { dtype: 'F32', shape: [d, d], data: new Float32Array(d * d) } });
    assert.throws(() => readTunedLens(file, model.config.nLayers, d), /layers\.1\.weight is missing/);
    const bad = join(dir, 'bad.safetensors');
    writeSafetensors(bad, { 'layers.0.weight': { dtype: 'F32', shape: [d, 2], data: new Float32Array(d * 2) } });
    assert.throws(() => readTunedLens(bad, 1, d), /layers\.0\.weight has shape \[32, 2\]/);
  });
});

interface Card {
  heads: Record<'previous_token' | 'induction', Array<[string, number]>>;
}

describe('head detectors on the bundled model rank the card heads first', function () {
  this.timeout(120_000);
  let model: Model;
  let card: Card;
  before(async () => {
    card = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'card.json'), 'utf8')) as Card;
    model = await Model.load(DEFAULT_MODEL);
  });
  after(async () => model?.dispose());

  for (const kind of ['previous_token', 'induction'] as const) {
    it(`${kind}: the card's heads are the top ${kind} heads of detectHeads (what the attention view shows)`, async function () {
      const listed = card.heads[kind].map(([h]) => h);
      assert.ok(listed.length > 0, `card.json lists no ${kind} heads`);
      const scores = await detectHeads(model);
      const ranked = rankHeads(scores[kind]).map((r) => r.label);
      assert.deepEqual(new Set(ranked.slice(0, listed.length)), new Set(listed), `ranked ${ranked.join(',')}; card ${listed.join(',')}`);
    });
  }
});
