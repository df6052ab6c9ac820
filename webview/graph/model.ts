// The graph view's data, apart from the DOM (unit-tested): a parsed graph file turned into typed arrays
// (links, per-node input totals, adjacency sorted by strength), the frontends' derived fields (`pctInput` =
// weight / Σ|incoming weight|, the error share of a node's input; ../shared/design/attribution-graphs.md §1c
// "How the frontends use the fields"), which nodes and links the thresholds keep, the layout (prompt
// positions along x, layers along y: embeddings at the bottom, logits on top), link colours and widths
// (a PRGn-like diverging scale over ±0.4, width by the square root of |pctInput|), pinned subgraphs with
// supernodes, and their scores (the shared graphScores).
import type { AttributionGraphFile, GraphNode } from '../../src/shared/graphFile';
import { edgeList, graphScores } from '../../src/shared/graphScores';
import type { GraphScores } from '../../src/shared/graphScores';
import type { GraphViewState } from '../../src/shared/graphProtocol';
import { displayToken } from '../../src/shared/tokenText';

export interface GraphModel {
  file: AttributionGraphFile;
  nodes: GraphNode[];
  index: Map<string, number>;
  source: Int32Array;
  target: Int32Array;
  weight: Float64Array;
  /** weight / the target's Σ|incoming weight| (Neuronpedia's pctInput). */
  pct: Float64Array;
  inputAbsSum: Float64Array;
  /** Share of each node's |input| that comes from error nodes (pctInputError). */
  errorShare: Float64Array;
  /** CSR adjacency: node i's incoming links are inLinks[inStart[i]..inStart[i+1]), strongest |weight| first. */
  inStart: Int32Array;
  inLinks: Int32Array;
  outStart: Int32Array;
  outLinks: Int32Array;
  tokens: string[];
  nPositions: number;
  /** Row per node: 0 for embeddings, layer + 1 for features and errors, the top row for logits. */
  row: Int32Array;
  rowLabels: string[];
  scores: GraphScores;
}

export function buildModel(file: AttributionGraphFile): GraphModel {
  const nodes = file.nodes;
  const n = nodes.length;
  const m = file.links.length;
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const source = new Int32Array(m);
  const target = new Int32Array(m);
  const weight = new Float64Array(m);
  file.links.forEach((l, i) => {
    source[i] = index.get(l.source)!;
    target[i] = index.get(l.target)!;
    weight[i] = l.weight;
  });
  const inputAbsSum = new Float64Array(n);
  for (let i = 0; i < m; i++) inputAbsSum[target[i]!]! += Math.abs(weight[i]!);
  const pct = new Float64Array(m);
  const errorShare = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    const t = target[i]!;
    pct[i] = inputAbsSum[t]! > 0 ? weight[i]! / inputAbsSum[t]! : 0;
    if (nodes[source[i]!]!.kind === 'error') errorShare[t]! += Math.abs(pct[i]!);
  }
  const byStrength = (a: number, b: number) => Math.abs(weight[b]!) - Math.abs(weight[a]!);
  const [inStart, inLinks] = csr(n, target, byStrength);
  const [outStart, outLinks] = csr(n, source, byStrength);

  const maxPos = nodes.reduce((p, node) => Math.max(p, node.position), -1);
  const tokens = file.metadata.prompt_tokens.slice();
  const nPositions = Math.max(tokens.length, maxPos + 1);
  // Logits sit one row above the highest other layer (the frontends re-layer them the same way).
  let maxLayer = -1;
  for (const node of nodes) if (node.kind !== 'logit' && node.layer !== null) maxLayer = Math.max(maxLayer, node.layer);
  const logitRow = maxLayer + 2;
  const row = Int32Array.from(nodes, (node) => (node.kind === 'embedding' || node.layer === null ? 0 : node.kind === 'logit' ? logitRow : Math.min(node.layer + 1, logitRow - 1)));
  const rowLabels = Array.from({ length: logitRow + 1 }, (_, r) => (r === 0 ? 'Emb' : r === logitRow ? 'Logit' : `L${r - 1}`));
  const scores = graphScores({
    kinds: nodes.map((node) => node.kind),
    logitWeights: nodes.map((node) => (node.kind === 'logit' ? node.tokenProb : 0)),
    edges: { source, target, weight },
  });
  return { file, nodes, index, source, target, weight, pct, inputAbsSum, errorShare, inStart, inLinks, outStart, outLinks, tokens, nPositions, row, rowLabels, scores };
}

