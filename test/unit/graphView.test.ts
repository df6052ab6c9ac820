// The graph view's data (webview/graph/model.ts) on the real graphs in ../shared/reference/graphs and by
// hand: pctInput, adjacency order, thresholds, layout (embeddings at the bottom, logits on top, positions
// left to right), supernode link sums, and subgraph scores (pinning every node scores the whole graph).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGraphFile } from '../../src/shared/graphFile';
import { buildModel, buildSubgraph, colorBucket, graphDiff, influenceShares, layoutGraph, neighbours, stateFromFile, subgraphScores, visibleLinks, visibleNodes } from '../../webview/graph/model';
import { graphInterventions } from '../../src/shared/graphProtocol';

const GRAPHS = join(__dirname, '..', '..', '..', 'shared', 'reference', 'graphs');
const FILES = ['gemma-2-2b_clt-2.5M_meow.json', 'gemma-2-2b_gemmascope-plt-16k_3plus5.json', 'llama-3.2-1b_clt-524k_dallas-austin.json'];

describe('graph view model', function () {
  for (const name of FILES) {
    it(`${name}: pctInput, adjacency, thresholds, layout, whole-graph subgraph scores`, function () {
      const model = buildModel(parseGraphFile(readFileSync(join(GRAPHS, name), 'utf8'), name));
      // Each target's |pctInput| sums to 1.
      const sums = new Float64Array(model.nodes.length);
      model.pct.forEach((p, l) => (sums[model.target[l]!]! += Math.abs(p)));
      sums.forEach((s, i) => assert.ok(model.inputAbsSum[i] === 0 || Math.abs(s - 1) < 1e-9, `node ${i}: ${s}`));
      // Strongest inputs first.
      const i = model.nodes.findIndex((n) => n.kind === 'logit');
      const up = neighbours(model, i, 'up', 50).map((n) => Math.abs(n.weight));
      assert.deepEqual(up, [...up].sort((a, b) => b - a));
      const state = stateFromFile(model);
      const all = visibleNodes(model, { ...state, pruningThreshold: 1 });
      const few = visibleNodes(model, { ...state, pruningThreshold: 0.3 });
      const count = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);
      assert.equal(count(all), model.nodes.length);
      assert.ok(count(few) < count(all));
      model.nodes.forEach((n, k) => (n.kind === 'embedding' || n.kind === 'logit' ? assert.equal(few[k], 1) : undefined));
      assert.ok(count(visibleLinks(model, all, 0.05)) < count(visibleLinks(model, all, 0)));
      const layout = layoutGraph(model, all);
      const top = layout.nRows - 1;
      model.nodes.forEach((n, k) => {
        if (n.kind === 'embedding') assert.equal(layout.y[k], 0);
        else if (n.kind === 'logit') assert.equal(layout.y[k], top);
        else assert.ok(layout.y[k]! > 0 && layout.y[k]! < top);
        assert.ok(layout.x[k]! > layout.columnStart[n.position]! && layout.x[k]! < layout.columnStart[n.position + 1]!, `${n.id} in its column`);
      });
      const everything = model.nodes.map((n) => n.id);
      const whole = subgraphScores(model, everything)!;
      assert.ok(Math.abs(whole.replacement - model.scores.replacement) < 1e-12);
      assert.ok(Math.abs(whole.completeness - model.scores.completeness) < 1e-12);
    });
  }

  it('supernodes sum their members\' links; the subgraph keeps errors feeding pinned nodes', function () {
    const node = (id: string, type: string, layer: string, pos: number, extra: Record<string, unknown> = {}) => ({ node_id: id, feature: 0, layer, ctx_idx: pos, feature_type: type, jsNodeId: id, clerp: '', influence: 0.1, activation: 1, token_prob: 0, ...extra });
    const file = parseGraphFile(
      JSON.stringify({
        metadata: { slug: 's', scan: 'x', prompt: 'a b', prompt_tokens: ['a', 'b'] },
        qParams: { pinnedIds: ['0_1_0', '0_2_1', 'nope'], supernodes: [['both', '0_1_0', '0_2_1']], clickedId: 'gone' },
        nodes: [
          node('E_5_0', 'embedding', 'E', 0),
          node('E_6_1', 'embedding', 'E', 1),
          node('0_1_0', 'cross layer transcoder', '0', 0),
          node('0_2_1', 'cross layer transcoder', '0', 1),
          node('1_3_1', 'cross layer transcoder', '1', 1),
          node('0_-1_1', 'mlp reconstruction error', '0', 1),
          node('3_9_1', 'logit', '3', 1, { token_prob: 1, influence: null }),
        ],
        links: [
          { source: 'E_5_0', target: '0_1_0', weight: 1 },
          { source: 'E_6_1', target: '0_2_1', weight: 2 },
          { source: '0_1_0', target: '1_3_1', weight: 0.5 },
          { source: '0_2_1', target: '1_3_1', weight: -0.25 },
          { source: '0_-1_1', target: '0_2_1', weight: 2 },
          { source: '1_3_1', target: '3_9_1', weight: 3 },
        ],
      }),
      'hand.json',
    );
    const model = buildModel(file);
    const state = stateFromFile(model);
    assert.deepEqual(state.pinnedIds, ['0_1_0', '0_2_1']);
    assert.equal(state.clickedId, '');
    const sub = buildSubgraph(model, { ...state, pinnedIds: [...state.pinnedIds, '1_3_1'] });
    assert.deepEqual(sub.groups.map((g) => [g.label, g.members.length, g.supernode]), [['both', 2, true], ['L1 #3', 1, false]]);
    assert.equal(sub.links.length, 1);
    assert.equal(sub.links[0]!.weight, 0.25);
    assert.equal(sub.links[0]!.pct, 0.25 / 0.75);
    // Pinned: the two layer-0 features. Kept: them, the error feeding 0_2_1, embeddings, logit; 1_3_1 is not
    // pinned, so nothing reaches the logit: replacement and completeness count only the logit's own weight.
    const s = subgraphScores(model, state.pinnedIds)!;
    assert.ok(Number.isNaN(s.replacement) || s.replacement >= 0);
    assert.equal(s.completeness, 1);
    assert.equal(colorBucket(-1), 0);
    assert.equal(colorBucket(0.4), 20);
    assert.equal(colorBucket(0), 10);
  });

  it('the graph under interventions against the clean one: appeared, disappeared, influence shares', () => {
    const graph = (nodes: Array<[string, string, string, number, number | null]>) =>
      buildModel(
        parseGraphFile(
          JSON.stringify({
            metadata: { slug: 's', scan: 'x', prompt: 'a b', prompt_tokens: ['<s>', 'a', 'b'] },
            qParams: {},
            nodes: nodes.map(([id, type, layer, pos, influence]) => ({ node_id: id, feature: 0, layer, ctx_idx: pos, feature_type: type, clerp: '', influence, activation: 1, token_prob: 0.5 })),
            links: [],
          }),
          'g.json',
        ),
      );
    const clean = graph([['0_1_1', 'cross layer transcoder', '0', 1, 0.5], ['0_2_2', 'cross layer transcoder', '0', 2, 0.8], ['0_-1_2', 'mlp reconstruction error', '0', 2, 0.9], ['3_9_2', 'logit', '3', 2, null]]);
    const patched = graph([['0_1_1', 'cross layer transcoder', '0', 1, 0.2], ['0_3_2', 'cross layer transcoder', '0', 2, 0.7], ['0_-1_2', 'mlp reconstruction error', '0', 2, 0.9], ['3_9_2', 'logit', '3', 2, null]]);
    // Shares: the steps of the cumulative influence, in its order.
    assert.deepEqual(Array.from(influenceShares(clean)).map((v) => +v.toFixed(6)), [0.5, 0.3, 0.1, 0]);
    const d = graphDiff(clean, patched);
    assert.deepEqual(d.appeared.map((e) => e.id), ['0_3_2']);
    assert.deepEqual(d.disappeared.map((e) => e.id), ['0_2_2']);
    assert.equal(d.nAppeared, 1);
    assert.equal(d.nDisappeared, 1);
    // 0_1_1: 0.5 -> 0.2; the error: 0.1 -> 0.2.
    assert.equal(d.changed[0]!.id, '0_1_1');
    assert.ok(Math.abs(d.changed[0]!.before - 0.5) < 1e-9 && Math.abs(d.changed[0]!.after - 0.2) < 1e-9);
    assert.ok(!d.changed.some((e) => e.id === '3_9_2'), 'logits are compared by the logit table, not here');
  });

  it('interventions move onto the attributed prompt: positions after the BOS, patch sources with it', () => {
    const moved = graphInterventions(
      [
        { kind: 'zero', hook: 'blocks.1.hook_resid_pre', positions: [0, 3] },
        { kind: 'patch', hook: 'blocks.0.hook_mlp_out', source: { tokens: [7, 8, 9, 10] } },
        { kind: 'mean', hook: 'blocks.0.hook_attn_out', positions: [1], reference: [{ tokens: [5, 6] }] },
      ],
      [50256],
      4,
    );
    assert.deepEqual(moved[0], { kind: 'zero', hook: 'blocks.1.hook_resid_pre', positions: [1, 4] });
    // All positions: the prompt's own four, not the BOS.
    assert.deepEqual(moved[1], { kind: 'patch', hook: 'blocks.0.hook_mlp_out', positions: [1, 2, 3, 4], source: { tokens: [50256, 7, 8, 9, 10] } });
    assert.deepEqual(moved[2], { kind: 'mean', hook: 'blocks.0.hook_attn_out', positions: [2], reference: [{ tokens: [5, 6] }] });
    assert.deepEqual(graphInterventions([{ kind: 'zero', hook: 'hook_embed', positions: [2] }], [], 3), [{ kind: 'zero', hook: 'hook_embed', positions: [2] }]);
  });
});
