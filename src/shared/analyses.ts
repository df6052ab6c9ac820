// The analyses the engine offers, by name: what each takes (a schema, checked at run time and giving the
// TypeScript type) and what it returns. Every client reaches an analysis by this name: the worker serves
// it as the RPC method `analysis/<name>`, the CLI runs it as `mechlens <command>`, the host's panels
// validate what their webviews ask with these same schemas (`pick`), and a saved experiment can store
// `{analysis: name, params}` and run it again.
//
// Adding an analysis `foo`:
//   1. write the algorithm as one module, src/engine/analysis/foo.ts;
//   2. add `foo: object({...})` to ANALYSIS_PARAMS and `foo: FooResult` to AnalysisResults below;
//   3. TypeScript then asks for its runner in RUNNERS (src/engine/analysis/registry.ts): one entry that
//      resolves the prompt and calls the module. The worker serves `analysis/foo` with no further code;
//   4. for the command line, add a command to COMMANDS in src/cli/main.ts (flags -> params, result -> text/JSON).
// Runtime-agnostic: no vscode, node or DOM imports.
import { validateIntervention } from './interventions';
import type { Intervention } from './interventions';
import type { AttentionResult, CacheResult, DlaResult, GenerateResult, HeadKind, InspectResult, LensResult, PatchSweepResult, RunResult, TokenizedPrompt } from './protocol';
import type { NamedTensor } from './tensor';
import { badInput, boolean, finiteNumber, integer, list, object, oneOf, optional, refine, string } from './schema';
import type { Infer, Schema } from './schema';
import { featureParams } from './features';
import type { FeatureResults } from './features';
import { patchSweepParams } from './patching';
import type { PatchSweepOutput } from './patching';
import { dasParams, iiaParams, probeParams } from './causal';
import type { DasResult, IiaResult, ProbeResult } from './causal';

/** Large enough for any vocabulary; the engine checks ids against the model's own. */
export const tokenId = integer(0, 10_000_000, 'a token id (a non-negative integer)');

const MAX_PROMPT_CHARS = 1_000_000;
const MAX_PROMPT_TOKENS = 1_000_000;

/** A prompt is given as text (tokenized with the model's tokenizer) or as token ids. */
export type PromptInput = { text: string } | { tokens: number[] };

const promptText = object({ text: string(MAX_PROMPT_CHARS) });
const promptTokens = object({ tokens: list(tokenId, MAX_PROMPT_TOKENS) });
export const promptInput: Schema<PromptInput> = {
  parse(v, where) {
    if (typeof v === 'object' && v !== null && 'text' in v) return promptText.parse(v, where);
    if (typeof v === 'object' && v !== null && 'tokens' in v) return promptTokens.parse(v, where);
    return badInput(`${where} must be {text: "..."} or {tokens: [ids]}`);
  },
};

const intervention: Schema<Intervention> = {
  parse(v, where) {
    try {
      return validateIntervention(v, where);
    } catch (e) {
      return badInput(e instanceof Error ? e.message : String(e));
    }
  },
};
const interventions = optional(list(intervention, 10_000));

export const LENS_STREAMS = ['pre', 'mid', 'post'] as const;
export type LensStream = (typeof LENS_STREAMS)[number];
export const RESID_HOOKS = ['hook_resid_pre', 'hook_resid_post'] as const;

export const SALIENCY_METHODS = ['grad_x_input', 'integrated_gradients'] as const;
export type SaliencyMethod = (typeof SALIENCY_METHODS)[number];