/** Compressed adjacency by `key` (target or source), each node's links ordered by `order`. */
function csr(n: number, key: Int32Array, order: (a: number, b: number) => number): [Int32Array, Int32Array] {
  const start = new Int32Array(n + 1);
  for (const k of key) start[k + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const links = new Int32Array(key.length);
  key.forEach((k, i) => (links[fill[k]!++] = i));
  for (let i = 0; i < n; i++) links.subarray(start[i]!, start[i + 1]!).sort(order);
  return [start, links];
}

/** The node threshold a file asks for: qParams, then pruning settings, then metadata (default 0.8). */
export function defaultNodeThreshold(file: AttributionGraphFile): number {
  const md = file.metadata as Record<string, unknown>;
  const pruning = md.pruning_settings as Record<string, unknown> | undefined;
  for (const v of [file.qParams.pruningThreshold, pruning?.node_threshold, md.node_threshold, md.nodeThreshold]) if (typeof v === 'number' && v >= 0 && v <= 1) return v;
  return 0.8;
}

/** The view state saved in a file's qParams (Neuronpedia's defaults where absent or malformed). */
export function stateFromFile(model: GraphModel): GraphViewState {
  const q = model.file.qParams;
  const ids = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && model.index.has(x)) : []);
  const supernodes = Array.isArray(q.supernodes)
    ? q.supernodes
        .filter((s): s is unknown[] => Array.isArray(s) && typeof s[0] === 'string')
        .map((s) => [s[0] as string, ...ids(s.slice(1))])
        .filter((s) => s.length > 1)
    : [];
  const linkType = q.linkType === 'input' || q.linkType === 'output' ? q.linkType : 'both';
  const clickedId = typeof q.clickedId === 'string' && model.index.has(q.clickedId) ? q.clickedId : '';
  const edge = typeof q.edgeThreshold === 'number' && q.edgeThreshold >= 0 && q.edgeThreshold <= 1 ? q.edgeThreshold : 0;
  return { pinnedIds: ids(q.pinnedIds), supernodes, clickedId, linkType, pruningThreshold: defaultNodeThreshold(model.file), edgeThreshold: edge };
}

/**
 * Nodes the view shows: a node is shown when its influence (cumulative, smaller = more important) is at most
 * the node threshold; embeddings, logits, pinned and clicked nodes always.
 */
export function visibleNodes(model: GraphModel, state: GraphViewState): Uint8Array {
  const threshold = state.pruningThreshold ?? 1;
  const pinned = new Set(state.pinnedIds);
  return Uint8Array.from(model.nodes, (node) =>
    node.kind === 'embedding' || node.kind === 'logit' || node.influence === null || node.influence <= threshold || pinned.has(node.id) || node.id === state.clickedId ? 1 : 0,
  );
}

/** Links between shown nodes that carry at least the edge threshold of their target's input. */
export function visibleLinks(model: GraphModel, nodes: Uint8Array, edgeThreshold: number): Uint8Array {
  const m = model.source.length;
  const out = new Uint8Array(m);
  for (let i = 0; i < m; i++) out[i] = nodes[model.source[i]!] && nodes[model.target[i]!] && Math.abs(model.pct[i]!) >= edgeThreshold ? 1 : 0;
  return out;
}

export interface Layout {
  /** Node centres in layout units: x in node slots, y in rows (0 = embeddings). NaN for hidden nodes. */
  x: Float64Array;
  y: Float64Array;
  /** Slot where each prompt position's column starts; columnStart[nPositions] is the total width. */
  columnStart: Float64Array;
  nRows: number;
}

/**
 * Columns by prompt position, each as wide as its fullest (position, row) cell; in a cell, features first
 * (most influential first), then errors and the rest.
 */
