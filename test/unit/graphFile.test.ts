// Attribution-graph files (circuit-tracer / Neuronpedia JSON): the three real graphs in
// ../shared/reference/graphs read correctly (node kinds, feature ids of both schemas), their scores equal an
// independent torch computation (tools/reference/graph_scores.py -> test/fixtures/graphs/scores.json), a
// hand-computed graph gives the textbook scores, and malformed files are refused with the file's name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { cantorPair, parseGraphFile, summarizeGraph, writeGraphFile } from '../../src/engine/attribution/graphFile';
import { labelsInGraph } from '../../src/shared/graphFile';
import { edgeList, graphScores, nodeInfluence, pruneGraph } from '../../src/engine/attribution/scores';
import type { GraphNode, GraphNodeKind } from '../../src/engine/attribution/graphFile';

const GRAPHS = join(__dirname, '..', '..', '..', 'shared', 'reference', 'graphs');
const EXPECTED = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'graphs', 'scores.json'), 'utf8')) as Record<
  string,
  { replacement_score: number; completeness_score: number; nodes: Record<string, number>; links: number }
>;

describe('attribution graph files', function () {
  for (const [file, want] of Object.entries(EXPECTED)) {
    it(`${file}: node kinds, feature ids and scores (against the torch reference)`, function () {
      const text = readFileSync(join(GRAPHS, file), 'utf8');
      const graph = parseGraphFile(text, file);
      const summary = summarizeGraph(graph);
      assert.deepEqual(summary.nodes, want.nodes);
      assert.equal(summary.links, want.links);
      assert.ok(Math.abs(summary.replacement_score - want.replacement_score) < 1e-9, `replacement ${summary.replacement_score} vs ${want.replacement_score}`);
      assert.ok(Math.abs(summary.completeness_score - want.completeness_score) < 1e-9, `completeness ${summary.completeness_score} vs ${want.completeness_score}`);
      // Feature ids: Cantor pairs in schema 1, layer * 100000 + index in legacy files.
      const raw = JSON.parse(text) as { metadata: { schema_version?: number }; nodes: Array<{ node_id: string; feature: number }> };
      const rawById = new Map(raw.nodes.map((n) => [n.node_id, n.feature]));
      for (const n of graph.nodes.filter((x) => x.kind === 'feature')) {
        const encoded = raw.metadata.schema_version === 1 ? cantorPair(n.layer!, n.featureIndex!) : n.layer! * 100000 + n.featureIndex!;
        assert.equal(encoded, rawById.get(n.id), n.id);
      }
      assert.ok(graph.nodes.filter((n) => n.kind === 'embedding').every((n) => n.layer === null && Number.isInteger(n.tokenId)));
      assert.ok(graph.nodes.filter((n) => n.kind === 'logit').every((n) => n.tokenProb > 0 && Number.isInteger(n.tokenId)));
    });
  }

  it('labels typed in a graph are searchable: a clerp set on a real graph\'s feature node is found, once per feature', function () {
    const file = Object.keys(EXPECTED)[0]!;
    const raw = JSON.parse(readFileSync(join(GRAPHS, file), 'utf8')) as { nodes: Array<Record<string, unknown>> };
    const graph0 = parseGraphFile(JSON.stringify(raw), file);
    const target = graph0.nodes.find((n) => n.kind === 'feature')!;
    assert.deepEqual(labelsInGraph(graph0, 'zebra-crossing detector'), [], 'nothing before the label is set');
    // The same feature at every position it appears gets the label: one search hit for the feature.
    for (const n of raw.nodes) {
      const parsed = graph0.nodes.find((g) => g.id === n.node_id)!;
      if (parsed.kind === 'feature' && parsed.layer === target.layer && parsed.featureIndex === target.featureIndex) n.clerp = 'My Zebra-Crossing detector';
    }
    const hits = labelsInGraph(parseGraphFile(JSON.stringify(raw), file), 'zebra-crossing DETECTOR');
    assert.deepEqual(hits, [{ layer: target.layer, index: target.featureIndex, label: 'My Zebra-Crossing detector' }]);
    assert.deepEqual(labelsInGraph(parseGraphFile(JSON.stringify(raw), file), 'giraffe'), []);
  });

  it('reads both error-id forms (0_{layer}_{pos} and {layer}_-1_{pos}); layer and position come from the fields', function () {
    const graph = parseGraphFile(JSON.stringify(tiny({ errorIds: ['0_1_0', '1_-1_1'] })), 'tiny.json');
    const errors = graph.nodes.filter((n) => n.kind === 'error');
    assert.deepEqual(errors.map((n) => [n.id, n.layer, n.position]), [['0_1_0', 1, 0], ['1_-1_1', 1, 1]]);
  });

  it('scores by hand: half of a feature\'s input from an error', function () {
    // emb -> feat (1), err -> feat (1), feat -> logit (2), p(logit) = 1.
    const kinds = ['embedding', 'error', 'feature', 'logit'] as const;
    const g = { kinds, logitWeights: [0, 0, 0, 1], edges: edgeList([{ target: 2, source: 0, weight: 1 }, { target: 2, source: 1, weight: -1 }, { target: 3, source: 2, weight: 2 }]) };
    assert.deepEqual(Array.from(nodeInfluence(g)), [0.5, 0.5, 1, 0]);
    const s = graphScores(g);
    assert.ok(Math.abs(s.replacement - 0.5) < 1e-12);
    assert.ok(Math.abs(s.completeness - 2.5 / 3) < 1e-12);
    const noErrors = graphScores({ kinds, logitWeights: [0, 0, 0, 1], edges: edgeList([{ target: 2, source: 0, weight: 1 }, { target: 3, source: 2, weight: 2 }]) });
    assert.deepEqual(noErrors, { replacement: 1, completeness: 1 });
  });

  it('refuses malformed files with a message naming the file and the problem', function () {
    const cases: Array<[string, RegExp]> = [
      ['{not json', /bad\.json is not JSON/],
      [JSON.stringify({ metadata: {}, nodes: [], links: [] }), /bad\.json is not an attribution graph file: metadata\.slug is missing/],
      [JSON.stringify({ ...tiny(), links: [{ source: 'E_5_0', target: 'nowhere', weight: 1 }] }), /links\[0\] goes to "nowhere", which is not a node/],
      [JSON.stringify({ ...tiny(), links: [{ source: 'E_5_0', target: '2_7_1', weight: 'big' }] }), /has weight "big"/],
      [JSON.stringify({ ...tiny(), nodes: [...tiny().nodes, tiny().nodes[0]] }), /node id E_5_0 appears twice/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseGraphFile(text, 'bad.json'), message);
  });
});

/** A minimal graph: one embedding, errors, one feature, one logit. */
function tiny(o: { errorIds?: string[] } = {}) {
  const node = (node_id: string, feature_type: string, layer: string, ctx_idx: number, extra: Record<string, unknown> = {}) => ({ node_id, feature: 0, layer, ctx_idx, feature_type, jsNodeId: node_id, clerp: '', token_prob: 0, ...extra });
  const errorIds = o.errorIds ?? [];
  return {
    metadata: { slug: 'tiny', scan: 'test', prompt: 'a b', prompt_tokens: ['a', ' b'], schema_version: 1 },
    qParams: {},
    nodes: [
      node('E_5_0', 'embedding', 'E', 0),
      ...errorIds.map((id, i) => node(id, 'mlp reconstruction error', '1', i, { feature: -1 })),
      node('2_7_1', 'cross layer transcoder', '2', 1, { feature: cantorPair(2, 7) }),
      node('4_9_1', 'logit', '4', 1, { feature: 9, token_prob: 0.5 }),
    ],
    links: [
      { source: 'E_5_0', target: '2_7_1', weight: 1 },
      { source: '2_7_1', target: '4_9_1', weight: 1 },
    ],
  };
}

describe('attribution graph pruning (circuit-tracer prune_graph)', function () {
  interface Case {
    kinds: GraphNodeKind[];
    logit_weights: number[];
    target: number[];
    source: number[];
    weight: number[];
    prunes: Array<{ node_threshold: number; edge_threshold: number; node_mask: number[]; edge_mask: number[]; cumulative_influence: number[] }>;
  }
  const cases = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'graphs', 'prune.json'), 'utf8')) as Case[];
  cases.forEach((c, k) => {
    it(`random graph ${k + 1} (${c.kinds.length} nodes, ${c.target.length} edges): node and edge masks and influence equal the dense torch reference`, function () {
      const g = { kinds: c.kinds, logitWeights: c.logit_weights, edges: { target: Int32Array.from(c.target), source: Int32Array.from(c.source), weight: Float64Array.from(c.weight) } };
      for (const p of c.prunes) {
        const r = pruneGraph(g, p.node_threshold, p.edge_threshold);
        const what = `thresholds ${p.node_threshold} / ${p.edge_threshold}`;
        assert.deepEqual(Array.from(r.nodeMask), p.node_mask, `${what}: nodes`);
        assert.deepEqual(Array.from(r.edgeMask), p.edge_mask, `${what}: edges`);
        r.cumulativeInfluence.forEach((v, i) => assert.ok(Math.abs(v - p.cumulative_influence[i]!) < 1e-9, `${what}: influence of node ${i}`));
        // Tokens and logits are always kept; a kept feature has an edge in and out.
        c.kinds.forEach((kind, i) => {
          if (kind === 'embedding' || kind === 'logit') assert.equal(r.nodeMask[i], 1);
        });
      }
    });
  });
});

