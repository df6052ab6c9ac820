// Parity with independent PyTorch references written from the Hugging Face conventions
// (tools/reference, goldens in test/fixtures): logits and every hook the engine shares with the
// reference, per architecture and stored dtype, at <= 1e-4 max absolute difference in fp32.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import { fixture, maxAbsDiff, readGolden } from '../support/fixtures';

const TOLERANCE = 1e-4;
const CASES = ['gpt2', 'gpt2-noprefix', 'gpt2-f16', 'gpt2-bf16', 'neox', 'neox-seq', 'llama', 'qwen2', 'gemma2', 'llama3', 'llama-linear', 'qwen3', 'gemma3'];

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