export function layoutGraph(model: GraphModel, shown: Uint8Array): Layout {
  const n = model.nodes.length;
  const nRows = model.rowLabels.length;
  const cells = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    if (!shown[i]) continue;
    const key = model.nodes[i]!.position * nRows + model.row[i]!;
    let cell = cells.get(key);
    if (!cell) cells.set(key, (cell = []));
    cell.push(i);
  }
  const width = new Float64Array(model.nPositions).fill(1);
  for (const [key, cell] of cells) {
    const p = Math.floor(key / nRows);
    width[p] = Math.max(width[p]!, cell.length);
  }
  const columnStart = new Float64Array(model.nPositions + 1);
  for (let p = 0; p < model.nPositions; p++) columnStart[p + 1] = columnStart[p]! + width[p]!;
  const x = new Float64Array(n).fill(NaN);
  const y = new Float64Array(n).fill(NaN);
  const rank = (i: number) => {
    const node = model.nodes[i]!;
    return node.kind === 'feature' ? 0 : node.kind === 'error' ? 2 : 1;
  };
  for (const [key, cell] of cells) {
    const p = Math.floor(key / nRows);
    cell.sort((a, b) => rank(a) - rank(b) || (model.nodes[a]!.influence ?? 2) - (model.nodes[b]!.influence ?? 2) || (model.nodes[a]!.id < model.nodes[b]!.id ? -1 : 1));
    const left = columnStart[p]! + (width[p]! - cell.length) / 2;
    cell.forEach((i, k) => {
      x[i] = left + k + 0.5;
      y[i] = model.row[i]!;
    });
  }
  return { x, y, columnStart, nRows };
}

/** A node's short label: its clerp, else one the frontends would synthesise. */
export function nodeLabel(model: GraphModel, i: number): string {
  const node = model.nodes[i]!;
  if (node.clerp.trim()) return node.clerp;
  const tok = `“${displayToken(model.tokens[node.position] ?? '')}”`;
  switch (node.kind) {
    case 'feature':
      return `L${node.layer} #${node.featureIndex}`;
    case 'error':
      return `Err: mlp ${tok} L${node.layer}`;
    case 'embedding':
      return `Emb: ${tok}`;
    case 'logit':
      return `Logit #${node.tokenId}`;
    default:
      return `${node.featureType} ${node.id}`;
  }
}

/** Where a node is: kind, layer / feature, position and its token. */
export function nodePlace(model: GraphModel, i: number): string {
  const node = model.nodes[i]!;
  const tok = `“${displayToken(model.tokens[node.position] ?? '')}”`;
  const where = `position ${node.position} ${tok}`;
  switch (node.kind) {
    case 'feature':
      return `feature ${node.featureIndex} · layer ${node.layer} · ${where}`;
    case 'error':
      return `MLP error · layer ${node.layer} · ${where}`;
    case 'embedding':
      return `embedding · token ${node.tokenId ?? '?'} · ${where}`;
    case 'logit':
      return `logit · token ${node.tokenId ?? '?'} · p = ${node.tokenProb.toFixed(3)}`;
    default:
      return `${node.featureType} · ${where}`;
  }
}

export interface Neighbour {
  node: number;
  link: number;
  weight: number;
  pct: number;
}

/** The `limit` strongest incoming (upstream) or outgoing (downstream) links of node i. */
export function neighbours(model: GraphModel, i: number, direction: 'up' | 'down', limit = 10): Neighbour[] {
  const [start, links, other] = direction === 'up' ? [model.inStart, model.inLinks, model.source] : [model.outStart, model.outLinks, model.target];
  const out: Neighbour[] = [];
  for (let k = start[i]!; k < start[i + 1]! && out.length < limit; k++) {
    const l = links[k]!;
    out.push({ node: other[l]!, link: l, weight: model.weight[l]!, pct: model.pct[l]! });
  }
  return out;
}

// Link colours: purple for negative, green for positive (ColorBrewer PRGn), saturating at |pctInput| 0.4 as
// Neuronpedia's scale does; a theme-grey middle so weak links recede on light and dark backgrounds alike.
const PRGN_LIGHT = ['#762a83', '#af8dc3', '#d9d9d9', '#7fbf7b', '#1b7837'];
const PRGN_DARK = ['#d59ee6', '#9a6fb0', '#5c5c5c', '#5fae67', '#8fe39a'];
export const COLOR_STEPS = 10;
const WIDTH_STEPS = 8;

/** The colour bucket of a pctInput: 0 (−0.4 or less) … 2·COLOR_STEPS (+0.4 or more). */
export function colorBucket(pct: number): number {
  const t = Math.max(-1, Math.min(1, pct / 0.4));
  return Math.round(t * COLOR_STEPS) + COLOR_STEPS;
}

/** The width bucket of a pctInput (square-root scale of |pctInput|, 0 … WIDTH_STEPS). */
export function widthBucket(pct: number): number {
  return Math.round(Math.sqrt(Math.min(1, Math.abs(pct))) * WIDTH_STEPS);
}

