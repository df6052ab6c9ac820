// Transcoder and SAE loaders against the values the fixture writers generated (test/support/
// transcoderFixtures.ts), in every format: encoding and reconstruction through onnxruntime against plain
// JS dot products on the raw arrays, TopK keeping exactly k, cross-layer decoder rows (shape and order),
// decoder rows read on demand equal to resident ones, half-precision storage, real hook inputs leaving a
// modest share of features active, and each refusal's message.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import type { ModelConfig } from '../../src/engine/architectures/spec';
import { loadCheckpoint } from '../../src/engine/checkpoint/load';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import { TranscoderRunner, loadTranscoders } from '../../src/engine/attribution/transcoders';
import type { LoadTranscoderOptions, TranscoderSet } from '../../src/engine/attribution/transcoders';
import { SaeRunner, loadSae, saeFeatureActivations, saeFeatureDirection } from '../../src/engine/attribution/sae';
import type { HookName } from '../../src/engine/hooks';
import { saeFeatures } from '../../src/cli/saeCommand';
import { DEFAULT_MODEL, fixture, maxAbsDiff } from '../support/fixtures';
import {
  rng,
  writeCrossLayerTranscoders,
  writeGemmaScope2,
  writeGemmaScopeNpz,
  writeJumpReluTranscoders,
  writePerLayerTranscoders,
  writeSaeLens,
  writeTopKSkipTranscoders,
} from '../support/transcoderFixtures';
import type { WrittenLayer, WrittenSae } from '../support/transcoderFixtures';

const TOL = 1e-4;
/** JumpReLU / TopK decisions within this of the boundary may differ between float32 and float64 sums. */
const BOUNDARY = 1e-4;

type Act = { kind: 'relu' } | { kind: 'jumprelu' } | { kind: 'topk'; k: number; relu?: boolean };

/** Pre-activations x @ W_encᵀ + b_enc in float64: [N, d_out]. */
function preacts(x: Float32Array, W_enc: Float32Array, b_enc: Float32Array, dIn: number): Float64Array {
  const n = x.length / dIn;
  const dOut = b_enc.length;
  const out = new Float64Array(n * dOut);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < dOut; f++) {
      let s = b_enc[f]!;
      for (let j = 0; j < dIn; j++) s += x[i * dIn + j]! * W_enc[f * dIn + j]!;
      out[i * dOut + f] = s;
    }
  }
  return out;
}

/** Checks engine activations against the reference, skipping decisions within BOUNDARY of their cut. */
function checkActs(acts: Float32Array, pre: Float64Array, dOut: number, act: Act, threshold?: Float32Array): void {
  const n = pre.length / dOut;
  let ambiguous = 0;
  for (let i = 0; i < n; i++) {
    const row = pre.subarray(i * dOut, (i + 1) * dOut);
    const got = acts.subarray(i * dOut, (i + 1) * dOut);
    // TopK: kept iff at least the k-th largest; ambiguous only when the k-th and (k+1)-th nearly tie.
    let cut = 0;
    let tie = false;
    if (act.kind === 'topk') {
      const sorted = [...row].sort((a, b) => b - a);
      cut = sorted[act.k - 1]!;
      tie = sorted[act.k - 1]! - (sorted[act.k] ?? -Infinity) < BOUNDARY;
      assert.equal(got.filter((v) => v !== 0).length, act.relu ? Math.min(act.k, row.filter((v) => v >= cut && v > 0).length) : act.k, `row ${i}: TopK keeps exactly k`);
    }
    for (let f = 0; f < dOut; f++) {
      const p = row[f]!;
      const c = act.kind === 'jumprelu' ? threshold![f]! : cut;
      if ((act.kind === 'jumprelu' || (act.kind === 'topk' && tie)) && Math.abs(p - c) < BOUNDARY) {
        ambiguous++;
        continue;
      }
      const on = act.kind === 'relu' ? p > 0 : act.kind === 'jumprelu' ? p > c : p >= c;
      const want = on && !(act.kind === 'topk' && act.relu && p <= 0) ? p : 0;
      assert.ok(Math.abs(got[f]! - want) <= TOL, `row ${i} feature ${f}: engine ${got[f]} vs reference ${want} (pre ${p})`);
    }
  }
  assert.ok(ambiguous <= n, `${ambiguous} boundary cases`);
}

