// circuit-tracer's pruning (`prune_graph` in circuit_tracer/graph.py; ../shared/design/attribution-graphs.md
// §1b) on sparse edge lists. Influence and the graph scores are shared with the graph view
// (src/shared/graphScores.ts, re-exported here).
import type { GraphNodeKind } from '../../shared/graphFile';
import { influenceOf, nodeInfluence, normalisedWeights } from '../../shared/graphScores';
import type { ScoreGraph } from '../../shared/graphScores';

export { edgeList, graphScores, influenceOf, nodeInfluence, normalisedWeights } from '../../shared/graphScores';
export type { EdgeList, GraphScores, ScoreGraph } from '../../shared/graphScores';

/**
 * circuit-tracer's `find_threshold`: the score at which the scores, largest first, reach `fraction` of their
 * total; keeping every score ≥ it keeps ties. `extraZeros` counts entries of score 0 not listed (absent edges).
 */
export function findThreshold(scores: Float64Array, fraction: number, extraZeros = 0): number {
  const sorted = Float64Array.from(scores).sort().reverse();
  let total = 0;
  for (const s of sorted) total += s;
  let cumulative = 0;
  for (const s of sorted) {
    cumulative += s;
    if (cumulative / total >= fraction) return s;
  }
  // Not reached (rounding): the last entry, which may be one of the unlisted zeros.
  return extraZeros > 0 ? 0 : sorted[sorted.length - 1]!;
}

export interface PruneResult {
  nodeMask: Uint8Array;
  edgeMask: Uint8Array;
  /** Per node: the cumulative fraction of total (unpruned) influence at its rank; smaller is more important. */
  cumulativeInfluence: Float64Array;
}

/**
 * circuit-tracer's `prune_graph`: keep the nodes carrying `nodeThreshold` of the logits' influence (tokens and
 * logits always), then the edges carrying `edgeThreshold` of the pruned graph's edge influence, then drop
 * features and errors left with no outgoing edge and features with no incoming edge, until stable.
 */
export function pruneGraph(g: ScoreGraph, nodeThreshold = 0.8, edgeThreshold = 0.98): PruneResult {
  const n = g.kinds.length;
  const e = g.edges;
  const m = e.target.length;
  const influence = nodeInfluence(g);
  const nodeMask = new Uint8Array(n);
  const cut = findThreshold(influence, nodeThreshold);
  for (let i = 0; i < n; i++) nodeMask[i] = influence[i]! >= cut || g.kinds[i] === 'embedding' || g.kinds[i] === 'logit' ? 1 : 0;

  // Edge influence on the graph of kept nodes: Â_pruned[t, s] (influence_pruned[t] + w[t]).
  const live = Uint8Array.from({ length: m }, (_, i) => nodeMask[e.target[i]!]! & nodeMask[e.source[i]!]!);
  const normalised = normalisedWeights(n, e, live);
  const pruned = influenceOf(n, e, normalised, g.logitWeights);
  const edgeScores = Float64Array.from({ length: m }, (_, i) => normalised[i]! * (pruned[e.target[i]!]! + g.logitWeights[e.target[i]!]!));
  // circuit-tracer thresholds over every entry of the n x n matrix; the absent ones score 0.
  const edgeCut = findThreshold(edgeScores, edgeThreshold, n * n - m);
  const edgeMask = Uint8Array.from(edgeScores, (s, i) => (s >= edgeCut && live[i] ? 1 : 0));

  const prunable = (k: GraphNodeKind) => k === 'feature' || k === 'error' || k === 'other';
  for (;;) {
    const hasOut = new Uint8Array(n);
    const hasIn = new Uint8Array(n);
    for (let i = 0; i < m; i++) {
      if (!edgeMask[i]) continue;
      hasOut[e.source[i]!] = 1;
      hasIn[e.target[i]!] = 1;
    }
    let changed = false;
    for (let j = 0; j < n; j++) {
      if (!nodeMask[j]) continue;
      const k = g.kinds[j]!;
      if ((prunable(k) && !hasOut[j]) || (k === 'feature' && !hasIn[j])) {
        nodeMask[j] = 0;
        changed = true;
      }
    }
    if (!changed) break;
    for (let i = 0; i < m; i++) if (edgeMask[i] && !(nodeMask[e.target[i]!] && nodeMask[e.source[i]!])) edgeMask[i] = 0;
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => influence[b]! - influence[a]!);
  let total = 0;
  for (const v of influence) total += v;
  const cumulativeInfluence = new Float64Array(n);
  let running = 0;
  for (const j of order) {
    running += influence[j]!;
    cumulativeInfluence[j] = running / total;
  }
  return { nodeMask, edgeMask, cumulativeInfluence };
}
