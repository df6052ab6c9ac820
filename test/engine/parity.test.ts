// Parity with independent PyTorch references written from the Hugging Face conventions
// (tools/reference, goldens in test/fixtures): logits and every hook the engine shares with the
// reference, per architecture and stored dtype, at <= 1e-4 max absolute difference in fp32.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { readSafetensorsHeader, readTensorF32 } from '../../src/engine/checkpoint/safetensors';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import { fixture, maxAbsDiff, readGolden } from '../support/fixtures';

const TOLERANCE = 1e-4;
const CASES = ['gpt2', 'gpt2-noprefix', 'gpt2-f16', 'gpt2-bf16', 'neox', 'neox-seq', 'llama', 'qwen2', 'gemma2', 'llama3', 'llama-linear', 'qwen3', 'gemma3', 'mistral', 'qwen2-swa'];

describe('parity with the PyTorch references (goldens)', function () {
  for (const name of CASES) {
    it(`${name}: logits and every hook within ${TOLERANCE}`, async function () {
      const dir = fixture(name);
      const golden = readGolden(dir);
      const model = await Model.load(dir);
      try {
        const hooks = model.hookNames().filter((h) => golden.tensors.has(h));
        // The golden covers every hook the engine has (a hook the reference lacks would go untested).
        const missing = model.hookNames().filter((h) => !golden.tensors.has(h));
        assert.deepEqual(missing, [], `hooks without a golden: ${missing.join(', ')}`);
        const r = await model.forward({ tokens: golden.inputIds, hooks, logits: 'all' });
        const logits = golden.tensors.get('logits')!;
        assert.deepEqual(r.logits!.shape, logits.shape);
        const dl = maxAbsDiff(r.logits!.data, logits.data);
        assert.ok(dl <= TOLERANCE, `logits differ by ${dl}`);
        for (const h of hooks) {
          const got = r.hooks.get(h)!;
          const want = golden.tensors.get(h)!;
          assert.deepEqual(got.shape, want.shape, `${h} shape`);
          const diff = maxAbsDiff(got.data, want.data);
          assert.ok(diff <= TOLERANCE, `${h} differs by ${diff}`);
        }
      } finally {
        await model.dispose();
      }
    });
  }
});

describe('Gemma-3 multimodal checkpoints (Gemma3ForConditionalGeneration) run their text model', function () {
  let work: string;
  before(() => (work = mkdtempSync(join(tmpdir(), 'mechlens-gemma3mm-'))));
  after(() => rmSync(work, { recursive: true, force: true }));

  // The gemma3 fixture saved as the multimodal class does: config under text_config (a default-valued key
  // left out), weights under the language model's prefix (both transformers layouts), a vision tower beside.
  for (const prefix of ['language_model.model.', 'model.language_model.']) {
    it(`${prefix}*: the gemma3_text golden's logits and hooks within ${TOLERANCE}; the vision tower is not read`, async function () {
      const dir = join(work, prefix.replace(/\W/g, '_'));
      mkdirSync(dir);
      const text = JSON.parse(readFileSync(join(fixture('gemma3'), 'config.json'), 'utf8')) as Record<string, unknown>;
      delete text.rope_local_base_freq; // 10000, Gemma3TextConfig's default
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Gemma3ForConditionalGeneration'], model_type: 'gemma3', text_config: text, vision_config: { model_type: 'siglip_vision_model' } }));
      const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
      for (const [name, e] of readSafetensorsHeader(join(fixture('gemma3'), 'model.safetensors')).tensors) tensors[prefix + name.slice('model.'.length)] = { dtype: 'F32', shape: e.shape, data: readTensorF32(e) };
      tensors['vision_tower.vision_model.encoder.layers.26.mlp.fc1.weight'] = { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) };
      writeSafetensors(join(dir, 'model.safetensors'), tensors);
      const golden = readGolden(fixture('gemma3'));
      const model = await Model.load(dir);
      try {
        assert.equal(model.info.architecture, 'gemma3');
        const hooks = ['blocks.2.attn.hook_rot_q', 'blocks.0.attn.hook_pattern', 'blocks.2.hook_resid_post'] as const;
        const r = await model.forward({ tokens: golden.inputIds, hooks: [...hooks], logits: 'all' });
        assert.ok(maxAbsDiff(r.logits!.data, golden.tensors.get('logits')!.data) <= TOLERANCE);
        for (const h of hooks) assert.ok(maxAbsDiff(r.hooks.get(h)!.data, golden.tensors.get(h)!.data) <= TOLERANCE, h);
      } finally {
        await model.dispose();
      }
    });
  }
});
