// Influence and the graph scores of circuit-tracer (`compute_influence`, `compute_graph_scores` in
// circuit_tracer/graph.py; ../shared/design/attribution-graphs.md §1b), on a
// graph given as nodes and an edge list (A[target, source] = weight). As Neuronpedia does in the browser,
// scores can be computed from a pruned graph file; on the full graph they are circuit-tracer's own.
//   Â        = |A| with each row (a target's incoming edges) divided by its sum (the sum at least 1e-10)
//   influence = w Â + w Â² + …, w = the logit nodes' probabilities (0 elsewhere); the graph is acyclic, so
//               the series ends (capped at 1000 terms); logits themselves get 0
//   replacement  = token influence / (token influence + error influence)
//   completeness = Σ_n (1 − error share of n's normalised input) (influence_n + w_n) / Σ_n (influence_n + w_n)
// Edges are kept sparse (typed arrays): a graph of thousands of nodes would not fit as a dense matrix.
// Runtime-agnostic: the graph view scores a pinned subgraph with the same code; pruning is in the engine
// (src/engine/attribution/scores.ts).
import type { GraphNodeKind } from './graphFile';

export interface EdgeList {
  target: Int32Array;
  source: Int32Array;
  weight: Float32Array | Float64Array;
}

export interface ScoreGraph {
  kinds: readonly GraphNodeKind[];
  /** Logit nodes' probabilities (0 for other nodes). */
  logitWeights: ArrayLike<number>;
  edges: EdgeList;
}

export interface GraphScores {
  replacement: number;
  completeness: number;
}

/** Builds an edge list from {target, source, weight} objects. */
export function edgeList(links: ReadonlyArray<{ target: number; source: number; weight: number }>): EdgeList {
  return {
    target: Int32Array.from(links, (l) => l.target),
    source: Int32Array.from(links, (l) => l.source),
    weight: Float64Array.from(links, (l) => l.weight),
  };
}

/** |A| normalised by row, one value per edge; edges where `keep` is false count as absent. */
export function normalisedWeights(n: number, e: EdgeList, keep?: Uint8Array): Float64Array {
  const rowSum = new Float64Array(n);
  const m = e.target.length;
  for (let i = 0; i < m; i++) if (!keep || keep[i]) rowSum[e.target[i]!]! += Math.abs(e.weight[i]!);
  const out = new Float64Array(m);
  for (let i = 0; i < m; i++) if (!keep || keep[i]) out[i] = Math.abs(e.weight[i]!) / Math.max(rowSum[e.target[i]!]!, 1e-10);
  return out;
}

/** Each node's influence on the logits, weighted by their probabilities (w Â + w Â² + …). */
export function influenceOf(n: number, e: EdgeList, normalised: Float64Array, logitWeights: ArrayLike<number>): Float64Array {
  const influence = new Float64Array(n);
  let current = Float64Array.from(logitWeights);
  for (let step = 0; step < 1000; step++) {
    const next = new Float64Array(n);
    let any = false;
    for (let i = 0; i < e.target.length; i++) {
      const v = current[e.target[i]!]! * normalised[i]!;
      if (v !== 0) {
        next[e.source[i]!]! += v;
        any = true;
      }
    }
    if (!any) break;
    for (let j = 0; j < n; j++) influence[j]! += next[j]!;
    current = next;
  }
  return influence;
}

export function nodeInfluence(g: ScoreGraph): Float64Array {
  const n = g.kinds.length;
  return influenceOf(n, g.edges, normalisedWeights(n, g.edges), g.logitWeights);
}

export function graphScores(g: ScoreGraph): GraphScores {
  const n = g.kinds.length;
  const normalised = normalisedWeights(n, g.edges);
  const influence = influenceOf(n, g.edges, normalised, g.logitWeights);
  let tokens = 0;
  let errors = 0;
  g.kinds.forEach((k, i) => {
    if (k === 'embedding') tokens += influence[i]!;
    else if (k === 'error') errors += influence[i]!;
  });
  const errorShare = new Float64Array(n);
  for (let i = 0; i < g.edges.target.length; i++) if (g.kinds[g.edges.source[i]!] === 'error') errorShare[g.edges.target[i]!]! += normalised[i]!;
  let complete = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const out = influence[i]! + g.logitWeights[i]!;
    complete += (1 - errorShare[i]!) * out;
    total += out;
  }
  return { replacement: tokens / (tokens + errors), completeness: complete / total };
}