export function bucketWidth(bucket: number): number {
  return 0.35 + (3.6 * bucket) / WIDTH_STEPS;
}

export function bucketColor(bucket: number, dark: boolean): string {
  const stops = dark ? PRGN_DARK : PRGN_LIGHT;
  const t = (bucket / (2 * COLOR_STEPS)) * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(t));
  return mix(stops[k]!, stops[k + 1]!, t - k);
}

export function linkColor(pct: number, dark: boolean): string {
  return bucketColor(colorBucket(pct), dark);
}

function mix(a: string, b: string, t: number): string {
  const pa = parseInt(a.slice(1), 16);
  const pb = parseInt(b.slice(1), 16);
  const c = [16, 8, 0].map((s) => Math.round(((pa >> s) & 255) * (1 - t) + ((pb >> s) & 255) * t));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Groups links into (colour, width) buckets so a canvas draws each bucket as one path. */
export function linkBuckets(model: GraphModel, links: Uint8Array): Map<number, number[]> {
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < links.length; i++) {
    if (!links[i]) continue;
    const p = model.pct[i]!;
    const key = widthBucket(p) * 100 + colorBucket(p);
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = []));
    b.push(i);
  }
  // Weak links first, so strong ones are drawn on top.
  return new Map([...buckets.entries()].sort((a, b) => a[0] - b[0]));
}

export interface SubgraphGroup {
  /** The supernode's label, or the node's own label for a lone pinned node. */
  label: string;
  members: number[];
  supernode: boolean;
  /** Mean position and mean row of the members (its place in the subgraph). */
  x: number;
  y: number;
}

export interface Subgraph {
  groups: SubgraphGroup[];
  /** Summed weights between groups; pct is the sum over the target group's total |input|. */
  links: Array<{ source: number; target: number; weight: number; pct: number }>;
}

/** The pinned nodes as a subgraph: supernodes as one node each, links between groups summed. */
export function buildSubgraph(model: GraphModel, state: GraphViewState): Subgraph {
  const groupOf = new Map<number, number>();
  const groups: SubgraphGroup[] = [];
  const add = (label: string, members: number[], supernode: boolean) => {
    const g = groups.length;
    members.forEach((i) => groupOf.set(i, g));
    const mean = (f: (i: number) => number) => members.reduce((s, i) => s + f(i), 0) / members.length;
    groups.push({ label, members, supernode, x: mean((i) => model.nodes[i]!.position), y: mean((i) => model.row[i]!) });
  };
  for (const [label, ...ids] of state.supernodes) {
    const members = ids.map((id) => model.index.get(id)).filter((i): i is number => i !== undefined && !groupOf.has(i));
    if (members.length > 0) add(label ?? '', members, true);
  }
  for (const id of state.pinnedIds) {
    const i = model.index.get(id);
    if (i !== undefined && !groupOf.has(i)) add(nodeLabel(model, i), [i], false);
  }
  const sums = new Map<number, number>();
  for (let l = 0; l < model.source.length; l++) {
    const a = groupOf.get(model.source[l]!);
    const b = groupOf.get(model.target[l]!);
    if (a === undefined || b === undefined || a === b) continue;
    const key = a * groups.length + b;
    sums.set(key, (sums.get(key) ?? 0) + model.weight[l]!);
  }
  const links = [...sums.entries()].map(([key, weight]) => {
    const source = Math.floor(key / groups.length);
    const target = key % groups.length;
    const total = groups[target]!.members.reduce((s, i) => s + model.inputAbsSum[i]!, 0);
    return { source, target, weight, pct: total > 0 ? weight / total : 0 };
  });
  return { groups, links };
}

/**
 * Replacement and completeness of a pinned subgraph, as Neuronpedia scores one: the pinned nodes, the error
 * nodes feeding them, and every embedding and logit, with the links among those (the shared graphScores).
 */
