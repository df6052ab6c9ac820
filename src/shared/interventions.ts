// Interventions are data: a webview composes them from clicks, the host validates them (webviews are
// untrusted), the engine executes them, and the same objects are saved with results for re-runs.
// Every intervention names a hook (TransformerLens name) and may restrict itself to positions and,
// for hooks with a head axis, to heads.
import { badInput } from './schema';
import { ORTHONORMAL_TOLERANCE, orthonormalBasis } from './subspace';

export interface InterventionTarget {
  hook: string;
  /** Token positions to change; all positions when absent. */
  positions?: number[];
  /** Heads to change (only for hooks with a head axis); all heads when absent. */
  heads?: number[];
  /** Batch rows to apply to (for sweeps); all rows when absent. */
  rows?: number[];
}

export type Intervention =
  | (InterventionTarget & { kind: 'zero' })
  /** Replace by the mean over the reference prompts' positions. */
  | (InterventionTarget & { kind: 'mean'; reference: Array<{ tokens: number[] }> })
  /** Replace by the activation of another prompt at the same positions (resample / activation patching). */
  | (InterventionTarget & { kind: 'patch'; source: { tokens: number[] } })
  /** Add `scale * vector` (steering). `vector` has the hook's last dimension. */
  | (InterventionTarget & { kind: 'add'; vector: number[]; scale?: number })
  /** Multiply by a factor. */
  | (InterventionTarget & { kind: 'scale'; factor: number })
  /**
   * Interchange a subspace (issue #16): h' = h + R R^T (h_source - h), with `source` another prompt of the same
   * length (as `patch`); without `source`, project it out: h' = h - R R^T h. R is `basis`: `dim` rows of `rank`
   * numbers (a DAS rotation [dim, rank]); the engine uses an orthonormal basis of its columns' span. `dim` is
   * the hook's last dimension, or on a hook with heads, the chosen heads' values side by side (a DAS site over
   * several heads). h is this run's activation under every intervention before this one (earlier hooks, and
   * earlier in the list on this hook), so it composes exactly.
   */
  | (InterventionTarget & { kind: 'subspace'; basis: number[][]; source?: { tokens: number[] }; label?: string })
  | FeatureIntervention;

/**
 * A transcoder feature's activation set to a new value at `positions` (all when absent): `value`, `scale` ×
 * itself, its activation on another prompt at the same position (`source`), or its mean over the reference
 * prompts' positions (`reference`); exactly one. Executed as circuit-tracer's feature interventions: the
 * model's own output is kept and (new − current activation) × the feature's decoder row is added at the
 * transcoders' write hook, the current activation read in the same run under the other interventions. The
 * transcoders are the model folder's own (transcoders/): a file or a view never names a path.
 */
export interface FeatureIntervention {
  kind: 'feature';
  layer: number;
  /** The feature's index in its layer's transcoder. */
  index: number;
  positions?: number[];
  rows?: number[];
  value?: number;
  scale?: number;
  source?: { tokens: number[] };
  reference?: Array<{ tokens: number[] }>;
  /** A feature intervention names no hook (the transcoders' write hook is theirs) and no heads. */
  hook?: never;
  heads?: never;
}

/** The interventions that name a hook: what is left after Model.forward turned feature interventions into adds. */
export type HookIntervention = Exclude<Intervention, FeatureIntervention>;

/** What a message calls an intervention: its hook, or its feature. */
export function interventionSite(iv: Intervention): string {
  return iv.kind === 'feature' ? `feature L${iv.layer}#${iv.index}` : iv.hook;
}

export type InterventionKind = Intervention['kind'];
export const INTERVENTION_KINDS: readonly InterventionKind[] = ['zero', 'mean', 'patch', 'add', 'scale', 'subspace', 'feature'];

/** Numbers in one subspace basis (dim x rank): a rank-64 basis of a 16384-wide residual stream. */
export const MAX_BASIS_NUMBERS = 1 << 20;

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
}

function isFiniteArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/**
 * Checks that an untrusted value is a well-formed Intervention (shape only: the engine checks hook
 * names and sizes against the model). Throws RpcError('bad-input') naming the problem: an intervention is
 * user input wherever it comes from (a file, a webview), so every client shows the message, never a stack.
 */
