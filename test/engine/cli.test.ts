// The mechlens CLI as scripts use it: the built dist/cli.js, JSON on stdout, field names as documented.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cli } from '../support/cli';
import { fixture, maxAbsDiff, readGolden } from '../support/fixtures';

describe('mechlens CLI', function () {
  const golden = readGolden(fixture('llama'));
  const tokens = golden.inputIds[0]!;

  it('run --json prints tokens and the full [position][vocab] logits, matching the reference', async function () {
    const r = await cli('run', '--model', fixture('llama'), '--tokens', tokens.join(','), '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; logits: number[][] };
    assert.deepEqual(out.tokens, tokens);
    const want = golden.tensors.get('logits')!;
    const V = want.shape[2]!;
    assert.equal(out.logits.length, tokens.length);
    assert.equal(out.logits[0]!.length, V);
    assert.ok(maxAbsDiff(Float32Array.from(out.logits.flat()), want.data.subarray(0, tokens.length * V)) < 1e-4);
  });

  it('cache --json prints {hooks: {NAME: {shape, data}}} for batch 1', async function () {
    const hook = 'blocks.1.attn.hook_pattern';
    const r = await cli('cache', '--model', fixture('llama'), '--tokens', tokens.join(','), '--hooks', `${hook},blocks.0.hook_resid_post`, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { hooks: Record<string, { shape: number[]; data: number[] }> };
    assert.deepEqual(Object.keys(out.hooks).sort(), [hook, 'blocks.0.hook_resid_post'].sort());
    const want = golden.tensors.get(hook)!;
    assert.deepEqual(out.hooks[hook]!.shape, [1, ...want.shape.slice(1)]);
    const n = out.hooks[hook]!.data.length;
    assert.ok(maxAbsDiff(Float32Array.from(out.hooks[hook]!.data), want.data.subarray(0, n)) < 1e-5);
  });

  it('attention --json: every layer\'s [head][query][key] patterns, or with --layer only those (field "layers"), close to the reference', async function () {
    const want = golden.tensors.get('blocks.1.attn.hook_pattern')!;
    const all = await cli('attention', '--model', fixture('llama'), '--tokens', tokens.join(','), '--json');
    assert.equal(all.code, 0, all.stderr);
    const a = JSON.parse(all.stdout) as { patterns: number[][][][]; scores: Record<string, number[][]>; layers?: number[] };
    assert.equal(a.layers, undefined);
    assert.equal(a.patterns.length, 2);
    const got = Float32Array.from(a.patterns[1]!.flat(2));
    assert.ok(maxAbsDiff(got, want.data.subarray(0, got.length)) < 1e-5, 'batch row 0 of the reference');
    const one = await cli('attention', '--model', fixture('llama'), '--tokens', tokens.join(','), '--layer', '1', '--json');
    assert.equal(one.code, 0, one.stderr);
    const o = JSON.parse(one.stdout) as typeof a;
    assert.deepEqual(o.layers, [1]);
    assert.deepEqual(o.patterns, [a.patterns[1]]);
    assert.deepEqual(o.scores, a.scores);
    const text = await cli('attention', '--model', fixture('llama'), '--tokens', tokens.join(','), '--layer', '0');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^layer 0, the last token \(.*\) attends most to:\n {2}H0: \d+ /m);
  });

  it('generate --json continues the prompt', async function () {
    const r = await cli('generate', '--model', fixture('gpt2'), '--tokens', '1,2,3', '--max-new-tokens', '4', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; new_tokens: number[] };
    assert.equal(out.new_tokens.length, 4);
    assert.deepEqual(out.tokens, [1, 2, 3, ...out.new_tokens]);
    const both = await cli('generate', '--model', fixture('gpt2'), '--tokens', '1,2,3', '--prompt', 'x', '--max-new-tokens', '4', '--json');
    assert.equal(both.code, 2, 'both --prompt and --tokens is an error');
    assert.match(both.stderr, /either --prompt or --tokens/);
  });

  it('info --json describes the architecture and sizes', async function () {
    const r = await cli('info', '--model', fixture('gemma2'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(info.architecture, 'gemma2');
    assert.equal(info.nLayers, 2);
    assert.equal(info.dHead, 16);
    assert.equal(info.hasTokenizer, false);
    assert.ok((info.parameterCount as number) > 0);
  });

  it('bad input exits with code 2 and a message, not a stack trace', async function () {
    const r = await cli('cache', '--model', fixture('gpt2'), '--tokens', '1,2', '--hooks', 'blocks.0.hook_resid_pr', '--json');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^mechlens: Unknown hook .*Did you mean: blocks\.0\.hook_resid_pre/m);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
    const missing = await cli('info', '--model', join(fixture('gpt2'), 'nope'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /is not a folder/);
  });

  it('graph-info --json reads a real Neuronpedia graph: {prompt, nodes by type, links, scores}', async function () {
    const file = join(__dirname, '..', '..', '..', 'shared', 'reference', 'graphs', 'gemma-2-2b_clt-2.5M_meow.json');
    const r = await cli('graph-info', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { prompt: string; nodes: Record<string, number>; links: number; replacement_score: number; completeness_score: number };
    assert.equal(out.prompt, '<bos>If dog is to bark, then cat is to');
    assert.deepEqual(out.nodes, { feature: 44, error: 11, embedding: 11, logit: 10 });
    assert.equal(out.links, 374);
    assert.ok(out.replacement_score > 0 && out.replacement_score < 1 && out.completeness_score > 0 && out.completeness_score < 1);
    const missing = await cli('graph-info', join(fixture('gpt2'), 'no-graph.json'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot read .*no-graph\.json/);
  });
});

