// From a computed attribution to a graph file: circuit-tracer's `prune_graph` and
// `create_graph_files` (design note §1b, §1c). Scores are computed on the full, unpruned graph
// (circuit-tracer's numbers); nodes carry their cumulative influence; links their raw weights.
import type { Attribution } from './attribute';
import { writeGraphFile } from './graphFile';
import type { GraphNode, GraphNodeKind, GraphToWrite } from './graphFile';
import { graphScores, pruneGraph } from './scores';
import type { EdgeList, GraphScores, ScoreGraph } from './scores';

export interface GraphExportOptions {
  slug: string;
  scan: string;
  /** Each prompt token decoded on its own. */
  tokenTexts: readonly string[];
  /** The prompt decoded whole (default: the token texts joined). */
  prompt?: string;
  nodeThreshold?: number;
  edgeThreshold?: number;
  generationSettings: { max_n_logits: number; desired_logit_prob: number; batch_size: number; max_feature_nodes: number };
  generator: { name: string; version: string; url?: string };
  description?: string;
}

export interface ExportedGraph {
  file: GraphToWrite;
  /** Scores of the full graph (before pruning). */
  scores: GraphScores;
  counts: { nodes: number; links: number; prunedNodes: number; prunedLinks: number };
}

/** The attribution as a graph of nodes and a sparse edge list (the adjacency's non-zero entries). */
export function scoreGraphOf(attr: Attribution): ScoreGraph {
  const n = attr.nNodes;
  const nSel = attr.selected.length;
  const L = attr.nLayers;
  const T = attr.nPos;
  const kinds: GraphNodeKind[] = [
    ...Array<GraphNodeKind>(nSel).fill('feature'),
    ...Array<GraphNodeKind>(L * T).fill('error'),
    ...Array<GraphNodeKind>(T).fill('embedding'),
    ...Array<GraphNodeKind>(attr.logitTargets.length).fill('logit'),
  ];
  const logitWeights = new Float64Array(n);
  attr.logitTargets.forEach((t, i) => (logitWeights[n - attr.logitTargets.length + i] = t.prob));
  let m = 0;
  for (const v of attr.adjacency) if (v !== 0) m++;
  const edges: EdgeList = { target: new Int32Array(m), source: new Int32Array(m), weight: new Float32Array(m) };
  let k = 0;
  for (let t = 0; t < n; t++) {
    for (let s = 0; s < n; s++) {
      const v = attr.adjacency[t * n + s]!;
      if (v === 0) continue;
      edges.target[k] = t;
      edges.source[k] = s;
      edges.weight[k++] = v;
    }
  }
  return { kinds, logitWeights, edges };
}

export function exportGraph(attr: Attribution, o: GraphExportOptions): ExportedGraph {
  const nodeThreshold = o.nodeThreshold ?? 0.8;
  const edgeThreshold = o.edgeThreshold ?? 0.98;
  const g = scoreGraphOf(attr);
  const scores = graphScores(g);
  const pruned = pruneGraph(g, nodeThreshold, edgeThreshold);
  const n = attr.nNodes;
  const nSel = attr.selected.length;
  const L = attr.nLayers;
  const T = attr.nPos;
  const firstLogit = n - attr.logitTargets.length;

  const nodeOf = (j: number): GraphNode => {
    const base = { featureType: '', featureIndex: null, tokenId: null, tokenProb: 0, activation: null, clerp: '', influence: pruned.cumulativeInfluence[j]!, id: '' };
    if (j < nSel) {
      const f = attr.selected[j]!;
      return { ...base, kind: 'feature', layer: attr.activeFeatures[f * 3]!, position: attr.activeFeatures[f * 3 + 1]!, featureIndex: attr.activeFeatures[f * 3 + 2]!, activation: attr.activations[f]! };
    }
    if (j < nSel + L * T) return { ...base, kind: 'error', layer: Math.floor((j - nSel) / T), position: (j - nSel) % T };
    if (j < firstLogit) {
      const p = j - nSel - L * T;
      return { ...base, kind: 'embedding', layer: null, position: p, tokenId: attr.tokens[p]! };
    }
    const t = attr.logitTargets[j - firstLogit]!;
    return { ...base, kind: 'logit', layer: L + 1, position: T - 1, tokenId: t.tokenId, tokenProb: t.prob, influence: null, clerp: `Output "${t.label}" (p=${t.prob.toFixed(3)})` };
  };

  // Emit the kept nodes that keep an edge (embeddings and logits always), and the kept edges between them.
  const e = g.edges;
  const hasEdge = new Uint8Array(n);
  for (let i = 0; i < e.target.length; i++) {
    if (pruned.edgeMask[i] && pruned.nodeMask[e.target[i]!] && pruned.nodeMask[e.source[i]!]) hasEdge[e.target[i]!] = hasEdge[e.source[i]!] = 1;
  }
  const index = new Int32Array(n).fill(-1);
  const nodes: GraphNode[] = [];
  for (let j = 0; j < n; j++) {
    const kind = g.kinds[j];
    const always = kind === 'embedding' || kind === 'logit';
    if (always || (pruned.nodeMask[j] && hasEdge[j])) {
      index[j] = nodes.length;
      nodes.push(nodeOf(j));
    }
  }
  const links: Array<{ source: number; target: number; weight: number }> = [];
  for (let i = 0; i < e.target.length; i++) {
    const s = index[e.source[i]!]!;
    const t = index[e.target[i]!]!;
    if (pruned.edgeMask[i] && s >= 0 && t >= 0) links.push({ source: s, target: t, weight: e.weight[i]! });
  }

  const file: GraphToWrite = {
    metadata: {
      slug: o.slug,
      scan: o.scan,
      transcoder_list: [],
      prompt_tokens: [...o.tokenTexts],
      prompt: o.prompt ?? o.tokenTexts.join(''),
      node_threshold: nodeThreshold,
      schema_version: 1,
      info: {
        ...(o.description ? { description: o.description } : {}),
        generator: o.generator,
        create_time_ms: Date.now(),
      },
      generation_settings: o.generationSettings,
      pruning_settings: { node_threshold: nodeThreshold, edge_threshold: edgeThreshold },
      replacement_score: scores.replacement,
      completeness_score: scores.completeness,
    },
    nodes,
    links,
  };
  return { file, scores, counts: { nodes: n, links: e.target.length, prunedNodes: nodes.length, prunedLinks: links.length } };
}

export { writeGraphFile };
