// The benchmarks' generated bf16 checkpoints (src/engine/checkpoint/synthetic.ts): a tiny Llama-shaped
// one (GQA, tied embeddings, llama3 rope scaling, sharded) loads and gives the same logits as its float32
// twin, which holds exactly the bf16 values widened, so a difference can only come from the bf16 path.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { readSafetensorsHeader, readTensorF32 } from '../../src/engine/checkpoint/safetensors';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import type { TensorToWrite } from '../../src/engine/checkpoint/safetensorsWriter';
import { randomLlamaCheckpoint } from '../../src/engine/checkpoint/synthetic';
import type { LlamaShape } from '../../src/engine/checkpoint/synthetic';

// original_max_position_embeddings 16 so that the llama3 scaling changes some frequencies at dHead 16.
const TINY: LlamaShape = {
  nLayers: 2,
  dModel: 64,
  nHeads: 4,
  nKvHeads: 2,
  dHead: 16,
  dMlp: 128,
  dVocab: 300,
  nCtx: 256,
  ropeTheta: 500000,
  ropeScaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 16 },
};

describe('synthetic bf16 checkpoints', function () {
  let root: string;
  before(() => (root = mkdtempSync(join(tmpdir(), 'mechlens-synth-'))));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a tiny Llama-shaped bf16 checkpoint matches its float32 twin', async function () {
    const bf16 = join(root, 'bf16');
    const f32 = join(root, 'f32');
    randomLlamaCheckpoint(bf16, TINY, 3, 'BF16', 0.1);
    randomLlamaCheckpoint(f32, TINY, 3, 'F32', 0.1); // layout and config; the weights are replaced below
    for (const file of readdirSync(bf16).filter((f) => f.endsWith('.safetensors'))) {
      const header = readSafetensorsHeader(join(bf16, file));
      const tensors: Record<string, TensorToWrite> = {};
      for (const [name, e] of header.tensors) {
        assert.equal(e.dtype, 'BF16', name);
        tensors[name] = { dtype: 'F32', shape: e.shape, data: readTensorF32(e) };
      }
      writeSafetensors(join(f32, file), tensors, { format: 'pt' });
    }
    copyFileSync(join(bf16, 'model.safetensors.index.json'), join(f32, 'model.safetensors.index.json'));
    const config = JSON.parse(readFileSync(join(bf16, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.torch_dtype, 'bfloat16');
    writeFileSync(join(f32, 'config.json'), JSON.stringify({ ...config, torch_dtype: 'float32' }));

    const tokens = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % TINY.dVocab);
    const [a, b] = [await Model.load(bf16), await Model.load(f32)];
    try {
      assert.equal(a.info.storedDtypes.join(), 'BF16');
      assert.equal(a.config.nKvHeads, 2);
      assert.equal(a.spec.weights.W_U, a.spec.weights.W_E, 'tied embeddings stay one tensor');
      const [la, lb] = [await a.run(tokens), await b.run(tokens)];
      assert.deepEqual(la.shape, [tokens.length, TINY.dVocab]);
      let worst = 0;
      for (let i = 0; i < la.data.length; i++) worst = Math.max(worst, Math.abs(la.data[i]! - lb.data[i]!));
      assert.ok(worst === 0, `logits differ by up to ${worst}`);
      assert.ok(la.data.some((v) => v !== 0) && la.data.every(Number.isFinite));
    } finally {
      await a.dispose();
      await b.dispose();
    }
  });
});
