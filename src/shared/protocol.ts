// The engine worker's RPC protocol: what the extension host (or any other client) may ask of it.
// Tensors travel as typed arrays (transferred, not copied); everything else is plain JSON data.
// Runtime-agnostic: no vscode, node or DOM imports.
import type { Intervention } from './interventions';
import type { ModelInfo, TokenizedPrompt } from './modelInfo';
import type { NamedTensor } from './tensor';

export type { Intervention, ModelInfo, TokenizedPrompt, NamedTensor };

/** A prompt is given as text (tokenized with the model's tokenizer) or as token ids. */
export type PromptInput = { text: string } | { tokens: number[] };

export interface LoadModelParams {
  /** Folder holding config.json, *.safetensors and optionally tokenizer.json. */
  dir: string;
  /** onnxruntime intra-op threads (0 = onnxruntime's default). */
  threads?: number;
  /** onnxruntime execution provider; `cuda` needs onnxruntime-node installed with ONNXRUNTIME_NODE_INSTALL=cuda12. */
  executionProvider?: 'cpu' | 'cuda' | 'coreml' | 'dml';
}

export interface TopToken {
  id: number;
  text: string;
  prob: number;
  logit: number;
}

export interface RunResult {
  tokens: TokenizedPrompt;
  /** Logits of the last position only unless `allPositions` was asked: [pos][vocab]. */
  logits: NamedTensor;
  /** Top-k next tokens at the last position. */
  top: TopToken[];
}

export interface CacheResult {
  tokens: TokenizedPrompt;
  hooks: Record<string, NamedTensor>;
}

export interface GenerateResult {
  tokens: number[];
  text: string;
  newTokens: number[];
  newText: string;
}

export type LensStream = 'pre' | 'mid' | 'post';
export type HeadKind = 'previous_token' | 'duplicate_token' | 'induction';

export interface LensResult {
  /** One per row: `{l}_pre|mid|post`, last `final_post`. */
  labels: string[];
  tokens: number[];
  /** [layer][pos] top-k tokens. */
  top: TopToken[][][];
  /** [layer][pos][target] probability and rank (0 = top) of each target token. */
  targets?: Array<Array<Array<{ id: number; prob: number; rank: number }>>>;
}

export interface AttentionResult {
  tokens: number[];
  /** [layer] -> [head][query][key] row-major. */
  patterns: Float32Array[];
  nHeads: number;
  /** [kind][layer][head] scores on this prompt. */
  scores: Record<HeadKind, number[][]>;
}

export interface DlaResult {
  position: number;
  target: number;
  baseline?: number;
  logit: number;
  embed: number;
  posEmbed: number;
  heads: number[][] | null;
  attn: number[];
  attnBias: number[];
  mlp: number[];
  constant: number;
  total: number;
}

export interface PatchSweepResult {
  layers: number[];
  positions: number[];
  /** [layer][position] normalised logit difference: 1 = clean behaviour, 0 = corrupted. */
  metric: number[][];
  cleanLogitDiff: number;
  corruptedLogitDiff: number;
}

export interface InspectResult {
  prompt: TokenizedPrompt;
  /** Per token, -log2 p(token | tokens before it), in bits; null for the first token. */
  surprisal: Array<number | null>;
  /** Per token, the probability and rank (0 = top) the model gave it; null for the first token. */
  actual: Array<{ prob: number; rank: number } | null>;
  /** Per position, the model's top next-token predictions after that token. */
  top: TopToken[][];
  /** One-line logit lens: [layer][position] top token of each layer's residual stream. */
  lens: { labels: string[]; top: Array<Array<{ id: number; text: string; prob: number }>> };
}

export type EngineProtocol = {
  'model/load': { params: LoadModelParams; result: ModelInfo };
  /** Checks a folder without loading weights: returns the info or throws a bad-input error. */
  'model/validate': { params: { dir: string }; result: ModelInfo };
  'model/info': { params: Record<string, never>; result: ModelInfo | null };
  'model/unload': { params: Record<string, never>; result: null };
  tokenize: { params: { text: string }; result: TokenizedPrompt };
  run: {
    params: { prompt: PromptInput; topK?: number; allPositions?: boolean; interventions?: Intervention[] };
    result: RunResult;
  };
  runWithCache: {
    params: { prompt: PromptInput; hooks: string[]; interventions?: Intervention[] };
    result: CacheResult;
  };
  generate: {
    params: { prompt: PromptInput; maxNewTokens: number; temperature?: number; seed?: number; interventions?: Intervention[] };
    result: GenerateResult;
  };
  /** Inline inspection of a prompt: surprisal, top predictions and a one-line lens per token. */
  'analysis/inspect': { params: { prompt: PromptInput; topK?: number; maxTokens?: number }; result: InspectResult };
  'analysis/lens': {
    /** `tunedLensFile`: a tuned-lens safetensors file (format in docs/views.md) applied before decoding. */
    params: { prompt: PromptInput; stream?: LensStream; topK?: number; targets?: number[]; tunedLensFile?: string };
    result: LensResult & { prompt: TokenizedPrompt };
  };
  'analysis/attention': { params: { prompt: PromptInput }; result: AttentionResult & { prompt: TokenizedPrompt } };
  /** Head-detector scores on repeated random sequences (the standard benchmark). */
  'analysis/detectHeads': { params: { samples?: number }; result: Record<HeadKind, number[][]> };
  'analysis/dla': {
    params: { prompt: PromptInput; target: number; baseline?: number; position?: number };
    result: DlaResult & { prompt: TokenizedPrompt };
  };
  'analysis/patchSweep': {
    params: { clean: PromptInput; corrupted: PromptInput; hook?: 'hook_resid_pre' | 'hook_resid_post'; positions?: number[]; correct: number; incorrect: number };
    result: PatchSweepResult;
  };
  /** Test hook: makes the worker crash, so restart handling can be exercised end to end. */
  'debug/crash': { params: Record<string, never>; result: null };
};

export type EngineNotifications = {
  progress: { message: string; fraction?: number };
  log: { level: 'info' | 'warn' | 'error'; message: string };
};
