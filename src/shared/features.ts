// Transcoder feature analyses' params and results (dashboards, search, steering, a feature's inputs and
// outputs), shared by the engine, the worker, the CLI and the webviews. Registered by name in analyses.ts.
// Runtime-agnostic: no vscode, node or DOM imports.
import type { Intervention } from './interventions';
import type { TokenizedPrompt } from './modelInfo';
import type { TopToken } from './protocol';
import { badInput, boolean, finiteNumber, integer, list, object, optional, refine, string } from './schema';
import type { Infer, Schema } from './schema';

const layer = integer(0, 10_000, 'a layer (a non-negative integer)');
const featureIndex = integer(0, 100_000_000, 'a feature index (a non-negative integer)');
const position = integer(0, 1_000_000, 'a position (a non-negative integer)');
const path = string(4096);

/**
 * One feature intervention (circuit-tracer's (layer, position, feature, value), Neuronpedia's Steer): the
 * feature's activation becomes `value`, or `scale` × itself, or 0 (`ablate`), at `positions` of the prompt
 * (all when absent) and, with `generated`, at every generated token. Exactly one of value, scale, ablate.
 */
export const featureSteer = refine(
  object({
    layer,
    index: featureIndex,
    positions: optional(list(position, 100_000)),
    generated: optional(boolean),
    value: optional(finiteNumber()),
    scale: optional(finiteNumber()),
    ablate: optional(boolean),
  }),
  (v, where) => {
    const n = (v.value !== undefined ? 1 : 0) + (v.scale !== undefined ? 1 : 0) + (v.ablate ? 1 : 0);
    return n === 1 || badInput(`${where}: give exactly one of value, scale or ablate: true`);
  },
);
export type FeatureSteer = Infer<typeof featureSteer>;

/** The feature analyses' params; `prompt` is analyses.ts' prompt schema (passed in: analyses.ts imports this file). */
export const featureParams = <P>(prompt: Schema<P>) => ({
  /** Builds dashboards over a corpus into a folder (resumable; `pack`: brotli-packed layers, for shipping). `corpus`, `out`, `transcoders`: paths from the host or CLI, never a webview. */
  featureDashboards: object({ corpus: path, out: path, transcoders: optional(path), maxTokens: optional(integer(1, 1_000_000_000)), window: optional(integer(2, 1_000_000)), pack: optional(boolean) }),
  /** One feature's details: from a dashboards folder (default: the model folder's features/), or computed over a corpus. */
  featureDetails: object({ layer, index: featureIndex, transcoders: optional(path), dashboards: optional(path), corpus: optional(path), maxTokens: optional(integer(1, 1_000_000_000)) }),
  /** Features by token (those firing on it most in the dashboards, those whose decoder most promotes it) or by label. */
  featureSearch: object({ token: optional(integer(0, 10_000_000)), label: optional(string(200)), transcoders: optional(path), dashboards: optional(path), top: optional(integer(1, 10_000)) }),
  /** Steering: feature interventions on a prompt; top next tokens and continuations before and after. */
  steer: object({
    prompt,
    features: refine(list(featureSteer, 1000), (v, where) => v.length > 0 || badInput(`${where}: give at least one feature`)),
    freezeAttention: optional(boolean),
    maxNewTokens: optional(integer(0, 100_000)),
    temperature: optional(finiteNumber(0)),
    seed: optional(integer()),
    topK: optional(integer(1, 1000)),
    transcoders: optional(path),
  }),
  /** A feature's top inputs at one position of a prompt: one backward run through the frozen model. */
  featureInputs: object({ prompt, layer, index: featureIndex, position: optional(position), top: optional(integer(1, 100_000)), transcoders: optional(path) }),
  /** A feature's top outputs: virtual weights to downstream features' encoders, and logits. */
  featureOutputs: object({ layer, index: featureIndex, top: optional(integer(1, 100_000)), transcoders: optional(path) }),
  /**
   * The model's transcoder features as intervention sites: features per layer, and with a prompt, the features
   * most active at `position` (default the last) in each layer, largest first (`top` per layer, default 8).
   */
  featureSites: object({ prompt: optional(prompt), position: optional(position), top: optional(integer(1, 1000)), transcoders: optional(path) }),
});

export interface FeatureDashboardsResult {
  out: string;
  built: number[];
  resumed: number[];
  passes: number;
  seconds: number;
  nTokens: number;
}

export interface FeatureRef {
  layer: number;
  index: number;
}

export interface FeatureSearchResult {
  /** Features whose top activating examples fire hardest on the token (from dashboards), largest first. */
  firing: Array<FeatureRef & { act: number }>;
  /** Features whose decoder most promotes the token (folded decoder · W_U[token]), largest first. */
  promoting: Array<FeatureRef & { weight: number }>;
  /** Features whose label contains the text. */
  labels: Array<FeatureRef & { label: string }>;
  /** Why a part is empty (no dashboards, no labels file). */
  notes: string[];
}

export interface SteerSide {
  top: TopToken[];
  newTokens: number[];
  newText: string;
}

export interface SteerResult {
  prompt: TokenizedPrompt;
  before: SteerSide;
  after: SteerSide;
  /** Per feature intervention and position: the activation on the clean prompt (null at generated positions), in the running pass, and the value set. */
  activations: Array<FeatureRef & { position: number; clean: number | null; current: number; value: number }>;
  /**
   * The same run as engine interventions (decoder rows added at the write hooks, attention patterns patched
   * from the prompt): `mechlens generate --interventions` with them reproduces `after`.
   */
  interventions: Intervention[];
}

export interface FeatureInputsResult {
  prompt: TokenizedPrompt;
  position: number;
  /** The feature's pre-activation (encoder row · input + bias) and activation at the position. */
  preActivation: number;
  activation: number;
  /** Direct effects on the pre-activation through the frozen model, by |weight|. */
  inputs: Array<{ kind: 'feature'; layer: number; index: number; position: number; weight: number; act: number } | { kind: 'error'; layer: number; position: number; weight: number } | { kind: 'embedding'; position: number; token: string; weight: number }>;
}

export interface FeatureOutputsResult {
  /** Virtual weights to later layers' features, by |weight|. */
  features: Array<FeatureRef & { weight: number }>;
  topLogits: Array<{ id: number; text: string; weight: number }>;
  bottomLogits: Array<{ id: number; text: string; weight: number }>;
}

export interface FeatureSitesResult {
  /** Features per layer of the transcoders. */
  nFeatures: number[];
  /** With a prompt: its tokens, the position read, and per layer the most active features there (activation > 0). */
  prompt?: TokenizedPrompt;
  position?: number;
  active?: Array<Array<{ index: number; act: number }>>;
}

/**
 * A feature's mean activation over a dashboards corpus: inactive positions count as 0, so the mean over
 * the active ones (act_mean) times the fraction active. Undefined when the record lacks either.
 */
export function corpusMeanActivation(details: Record<string, unknown>): number | undefined {
  const { act_mean: m, activation_frequency: f } = details;
  return typeof m === 'number' && typeof f === 'number' && Number.isFinite(m * f) ? m * f : undefined;
}

export interface FeatureResults {
  featureDashboards: FeatureDashboardsResult;
  /** Neuronpedia feature-details JSON (engine type FeatureDetails in attribution/dashboards.ts). */
  featureDetails: Record<string, unknown> & { index: number; layer: number };
  featureSearch: FeatureSearchResult;
  steer: SteerResult;
  featureInputs: FeatureInputsResult;
  featureOutputs: FeatureOutputsResult;
  featureSites: FeatureSitesResult;
}
