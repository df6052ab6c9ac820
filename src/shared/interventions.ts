// Interventions are data: a webview composes them from clicks, the host validates them (webviews are
// untrusted), the engine executes them, and the same objects are saved with results for re-runs.
// Every intervention names a hook (TransformerLens name) and may restrict itself to positions and,
// for hooks with a head axis, to heads.
import { badInput } from './schema';

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
  | (InterventionTarget & { kind: 'scale'; factor: number });

export type InterventionKind = Intervention['kind'];
export const INTERVENTION_KINDS: readonly InterventionKind[] = ['zero', 'mean', 'patch', 'add', 'scale'];

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
  }
  return v as Intervention;
}
