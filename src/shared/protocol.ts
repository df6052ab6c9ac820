// The engine worker's RPC protocol: what the extension host (or any other client) may ask of it: the
// model methods below, and every analysis of the registry (src/shared/analyses.ts) as `analysis/<name>`.
// Tensors travel as typed arrays (transferred, not copied); everything else is plain JSON data.
// Runtime-agnostic: no vscode, node or DOM imports.
import type { AnalysisProtocol } from './analyses';
import type { ModelInfo, TokenizedPrompt } from './modelInfo';
import type { NamedTensor } from './tensor';

export type { ModelInfo, TokenizedPrompt, NamedTensor };

export interface LoadModelParams {
  /** Folder holding config.json, *.safetensors and optionally tokenizer.json. */
  dir: string;
  /** onnxruntime intra-op threads (0 = onnxruntime's default). */
  threads?: number;
  /** onnxruntime execution provider; `cuda` needs onnxruntime-node installed with ONNXRUNTIME_NODE_INSTALL=cuda12. */
  executionProvider?: 'cpu' | 'cuda' | 'coreml' | 'dml';
  /** The random-init control: the same architecture with re-initialised weights (its family's scheme), seeded. */
  randomInit?: number;
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

export type HeadKind = 'previous_token' | 'duplicate_token' | 'induction';

export interface LensResult {
  /** One per row: `{l}_pre|mid|post`, last `final_post`. */
  labels: string[];
  tokens: number[];
  /** [layer][pos] top-k tokens. */
  top: TopToken[][][];
  /** [layer][pos][target] probability and rank (0 = top) of each target token. */
  targets?: Array<Array<Array<{ id: number; prob: number; rank: number }>>>;
  /** When only some positions were decoded: which, in the order of `top`'s and `targets`' second index. */
  positions?: number[];
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
  /**
   * Per position, the model's top next-token predictions after that token. (The hover's one-line logit lens is
   * asked for when a token is hovered: `analysis/lens` at that position, from the residual streams this kept.)
   */
  top: TopToken[][];
}

/** Loading and describing models; everything else is an analysis. */
export type ModelProtocol = {
  'model/load': { params: LoadModelParams; result: ModelInfo };
  /** Checks a folder without loading weights: returns the info or throws a bad-input error. */
  'model/validate': { params: { dir: string }; result: ModelInfo };
  'model/info': { params: Record<string, never>; result: ModelInfo | null };
  'model/unload': { params: Record<string, never>; result: null };
  tokenize: { params: { text: string }; result: TokenizedPrompt };
  /** Test hook: makes the worker crash, so restart handling can be exercised end to end. */
  'debug/crash': { params: Record<string, never>; result: null };
};

/** `attribution/graph`: the `graph` analysis under the name the attribution tooling uses (same params, same code). */
export type AttributionProtocol = { 'attribution/graph': AnalysisProtocol['analysis/graph'] };

export type EngineProtocol = ModelProtocol & AnalysisProtocol & AttributionProtocol;

export type EngineNotifications = {
  /** `phase`, `done` and `total` for jobs counted in steps (an attribution graph's rows). */
  progress: { message: string; fraction?: number; phase?: string; done?: number; total?: number };
  log: { level: 'info' | 'warn' | 'error'; message: string };
};