export function subgraphScores(model: GraphModel, pinnedIds: readonly string[]): GraphScores | null {
  const keep = new Uint8Array(model.nodes.length);
  let pinned = 0;
  for (const id of pinnedIds) {
    const i = model.index.get(id);
    if (i !== undefined && model.nodes[i]!.kind !== 'embedding' && model.nodes[i]!.kind !== 'logit') {
      keep[i] = 1;
      pinned++;
    }
  }
  if (pinned === 0) return null;
  for (let l = 0; l < model.source.length; l++) if (keep[model.target[l]!] && model.nodes[model.source[l]!]!.kind === 'error') keep[model.source[l]!] = 1;
  model.nodes.forEach((node, i) => {
    if (node.kind === 'embedding' || node.kind === 'logit') keep[i] = 1;
  });
  const remap = new Int32Array(model.nodes.length).fill(-1);
  const kept: number[] = [];
  keep.forEach((k, i) => {
    if (k) remap[i] = kept.push(i) - 1;
  });
  const links: Array<{ source: number; target: number; weight: number }> = [];
  for (let l = 0; l < model.source.length; l++) {
    const s = remap[model.source[l]!]!;
    const t = remap[model.target[l]!]!;
    if (s >= 0 && t >= 0) links.push({ source: s, target: t, weight: model.weight[l]! });
  }
  return graphScores({
    kinds: kept.map((i) => model.nodes[i]!.kind),
    logitWeights: kept.map((i) => (model.nodes[i]!.kind === 'logit' ? model.nodes[i]!.tokenProb : 0)),
    edges: edgeList(links),
  });
}

/** Escapes text for SVG/XML (labels are untrusted). */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Each node's own share of the influence on the logits: the step its cumulative influence adds (0 without one). */
export function influenceShares(model: GraphModel): Float64Array {
  const shares = new Float64Array(model.nodes.length);
  const order = model.nodes.flatMap((n, i) => (n.influence === null || n.kind === 'logit' ? [] : [i])).sort((a, b) => model.nodes[a]!.influence! - model.nodes[b]!.influence!);
  let previous = 0;
  for (const i of order) {
    const c = model.nodes[i]!.influence!;
    shares[i] = Math.max(0, c - previous);
    previous = c;
  }
  return shares;
}

export interface DiffEntry {
  id: string;
  label: string;
  /** Influence share in the clean and in the intervened graph (0 where the node is absent). */
  before: number;
  after: number;
}

export interface GraphDiff {
  /** Feature nodes only in the intervened graph, most influential first. */
  appeared: DiffEntry[];
  /** Feature nodes only in the clean graph, most influential first. */
  disappeared: DiffEntry[];
  /** Nodes in both (features, errors, embeddings), largest |Δ influence share| first. */
  changed: DiffEntry[];
  /** How many feature nodes appeared and disappeared in all (the lists hold the top k). */
  nAppeared: number;
  nDisappeared: number;
}

/**
 * What the interventions changed in the graph: which feature nodes appeared and disappeared (by id: layer,
 * feature and position) and whose share of the influence on the logits moved most. Both graphs are pruned,
 * so "appeared" can also mean a node crossed the pruning threshold.
 */
export function graphDiff(clean: GraphModel, patched: GraphModel, k = 8): GraphDiff {
  const sc = influenceShares(clean);
  const sp = influenceShares(patched);
  const label = (m: GraphModel, i: number) => {
    const n = m.nodes[i]!;
    return n.kind === 'feature' ? `${nodeLabel(m, i)} @${n.position} “${displayToken(m.tokens[n.position] ?? '')}”` : nodeLabel(m, i);
  };
  const appeared: DiffEntry[] = [];
  const disappeared: DiffEntry[] = [];
  const changed: DiffEntry[] = [];
  patched.nodes.forEach((n, i) => {
    if (n.kind === 'logit') return;
    const j = clean.index.get(n.id);
    if (j === undefined) {
      if (n.kind === 'feature') appeared.push({ id: n.id, label: label(patched, i), before: 0, after: sp[i]! });
    } else {
      changed.push({ id: n.id, label: label(patched, i), before: sc[j]!, after: sp[i]! });
    }
  });
  clean.nodes.forEach((n, j) => {
    if (n.kind === 'feature' && !patched.index.has(n.id)) disappeared.push({ id: n.id, label: label(clean, j), before: sc[j]!, after: 0 });
  });
  appeared.sort((a, b) => b.after - a.after);
  disappeared.sort((a, b) => b.before - a.before);
  changed.sort((a, b) => Math.abs(b.after - b.before) - Math.abs(a.after - a.before));
  return { appeared: appeared.slice(0, k), disappeared: disappeared.slice(0, k), changed: changed.slice(0, k), nAppeared: appeared.length, nDisappeared: disappeared.length };
}
