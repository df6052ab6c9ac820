// Attribution-graph files on the engine's side: reading is shared with the host and the webviews
// (src/shared/graphFile.ts, re-exported here); this module adds the summary `mechlens graph-info` prints
// and the writer for the current format.
import { cantorPair } from '../../shared/graphFile';
import type { AttributionGraphFile, GraphNodeKind, GraphNode } from '../../shared/graphFile';
import { edgeList, graphScores } from './scores';

export { cantorIndex, cantorPair, parseGraphFile } from '../../shared/graphFile';
export type { AttributionGraphFile, GraphLink, GraphNode, GraphNodeKind } from '../../shared/graphFile';

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
