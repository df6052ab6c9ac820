// Hook points, named as in TransformerLens so users and other tools recognise them. `HookName` makes
// a typo a compile error; `parseHookName` rejects unknown names at run time with the nearest valid ones.
import { UserError } from './errors';
import type { ModelConfig } from './architectures/spec';
import type { DimName } from '../shared/tensor';

export const LAYER_HOOKS = [
  'hook_resid_pre',
  'ln1.hook_scale',
  'ln1.hook_normalized',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_rot_q',
  'attn.hook_rot_k',
  'attn.hook_attn_scores',
  'attn.hook_pattern',
  'attn.hook_z',
  'attn.hook_result',
  'hook_attn_out',
  'hook_resid_mid',
  'ln2.hook_scale',
  'ln2.hook_normalized',
  'mlp.hook_in',
  'mlp.hook_pre',
  'mlp.hook_pre_linear',
  'mlp.hook_post',
  'mlp.hook_out',
  'hook_mlp_out',
  'hook_resid_post',
] as const;
export type LayerHook = (typeof LAYER_HOOKS)[number];

export const GLOBAL_HOOKS = ['hook_embed', 'hook_pos_embed', 'ln_final.hook_scale', 'ln_final.hook_normalized'] as const;
export type GlobalHook = (typeof GLOBAL_HOOKS)[number];

export type HookName = GlobalHook | `blocks.${number}.${LayerHook}`;

/** Hooks whose value can be replaced by an intervention (the rest are derived statistics). */
const WRITABLE = new Set<string>([
  'hook_embed',
  'hook_pos_embed',
  'hook_resid_pre',
  'attn.hook_q',
  'attn.hook_k',
  'attn.hook_v',
  'attn.hook_pattern',
  'attn.hook_z',
  'attn.hook_result',
  'hook_attn_out',
  'hook_resid_mid',
  'mlp.hook_in',
  'mlp.hook_post',
  'mlp.hook_out',
  'hook_mlp_out',
  'hook_resid_post',
  'ln1.hook_normalized',
  'ln2.hook_normalized',
]);

export interface ParsedHook {
  name: HookName;
  /** Layer index, or null for global hooks. */
  layer: number | null;
  /** The hook's name within its block ('attn.hook_z'), or the global name. */
  local: LayerHook | GlobalHook;
}

/** Every hook this model has, in forward order. */
export function allHooks(config: ModelConfig): HookName[] {
  const out: HookName[] = ['hook_embed'];
  if (config.positional === 'learned') out.push('hook_pos_embed');
  for (let l = 0; l < config.nLayers; l++) {
    for (const h of LAYER_HOOKS) if (layerHookExists(config, h)) out.push(`blocks.${l}.${h}`);
  }
  out.push('ln_final.hook_scale', 'ln_final.hook_normalized');
  return out;
}

function layerHookExists(config: ModelConfig, h: LayerHook): boolean {
  if (h === 'hook_resid_mid') return !config.parallelResidual;
  if (h === 'attn.hook_rot_q' || h === 'attn.hook_rot_k') return config.positional === 'rotary';
  if (h === 'mlp.hook_pre_linear') return config.gatedMlp;
  return true;
}

export function isWritable(local: string): boolean {
  return WRITABLE.has(local);
}

export function parseHookName(name: string, config: ModelConfig): ParsedHook {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (m) {
    const layer = Number(m[1]);
    const local = m[2] as LayerHook;
    if ((LAYER_HOOKS as readonly string[]).includes(local) && layer < config.nLayers && layerHookExists(config, local)) {
      return { name: name as HookName, layer, local };
    }
  } else if ((GLOBAL_HOOKS as readonly string[]).includes(name) && (name !== 'hook_pos_embed' || config.positional === 'learned')) {
    return { name: name as HookName, layer: null, local: name as GlobalHook };
  }
  const suggestions = nearest(name, allHooks(config), 3);
  throw new UserError(`Unknown hook "${name}" for this ${config.modelType} model (${config.nLayers} layers). Did you mean: ${suggestions.join(', ')}?`);
}

/** Named dims and shape of a hook's activation for batch B, T query positions and Tk key positions. */
export function hookDims(config: ModelConfig, local: string, B: number, T: number, Tk = T): { dims: DimName[]; shape: number[] } {
  const { dModel: d, nHeads: H, nKvHeads: Hkv, dHead: dh, dMlp } = config;
  switch (local) {
    case 'ln1.hook_scale':
    case 'ln2.hook_scale':
    case 'ln_final.hook_scale':
      return { dims: ['batch', 'pos', 'one'], shape: [B, T, 1] };
    case 'attn.hook_q':
    case 'attn.hook_rot_q':
    case 'attn.hook_z':
      return { dims: ['batch', 'pos', 'head', 'd_head'], shape: [B, T, H, dh] };
    case 'attn.hook_k':
    case 'attn.hook_v':
    case 'attn.hook_rot_k':
      return { dims: ['batch', 'pos', 'kv_head', 'd_head'], shape: [B, T, Hkv, dh] };
    case 'attn.hook_attn_scores':
    case 'attn.hook_pattern':
      return { dims: ['batch', 'head', 'query_pos', 'key_pos'], shape: [B, H, T, Tk] };
    case 'attn.hook_result':
      return { dims: ['batch', 'pos', 'head', 'd_model'], shape: [B, T, H, d] };
    case 'mlp.hook_pre':
    case 'mlp.hook_pre_linear':
    case 'mlp.hook_post':
      return { dims: ['batch', 'pos', 'd_mlp'], shape: [B, T, dMlp] };
    default:
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
