// `mechlens grad` and `mechlens saliency` as scripts use them (the built dist/cli.js): the JSON layout of
// `cache`, gradients equal to torch autograd's, integrated gradients' completeness, and bad input refused
// with one clear line and exit code 2.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../support/cli';
import { DEFAULT_MODEL, fixture, maxAbsDiff, readGolden } from '../support/fixtures';

const IOI = 'When Mary and John went to the store, John gave a drink to';

describe('mechlens grad and saliency', function () {
  it('grad --json: {tokens, metric, grads: {HOOK: {shape, dims, data}}}, equal to torch autograd', async function () {
    const tokens = readGolden(fixture('llama')).inputIds[0]!;
    const grads = readGolden(fixture('llama'), 'gradients.safetensors').tensors;
    const hooks = ['hook_embed', 'blocks.1.hook_resid_mid', 'blocks.0.attn.hook_v'];
    // The reference's row 0: logit(#3) - logit(#7) at the last position, nothing frozen.
    const r = await cli('grad', '--model', fixture('llama'), '--tokens', tokens.join(','), '--target', '#3', '--baseline', '#7', '--hooks', hooks.join(','), '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; metric: number; grads: Record<string, { shape: number[]; dims: string[]; data: number[] }> };
    assert.deepEqual(out.tokens, tokens);
    assert.ok(Math.abs(out.metric - grads.get('full.metric')!.data[0]!) < 1e-4);
    assert.deepEqual(Object.keys(out.grads), hooks);
    for (const h of hooks) {
      const want = grads.get(`full.grad.${h}`)!;
      const got = out.grads[h]!;
      assert.deepEqual(got.shape, [1, ...want.shape.slice(1)]);
      assert.equal(got.dims[0], 'batch');
      const n = got.data.length;
      let scale = 0;
      for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(want.data[i]!));
      assert.ok(maxAbsDiff(Float32Array.from(got.data), want.data.subarray(0, n)) <= 1e-4 * scale, h);
    }
  });

  it('saliency --method integrated_gradients --steps 64: scores sum to metric(input) - metric(zero embeddings) within 1%', async function () {
    const r = await cli('saliency', '--model', DEFAULT_MODEL, '--prompt', IOI, '--target', ' Mary', '--baseline', ' John', '--method', 'integrated_gradients', '--steps', '64', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; token_strings: string[]; scores: number[]; metric: number; baseline_metric: number };
    assert.equal(out.scores.length, out.tokens.length);
    const sum = out.scores.reduce((a, b) => a + b, 0);
    const want = out.metric - out.baseline_metric;
    assert.ok(Math.abs(want) > 1, `the metric should move (got ${want})`);
    assert.ok(Math.abs(sum - want) <= 0.01 * Math.abs(want), `sum ${sum} vs ${want}`);
    // metric(input) is the model's own logit difference, from a plain run.
    const run = await cli('run', '--model', DEFAULT_MODEL, '--prompt', IOI, '--json');
    const logits = (JSON.parse(run.stdout) as { logits: number[][]; tokens: number[] }).logits.at(-1)!;
    const ids = async (t: string) => ((JSON.parse((await cli('run', '--model', DEFAULT_MODEL, '--prompt', t, '--json')).stdout) as { tokens: number[] }).tokens[0]!);
    const mary = await ids(' Mary');
    const john = await ids(' John');
    assert.ok(Math.abs(out.metric - (logits[mary]! - logits[john]!)) < 1e-3);
    // metric(zero embeddings) from a run with hook_embed zero-ablated.
    const dir = mkdtempSync(join(tmpdir(), 'mechlens-ig-'));
    const file = join(dir, 'zero.json');
    writeFileSync(file, JSON.stringify([{ kind: 'zero', hook: 'hook_embed' }]));
    const zeroed = (JSON.parse((await cli('run', '--model', DEFAULT_MODEL, '--prompt', IOI, '--interventions', file, '--json')).stdout) as { logits: number[][] }).logits.at(-1)!;
    rmSync(dir, { recursive: true });
    assert.ok(Math.abs(out.baseline_metric - (zeroed[mary]! - zeroed[john]!)) < 1e-3);
  });

  it('saliency --method grad_x_input prints one score per token', async function () {
    const r = await cli('saliency', '--model', DEFAULT_MODEL, '--prompt', IOI, '--target', ' Mary', '--method', 'grad_x_input', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; scores: number[] };
    assert.equal(out.scores.length, out.tokens.length);
    assert.ok(out.scores.every(Number.isFinite) && out.scores.some((s) => s !== 0));
  });

  it('bad input: an unknown hook, a target not in the vocabulary, --steps 0, an unknown method', async function () {
    const base = ['--model', DEFAULT_MODEL, '--prompt', IOI];
    const cases: Array<[string[], RegExp]> = [
      [['grad', ...base, '--target', ' Mary', '--hooks', 'blocks.0.hook_resid_prex'], /Unknown hook "blocks\.0\.hook_resid_prex".*Did you mean: blocks\.0\.hook_resid_pre/],
      [['grad', ...base, '--target', '#99999', '--hooks', 'hook_embed'], /Token 99999 is outside the vocabulary/],
      [['grad', ...base, '--target', ' Maryxyzzy', '--hooks', 'hook_embed'], /is \d+ tokens .* give a single token, or #ID/],
      [['grad', ...base, '--target', ' Mary'], /Missing --hooks/],
      [['saliency', ...base, '--target', ' Mary', '--method', 'integrated_gradients', '--steps', '0'], /--steps must be an integer from 1 to 4096/],
      [['saliency', ...base, '--target', ' Mary', '--method', 'occlusion'], /--method must be grad_x_input or integrated_gradients/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