/** acts @ W_dec + b_dec (+ x @ W_skipᵀ) for a per-layer transcoder, float64. */
function reconRef(acts: Float32Array, x: Float32Array, t: WrittenLayer, d: number): Float32Array {
  const dTc = t.b_enc.length;
  const n = acts.length / dTc;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = t.b_dec[j]!;
      for (let f = 0; f < dTc; f++) s += acts[i * dTc + f]! * t.W_dec[f * d + j]!;
      if (t.W_skip) for (let m = 0; m < d; m++) s += x[i * d + m]! * t.W_skip[j * d + m]!;
      out[i * d + j] = s;
    }
  }
  return out;
}

function randomInputs(n: number, d: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n * d }, () => r.normal());
}

function assertThrowsUser(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error && e.name === 'UserError', `expected a UserError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

describe('transcoder and SAE loaders', function () {
  this.timeout(120_000);
  let root: string;
  let model: Model;
  let config: ModelConfig;
  let counter = 0;
  const fresh = (name: string) => join(root, `${counter++}-${name}`);
  /** mlp.hook_in (and friends) of the gpt2 fixture on a few random token rows: [N, d]. */
  let hookInputs: (hook: string, layer: number) => Promise<Float32Array>;

  before(async function () {
    root = mkdtempSync(join(tmpdir(), 'mechlens-transcoders-'));
    model = await Model.load(fixture('gpt2'));
    config = model.config;
    const r = rng(7);
    const rows = Array.from({ length: 4 }, () => Array.from({ length: 12 }, () => Math.floor(r.uniform() * config.dVocab)));
    hookInputs = async (hook, layer) => {
      const name = `blocks.${layer}.${hook}` as HookName;
      const out = await model.forward({ tokens: rows, hooks: [name], logits: 'none' });
      return out.hooks.get(name)!.data;
    };
  });
  after(async function () {
    await model.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  /** Encode and run through the engine on real hook inputs and random ones, against the reference. */
  async function checkPerLayer(set: TranscoderSet, written: WrittenLayer[], act: (l: number) => Act): Promise<void> {
    const d = config.dModel;
    for (let l = 0; l < config.nLayers; l++) {
      const t = written[l]!;
      const runner = await TranscoderRunner.create(model.graphs, set, set.layers[l]!, d);
      for (const x of [await hookInputs(set.inputHook, l), randomInputs(16, d, 100 + l)]) {
        const pre = preacts(x, t.W_enc, t.b_enc, d);
        const acts = await runner.encode(x);
        checkActs(acts, pre, t.b_enc.length, act(l), t.threshold);
        const both = await runner.run(x);
        assert.deepEqual(both.acts, acts);
        assert.ok(maxAbsDiff(both.recon, reconRef(acts, x, t, d)) <= TOL, `layer ${l} reconstruction`);
      }
    }
  }

  describe('circuit-tracer per-layer sets', function () {
    it('JumpReLU: encodes and reconstructs as the raw arrays say; real inputs leave 2–30% of features active', async function () {
      const w = writeJumpReluTranscoders(fresh('jumprelu'), config, 1);
      const set = loadTranscoders(w.dir, config);
      assert.equal(set.kind, 'per_layer');
      assert.equal(set.format, 'circuit-tracer');
      assert.equal(set.inputHook, 'mlp.hook_in');
      assert.equal(set.outputHook, 'mlp.hook_out');
      assert.equal(set.scan, 'fixture-jumprelu-1');
      assert.deepEqual(set.layers[0]!.activation, { kind: 'jumprelu' });
      assert.deepEqual(set.layers[1]!.threshold, w.layers[1]!.threshold);
      await checkPerLayer(set, w.layers, () => ({ kind: 'jumprelu' }));
      for (let l = 0; l < config.nLayers; l++) {
        const acts = await (await TranscoderRunner.create(model.graphs, set, set.layers[l]!, config.dModel)).encode(await hookInputs('mlp.hook_in', l));
        const share = acts.filter((v) => v !== 0).length / acts.length;
        assert.ok(share >= 0.02 && share <= 0.3, `layer ${l}: ${(share * 100).toFixed(1)}% active`);
      }
    });

    it('ReLU', async function () {
      const w = writePerLayerTranscoders(fresh('relu'), config, 2, { activation: 'relu' });
      const set = loadTranscoders(w.dir, config);
      assert.deepEqual(set.layers[0]!.activation, { kind: 'relu' });
      await checkPerLayer(set, w.layers, () => ({ kind: 'relu' }));
    });

    it('TopK with a skip path (k in config.yaml): exactly k kept per row, negatives included, skip in the reconstruction', async function () {
      const w = writeTopKSkipTranscoders(fresh('topk'), config, 3, 8);
      const set = loadTranscoders(w.dir, config);
      assert.deepEqual(set.layers[0]!.activation, { kind: 'topk', k: 8 });
      assert.deepEqual(set.layers[0]!.W_skip, w.layers[0]!.W_skip);
      await checkPerLayer(set, w.layers, () => ({ kind: 'topk', k: 8 }));
      // Shifted far below zero, every kept value is negative: TopK has no ReLU.
      const shifted = new Float32Array(16 * config.dModel);
      const runner = await TranscoderRunner.create(model.graphs, set, set.layers[0]!, config.dModel);
      const layer0 = { ...set.layers[0]!, b_enc: set.layers[0]!.b_enc.map((v) => v - 100) };
      const low = await TranscoderRunner.create(model.graphs, { ...set, dir: `${set.dir}#shifted` }, layer0, config.dModel);
      const acts = await low.encode(shifted);
      const dTc = w.dTranscoder;
      for (let i = 0; i < 16; i++) assert.equal(acts.subarray(i * dTc, (i + 1) * dTc).filter((v) => v < -90).length, 8);
      assert.equal((await runner.encode(shifted)).filter((v) => v !== 0).length, 16 * 8);
    });

    it('TopK with k as a scalar I64 tensor in each file', async function () {
      const w = writePerLayerTranscoders(fresh('topk-file'), config, 4, { activation: 'topk', k: 5, kInFile: true });
      const set = loadTranscoders(w.dir, config);
      assert.deepEqual(set.layers[1]!.activation, { kind: 'topk', k: 5 });
      await checkPerLayer(set, w.layers, () => ({ kind: 'topk', k: 5 }));
    });

    it('bf16 and f16 storage load to the stored values exactly (encoders, biases, thresholds, decoder rows on demand)', async function () {
      for (const dtype of ['BF16', 'F16'] as const) {
        const w = writeJumpReluTranscoders(fresh(`half-${dtype}`), config, 5, { dtype });
        const set = loadTranscoders(w.dir, config, { decoder: 'on_demand' });
        for (let l = 0; l < config.nLayers; l++) {
          const t = set.layers[l]!;
          assert.deepEqual(t.W_enc, w.layers[l]!.W_enc);
          assert.deepEqual(t.b_enc, w.layers[l]!.b_enc);
          assert.deepEqual(t.threshold, w.layers[l]!.threshold);
          assert.deepEqual(set.decoder(l), w.layers[l]!.W_dec);
        }
        await checkPerLayer(set, w.layers, () => ({ kind: 'jumprelu' }));
      }
    });

    it('a `transcoders` list of local paths (and {layer, filepath} entries) is read in order', function () {
      const w = writeJumpReluTranscoders(fresh('listed'), config, 6);
      mkdirSync(join(w.dir, 'sub'));
      // Listed in reverse, under other names: the list decides which file is which layer.
      const files = ['sub/b.safetensors', 'sub/a.safetensors'];
      writeFileSync(join(w.dir, 'sub', 'a.safetensors'), readFileSync(join(w.dir, 'layer_0.safetensors')));
      writeFileSync(join(w.dir, 'sub', 'b.safetensors'), readFileSync(join(w.dir, 'layer_1.safetensors')));
      rmSync(join(w.dir, 'layer_0.safetensors'));
      rmSync(join(w.dir, 'layer_1.safetensors'));
      writeFileSync(join(w.dir, 'config.yaml'), `feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders:\n${files.map((f) => `  - ${f}\n`).join('')}`);
      const set = loadTranscoders(w.dir, config);
      assert.deepEqual(set.layers[0]!.W_enc, w.layers[1]!.W_enc);
      assert.deepEqual(set.layers[1]!.W_enc, w.layers[0]!.W_enc);
      writeFileSync(join(w.dir, 'config.yaml'), `feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders:\n  - {layer: 0, filepath: sub/a.safetensors}\n  - {layer: 1, filepath: sub/b.safetensors}\n`);
      assert.deepEqual(loadTranscoders(w.dir, config).layers[0]!.W_enc, w.layers[0]!.W_enc);
    });
  });

  describe('decoder rows', function () {
    it('on demand equal the resident ones, in the order asked (repeats, runs, out of order)', async function () {
      const w = writeTopKSkipTranscoders(fresh('rows'), config, 7, 4);
      const resident = loadTranscoders(w.dir, config, { decoder: 'resident' });
      const onDemand = loadTranscoders(w.dir, config, { decoder: 'on_demand' });
      const auto = loadTranscoders(w.dir, config);
      assert.equal(resident.decoderResident, true);
      assert.equal(onDemand.decoderResident, false);
      assert.equal(auto.decoderResident, true, 'small sets stay resident by default');
      assert.equal(onDemand.layers[0]!.W_dec, undefined);
      const d = config.dModel;
      const features = [5, 6, 7, 3, 3, 127, 0, 1, 64];
      for (let l = 0; l < config.nLayers; l++) {
        const rows = onDemand.decoderRows(l, features);
        assert.equal(rows.length, features.length * d);
        assert.deepEqual(rows, resident.decoderRows(l, features));
        features.forEach((f, i) => assert.deepEqual(rows.subarray(i * d, (i + 1) * d), w.layers[l]!.W_dec.subarray(f * d, (f + 1) * d)));
        assert.deepEqual(onDemand.decoderRows(l, []), new Float32Array(0));
        assert.deepEqual(onDemand.decoder(l), w.layers[l]!.W_dec);
      }
      // The reconstruction of an on-demand set reads its decoder once and equals the resident one.
      const x = randomInputs(8, d, 9);
      const a = await (await TranscoderRunner.create(model.graphs, onDemand, onDemand.layers[1]!, d)).run(x);
      const b = await (await TranscoderRunner.create(model.graphs, { ...resident, dir: `${resident.dir}#resident` }, resident.layers[1]!, d)).run(x);
      assert.ok(maxAbsDiff(a.recon, b.recon) <= 1e-6);
    });

    it('cross-layer transcoders: [features, n_layers − layer, d_model], entry j the decoder into layer + j, on demand and resident', async function () {
      const bundled = loadCheckpoint(DEFAULT_MODEL).spec.config; // 4 layers: nOut 4, 3, 2, 1
      const w = writeCrossLayerTranscoders(fresh('clt'), bundled, 8, { dTranscoder: 64 });
      const d = bundled.dModel;
      for (const decoder of ['resident', 'on_demand'] as LoadTranscoderOptions['decoder'][]) {
        const set = loadTranscoders(w.dir, bundled, { decoder });
        assert.equal(set.kind, 'cross_layer');
        assert.equal(set.format, 'circuit-tracer-clt');
        assert.equal(set.layers.length, 4);
        for (let l = 0; l < 4; l++) {
          const nOut = 4 - l;
          const features = [63, 0, 17, 18];
          const rows = set.decoderRows(l, features);
          assert.equal(rows.length, features.length * nOut * d);
          features.forEach((f, i) => {
            for (let j = 0; j < nOut; j++) {
              const got = rows.subarray((i * nOut + j) * d, (i * nOut + j + 1) * d);
              const want = w.layers[l]!.W_dec.subarray((f * nOut + j) * d, (f * nOut + j + 1) * d);
              assert.deepEqual(got, want, `layer ${l} feature ${f} into layer ${l + j}`);
            }
          });
          assert.deepEqual(set.layers[l]!.b_dec, w.layers[l]!.b_dec);
          assert.deepEqual(set.layers[l]!.activation, { kind: 'jumprelu' });
        }
      }
    });

    it('cross-layer encoders run on real inputs; a per-layer reconstruction is refused', async function () {
      const w = writeCrossLayerTranscoders(fresh('clt-gpt2'), config, 9);
      const set = loadTranscoders(w.dir, config);
      for (let l = 0; l < config.nLayers; l++) {
        const runner = await TranscoderRunner.create(model.graphs, set, set.layers[l]!, config.dModel);
        const x = await hookInputs('mlp.hook_in', l);
        checkActs(await runner.encode(x), preacts(x, w.layers[l]!.W_enc, w.layers[l]!.b_enc, config.dModel), w.dTranscoder, { kind: 'jumprelu' }, w.layers[l]!.threshold);
        await assert.rejects(runner.run(x), /cross-layer/);
      }
    });
  });

  describe('GemmaScope formats', function () {
    for (const compressed of [false, true]) {
      it(`GemmaScope params.npz (${compressed ? 'deflated, as np.savez_compressed' : 'stored, as np.savez'}): W_enc transposed, JumpReLU, decoder rows ${compressed ? 'read once' : 'on demand'}`, async function () {
        const w = writeGemmaScopeNpz(fresh(`npz-${compressed}`), config, 10, { compressed });
        const set = loadTranscoders(w.dir, config, { decoder: 'on_demand' });
        assert.equal(set.format, 'gemmascope');
        assert.equal(set.inputHook, 'ln2.hook_normalized');
        assert.equal(set.outputHook, 'hook_mlp_out');
        assert.equal(set.decoderResident, compressed, 'compressed entries cannot be read by rows');
        for (let l = 0; l < config.nLayers; l++) {
          assert.deepEqual(set.layers[l]!.W_enc, w.layers[l]!.W_enc);
          assert.deepEqual(set.decoderRows(l, [9, 2]), Float32Array.from([...w.layers[l]!.W_dec.subarray(9 * 32, 10 * 32), ...w.layers[l]!.W_dec.subarray(2 * 32, 3 * 32)]));
        }
        await checkPerLayer(set, w.layers, () => ({ kind: 'jumprelu' }));
      });
    }

    it('GemmaScope-2 safetensors keys (bf16): w_enc transposed, affine_skip_connection becomes W_skip', async function () {
      const w = writeGemmaScope2(fresh('gs2'), config, 11, { skip: true });
      const set = loadTranscoders(w.dir, config, { decoder: 'on_demand' });
      assert.equal(set.format, 'gemmascope-2');
      for (let l = 0; l < config.nLayers; l++) {
        assert.deepEqual(set.layers[l]!.W_enc, w.layers[l]!.W_enc);
        assert.deepEqual(set.layers[l]!.W_skip, w.layers[l]!.W_skip);
      }
      await checkPerLayer(set, w.layers, () => ({ kind: 'jumprelu' }));
    });
  });

  describe('refusals name the file and the mismatch', function () {
    const load = (dir: string, cfg: ModelConfig = config) => () => loadTranscoders(dir, cfg);

    it('d_model', function () {
      const w = writeJumpReluTranscoders(fresh('dmodel'), { ...config, dModel: 48 }, 12);
      assertThrowsUser(load(w.dir), /layer_0\.safetensors/, /b_dec has length 48/, /d_model is 32/);
      writeFileSync(join(w.dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\nd_model: 48\n');
      assertThrowsUser(load(w.dir), /config\.yaml says d_model 48/, /d_model is 32/);
    });

    it('layer count: too many files, a missing one, a list of the wrong length, a missing listed file', function () {
      const many = writeJumpReluTranscoders(fresh('many'), { ...config, nLayers: 3 }, 13);
      assertThrowsUser(load(many.dir), /layer_2\.safetensors/, /2 layers/);
      const missing = writeJumpReluTranscoders(fresh('missing'), config, 14);
      rmSync(join(missing.dir, 'layer_1.safetensors'));
      assertThrowsUser(load(missing.dir), /layer_1\.safetensors is missing/, /2 layers/);
      writeFileSync(join(missing.dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders: [layer_0.safetensors]\n');
      assertThrowsUser(load(missing.dir), /lists 1 files/, /2 layers/);
      writeFileSync(join(missing.dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders: [layer_0.safetensors, layer_1.safetensors]\n');
      assertThrowsUser(load(missing.dir), /layer_1\.safetensors, listed in config\.yaml, is missing/);
      const clt = writeCrossLayerTranscoders(fresh('clt-missing'), config, 15);
      rmSync(join(clt.dir, 'W_dec_1.safetensors'));
      assertThrowsUser(load(clt.dir), /W_dec_1\.safetensors is missing/);
      const clt3 = writeCrossLayerTranscoders(fresh('clt-3'), { ...config, nLayers: 3 }, 15);
      assertThrowsUser(load(clt3.dir), /3 encoder files/, /2 layers/);
    });

    it('hooks: unsupported names and hooks the model does not have', async function () {
      const w = writeJumpReluTranscoders(fresh('hooks'), config, 16);
      writeFileSync(join(w.dir, 'config.yaml'), 'feature_input_hook: hook_resid_pre\nfeature_output_hook: mlp.hook_out\n');
      assertThrowsUser(load(w.dir), /feature_input_hook "hook_resid_pre" is not supported/, /mlp\.hook_in/);
      writeFileSync(join(w.dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\n');
      assertThrowsUser(load(w.dir), /no feature_output_hook/);
      const neox = loadCheckpoint(fixture('neox')).spec.config; // parallel attention and MLP: no hook_resid_mid
      const p = writeJumpReluTranscoders(fresh('neox'), neox, 17, { inputHook: 'hook_resid_mid' });
      assertThrowsUser(load(p.dir, neox), /hook_resid_mid/, /does not have/);
    });

    it('NaN and infinite values (resident at load; on-demand rows when read)', function () {
      const w = writeJumpReluTranscoders(fresh('nan'), config, 18);
      const d = config.dModel;
      const t = w.layers[1]!;
      const enc = t.W_enc.slice();
      enc[5] = NaN;
      const tensors = (W_enc: Float32Array, W_dec: Float32Array) => ({
        W_enc: { dtype: 'F32' as const, shape: [128, d], data: W_enc },
        W_dec: { dtype: 'F32' as const, shape: [128, d], data: W_dec },
        b_enc: { dtype: 'F32' as const, shape: [128], data: t.b_enc },
        b_dec: { dtype: 'F32' as const, shape: [d], data: t.b_dec },
        'activation_function.threshold': { dtype: 'F32' as const, shape: [128], data: t.threshold! },
      });
      writeSafetensors(join(w.dir, 'layer_1.safetensors'), tensors(enc, t.W_dec));
      assertThrowsUser(load(w.dir), /layer_1\.safetensors/, /W_enc holds a non-finite value/);
      const dec = t.W_dec.slice();
      dec[3 * d + 2] = Infinity;
      writeSafetensors(join(w.dir, 'layer_1.safetensors'), tensors(t.W_enc, dec));
      assertThrowsUser(load(w.dir), /W_dec holds a non-finite value/);
      const set = loadTranscoders(w.dir, config, { decoder: 'on_demand' });
      assert.equal(set.decoderRows(1, [2, 4]).length, 2 * d);
      assertThrowsUser(() => set.decoderRows(1, [3]), /layer_1\.safetensors/, /W_dec holds a non-finite value/);
    });

    it('wrong shapes', function () {
      const w = writeJumpReluTranscoders(fresh('shape'), config, 19);
      const t = w.layers[0]!;
      const d = config.dModel;
      writeSafetensors(join(w.dir, 'layer_0.safetensors'), {
        W_enc: { dtype: 'F32', shape: [128, d], data: t.W_enc },
        W_dec: { dtype: 'F32', shape: [64, 2 * d], data: t.W_dec },
        b_enc: { dtype: 'F32', shape: [128], data: t.b_enc },
        b_dec: { dtype: 'F32', shape: [d], data: t.b_dec },
        'activation_function.threshold': { dtype: 'F32', shape: [128], data: t.threshold! },
      });
      assertThrowsUser(load(w.dir), /layer_0\.safetensors W_dec has shape \[64, 64\], expected \[128, 32\]/);
      writeSafetensors(join(w.dir, 'layer_0.safetensors'), {
        W_enc: { dtype: 'F32', shape: [d, 128], data: t.W_enc },
        b_enc: { dtype: 'F32', shape: [128], data: t.b_enc },
        b_dec: { dtype: 'F32', shape: [d], data: t.b_dec },
      });
      assertThrowsUser(load(w.dir), /W_enc has shape \[32, 128\], expected \[128, 32\]/);
      writeSafetensors(join(w.dir, 'layer_0.safetensors'), { foo: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
      assertThrowsUser(load(w.dir), /layer_0\.safetensors is not a transcoder file/, /foo/);
    });

    it('TopK without k, a bad k, an unknown activation', function () {
      const w = writePerLayerTranscoders(fresh('nok'), config, 20, { activation: 'topk', k: 4 });
      writeFileSync(join(w.dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\nactivation: topk\n');
      assertThrowsUser(load(w.dir), /TopK/, /k/, /layer_0\.safetensors/);
      writeFileSync(join(w.dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\nactivation: topk\nk: 1000\n');
      assertThrowsUser(load(w.dir), /k must be an integer from 1 to d_transcoder \(128\)/);
      writeFileSync(join(w.dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\nactivation: gelu\n');
      assertThrowsUser(load(w.dir), /activation "gelu" is not supported/);
    });

    it('pickle files are never read', function () {
      const dir = fresh('pickle');
      mkdirSync(dir);
      writeFileSync(join(dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders: [layer_0.pt, layer_1.pt]\n');
      writeFileSync(join(dir, 'layer_0.pt'), 'not really');
      writeFileSync(join(dir, 'layer_1.pt'), 'not really');
      assertThrowsUser(load(dir), /layer_0\.pt is a pickle file/, /execute code/);
      writeFileSync(join(dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\n');
      assertThrowsUser(load(dir), /layer_0\.pt is a pickle file/);
    });

    it('config.yaml: missing, not YAML, not a mapping, remote URIs, unknown model_kind', function () {
      const dir = fresh('yaml');
      mkdirSync(dir);
      assertThrowsUser(load(dir), /has no config\.yaml/);
      writeFileSync(join(dir, 'config.yaml'), 'feature_input_hook: [mlp.hook_in\n  bad: : :\n');
      assertThrowsUser(load(dir), /config\.yaml in .* is not valid YAML/);
      writeFileSync(join(dir, 'config.yaml'), '- a\n- b\n');
      assertThrowsUser(load(dir), /not valid YAML/, /mapping/);
      writeFileSync(join(dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders: ["hf://mntss/x/layer_0.safetensors", "hf://mntss/x/layer_1.safetensors"]\n');
      assertThrowsUser(load(dir), /hf:\/\/mntss\/x\/layer_0\.safetensors/, /not in the Hugging Face cache yet\. Download the set's files with `mechlens download --transcoders /);
      writeFileSync(join(dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders: ["s3://bucket/layer_0.safetensors", "s3://bucket/layer_1.safetensors"]\n');
      assertThrowsUser(load(dir), /s3:\/\/bucket\/layer_0\.safetensors/, /local files and hf:\/\/ files in the Hugging Face cache only/);
      writeFileSync(join(dir, 'config.yaml'), 'model_kind: lorsa\nfeature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\n');
      assertThrowsUser(load(dir), /model_kind "lorsa" is not supported/);
      assertThrowsUser(load(join(dir, 'nope')), /does not exist/);
    });

    it('corrupt npz files', function () {
      const w = writeGemmaScopeNpz(fresh('npz-bad'), config, 21);
      writeFileSync(join(w.dir, 'layer_1', 'width_128', 'params.npz'), 'PK not a zip at all');
      assertThrowsUser(load(w.dir), /params\.npz: not a valid \.npz file/);
    });
  });

  describe('SAELens SAEs', function () {
    /** The SAE's reference encoding of x [N, d_in], float64. */
    function saeRef(sae: WrittenSae, x: Float32Array, applyBDec: boolean): Float64Array {
      const input = applyBDec ? x.map((v, i) => v - sae.b_dec[i % sae.dIn]!) : x;
      return preacts(input, sae.W_enc, sae.b_enc, sae.dIn);
    }

    for (const [architecture, applyBDec] of [['standard', true], ['jumprelu', false], ['topk', true]] as const) {
      it(`${architecture} (apply_b_dec_to_input ${applyBDec}): encode, decode and features per position on the model`, async function () {
        const hook = 'blocks.1.hook_resid_pre';
        const w = writeSaeLens(fresh(`sae-${architecture}`), config.dModel, 30, { hook, architecture, k: 6, applyBDecToInput: applyBDec });
        const sae = loadSae(w.dir, config);
        assert.equal(sae.hook, hook);
        assert.equal(sae.layer, 1);
        assert.equal(sae.applyBDecToInput, applyBDec);
        assert.deepEqual(sae.W_enc, w.W_enc);
        const act: Act = architecture === 'topk' ? { kind: 'topk', k: 6, relu: true } : architecture === 'jumprelu' ? { kind: 'jumprelu' } : { kind: 'relu' };
        const runner = await SaeRunner.create(model.graphs, sae);
        const x = randomInputs(10, w.dIn, 31);
        const acts = await runner.encode(x);
        checkActs(acts, saeRef(w, x, applyBDec), w.dSae, act, w.threshold);
        const recon = await runner.decode(acts);
        const want = new Float32Array(10 * w.dIn);
        for (let i = 0; i < 10; i++) {
          for (let j = 0; j < w.dIn; j++) {
            let s = w.b_dec[j]!;
            for (let f = 0; f < w.dSae; f++) s += acts[i * w.dSae + f]! * w.W_dec[f * w.dIn + j]!;
            want[i * w.dIn + j] = s;
          }
        }
        assert.ok(maxAbsDiff(recon, want) <= TOL);
        assert.deepEqual(saeFeatureDirection(sae, 3), w.W_dec.slice(3 * w.dIn, 4 * w.dIn));

        const tokens = [1, 5, 9, 33, 70, 2];
        const r = await saeFeatureActivations(model, sae, tokens, { topK: 3 });
        const hookX = (await model.forward({ tokens: [tokens], hooks: [hook], logits: 'none' })).hooks.get(hook)!.data;
        checkActs(r.acts, saeRef(w, hookX, applyBDec), w.dSae, act, w.threshold);
        assert.equal(r.positions.length, tokens.length);
        r.positions.forEach((p, t) => {
          const row = r.acts.subarray(t * w.dSae, (t + 1) * w.dSae);
          assert.equal(p.active, row.filter((v) => v !== 0).length);
          assert.ok(p.features.length === Math.min(3, p.active));
          const sorted = [...row].filter((v) => v !== 0).sort((a, b) => b - a);
          assert.deepEqual(p.values, sorted.slice(0, 3));
          p.features.forEach((f, i) => assert.equal(row[f], p.values[i]));
        });
      });
    }

    it('an SAE on attn.hook_z reads n_heads · d_head values per position', async function () {
      const dIn = config.nHeads * config.dHead;
      const w = writeSaeLens(fresh('sae-z'), dIn, 32, { hook: 'blocks.0.attn.hook_z', architecture: 'standard', dSae: 64 });
      const sae = loadSae(w.dir, config);
      const r = await saeFeatureActivations(model, sae, [3, 4, 5]);
      assert.equal(r.acts.length, 3 * 64);
    });

    it('the sae-features command prints the features per position (JSON)', async function () {
      const w = writeSaeLens(fresh('sae-cli'), config.dModel, 34, { hook: 'blocks.0.hook_resid_post', architecture: 'topk', k: 3 });
      const chunks: string[] = [];
      const write = process.stdout.write;
      process.stdout.write = ((c: string) => chunks.push(c) > 0) as typeof process.stdout.write;
      try {
        await saeFeatures(model, { tokens: [4, 8, 15] }, { sae: w.dir, top: '2', json: true });
      } finally {
        process.stdout.write = write;
      }
      const out = JSON.parse(chunks.join('')) as { hook: string; tokens: number[]; positions: Array<{ features: number[]; active: number }> };
      assert.equal(out.hook, 'blocks.0.hook_resid_post');
      assert.deepEqual(out.tokens, [4, 8, 15]);
      assert.deepEqual(out.positions.map((p) => p.features.length), [2, 2, 2]);
      await assert.rejects(saeFeatures(model, { tokens: [1] }, {}), /Missing --sae/);
    });

    it('refusals: a hook the model does not have, d_in, TopK without k, normalised activations, gated, pickles', function () {
      const d = config.dModel;
      const bad = (name: string, opts: Parameters<typeof writeSaeLens>[3], dIn = d) => writeSaeLens(fresh(name), dIn, 33, opts).dir;
      assertThrowsUser(() => loadSae(bad('sae-l9', { hook: 'blocks.9.hook_resid_pre', architecture: 'standard' }), config), /hook_name "blocks\.9\.hook_resid_pre"/, /2 layers/);
      assertThrowsUser(() => loadSae(bad('sae-d', { hook: 'blocks.0.hook_resid_pre', architecture: 'standard' }, 48), config), /d_in is 48/, /32 values per position/);
      assertThrowsUser(() => loadSae(bad('sae-k', { hook: 'blocks.0.hook_resid_pre', architecture: 'topk' }), config), /TopK SAE needs an integer k/);
      assertThrowsUser(
        () => loadSae(bad('sae-norm', { hook: 'blocks.0.hook_resid_pre', architecture: 'standard', cfg: { normalize_activations: 'expected_average_only_in' } }), config),
        /normalize_activations "expected_average_only_in" is not supported/,
      );
      assertThrowsUser(() => loadSae(bad('sae-gated', { hook: 'blocks.0.hook_resid_pre', architecture: 'standard', cfg: { architecture: 'gated' } }), config), /architecture "gated"/);
      assertThrowsUser(() => loadSae(bad('sae-dsae', { hook: 'blocks.0.hook_resid_pre', architecture: 'standard', cfg: { d_sae: 7 } }), config), /d_sae 7/);
      const pickle = fresh('sae-pickle');
      mkdirSync(pickle);
      writeFileSync(join(pickle, 'cfg.json'), JSON.stringify({ hook_name: 'blocks.0.hook_resid_pre', architecture: 'standard' }));
      writeFileSync(join(pickle, 'sae_weights.pt'), 'x');
      assertThrowsUser(() => loadSae(pickle, config), /sae_weights\.pt is a pickle file/);
      writeFileSync(join(pickle, 'cfg.json'), '{not json');
      assertThrowsUser(() => loadSae(pickle, config), /cfg\.json in .* is not valid JSON/);
    });
  });
});
