// Attribution-graph files in the format circuit-tracer writes and Neuronpedia reads and serves
// (`metadata`, `qParams`, `nodes`, `links`; ../shared/design/attribution-graphs.md §1c). Reading is
// lenient where real files differ and strict where a wrong reading would mislead:
// - node ids are opaque: layer and position come from the `layer` / `ctx_idx` fields, the node kind from
//   `feature_type`; a feature's index from its `{layer}_{index}_{pos}` id, else from `feature` (Cantor pair
//   when `schema_version` is 1, `layer * 100000 + index` in legacy files);
// - error nodes may use either id form (`0_{layer}_{pos}` before circuit-tracer PR #100, `{layer}_-1_{pos}` after);
// - a link to a node the file does not have, a non-finite weight, a missing required field: refused, naming the file.
import { UserError } from '../errors';
import { edgeList, graphScores } from './scores';

export type GraphNodeKind = 'feature' | 'error' | 'embedding' | 'logit' | 'other';

export interface GraphNode {
  id: string;
  kind: GraphNodeKind;
  /** The file's `feature_type` (e.g. "cross layer transcoder", "lorsa"). */
  featureType: string;
  /** Model layer; null for embeddings ("E"). Logits carry n_layers + 1, as in the file. */
  layer: number | null;
  position: number;
  /** Feature nodes: the feature's index in its layer's transcoder. */
  featureIndex: number | null;
  /** Embeddings and logits: the token id. */
  tokenId: number | null;
  /** Logits: the model's probability of the token. */
  tokenProb: number;
  /** Cumulative influence fraction (smaller: more important), when the file has it. */
  influence: number | null;
  activation: number | null;
  clerp: string;
}

export interface GraphLink {
  source: string;
  target: string;
  weight: number;
}

export interface AttributionGraphFile {
  metadata: { slug: string; scan: string; prompt: string; prompt_tokens: string[]; schema_version?: number } & Record<string, unknown>;
  qParams: Record<string, unknown>;
  nodes: GraphNode[];
  links: GraphLink[];
}

const KINDS: Record<string, GraphNodeKind> = {
  'cross layer transcoder': 'feature',
  'per layer transcoder': 'feature',
  transcoder: 'feature',
  lorsa: 'feature',
  'mlp reconstruction error': 'error',
  'lorsa error': 'error',
  embedding: 'embedding',
  logit: 'logit',
};

