// One entry point from a prompt to a graph file, shared by the worker (`analysis/graph`,
// `attribution/graph`) and the CLI (`mechlens graph`): the prompt's BOS rule, the transcoder set (the
// model folder's `transcoders/` by default, loaded once per model: transcodersFor), attribution, pruning and the file.
import { basename } from 'node:path';
import { UserError, throwIfAborted } from '../errors';
import type { Model } from '../model';
import { resolvePrompt } from '../prompt';
import type { GraphParams, GraphResult } from '../../shared/analyses';
import type { TokenizedPrompt } from '../../shared/modelInfo';
import { attribute } from './attribute';
import type { AttributionProgress, AttributionTarget } from './attribute';
import { exportGraph, writeGraphFile } from './graphExport';
import { resolveFeatureClamps } from './featureEdits';
import type { FeatureClamp } from './featureEdits';
import { transcodersFor } from './transcoders';
import type { TranscoderSet } from './transcoders';
import type { HookEdit } from '../interventions';
import type { Intervention } from '../../shared/interventions';

/**
 * circuit-tracer's BOS rule: a prompt that does not start with a special token gets the tokenizer's BOS
 * (else its pad, eos or any special token) prepended; position 0 then holds no feature nodes.
 */
export function attributionPrompt(model: Model, prompt: GraphParams['prompt']): { tokens: TokenizedPrompt; zeroPositions: number } {
  let tokens = resolvePrompt(model, prompt);
  const special = model.tokenizer?.specialTokens() ?? [];
  const specialIds = new Set(special.map((s) => s.id));
  if (tokens.ids.length > 0 && specialIds.has(tokens.ids[0]!)) return { tokens, zeroPositions: 1 };
  const bos = model.tokenizer?.bosCandidate();
  if (bos === undefined) return { tokens, zeroPositions: 0 };
  tokens = {
    ids: [bos, ...tokens.ids],
    texts: [model.tokenText(bos), ...tokens.texts],
    ...(tokens.spans ? { spans: [[0, 0] as [number, number], ...tokens.spans] } : {}),
  };
  if (tokens.ids.length > model.config.nCtx) throw new UserError(`The prompt with its BOS has ${tokens.ids.length} tokens; the model's context is ${model.config.nCtx}. Shorten the prompt.`);
  return { tokens, zeroPositions: 1 };
}

/**
 * The interventions of an attributed run as attribute() takes them: fixed edits of the forward, and the features
 * they clamp. Positions are of the attributed prompt (its BOS included).
 */
export async function graphInterventions(model: Model, set: TranscoderSet, ids: number[], interventions: readonly Intervention[] | undefined, signal?: AbortSignal): Promise<{ edits?: Map<string, HookEdit>; clamps: FeatureClamp[] }> {
  const T = ids.length;
  for (const [i, iv] of (interventions ?? []).entries()) {
    // The frozen and backward runs apply fixed edits (x * keep + add). A subspace edit depends on the run's own
    // h, so its Jacobian is (I − R Rᵀ) at the hook, which an elementwise keep cannot express.
    if (iv.kind === 'subspace') {
      throw new UserError(`Intervention ${i + 1}: subspace interventions are not supported in attribution graphs yet (the edit depends on the run's own activation, so the backward would need the projection I − R Rᵀ at ${iv.hook}); use them in the other views.`);
    }
    if (iv.kind === 'feature' && set.dir !== transcodersFor(model).dir) {
      throw new UserError(`Intervention ${i + 1}: feature interventions are on the model's own transcoders/, and this graph uses ${set.dir}.`);
    }
    const beyond = iv.positions?.find((p) => p >= T);
    if (beyond !== undefined) throw new UserError(`Intervention ${i + 1}: position ${beyond} is beyond the attributed prompt (positions 0..${T - 1}, its BOS at 0 included).`);
  }
  // Feature interventions become fixed adds on this run, and the features they hold become clamped nodes.
  const resolved = interventions?.some((iv) => iv.kind === 'feature')
    ? await resolveFeatureClamps(model, { tokens: [ids], interventions, logits: 'none', signal })
    : { interventions: interventions ?? [], clamps: [] };
  const edits = resolved.interventions.length ? await model.compileEdits(resolved.interventions, T, signal) : undefined;
  return { edits, clamps: resolved.clamps };
}

export interface GraphContext {
  signal?: AbortSignal;
  onProgress?: (p: AttributionProgress) => void;
}

export async function attributionGraph(model: Model, params: GraphParams, ctx: GraphContext = {}): Promise<GraphResult> {
  const set = transcodersFor(model, params.transcoders);
  const { tokens, zeroPositions } = attributionPrompt(model, params.prompt);
  const targets: AttributionTarget[] = [
    ...(params.targets ?? []).map((token): AttributionTarget => ({ kind: 'token', token })),
    ...(params.targetDiffs ?? []).map(([token, baseline]): AttributionTarget => ({ kind: 'diff', token: token!, baseline: baseline! })),
  ];
  const maxNLogits = params.maxNLogits ?? 10;
  const desiredLogitProb = params.desiredLogitProb ?? 0.95;
  const batchSize = params.batchSize ?? 64;
  const { edits, clamps } = await graphInterventions(model, set, tokens.ids, params.interventions, ctx.signal);
  const attr = await attribute(model, set, tokens.ids, {
    edits,
    clamps,
    maxFeatureNodes: params.maxFeatureNodes,
    maxNLogits,
    desiredLogitProb,
    batchSize,
    targets,
    zeroPositions,
    signal: ctx.signal,
    onProgress: ctx.onProgress,
  });
  throwIfAborted(ctx.signal);
  const exported = exportGraph(attr, {
    slug: params.slug ?? 'mechlens-graph',
    scan: set.scan,
    tokenTexts: tokens.texts,
    prompt: model.tokenizer ? model.decode(tokens.ids) : undefined,
    nodeThreshold: params.nodeThreshold,
    edgeThreshold: params.edgeThreshold,
    generationSettings: { max_n_logits: maxNLogits, desired_logit_prob: desiredLogitProb, batch_size: batchSize, max_feature_nodes: params.maxFeatureNodes ?? attr.activations.length },
    generator: { name: 'MechLens', version: '0.1.0', url: 'https://github.com/mechlens/mechlens' },
    description: `${model.info.name} with the transcoders in ${basename(set.dir)}${params.interventions?.length ? `, under ${params.interventions!.length} intervention${params.interventions!.length === 1 ? '' : 's'}` : ''}`,
  });
  const count = (kind: string) => exported.file.nodes.filter((n) => n.kind === kind).length;
  return {
    prompt: tokens,
    graph: writeGraphFile(exported.file),
    summary: {
      nodes: { feature: count('feature'), error: count('error'), embedding: count('embedding'), logit: count('logit') },
      links: exported.file.links.length,
      replacement_score: exported.scores.replacement,
      completeness_score: exported.scores.completeness,
    },
    stats: {
      activeFeatures: attr.stats.activeFeatures,
      featureNodes: attr.selected.length,
      logitTargets: attr.logitTargets.length,
      backwardRuns: attr.stats.backwardRuns,
      unprunedLinks: exported.counts.links,
      ms: attr.stats.ms.total,
    },
  };
}
