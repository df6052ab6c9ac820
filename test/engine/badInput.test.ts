// Bad checkpoints and prompts get a clear message naming the file and the problem, never a crash
// deep inside onnxruntime. Each case breaks a copy of a good fixture in a temporary folder.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { validateCheckpoint } from '../../src/engine/checkpoint/load';
import { readSafetensorsHeader } from '../../src/engine/checkpoint/safetensors';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import { fixture } from '../support/fixtures';

let work: string;
function copyOf(name: string): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  cpSync(fixture(name), dir, { recursive: true });
  return dir;
}

async function rejects(p: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (e: unknown) => {
    assert.ok(e instanceof Error, 'an Error');
    assert.match(e.message, pattern);
    assert.equal((e as { userFacing?: boolean }).userFacing, true, `a user-facing error: ${e.message}`);
    return true;
  });
}

/** Rewrites model.safetensors' JSON header through `edit`, keeping the data. */
function editHeader(dir: string, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): void {
  const file = join(dir, 'model.safetensors');
  const buf = readFileSync(file);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  edit(header);
  let json = JSON.stringify(header);
  while (json.length < len) json += ' ';
  assert.ok(json.length === len, 'edited header must keep its length');
  writeFileSync(file, Buffer.concat([buf.subarray(0, 8), Buffer.from(json), buf.subarray(8 + len)]));
}

