// Hook points, named as in TransformerLens so users and other tools recognise them. `HookName` makes
// a typo a compile error; `parseHookName` rejects unknown names at run time with the nearest valid ones.
import { UserError } from './errors';
import type { ModelConfig } from './architectures/spec';
import type { DimName } from '../shared/tensor';

/**
 * What every hook is, in one table: the shape of its activation, whether an intervention may replace it,
 * whether the main graph takes interventions there (elsewhere a variant graph serves them), and which
 * models have it. Order is forward order.
 */
interface HookInfo {
  shape: 'resid' | 'scale' | 'q' | 'kv' | 'pattern' | 'result' | 'mlp';
  /** Replaceable by an intervention. The rest are derived (scores, rotated q/k, MLP pre-activations) or, for
   * norm scales, unsafe to ablate (zero divides); engine algorithms may still edit them directly. */
  writable: boolean;
  mainIntervention?: boolean;
  exists?: (c: ModelConfig) => boolean;
}

const rotary = (c: ModelConfig) => c.positional === 'rotary';

const LAYER_HOOK_TABLE = {
  hook_resid_pre: { shape: 'resid', writable: true, mainIntervention: true },
  'ln1.hook_scale': { shape: 'scale', writable: false },
  'ln1.hook_normalized': { shape: 'resid', writable: true },
  'attn.hook_q': { shape: 'q', writable: true },
  'attn.hook_k': { shape: 'kv', writable: true },
  'attn.hook_v': { shape: 'kv', writable: true },
  'attn.hook_rot_q': { shape: 'q', writable: false, exists: rotary },
  'attn.hook_rot_k': { shape: 'kv', writable: false, exists: rotary },
  'attn.hook_attn_scores': { shape: 'pattern', writable: false },
  'attn.hook_pattern': { shape: 'pattern', writable: true, mainIntervention: true },
  'attn.hook_z': { shape: 'q', writable: true, mainIntervention: true },
  'attn.hook_result': { shape: 'result', writable: true },
  hook_attn_out: { shape: 'resid', writable: true, mainIntervention: true },
  hook_resid_mid: { shape: 'resid', writable: true, mainIntervention: true, exists: (c) => !c.parallelResidual },
  'ln2.hook_scale': { shape: 'scale', writable: false },
  'ln2.hook_normalized': { shape: 'resid', writable: true },
  'mlp.hook_in': { shape: 'resid', writable: true },
  'mlp.hook_pre': { shape: 'mlp', writable: false },
  'mlp.hook_pre_linear': { shape: 'mlp', writable: false, exists: (c) => c.gatedMlp },
  'mlp.hook_post': { shape: 'mlp', writable: true, mainIntervention: true },
  'mlp.hook_out': { shape: 'resid', writable: true },
  hook_mlp_out: { shape: 'resid', writable: true, mainIntervention: true },
  hook_resid_post: { shape: 'resid', writable: true, mainIntervention: true },
} as const satisfies Record<string, HookInfo>;

const GLOBAL_HOOK_TABLE = {
  hook_embed: { shape: 'resid', writable: true },
  hook_pos_embed: { shape: 'resid', writable: true, exists: (c: ModelConfig) => c.positional === 'learned' },
  'ln_final.hook_scale': { shape: 'scale', writable: false },
  'ln_final.hook_normalized': { shape: 'resid', writable: true },
} as const satisfies Record<string, HookInfo>;

export type LayerHook = keyof typeof LAYER_HOOK_TABLE;
export type GlobalHook = keyof typeof GLOBAL_HOOK_TABLE;
export const LAYER_HOOKS = Object.keys(LAYER_HOOK_TABLE) as LayerHook[];
export const GLOBAL_HOOKS = Object.keys(GLOBAL_HOOK_TABLE) as GlobalHook[];

export type HookName = GlobalHook | `blocks.${number}.${LayerHook}`;

function info(local: string): HookInfo | undefined {
  return (LAYER_HOOK_TABLE as Record<string, HookInfo>)[local] ?? (GLOBAL_HOOK_TABLE as Record<string, HookInfo>)[local];
}

