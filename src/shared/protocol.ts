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
  /** Test hook: makes the worker crash, so restart handling can be exercised end to end. */
  'debug/crash': { params: Record<string, never>; result: null };
};

export type EngineNotifications = {
  progress: { message: string; fraction?: number };
  log: { level: 'info' | 'warn' | 'error'; message: string };
};