/** Parses a graph file's text; `name` is how messages refer to it. */
export function parseGraphFile(text: string, name: string): AttributionGraphFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${name} is not JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  const fail = (what: string): never => {
    throw new UserError(`${name} is not an attribution graph file: ${what}.`);
  };
  if (!isRecord(json)) return fail('the top level is not an object');
  for (const key of ['metadata', 'nodes', 'links']) if (!(key in json)) fail(`it has no "${key}"`);
  const metadata = json.metadata;
  if (!isRecord(metadata)) return fail('"metadata" is not an object');
  for (const key of ['slug', 'scan', 'prompt']) if (typeof metadata[key] !== 'string') fail(`metadata.${key} is missing or not a string`);
  if (!Array.isArray(metadata.prompt_tokens) || !metadata.prompt_tokens.every((t) => typeof t === 'string')) fail('metadata.prompt_tokens is not a list of strings');
  const cantor = metadata.schema_version === 1;
  if (!Array.isArray(json.nodes)) return fail('"nodes" is not a list');
  if (!Array.isArray(json.links)) return fail('"links" is not a list');

  const nodes = json.nodes.map((raw, i): GraphNode => {
    const at = `nodes[${i}]`;
    if (!isRecord(raw)) return fail(`${at} is not an object`);
    const id = raw.node_id;
    if (typeof id !== 'string' || id === '') return fail(`${at}.node_id is missing`);
    const featureType = raw.feature_type;
    if (typeof featureType !== 'string') return fail(`${at} (${id}) has no feature_type`);
    const position = raw.ctx_idx;
    if (!Number.isInteger(position) || (position as number) < 0) return fail(`${at} (${id}) has no valid ctx_idx`);
    const kind = KINDS[featureType] ?? 'other';
    const layerField = raw.layer;
    let layer: number | null = null;
    if (kind !== 'embedding') {
      layer = typeof layerField === 'number' ? layerField : typeof layerField === 'string' && /^\d+$/.test(layerField) ? Number(layerField) : NaN;
      if (!Number.isInteger(layer)) return fail(`${at} (${id}) has layer ${JSON.stringify(layerField)}`);
    }
    const feature = typeof raw.feature === 'number' ? raw.feature : null;
    let featureIndex: number | null = null;
    if (kind === 'feature') {
      const parts = id.split('_');
      const fromId = parts.length === 3 && parts[0] === String(layer) && /^\d+$/.test(parts[1]!) ? Number(parts[1]) : null;
      featureIndex = fromId ?? (feature === null ? null : cantor ? cantorIndex(feature) : feature % 100000);
      if (featureIndex === null) return fail(`${at} (${id}) is a feature with no index in its id or "feature" field`);
    }
    let tokenId: number | null = null;
    if (kind === 'embedding') {
      const m = /^E_(\d+)_\d+$/.exec(id);
      tokenId = m ? Number(m[1]) : null;
    } else if (kind === 'logit') {
      tokenId = feature;
    }
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    return {
      id,
      kind,
      featureType,
      layer,
      position: position as number,
      featureIndex,
      tokenId,
      tokenProb: num(raw.token_prob) ?? 0,
      influence: num(raw.influence),
      activation: num(raw.activation),
      clerp: typeof raw.clerp === 'string' ? raw.clerp : '',
    };
  });
  const ids = new Set<string>();
  for (const n of nodes) {
    if (ids.has(n.id)) fail(`node id ${n.id} appears twice`);
    ids.add(n.id);
  }
  const links = json.links.map((raw, i): GraphLink => {
    if (!isRecord(raw)) return fail(`links[${i}] is not an object`);
    const { source, target, weight } = raw;
    if (typeof source !== 'string' || !ids.has(source)) return fail(`links[${i}] comes from ${JSON.stringify(source)}, which is not a node of the graph`);
    if (typeof target !== 'string' || !ids.has(target)) return fail(`links[${i}] goes to ${JSON.stringify(target)}, which is not a node of the graph`);
    if (typeof weight !== 'number' || !Number.isFinite(weight)) return fail(`links[${i}] (${source} -> ${target}) has weight ${JSON.stringify(weight)}`);
    return { source, target, weight };
  });
  const qParams = isRecord(json.qParams) ? json.qParams : {};
  return { metadata: metadata as AttributionGraphFile['metadata'], qParams, nodes, links };
}

/** The index of a schema-1 `feature` id: the second element of the Cantor pair (layer, index). */
export function cantorIndex(z: number): number {
  const w = Math.floor((Math.sqrt(8 * z + 1) - 1) / 2);
  return z - (w * (w + 1)) / 2;
}