export interface ParsedHook {
  name: HookName;
  /** Layer index, or null for global hooks. */
  layer: number | null;
  /** The hook's name within its block ('attn.hook_z'), or the global name. */
  local: LayerHook | GlobalHook;
}

/** Every hook this model has, in forward order. */
export function allHooks(config: ModelConfig): HookName[] {
  const exists = (h: string) => info(h)!.exists?.(config) ?? true;
  // Forward order: the embeddings, every block, then the final norm.
  const out: HookName[] = GLOBAL_HOOKS.filter((h) => h.startsWith('hook_') && exists(h));
  for (let l = 0; l < config.nLayers; l++) {
    for (const h of LAYER_HOOKS) if (exists(h)) out.push(`blocks.${l}.${h}`);
  }
  out.push(...GLOBAL_HOOKS.filter((h) => h.startsWith('ln_final.')));
  return out;
}

function hookExists(config: ModelConfig, local: string): boolean {
  const i = info(local);
  return i !== undefined && (i.exists?.(config) ?? true);
}

export function isWritable(local: string): boolean {
  return info(local)?.writable ?? false;
}

/** Where the main graph takes interventions (other hooks are served by a variant graph). */
export function isMainInterventionPoint(local: string): boolean {
  return info(local)?.mainIntervention ?? false;
}

/** The rank of a hook's activation (batch included). */
export function hookRank(local: string): number {
  const shape = info(local)?.shape;
  return shape === 'q' || shape === 'kv' || shape === 'pattern' || shape === 'result' ? 4 : 3;
}

/** The hook's name within its block ('blocks.3.attn.hook_z' -> 'attn.hook_z'), or the global name. */
export function localHookName(name: string): string {
  const m = /^blocks\.\d+\.(.+)$/.exec(name);
  return m ? m[1]! : name;
}

export function parseHookName(name: string, config: ModelConfig): ParsedHook {
  // No leading zeros: blocks.01 would be read as layer 1 under a name no result is keyed by.
  const m = /^blocks\.(0|[1-9]\d*)\.(.+)$/.exec(name);
  if (m) {
    const layer = Number(m[1]);
    const local = m[2] as LayerHook;
    if ((LAYER_HOOKS as readonly string[]).includes(local) && layer < config.nLayers && hookExists(config, local)) {
      return { name: name as HookName, layer, local };
    }
  } else if ((GLOBAL_HOOKS as readonly string[]).includes(name) && hookExists(config, name)) {
    return { name: name as HookName, layer: null, local: name as GlobalHook };
  }
  const suggestions = nearest(name, allHooks(config), 3);
  throw new UserError(`Unknown hook "${name}" for this ${config.modelType} model (${config.nLayers} layers). Did you mean: ${suggestions.join(', ')}?`);
}

/** Named dims and shape of a hook's activation for batch B, T query positions and Tk key positions. */
export function hookDims(config: ModelConfig, local: string, B: number, T: number, Tk = T): { dims: DimName[]; shape: number[] } {
  const { dModel: d, nHeads: H, nKvHeads: Hkv, dHead: dh, dMlp } = config;
  switch (info(local)?.shape ?? 'resid') {
    case 'scale':
      return { dims: ['batch', 'pos', 'one'], shape: [B, T, 1] };
    case 'q':
      return { dims: ['batch', 'pos', 'head', 'd_head'], shape: [B, T, H, dh] };
    case 'kv':
      return { dims: ['batch', 'pos', 'kv_head', 'd_head'], shape: [B, T, Hkv, dh] };
    case 'pattern':
      return { dims: ['batch', 'head', 'query_pos', 'key_pos'], shape: [B, H, T, Tk] };
    case 'result':
      return { dims: ['batch', 'pos', 'head', 'd_model'], shape: [B, T, H, d] };
    case 'mlp':
      return { dims: ['batch', 'pos', 'd_mlp'], shape: [B, T, dMlp] };
    case 'resid':
      return { dims: ['batch', 'pos', 'd_model'], shape: [B, T, d] };
  }
}

/** The closest names by edit distance (for "did you mean"). */
export function nearest(name: string, candidates: readonly string[], k: number): string[] {
  return candidates
    .map((c) => ({ c, d: editDistance(name, c) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, k)
    .map((x) => x.c);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