describe('bad input', function () {
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'mechlens-bad-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('a truncated weights file names the file and says it is truncated', async function () {
    const dir = copyOf('gpt2');
    truncateSync(join(dir, 'model.safetensors'), Math.floor(statSync(join(dir, 'model.safetensors')).size / 2));
    await rejects(Model.load(dir), /model\.safetensors: tensor .* beyond the end of the file .* truncated/);
  });

  it('a header length beyond the file is reported', async function () {
    const dir = copyOf('gpt2');
    const file = join(dir, 'model.safetensors');
    const buf = readFileSync(file);
    buf.writeBigUInt64LE(BigInt(buf.length * 2), 0);
    writeFileSync(file, buf);
    await rejects(Model.load(dir), /model\.safetensors: header length \d+ is beyond the end of the file/);
  });

  it('a file shorter than the 8-byte header length is reported', async function () {
    const dir = copyOf('gpt2');
    writeFileSync(join(dir, 'model.safetensors'), Buffer.from([1, 2, 3]));
    await rejects(Model.load(dir), /model\.safetensors: file is truncated/);
  });

  it('data offsets out of range are reported with the tensor name', async function () {
    const dir = copyOf('gpt2');
    editHeader(dir, (h) => {
      const e = h['transformer.wte.weight']!;
      e.data_offsets = [e.data_offsets[0]! + 4, e.data_offsets[1]! + 4];
    });
    await rejects(Model.load(dir), /tensor transformer\.wte\.weight (ends at byte|has)/);
  });

  it('a tensor whose shape disagrees with config.json is reported with both shapes', async function () {
    const dir = copyOf('gpt2');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    cfg.n_inner = 64; // the checkpoint has d_mlp 128
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    await rejects(Model.load(dir), /mlp\.c_fc\.weight has shape \[32, 128\] but config\.json implies \[32, 64\]/);
    await rejects(() => validateCheckpoint(dir), /config\.json implies/);
  });

  it('a non-float dtype for a weight is reported', async function () {
    const dir = copyOf('gpt2');
    editHeader(dir, (h) => {
      h['transformer.ln_f.bias']!.dtype = 'I32'; // same byte size, wrong kind
    });
    await rejects(Model.load(dir), /transformer\.ln_f\.bias has dtype I32; weights must be F32, F16 or BF16/);
  });

  it('an unsupported model_type lists the supported ones', async function () {
    const dir = copyOf('gpt2');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'mamba', hidden_size: 8 }));
    await rejects(Model.load(dir), /model_type "mamba" is not supported\. Supported model types: gpt2, gpt_neox, llama, mistral, qwen2, qwen3, gemma2, gemma3_text, gemma3/);
  });

  it('a missing config key is named', async function () {
    const dir = copyOf('llama');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete cfg.hidden_size;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    await rejects(Model.load(dir), /config\.json \(llama\): missing or invalid "hidden_size"/);
  });

  it('a folder without config.json says what a checkpoint folder holds', async function () {
    const dir = mkdtempSync(join(work, 'empty-'));
    await rejects(Model.load(dir), /has no config\.json/);
  });

  it('pickle checkpoints are refused with the reason and the fix', async function () {
    const dir = copyOf('gpt2');
    renameSync(join(dir, 'model.safetensors'), join(dir, 'pytorch_model.bin'));
    await rejects(Model.load(dir), /only pickle checkpoints \(pytorch_model\.bin\).*execute arbitrary code.*safetensors/);
  });

  it('a missing shard named by the index is reported', async function () {
    const dir = copyOf('llama');
    rmSync(join(dir, 'model-00002-of-00002.safetensors'));
    await rejects(Model.load(dir), /names shard model-00002-of-00002\.safetensors, which is not in the folder/);
  });

  it('a missing tokenizer still allows token ids, and text prompts get a clear message', async function () {
    const model = await Model.load(fixture('gpt2'));
    try {
      assert.match(model.info.warnings.join(' '), /No tokenizer\.json/);
      const logits = await model.run([1, 2, 3]);
      assert.deepEqual(logits.shape, [3, model.config.dVocab]);
      await rejects(() => model.tokenize('hello'), /has no tokenizer\.json: give the prompt as token ids/);
    } finally {
      await model.dispose();
    }
  });

  it('a prompt longer than the context, an empty prompt and out-of-vocabulary ids are refused clearly', async function () {
    const model = await Model.load(fixture('gpt2'));
    try {
      await rejects(model.run(new Array<number>(model.config.nCtx + 1).fill(1)), /has 33 tokens but .* has a context of 32\. Shorten the prompt/);
      await rejects(model.run([]), /The prompt is empty/);
      await rejects(model.run([1, 100000]), /Token id 100000 is outside the vocabulary/);
      await rejects(model.generate([1, 2], { maxNewTokens: 40 }), /exceeds the context of 32/);
    } finally {
      await model.dispose();
    }
  });

  it('unknown hook names are rejected with the nearest valid names', async function () {
    const model = await Model.load(fixture('gpt2'));
    try {
      await rejects(model.runWithCache([1, 2], ['blocks.0.attn.hook_patern']), /Unknown hook "blocks\.0\.attn\.hook_patern".*Did you mean: blocks\.0\.attn\.hook_pattern/);
      await rejects(model.runWithCache([1, 2], ['blocks.9.hook_resid_pre']), /Unknown hook "blocks\.9\.hook_resid_pre" .*\(2 layers\)/);
      await rejects(model.run([1, 2], { interventions: [{ kind: 'zero', hook: 'blocks.0.ln1.hook_scale' }] }), /derived statistic/);
      await rejects(model.run([1, 2], { interventions: [{ kind: 'patch', hook: 'blocks.0.hook_resid_pre', source: { tokens: [1] } }] }), /source prompt has 1 tokens/);
    } finally {
      await model.dispose();
    }
  });

  it('NaN or Inf weights are refused naming the tensors', async function () {
    const dir = copyOf('gpt2');
    const header = readSafetensorsHeader(join(dir, 'model.safetensors'));
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    const { readTensorF32 } = await import('../../src/engine/checkpoint/safetensors');
    for (const [name, e] of header.tensors) tensors[name] = { dtype: 'F32', shape: e.shape, data: readTensorF32(e) };
    tensors['transformer.h.1.mlp.c_fc.bias']!.data[3] = NaN;
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await rejects(Model.load(dir), /NaN or Inf values in: blocks\.1\.b_in/);
    // In a matrix transposed as it is read (checked then, named from the spec), and by the synchronous loader.
    tensors['transformer.h.1.mlp.c_fc.bias']!.data[3] = 0;
    tensors['transformer.h.0.mlp.c_proj.weight']!.data[7] = -Infinity;
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    await rejects(Model.load(dir), /NaN or Inf values in: blocks\.0\.W_out\./);
    const { loadCheckpoint } = await import('../../src/engine/checkpoint/load');
    assert.throws(() => loadCheckpoint(dir), /NaN or Inf values in: blocks\.0\.W_out\./);
  });

  it('a checkpoint too big for free memory is refused before loading', async function () {
    await rejects(Model.load(fixture('gpt2'), { freeMemoryBytes: 1000 }), /needs about .* GiB as float32 but only .* GiB of memory is free/);
  });

  it('an execution provider this onnxruntime build lacks is refused with what to do', async function () {
    await rejects(Model.load(fixture('gpt2'), { executionProvider: 'coreml' }), /coreml execution provider is not available .* Set mechlens\.executionProvider to cpu/);
  });
});
