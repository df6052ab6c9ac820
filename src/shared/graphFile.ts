// Attribution-graph files in the format circuit-tracer writes and Neuronpedia reads and serves
// (`metadata`, `qParams`, `nodes`, `links`; ../shared/design/attribution-graphs.md §1c). Reading is
// lenient where real files differ and strict where a wrong reading would mislead:
// - node ids are opaque: layer and position come from the `layer` / `ctx_idx` fields, the node kind from
//   `feature_type`; a feature's index from its `{layer}_{index}_{pos}` id, else from `feature` (Cantor pair
//   when `schema_version` is 1, `layer * 100000 + index` in legacy files);
// - error nodes may use either id form (`0_{layer}_{pos}` before circuit-tracer PR #100, `{layer}_-1_{pos}` after);
// - a link to a node the file does not have, a non-finite weight, a missing required field: refused, naming the file.
// Runtime-agnostic (the engine, the CLI, the host and the graph webview read files with it); a refusal is
// RpcError('bad-input'), which the CLI and the worker show as the user's mistake.
import { badInput } from './schema';

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
    return badInput(`${name} is not JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  const fail = (what: string): never => badInput(`${name} is not an attribution graph file: ${what}.`);
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

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Feature nodes of a graph whose label (clerp) contains `query`, case-insensitively; one entry per feature. */
export function labelsInGraph(file: AttributionGraphFile, query: string): Array<{ layer: number; index: number; label: string }> {
  const q = query.toLowerCase();
  const seen = new Set<string>();
  const out: Array<{ layer: number; index: number; label: string }> = [];
  for (const n of file.nodes) {
    if (n.kind !== 'feature' || n.layer === null || n.featureIndex === null || !n.clerp.toLowerCase().includes(q)) continue;
    const key = `${n.layer}:${n.featureIndex}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ layer: n.layer, index: n.featureIndex, label: n.clerp });
  }
  return out;
}
