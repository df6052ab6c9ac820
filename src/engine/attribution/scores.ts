// Influence and the graph scores of circuit-tracer (`compute_influence`, `compute_graph_scores` in
// circuit_tracer/graph.py; ../shared/design/attribution-graphs.md §1b), on a graph given as nodes and
// links (A[target, source] = link weight). As Neuronpedia does in the browser, they can be computed from
// a pruned graph file; on the full graph they are circuit-tracer's own.
//   Â        = |A| with each row (a target's incoming edges) divided by its sum (the sum at least 1e-10)
//   influence = w Â + w Â² + …, w = the logit nodes' probabilities (0 elsewhere); the graph is acyclic, so
//               the series ends (capped at 1000 terms); logits themselves get 0
//   replacement  = token influence / (token influence + error influence)
//   completeness = Σ_n (1 − error share of n's normalised input) (influence_n + w_n) / Σ_n (influence_n + w_n)
// Links are kept sparse: a graph of ~10k nodes would not fit as a dense matrix.
import type { GraphNodeKind } from './graphFile';

export interface ScoreGraph {
  kinds: readonly GraphNodeKind[];
  /** Logit nodes' probabilities (0 for other nodes). */
  logitWeights: ArrayLike<number>;
  /** Edges by node index: target <- source with the raw weight. */
  links: ReadonlyArray<{ target: number; source: number; weight: number }>;
}

export interface GraphScores {
  replacement: number;
  completeness: number;
}

/** |A| normalised by row: one weight per link, in the links' order. */
export function normalisedWeights(g: ScoreGraph): Float64Array {
  const rowSum = new Float64Array(g.kinds.length);
  for (const l of g.links) rowSum[l.target]! += Math.abs(l.weight);
  return Float64Array.from(g.links, (l) => Math.abs(l.weight) / Math.max(rowSum[l.target]!, 1e-10));
}

/** Each node's influence on the logits, weighted by their probabilities (w Â + w Â² + …). */
export function nodeInfluence(g: ScoreGraph, normalised = normalisedWeights(g)): Float64Array {
  const n = g.kinds.length;
  const influence = new Float64Array(n);
  let current = Float64Array.from(g.logitWeights);
  for (let step = 0; step < 1000; step++) {
    const next = new Float64Array(n);
    let any = false;
    for (let i = 0; i < g.links.length; i++) {
      const l = g.links[i]!;
      const v = current[l.target]!;
      if (v !== 0) {
        next[l.source]! += v * normalised[i]!;
        any = true;
      }
    }
    if (!any) break;
    for (let j = 0; j < n; j++) influence[j]! += next[j]!;
    current = next;
  }
  return influence;
}

export function graphScores(g: ScoreGraph): GraphScores {
  const normalised = normalisedWeights(g);
  const influence = nodeInfluence(g, normalised);
  let tokens = 0;
  let errors = 0;
  g.kinds.forEach((k, i) => {
    if (k === 'embedding') tokens += influence[i]!;
    else if (k === 'error') errors += influence[i]!;
  });
  const errorShare = new Float64Array(g.kinds.length);
  g.links.forEach((l, i) => {
    if (g.kinds[l.source] === 'error') errorShare[l.target]! += normalised[i]!;
  });
  let complete = 0;
  let total = 0;
  for (let i = 0; i < g.kinds.length; i++) {
    const out = influence[i]! + g.logitWeights[i]!;
    complete += (1 - errorShare[i]!) * out;
    total += out;
  }
  return { replacement: tokens / (tokens + errors), completeness: complete / total };
}
