// What the engine tells its clients about a loaded (or validated) model and a tokenized prompt.

export type Architecture = 'gpt2' | 'gpt_neox' | 'llama' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3';

/** A model's shape, TransformerLens names; the engine's ModelConfig extends it with conventions. */
export interface ModelDims {
  architecture: Architecture;
  /** The config's model_type, as written in config.json. */
  modelType: string;
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  nCtx: number;
}

export interface ModelInfo extends ModelDims {
  dir: string;
  name: string;
  parameterCount: number;
  /** Bytes of the weights once loaded as float32. */
  weightBytes: number;
  /** dtype(s) stored in the checkpoint, e.g. ["F32"] or ["BF16"]. */
  storedDtypes: string[];
  hasTokenizer: boolean;
  /** Non-fatal problems found while loading (NaN weights, ...). */
  warnings: string[];
}

export interface TokenizedPrompt {
  ids: number[];
  /** Each token's text as the tokenizer decodes it alone. */
  texts: string[];
  /**
   * Each token's [start, end) UTF-16 span in the prompt text; tokens holding part of a multi-byte
   * character get an empty or partial span. Absent when the prompt was given as ids.
   */
  spans?: Array<[number, number]>;
}