export const ANALYSIS_PARAMS = {
  /** One forward: the logits (last position unless `allPositions`) and the top next tokens. */
  run: object({ prompt: promptInput, topK: optional(integer(0, 100_000)), allPositions: optional(boolean), interventions }),
  /** One forward caching the named hooks. */
  cache: object({ prompt: promptInput, hooks: list(string(200), 100_000), interventions }),
  generate: object({ prompt: promptInput, maxNewTokens: integer(0, 1_000_000), temperature: optional(finiteNumber(0)), seed: optional(integer()), interventions }),
  /** Inline inspection of a prompt: surprisal and top predictions per token (the hover asks `lens` for its one line). */
  inspect: object({ prompt: promptInput, topK: optional(integer(1, 1000)), maxTokens: optional(integer(1)) }),
  /** `tunedLensFile`: a tuned-lens safetensors file (format in docs/views.md) applied before decoding; `full`: every logit. */
  lens: object({
    prompt: promptInput,
    stream: optional(oneOf(LENS_STREAMS)),
    topK: optional(integer(1, 1000)),
    targets: optional(list(tokenId, 16)),
    full: optional(boolean),
    tunedLensFile: optional(string(4096)),
    interventions,
    /** Decode only these positions (a panel asks for those on screen first). */
    positions: optional(list(integer(0, MAX_PROMPT_TOKENS), MAX_PROMPT_TOKENS)),
  }),
  /**
   * Attention patterns and head-detector scores on the prompt, computed one layer at a time. `layers`: only these
   * layers' patterns (the attention panel asks for the layer on screen; at T = 1024 each layer of GPT-2 small is
   * 48 MiB); `allScores: false`: score only those layers' heads (default: every layer's, one layer in memory at a time).
   */
  attention: object({ prompt: promptInput, interventions, layers: optional(list(integer(0, 100_000), 100_000)), allScores: optional(boolean) }),
  /** Head-detector scores on repeated random sequences (the standard benchmark). */
  heads: object({ samples: optional(integer(1, 10_000)) }),
  dla: object({ prompt: promptInput, target: tokenId, baseline: optional(tokenId), position: optional(integer(0, MAX_PROMPT_TOKENS)), interventions }),
  /** Residual-stream patching sweep (layers x positions), normalised logit difference of correct vs incorrect. */
  patch: object({
    clean: promptInput,
    corrupted: promptInput,
    hook: optional(oneOf(RESID_HOOKS)),
    positions: optional(list(integer(0, MAX_PROMPT_TOKENS), MAX_PROMPT_TOKENS)),
    correct: tokenId,
    incorrect: tokenId,
  }),
  /** Gradient of logit(target) [- logit(baseline)] at the last position with respect to hooks (nothing frozen). */
  grad: object({ prompt: promptInput, target: tokenId, baseline: optional(tokenId), hooks: list(string(200), 100_000) }),
  /** Per-token input saliency of the same metric, at hook_embed, summed over d_model. */
  saliency: object({ prompt: promptInput, target: tokenId, baseline: optional(tokenId), method: oneOf(SALIENCY_METHODS), steps: optional(integer(1, 4096)) }),
  /**
   * An attribution graph over transcoder features (circuit-tracer's algorithm), pruned and written in
   * Neuronpedia's graph JSON. `transcoders`: a folder (default: the model folder's transcoders/); it comes
   * from the host's settings or the command line, never from a webview.
   */
  graph: object({
    prompt: promptInput,
    transcoders: optional(string(4096)),
    maxFeatureNodes: optional(integer(1, 1_000_000)),
    maxNLogits: optional(integer(1, 1000)),
    desiredLogitProb: optional(refine(finiteNumber(0, 1), (v, where) => v > 0 || badInput(`${where} must be above 0`))),
    nodeThreshold: optional(finiteNumber(0, 1)),
    edgeThreshold: optional(finiteNumber(0, 1)),
    batchSize: optional(integer(1, 4096)),
    /** Logit targets instead of the salient ones: tokens, and logit differences [token, baseline]. */
    targets: optional(list(tokenId, 1000)),
    targetDiffs: optional(list(refine(list(tokenId, 2), (v, where) => v.length === 2 || badInput(`${where} must be [token, baseline]`)), 1000)),
    slug: optional(string(200)),
    /** The graph of the run under these interventions; positions are of the attributed prompt (its BOS included). */
    interventions,
  }),
  /** Transcoder feature dashboards, search, steering, inputs and outputs (src/shared/features.ts). */
  ...featureParams(promptInput),
  /** Patching sweeps of every kind (residual, attention and MLP outputs, heads), exact or by attribution patching (src/shared/patching.ts). */
  patchSweep: patchSweepParams(promptInput),
  /** Causal abstraction (src/shared/causal.ts): interchange interventions and IIA, DAS with its controls, probes checked by intervention. */
  iia: iiaParams,
  das: dasParams,
  probe: probeParams,
} satisfies { [K in keyof AnalysisResults]: Schema<object> };

export type GraphParams = Infer<(typeof ANALYSIS_PARAMS)['graph']>;

export interface GraphResult {
  /** The prompt as attributed (with the BOS circuit-tracer prepends). */
  prompt: TokenizedPrompt;
  /** The pruned graph, Neuronpedia's JSON (schema_version 1). */
  graph: string;
  /** As `mechlens graph-info` reports a file; the scores are of the full, unpruned graph. */
  summary: { nodes: { feature: number; error: number; embedding: number; logit: number }; links: number; replacement_score: number; completeness_score: number };
  stats: { activeFeatures: number; featureNodes: number; logitTargets: number; backwardRuns: number; unprunedLinks: number; ms: number };
}

/** What each analysis returns. Tensors are typed arrays (transferred, never JSON numbers). */
export interface AnalysisResults extends FeatureResults {
  run: RunResult;
  cache: CacheResult;
  generate: GenerateResult;
  inspect: InspectResult;
  lens: LensResult & { prompt: TokenizedPrompt; /** [layer][pos][vocab] when `full`. */ logits?: Float32Array[][] };
  /**
   * Without `layers`: every layer's pattern, `patterns[layer]` (as before). With `layers`: `patterns[i]` is layer
   * `layers[i]`'s. `scores[kind][layer]` always has a row per layer, empty for a layer not scored (`allScores: false`).
   */
  attention: AttentionResult & { prompt: TokenizedPrompt; layers?: number[] };
  heads: Record<HeadKind, number[][]>;
  dla: DlaResult & { prompt: TokenizedPrompt };
  patch: PatchSweepResult & { prompt: TokenizedPrompt };
  /** `grads`: per hook [1, ...the hook's dims after batch], the layout of `cache`. */
  grad: { prompt: TokenizedPrompt; metric: number; grads: Record<string, NamedTensor> };
  /** `baselineMetric`: integrated gradients' metric with every token embedding zeroed; the scores sum to metric - baselineMetric. */
  saliency: { prompt: TokenizedPrompt; method: SaliencyMethod; scores: number[]; metric: number; baselineMetric?: number };
  graph: GraphResult;
  patchSweep: PatchSweepOutput;
  iia: IiaResult;
  das: DasResult;
  probe: ProbeResult;
}

export type AnalysisName = keyof AnalysisResults;
export type AnalysisParams<K extends AnalysisName> = Infer<(typeof ANALYSIS_PARAMS)[K]>;
export const ANALYSIS_NAMES = Object.keys(ANALYSIS_PARAMS) as AnalysisName[];

/** The worker's RPC methods for the analyses: `analysis/<name>`. */
export type AnalysisProtocol = {
  [K in AnalysisName as `analysis/${K}`]: { params: AnalysisParams<K>; result: AnalysisResults[K] };
};