describe('writing attribution graph files', function () {
  const schema = JSON.parse(readFileSync(join(GRAPHS, 'neuronpedia-graph-schema.json'), 'utf8')) as object;
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);

  for (const file of Object.keys(EXPECTED)) {
    it(`${file}: written again, it is valid against Neuronpedia's schema and reads back to the same graph`, function () {
      const original = JSON.parse(readFileSync(join(GRAPHS, file), 'utf8')) as unknown;
      assert.ok(validate(original), `the original: ${JSON.stringify(validate.errors)}`);
      const graph = parseGraphFile(JSON.stringify(original), file);
      const index = new Map(graph.nodes.map((n, i) => [n.id, i]));
      const written = writeGraphFile({
        metadata: graph.metadata,
        qParams: graph.qParams,
        nodes: graph.nodes,
        links: graph.links.map((l) => ({ source: index.get(l.source)!, target: index.get(l.target)!, weight: l.weight })),
      });
      const json = JSON.parse(written) as { metadata: { schema_version: number }; nodes: Array<{ node_id: string; feature_type: string }> };
      assert.ok(validate(json), JSON.stringify(validate.errors));
      assert.equal(json.metadata.schema_version, 1);
      assert.ok(json.nodes.filter((n) => n.feature_type === 'mlp reconstruction error').every((n) => /^\d+_-1_\d+$/.test(n.node_id)));
      const again = parseGraphFile(written, 'written.json');
      const strip = (n: GraphNode) => ({ ...n, id: '' });
      assert.deepEqual(again.nodes.map(strip), graph.nodes.map(strip));
      assert.deepEqual(summarizeGraph(again), summarizeGraph(graph));
    });
  }
});
