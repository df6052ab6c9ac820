// The graph view's feature messages are checked in the host before any handler runs (no paths, no prompt,
// no transcoder folder can come from the webview), and the dashboards store picks the right folder: keyed by
// the model's and transcoders' content, the last finished build over the shipped dashboards.
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureStore } from '../../src/host/featureStore';
import { graphNeedsOtherModel, validateGraphParams } from '../../src/shared/graphProtocol';

const ok = (method: string, params: unknown) => assert.doesNotThrow(() => validateGraphParams(method, params), `${method} ${JSON.stringify(params)}`);
const bad = (method: string, params: unknown, re: RegExp) => assert.throws(() => validateGraphParams(method, params), re, `${method} ${JSON.stringify(params)}`);

describe('graph view feature messages', () => {
  it('feature/details takes a layer and an index, nothing else', () => {
    ok('feature/details', { layer: 1, index: 7 });
    bad('feature/details', { layer: 1, index: 7, dashboards: '/tmp/x' }, /dashboards/);
    bad('feature/details', { layer: -1, index: 7 }, /layer/);
    bad('feature/details', { layer: 1, index: '7' }, /index/);
  });

  it('feature/search: by token or label, bounded text', () => {
    ok('feature/search', { by: 'token', query: ' John' });
    ok('feature/search', { by: 'label', query: 'names' });
    bad('feature/search', { by: 'path', query: '/etc' }, /by/);
    bad('feature/search', { by: 'label', query: 'x'.repeat(201) }, /query/);
  });

  it('feature/steer: interventions checked, the prompt and transcoders never from the view', () => {
    const base = { features: [{ layer: 0, index: 3, value: 10, generated: true }], freezeAttention: false, maxNewTokens: 12 };
    ok('feature/steer', base);
    ok('feature/steer', { ...base, seed: 5, temperature: 1 });
    bad('feature/steer', { ...base, features: [] }, /at least one feature/);
    bad('feature/steer', { ...base, features: [{ layer: 0, index: 3, value: 1, scale: 2 }] }, /exactly one/);
    bad('feature/steer', { ...base, maxNewTokens: 65 }, /maxNewTokens/);
    bad('feature/steer', { ...base, prompt: { text: 'x' } }, /prompt/);
    bad('feature/steer', { ...base, transcoders: '/tmp' }, /transcoders/);
    bad('feature/steer', { ...base, features: [{ layer: 0, index: 3, value: Infinity }] }, /value/);
  });

  it('feature/inputs, feature/outputs and feature/buildDashboards take no path', () => {
    ok('feature/inputs', { layer: 2, index: 1, position: 4 });
    ok('feature/outputs', { layer: 2, index: 1 });
    ok('feature/buildDashboards', {});
    bad('feature/buildDashboards', { corpus: '/etc/passwd' }, /corpus/);
    bad('feature/outputs', { layer: 2, index: 1, transcoders: '/x' }, /transcoders/);
  });

  it('a graph needs its own model: MechLens names the transcoder set after it', () => {
    assert.equal(graphNeedsOtherModel('mechlens-tiny-transcoders-relu-1024', 'mechlens-tiny'), false);
    assert.equal(graphNeedsOtherModel('mechlens-tiny', 'mechlens-tiny'), false);
    assert.equal(graphNeedsOtherModel('gemma-2-2b', 'mechlens-tiny'), true);
    assert.equal(graphNeedsOtherModel('mechlens-tiny-x', undefined), true);
  });
});

describe('FeatureStore', () => {
  let root: string;
  let model: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mechlens-store-'));
    model = join(root, 'model');
    mkdirSync(join(model, 'transcoders'), { recursive: true });
    writeFileSync(join(model, 'config.json'), '{"a":1}');
    writeFileSync(join(model, 'model.safetensors'), 'weights');
    writeFileSync(join(model, 'transcoders', 'layer_0.safetensors'), 't0');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keys builds by the model and transcoders content, not their folder files that are not the model', async () => {
    const store = new FeatureStore(join(root, 'storage'));
    const k1 = await store.keyDir(model);
    mkdirSync(join(model, 'features'));
    writeFileSync(join(model, 'features', 'index.json'), '{}');
    assert.equal(await store.keyDir(model), k1, 'features/ is not part of the model');
    writeFileSync(join(model, 'transcoders', 'layer_0.safetensors'), 't0 retrained');
    assert.notEqual(await store.keyDir(model), k1, 'other transcoders, other folder');
    writeFileSync(join(model, 'transcoders', 'layer_0.safetensors'), 't0');
    assert.equal(await store.keyDir(model), k1);
    writeFileSync(join(model, 'model.safetensors'), 'other weights');
    assert.notEqual(await store.keyDir(model), k1, 'other weights, other folder');
  });

  it('reads the last finished build, else the shipped dashboards, else says there are none', async () => {
    const store = new FeatureStore(join(root, 'storage'));
    assert.equal((await store.choose(model, 'tiny')).exists, false);
    mkdirSync(join(model, 'features'));
    writeFileSync(join(model, 'features', 'index.json'), JSON.stringify({ corpus: { description: 'held-out, 9 tokens' }, layers: [{}] }));
    const shipped = await store.choose(model, 'tiny');
    assert.deepEqual(shipped, { dir: undefined, source: 'shipped with tiny (held-out, 9 tokens)', exists: true });
    const dir = await store.corpusDir(model, '/data/corpus');
    assert.equal(await store.corpusDir(model, '/data/corpus'), dir, 'the same corpus resumes in the same folder');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ n_layers: 2, corpus: { description: 'corpus, 5 tokens' }, layers: [{}, null] }));
    assert.deepEqual(await store.progress(dir), { done: 1, total: 2 });
    await store.setLatest(model, dir, '/data/corpus');
    assert.equal((await store.choose(model, 'tiny')).dir, undefined, 'an unfinished build is not read');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ n_layers: 2, corpus: { description: 'corpus, 5 tokens' }, layers: [{}, {}] }));
    assert.deepEqual(await store.choose(model, 'tiny'), { dir, source: 'built on corpus (corpus, 5 tokens)', exists: true });
  });
});
