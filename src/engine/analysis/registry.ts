// The engine's side of the registry of analyses (names, params and results: src/shared/analyses.ts):
// one runner per analysis, and `runAnalysis`, the one entry point the worker, the CLI and (later) saved
// experiments dispatch through. `runAnalysis` checks the params against the shared schema first, so every
// client gets the same validation and the same messages.
//
// A new analysis is one module in this folder plus one entry in ANALYSIS_PARAMS / AnalysisResults
// (src/shared/analyses.ts); TypeScript then requires its runner below (the table is exhaustive). A runner
// resolves prompts to token ids, calls the module and shapes its result; it holds no algorithm.
import { ANALYSIS_PARAMS } from '../../shared/analyses';
import type { AnalysisName, AnalysisParams, AnalysisResults } from '../../shared/analyses';
import type { Schema } from '../../shared/schema';
import type { Model } from '../model';
import { checkHookList, checkInterventionPositions, checkTokenIds, resolvePrompt, topTokens } from '../prompt';
import { attentionAnalysis, detectHeads } from './attention';
import { directLogitAttribution } from './dla';
import { inspectPrompt } from './inspect';
import { logitLens } from './logitLens';
import { normalisedLogitDiff, patchSweepAnalysis, patchingSweep } from './patching';
import { readTunedLens } from './tunedLens';
import { inputSaliency } from './saliency';
import { computeGradients } from '../gradients';
import { attributionGraph } from '../attribution/graph';
import { transcodersFor } from '../attribution/transcoders';
import { buildDashboards, dashboardsDir, featureDetailsFromCorpus, readCorpus, readFeatureDetails } from '../attribution/dashboards';
import { featureInputs, featureOutputs, steerFeatures } from '../attribution/featureInterventions';
import { searchFeatures } from '../attribution/featureSearch';
import { featureSites } from '../attribution/featureEdits';
import { UserError } from '../errors';
import { interchangeAnalysis } from './causal';
import { dasAnalysis } from './das';
import { probeAnalysis } from './probe';

export interface AnalysisContext {
  signal?: AbortSignal;
  /** Progress for long analyses (the worker forwards it as `progress` notifications). */
  onProgress?: (message: string, fraction?: number, steps?: { phase: string; done: number; total: number }) => void;
}

type Runner<K extends AnalysisName> = (model: Model, params: AnalysisParams<K>, ctx: AnalysisContext) => Promise<AnalysisResults[K]>;

