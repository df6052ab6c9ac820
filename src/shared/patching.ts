// Activation-patching sweeps' params and results (TransformerLens `patching.py` coverage), shared by the
// engine, the worker, the CLI, saved experiments and the views. Registered by name in analyses.ts.
// Runtime-agnostic: no vscode, node or DOM imports.
import type { TokenizedPrompt } from './modelInfo';
import { integer, list, object, oneOf, optional } from './schema';
import type { Infer, Schema } from './schema';

/**
 * What is patched, named as the CLI's --sweep: residual pre / mid / post, attention and MLP outputs by layer
 * x position; head outputs (attn.hook_z) by layer x head over all positions (`z`) or per position
 * (`z_by_pos`); head queries, keys, values and patterns by layer x head.
 */
export const PATCH_SWEEPS = ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out', 'z', 'z_by_pos', 'q', 'k', 'v', 'pattern'] as const;
export type PatchSweepKind = (typeof PATCH_SWEEPS)[number];
/** The hook each sweep patches, within a block (TransformerLens names; blocks.{l}. in front). */
export const SWEEP_HOOKS = {
  resid_pre: 'hook_resid_pre',
  resid_mid: 'hook_resid_mid',
  resid_post: 'hook_resid_post',
  attn_out: 'hook_attn_out',
  mlp_out: 'hook_mlp_out',
  z: 'attn.hook_z',
  z_by_pos: 'attn.hook_z',
  q: 'attn.hook_q',
  k: 'attn.hook_k',
  v: 'attn.hook_v',
  pattern: 'attn.hook_pattern',
} as const satisfies Record<PatchSweepKind, string>;
/** denoise: clean activations into the corrupted run; noise: corrupted activations into the clean run. */
export const PATCH_DIRECTIONS = ['denoise', 'noise'] as const;
export type PatchDirection = (typeof PATCH_DIRECTIONS)[number];
/**
 * Of the last position's logits: logit(target) - logit(baseline), normalised so 1 = the clean run and 0 =
 * the corrupted one (`logit_diff_norm`) or not (`logit_diff`); p(target) (`prob`); KL(clean || patched) (`kl`).
 */
export const PATCH_METRICS = ['logit_diff_norm', 'logit_diff', 'prob', 'kl'] as const;
export type PatchMetric = (typeof PATCH_METRICS)[number];
/** exact: one patched run per cell; attribution: the first-order estimate from one backward; both: side by side. */
export const PATCH_METHODS = ['exact', 'attribution', 'both'] as const;
export type PatchMethod = (typeof PATCH_METHODS)[number];

/** The `patchSweep` analysis' params; `prompt` is analyses.ts' prompt schema (passed in: analyses.ts imports this file). */
export const patchSweepParams = <P>(prompt: Schema<P>) =>
  object({
    clean: prompt,
    corrupted: prompt,
    sweep: oneOf(PATCH_SWEEPS),
    direction: optional(oneOf(PATCH_DIRECTIONS)),
    metric: optional(oneOf(PATCH_METRICS)),
    method: optional(oneOf(PATCH_METHODS)),
    target: integer(0, 10_000_000, 'a token id (a non-negative integer)'),
    /** Needed by the logit-difference metrics only. */
    baseline: optional(integer(0, 10_000_000, 'a token id (a non-negative integer)')),
    /** Layers to sweep (default: all). */
    layers: optional(list(integer(0, 10_000), 10_000)),
  });
export type PatchSweepParams = Infer<ReturnType<typeof patchSweepParams<{ text: string } | { tokens: number[] }>>>;

export interface PatchSweepOutput {
  sweep: PatchSweepKind;
  direction: PatchDirection;
  metric: PatchMetric;
  method: PatchMethod;
  /** The hook patched at each layer, with {l} for the layer (e.g. "blocks.{l}.attn.hook_z"). */
  hook: string;
  /** Axis names, outermost first: ['layer', 'pos'], ['layer', 'head'], ['layer', 'head', 'pos'] or ['layer', 'kv_head']. */
  dims: string[];
  shape: number[];
  /** The swept layers (the 'layer' axis). */
  layers: number[];
  /** The metric of each exact patched run, row-major in `dims` order (method exact or both). */
  exact?: Float32Array;
  /** Attribution patching's estimate of the same metric, same layout (method attribution or both). */
  attribution?: Float32Array;
  /** Pearson correlation of exact and attribution over all cells (method both). */
  correlation?: number;
  /** The metric on the unpatched clean and corrupted runs. */
  cleanMetric: number;
  corruptedMetric: number;
  prompt: TokenizedPrompt;
  corruptedPrompt: TokenizedPrompt;
}