/** The schema-1 `feature` id of (layer, index). */
export function cantorPair(layer: number, index: number): number {
  return ((layer + index) * (layer + index + 1)) / 2 + index;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface GraphSummary {
  prompt: string;
  /** Node counts by kind (`feature_type` grouped as in circuit-tracer: features, errors, embeddings, logits). */
  nodes: Record<'feature' | 'error' | 'embedding' | 'logit', number>;
  links: number;
  /** Recomputed from the file's links (Neuronpedia's way), not read from its metadata. */
  replacement_score: number;
  completeness_score: number;
}

export function summarizeGraph(file: AttributionGraphFile): GraphSummary {
  const index = new Map(file.nodes.map((n, i) => [n.id, i]));
  const scores = graphScores({
    kinds: file.nodes.map((n) => n.kind),
    logitWeights: file.nodes.map((n) => (n.kind === 'logit' ? n.tokenProb : 0)),
    edges: edgeList(file.links.map((l) => ({ target: index.get(l.target)!, source: index.get(l.source)!, weight: l.weight }))),
  });
  const nodes = { feature: 0, error: 0, embedding: 0, logit: 0 };
  for (const n of file.nodes) if (n.kind !== 'other') nodes[n.kind]++;
  return { prompt: file.metadata.prompt, nodes, links: file.links.length, replacement_score: scores.replacement, completeness_score: scores.completeness };
}

/** A graph to write: nodes as read (or built), links by node index. */
export interface GraphToWrite {
  metadata: AttributionGraphFile['metadata'];
  qParams?: Record<string, unknown>;
  nodes: readonly GraphNode[];
  links: ReadonlyArray<{ source: number; target: number; weight: number }>;
}

const FEATURE_TYPES: Record<Exclude<GraphNodeKind, 'other'>, string> = {
  feature: 'cross layer transcoder', // what circuit-tracer writes for per-layer and cross-layer transcoders alike
  error: 'mlp reconstruction error',
  embedding: 'embedding',
  logit: 'logit',
};

/**
 * Writes a graph in the current format (`schema_version` 1): node ids from the nodes' content (features
 * `{layer}_{index}_{pos}` with Cantor `feature` ids, errors `{layer}_-1_{pos}` as circuit-tracer writes since
 * PR #100, embeddings `E_{token}_{pos}`, logits `{layer}_{token}_{pos}`), every field the schema and the
 * frontends read, and the links' raw weights. Kinds this writer does not know keep their ids and types.
 */
export function writeGraphFile(g: GraphToWrite): string {
  let firstLogit = true;
  const nodes = g.nodes.map((n) => {
    const pos = n.position;
    let nodeId: string;
    let jsNodeId: string;
    let feature: number | null;
    switch (n.kind) {
      case 'feature':
        nodeId = `${n.layer}_${n.featureIndex}_${pos}`;
        jsNodeId = `${n.layer}_${n.featureIndex}-0`;
        feature = cantorPair(n.layer!, n.featureIndex!);
        break;
      case 'error':
        nodeId = `${n.layer}_-1_${pos}`;
        jsNodeId = `${nodeId}-0`;
        feature = -1;
        break;
      case 'embedding':
        nodeId = `E_${n.tokenId}_${pos}`;
        jsNodeId = `E_${n.tokenId}-${pos}`;
        feature = pos;
        break;
      case 'logit':
        nodeId = `${n.layer}_${n.tokenId}_${pos}`;
        jsNodeId = `L_${n.tokenId}-${pos}`;
        feature = n.tokenId;
        break;
      case 'other':
        nodeId = n.id;
        jsNodeId = n.id;
        feature = n.featureIndex;
        break;
    }
    const isTarget = n.kind === 'logit' && firstLogit;
    if (n.kind === 'logit') firstLogit = false;
    return {
      node_id: nodeId,
      feature,
      layer: n.kind === 'embedding' ? 'E' : String(n.layer),
      ctx_idx: pos,
      feature_type: n.kind === 'other' ? n.featureType : FEATURE_TYPES[n.kind],
      token_prob: n.kind === 'logit' ? n.tokenProb : 0,
      is_target_logit: isTarget,
      run_idx: 0,
      reverse_ctx_idx: 0,
      jsNodeId,
      clerp: n.clerp,
      influence: n.kind === 'logit' ? null : n.influence,
      activation: n.kind === 'feature' ? n.activation : null,
    };
  });
  const ids = nodes.map((n) => n.node_id);
  const file = {
    metadata: { ...g.metadata, schema_version: 1 },
    qParams: g.qParams ?? { linkType: 'both', pinnedIds: [], clickedId: '', supernodes: [], sg_pos: '' },
    nodes,
    links: g.links.map((l) => ({ source: ids[l.source]!, target: ids[l.target]!, weight: l.weight })),
  };
  return JSON.stringify(file);
}