const RUNNERS: { [K in AnalysisName]: Runner<K> } = {
  run: async (model, { prompt, topK, allPositions, interventions }, { signal }) => {
    const tokens = resolvePrompt(model, prompt);
    checkInterventionPositions(interventions, tokens.ids.length);
    const logits = await model.run(tokens.ids, { interventions, lastOnly: !allPositions, signal });
    const last = logits.data.subarray(logits.data.length - model.config.dVocab);
    return { tokens, logits, top: topTokens(model, last, topK ?? 10) };
  },
  cache: async (model, { prompt, hooks, interventions }, { signal }) => {
    checkHookList(hooks);
    const tokens = resolvePrompt(model, prompt);
    checkInterventionPositions(interventions, tokens.ids.length);
    const r = await model.runWithCache(tokens.ids, hooks, { interventions, signal, logits: false });
    return { tokens, hooks: Object.fromEntries(r.hooks) };
  },
  generate: async (model, { prompt, maxNewTokens, temperature, seed, interventions }, { signal, onProgress }) => {
    const tokens = resolvePrompt(model, prompt);
    checkInterventionPositions(interventions, tokens.ids.length + maxNewTokens);
    const newTokens = await model.generate(tokens.ids, { maxNewTokens, temperature, seed, interventions, signal, onToken: () => onProgress?.('Generating') });
    const all = [...tokens.ids, ...newTokens];
    return { tokens: all, text: model.decode(all), newTokens, newText: model.decode(newTokens) };
  },
  inspect: async (model, { prompt, topK, maxTokens }, { signal }) => {
    const tokens = resolvePrompt(model, prompt, maxTokens);
    return { ...(await inspectPrompt(model, tokens.ids, { topK, signal })), prompt: tokens };
  },
  lens: async (model, { prompt, stream, topK, targets, full, tunedLensFile, interventions, positions }, { signal }) => {
    const tokens = resolvePrompt(model, prompt);
    checkInterventionPositions(interventions, tokens.ids.length);
    const tuned = tunedLensFile ? readTunedLens(tunedLensFile, model.config.nLayers, model.config.dModel) : undefined;
    return { ...(await logitLens(model, { tokens: tokens.ids, stream, topK, targets, full, tuned, interventions, positions, signal })), prompt: tokens };
  },
  attention: (model, params, ctx) => attentionAnalysis(model, params, ctx),
  heads: (model, { samples }, { signal }) => detectHeads(model, { samples, signal }),
  dla: async (model, { prompt, target, baseline, position, interventions }, { signal }) => {
    checkTokenIds(model, { target, baseline });
    const tokens = resolvePrompt(model, prompt);
    checkInterventionPositions(interventions, tokens.ids.length);
    return { ...(await directLogitAttribution(model, { tokens: tokens.ids, target, baseline, position, interventions, signal })), prompt: tokens };
  },
  patch: async (model, { clean, corrupted, hook, positions, correct, incorrect }, { signal, onProgress }) => {
    checkTokenIds(model, { correct, incorrect });
    const cleanTokens = resolvePrompt(model, clean);
    const r = await patchingSweep(model, {
      clean: cleanTokens.ids,
      corrupted: resolvePrompt(model, corrupted).ids,
      hook,
      positions,
      signal,
      onProgress: (fraction) => onProgress?.('Patching', fraction),
    });
    const diff = (logits: Float32Array) => logits[correct]! - logits[incorrect]!;
    return {
      layers: r.layers,
      positions: r.positions,
      metric: normalisedLogitDiff(r, correct, incorrect),
      cleanLogitDiff: diff(r.cleanLogits),
      corruptedLogitDiff: diff(r.corruptedLogits),
      prompt: cleanTokens,
    };
  },
  grad: async (model, { prompt, target, baseline, hooks }, { signal }) => {
    checkHookList(hooks);
    checkTokenIds(model, { target, baseline });
    const tokens = resolvePrompt(model, prompt);
    const r = await computeGradients(model, { tokens: [tokens.ids], wrt: hooks, metrics: [{ target, baseline }], signal });
    return { prompt: tokens, metric: r.metric![0]!, grads: Object.fromEntries(r.grads) };
  },
  saliency: async (model, { prompt, target, baseline, method, steps }, { signal, onProgress }) => {
    checkTokenIds(model, { target, baseline });
    const tokens = resolvePrompt(model, prompt);
    const r = await inputSaliency(model, { tokens: tokens.ids, target, baseline, method, steps, signal, onProgress: (f) => onProgress?.('Integrating gradients', f) });
    return { prompt: tokens, method, ...r };
  },
  graph: (model, params, { signal, onProgress }) =>
    attributionGraph(model, params, {
      signal,
      onProgress: (p) => onProgress?.(`${p.phase === 'setup' ? 'Encoding the prompt' : p.phase === 'logits' ? 'Logit rows' : 'Feature rows'}: ${p.done} / ${p.total}`, p.total > 0 ? p.done / p.total : undefined, p),
    }),
  featureDashboards: async (model, { corpus, out, transcoders, maxTokens, window, pack }, { signal, onProgress }) => {
    const set = transcodersFor(model, transcoders);
    const c = readCorpus(model, corpus, { maxTokens, window });
    const r = await buildDashboards(model, set, c, out, {
      pack,
      signal,
      onProgress: (p) => onProgress?.(`Feature dashboards, layer${p.layers.length > 1 ? 's' : ''} ${p.layers.join(', ')}: ${p.done} / ${p.total} tokens`, p.fraction, { phase: 'tokens', done: p.done, total: p.total }),
    });
    return { ...r, nTokens: c.tokens.length };
  },
  featureDetails: async (model, { layer, index, transcoders, dashboards, corpus, maxTokens }, { signal }) => {
    if (corpus !== undefined && dashboards !== undefined) throw new UserError('Give a dashboards folder or a corpus, not both.');
    if (corpus !== undefined) {
      const details = await featureDetailsFromCorpus(model, transcodersFor(model, transcoders), readCorpus(model, corpus, { maxTokens }), layer, index, { signal });
      return { ...details };
    }
    const dir = dashboardsDir(model, dashboards);
    if (!dir) throw new UserError(`${model.info.name} has no features/index.json: give a dashboards folder or a corpus.`);
    return { ...readFeatureDetails(dir, layer, index) };
  },
  featureSearch: async (model, { token, label, transcoders, dashboards, top }) => {
    // Token search uses the decoders when the model has transcoders; a label search needs none.
    const set = token !== undefined ? transcodersFor(model, transcoders) : undefined;
    return searchFeatures(model, set, { token, label, dashboards: dashboardsDir(model, dashboards), top });
  },
  steer: async (model, { prompt, features, freezeAttention, maxNewTokens, temperature, seed, topK, transcoders }, { signal }) => {
    const tokens = resolvePrompt(model, prompt);
    const r = await steerFeatures(model, transcodersFor(model, transcoders), tokens.ids, { features, freezeAttention, maxNewTokens, temperature, seed, topK, signal });
    return { prompt: tokens, ...r };
  },
  featureInputs: async (model, { prompt, layer, index, position, top, transcoders }, { signal }) => {
    const tokens = resolvePrompt(model, prompt);
    return { prompt: tokens, ...(await featureInputs(model, transcodersFor(model, transcoders), tokens.ids, { layer, index, position, top, signal })) };
  },
  featureOutputs: (model, { layer, index, top, transcoders }) => featureOutputs(model, transcodersFor(model, transcoders), { layer, index, top }),
  featureSites: async (model, { prompt, position, top, transcoders }, { signal }) => {
    const tokens = prompt ? resolvePrompt(model, prompt) : undefined;
    return { ...(await featureSites(model, transcodersFor(model, transcoders), { tokens: tokens?.ids, position, top, signal })), ...(tokens ? { prompt: tokens } : {}) };
  },
  patchSweep: (model, params, ctx) => patchSweepAnalysis(model, params, ctx),
  iia: (model, params, ctx) => interchangeAnalysis(model, params, ctx),
  das: (model, params, ctx) => dasAnalysis(model, params, ctx),
  probe: (model, params, ctx) => probeAnalysis(model, params, ctx),
};

const PARAMS: { [K in AnalysisName]: Schema<AnalysisParams<K>> } = ANALYSIS_PARAMS;

/** Runs analysis `name` on `model`. `params` is untrusted: it is checked against the shared schema first. */
export function runAnalysis<K extends AnalysisName>(model: Model, name: K, params: unknown, ctx: AnalysisContext = {}): Promise<AnalysisResults[K]> {
  const checked = PARAMS[name].parse(params, `analysis/${name}`);
  return RUNNERS[name](model, checked, ctx);
}