export function validateIntervention(v: unknown, where = 'intervention'): Intervention {
  if (typeof v !== 'object' || v === null) badInput(`${where}: expected an object`);
  const r = v as Record<string, unknown>;
  if (typeof r.kind !== 'string' || !(INTERVENTION_KINDS as readonly string[]).includes(r.kind)) {
    badInput(`${where}: kind must be one of ${INTERVENTION_KINDS.join(', ')}`);
  }
  if (r.kind === 'feature') return validateFeatureIntervention(r, where);
  if (typeof r.hook !== 'string' || r.hook.length === 0 || r.hook.length > 200) badInput(`${where}: hook must be a hook name`);
  for (const key of ['positions', 'heads', 'rows'] as const) {
    if (r[key] !== undefined && !isIntArray(r[key])) badInput(`${where}: ${key} must be a list of non-negative integers`);
  }
  const tokenList = (x: unknown) => typeof x === 'object' && x !== null && isIntArray((x as Record<string, unknown>).tokens);
  switch (r.kind) {
    case 'mean':
      if (!Array.isArray(r.reference) || r.reference.length === 0 || !r.reference.every(tokenList)) {
        badInput(`${where}: mean ablation needs reference: [{tokens: [...]}, ...]`);
      }
      break;
    case 'patch':
      if (!tokenList(r.source)) badInput(`${where}: patch needs source: {tokens: [...]}`);
      break;
    case 'add':
      if (!isFiniteArray(r.vector) || r.vector.length === 0) badInput(`${where}: add needs a vector of finite numbers`);
      if (r.scale !== undefined && (typeof r.scale !== 'number' || !Number.isFinite(r.scale))) badInput(`${where}: scale must be a finite number`);
      break;
    case 'scale':
      if (typeof r.factor !== 'number' || !Number.isFinite(r.factor)) badInput(`${where}: factor must be a finite number`);
      break;
    case 'subspace':
      validateBasis(r.basis, where);
      if (r.source !== undefined && !tokenList(r.source)) badInput(`${where}: a subspace interchange's source must be {tokens: [...]} (or leave it out to project the subspace out)`);
      if (r.label !== undefined && (typeof r.label !== 'string' || r.label.length > 200)) badInput(`${where}: label must be a string of at most 200 characters`);
      break;
  }
  return v as Intervention;
}

/** What to tell the user about a valid subspace intervention whose basis is not orthonormal (else undefined). */
export function subspaceNote(iv: Intervention): string | undefined {
  if (iv.kind !== 'subspace') return undefined;
  const b = orthonormalBasis(iv.basis);
  return b && b.error > ORTHONORMAL_TOLERANCE ? `the subspace's basis is not orthonormal (‖RᵀR − I‖ = ${b.error.toPrecision(2)}); the span of its columns is used (orthonormalised by Gram-Schmidt)` : undefined;
}

/**
 * A subspace basis: `dim` rows of `rank` finite numbers, 1 <= rank <= dim, columns linearly independent (the
 * hook's width is checked by the engine). Not required orthonormal: the engine uses the columns' span.
 */
function validateBasis(b: unknown, where: string): void {
  if (!Array.isArray(b) || b.length === 0 || !Array.isArray(b[0])) badInput(`${where}: a subspace needs basis: a list of dim rows of rank numbers ([dim][rank], e.g. a DAS rotation)`);
  const rank = (b[0] as unknown[]).length;
  if (rank === 0) badInput(`${where}: the basis has rank 0 (its rows are empty)`);
  if (rank > b.length) badInput(`${where}: the basis has rank ${rank} but dimension ${b.length}; the rank must not exceed the dimension (is it transposed? rows are dimensions, columns directions)`);
  if (b.length * rank > MAX_BASIS_NUMBERS) badInput(`${where}: the basis has ${b.length} x ${rank} numbers, more than ${MAX_BASIS_NUMBERS}`);
  for (const [i, row] of b.entries()) {
    if (!Array.isArray(row) || row.length !== rank) badInput(`${where}: basis row ${i} has ${Array.isArray(row) ? row.length : 'no'} entries; every row needs ${rank} (one per direction)`);
    if (!isFiniteArray(row)) badInput(`${where}: basis row ${i} holds a value that is not a finite number`);
  }
  if (!orthonormalBasis(b as number[][])) badInput(`${where}: the basis' ${rank} columns are linearly dependent (they span fewer dimensions); drop the redundant directions`);
}

/** The feature kind's shape (the engine checks layer and index against the transcoders). */
function validateFeatureIntervention(r: Record<string, unknown>, where: string): FeatureIntervention {
  if (r.hook !== undefined || r.heads !== undefined) badInput(`${where}: a feature intervention names a layer and a feature index, not a hook or heads`);
  if (!Number.isInteger(r.layer) || (r.layer as number) < 0) badInput(`${where}: layer must be a non-negative integer (the transcoder's layer)`);
  if (!Number.isInteger(r.index) || (r.index as number) < 0) badInput(`${where}: index must be a non-negative integer (the feature's index in its layer)`);
  for (const key of ['positions', 'rows'] as const) {
    if (r[key] !== undefined && !isIntArray(r[key])) badInput(`${where}: ${key} must be a list of non-negative integers`);
  }
  const modes = (['value', 'scale', 'source', 'reference'] as const).filter((k) => r[k] !== undefined);
  if (modes.length !== 1) badInput(`${where}: a feature intervention takes exactly one of value, scale, source or reference (got ${modes.length ? modes.join(', ') : 'none'})`);
  for (const k of ['value', 'scale'] as const) {
    if (r[k] !== undefined && (typeof r[k] !== 'number' || !Number.isFinite(r[k]))) badInput(`${where}: ${k} must be a finite number`);
  }
  const tokens = (x: unknown) => typeof x === 'object' && x !== null && isIntArray((x as Record<string, unknown>).tokens);
  if (r.source !== undefined && !tokens(r.source)) badInput(`${where}: source must be {tokens: [...]}`);
  if (r.reference !== undefined && (!Array.isArray(r.reference) || r.reference.length === 0 || !r.reference.every(tokens))) {
    badInput(`${where}: reference must be [{tokens: [...]}, ...]`);
  }
  return r as unknown as FeatureIntervention;
}
