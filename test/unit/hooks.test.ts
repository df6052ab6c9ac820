// Hook names: TransformerLens spelling, compile-time and run-time rejection of unknown names.
import assert from 'node:assert/strict';
import { allHooks, hookDims, nearest, parseHookName } from '../../src/engine/hooks';
import type { HookName } from '../../src/engine/hooks';
import { gpt2Config } from '../../src/engine/architectures/gpt2';
import { llamaConfig } from '../../src/engine/architectures/llama';

const gpt2 = gpt2Config({ n_embd: 16, n_head: 2, n_layer: 2, vocab_size: 10, n_positions: 8 });
const llama = llamaConfig({ model_type: 'llama', hidden_size: 16, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 3, intermediate_size: 32, vocab_size: 10 }, 'llama');

describe('hooks', function () {
  it('HookName rejects typos at compile time', function () {
    const ok: HookName = 'blocks.3.attn.hook_pattern';
    // @ts-expect-error: a misspelt hook is a type error
    const typo: HookName = 'blocks.3.attn.hook_patern';
    assert.ok(ok && typo);
  });

  it('lists each architecture\'s hooks in forward order', function () {
    const g = allHooks(gpt2);
    assert.equal(g[0], 'hook_embed');
    assert.ok(g.includes('hook_pos_embed'));
    assert.ok(!g.includes('blocks.0.attn.hook_rot_q'));
    assert.ok(g.indexOf('blocks.0.hook_resid_pre') < g.indexOf('blocks.0.hook_resid_post'));
    const l = allHooks(llama);
    assert.ok(l.includes('blocks.2.mlp.hook_pre_linear') && l.includes('blocks.2.attn.hook_rot_k') && !l.includes('hook_pos_embed'));
  });

  it('rejects unknown names at run time with the nearest valid ones', function () {
    assert.equal(parseHookName('blocks.1.hook_mlp_out', gpt2).layer, 1);
    assert.throws(() => parseHookName('blocks.1.hook_mlp_ot', gpt2), /Did you mean: blocks\.1\.hook_mlp_out/);
    assert.throws(() => parseHookName('blocks.2.hook_mlp_out', gpt2), /Unknown hook/);
    assert.throws(() => parseHookName('hook_pos_embed', llama), /Unknown hook/);
    assert.deepEqual(nearest('abd', ['abc', 'xyz', 'abcd'], 2), ['abc', 'abcd']);
  });

  it('gives named dims, with key/value heads for grouped-query attention', function () {
    assert.deepEqual(hookDims(llama, 'attn.hook_k', 1, 5), { dims: ['batch', 'pos', 'kv_head', 'd_head'], shape: [1, 5, 2, 4] });
    assert.deepEqual(hookDims(llama, 'attn.hook_pattern', 2, 5, 7).shape, [2, 4, 5, 7]);
  });
});
