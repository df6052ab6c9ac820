// A learned subspace as a view intervention (issue #16): a DAS subspace (saved by `mechlens das --out` or the
// Causal panel, or the panel's last result) put into the one intervention state every view shares, as a chip
// "subspace r=16 “IO” · patch · blocks.3.hook_resid_post · last token". Three uses of it: patch only the
// subspace from the counterfactual prompt, project it out, or steer along its first direction × a strength
// (an `add`, the engine's steering). Only the host makes these specs, from a file it read or a result it holds:
// a webview cannot send one (interventions/add takes site specs), so R never comes from, nor names a file
// for, a page. Runtime-agnostic and pure: unit-tested without a model.
import type { Hypothesis, ResolvedSite } from './causal';
import type { Intervention } from './interventions';
import { validateIntervention } from './interventions';
import { checkAgainstModel, compileUiIntervention, uiInterventionSchema, uiLabel } from './patchUi';
import type { CompileContext, UiIntervention } from './patchUi';
import { badInput, finiteNumber, integer, list, object, oneOf, optional, refine, string } from './schema';
import type { Infer, Schema } from './schema';

export const SUBSPACE_MODES = ['patch', 'ablate', 'steer'] as const;
export type SubspaceMode = (typeof SUBSPACE_MODES)[number];

const LIMIT = 100_000;

/** [dim][rank] finite numbers, rank <= dim, independent columns: the engine intervention's own check. */
const basisSchema: Schema<number[][]> = {
  parse(v, where) {
    return (validateIntervention({ kind: 'subspace', hook: 'h', basis: v }, where) as Intervention & { kind: 'subspace' }).basis;
  },
};

/**
 * A subspace as a view intervention (`site: 'subspace'`, as a feature site is `site: 'feature'`; `kind` is what
 * is done to it): the hook and positions of its site (negative: from the end of each view's
 * prompt, as a hypothesis' site says "the last token"), heads on a per-head hook, its basis, what to do with it,
 * and for steering the strength (the first column is added × strength). `name`: the variable it was learned for.
 */
export const uiSubspaceSchema = refine(
  object({
    site: oneOf(['subspace'] as const),
    kind: oneOf(SUBSPACE_MODES),
    hook: string(200, /^[A-Za-z0-9_.]+$/, 'a hook name'),
    positions: optional(list(integer(-LIMIT, LIMIT, 'a position (negative counts from the end)'), 4096)),
    heads: optional(list(integer(0, LIMIT, 'a head index'), 4096)),
    basis: basisSchema,
    strength: optional(finiteNumber(-1e6, 1e6)),
    name: optional(string(200)),
  }),
  (v, where) => {
    if (v.positions && new Set(v.positions).size !== v.positions.length) badInput(`${where}: positions must not repeat`);
    if (v.kind === 'steer' && v.strength === undefined) badInput(`${where}: steering needs a strength`);
    if (v.kind !== 'steer' && v.strength !== undefined) badInput(`${where}: strength applies to steering only`);
  },
);
export type UiSubspace = Infer<typeof uiSubspaceSchema>;

/** Any chip's spec: a site intervention from a view's menu, or a subspace the host added. */
export type UiSpec = UiIntervention | UiSubspace;

export const uiSpecSchema: Schema<UiSpec> = {
  parse(v, where) {
    return typeof v === 'object' && v !== null && (v as { site?: unknown }).site === 'subspace' ? uiSubspaceSchema.parse(v, where) : uiInterventionSchema.parse(v, where);
  },
};

export function isSubspaceSpec(spec: UiSpec): spec is UiSubspace {
  return spec.site === 'subspace';
}

/** The spec for a learned subspace: R [dim, rank] row-major (a DAS rotation) at its site. */
export function subspaceSpec(
  R: ArrayLike<number>,
  dim: number,
  rank: number,
  site: { hook: string; positions?: number[]; heads?: number[] },
  mode: SubspaceMode,
  options: { strength?: number; name?: string } = {},
): UiSubspace {
  if (R.length !== dim * rank) badInput(`the subspace holds ${R.length} numbers, not ${dim} x ${rank}`);
  const basis = Array.from({ length: dim }, (_, i) => Array.from({ length: rank }, (_, j) => R[i * rank + j]!));
  return uiSubspaceSchema.parse(
    {
      site: 'subspace',
      kind: mode,
      hook: site.hook,
      ...(site.positions ? { positions: site.positions } : {}),
      ...(site.heads ? { heads: site.heads } : {}),
      basis,
      ...(mode === 'steer' ? { strength: options.strength ?? 1 } : {}),
      ...(options.name ? { name: options.name } : {}),
    },
    'subspace',
  );
}

/**
 * Where a DAS subspace applies in the views: its site's hook and heads, and its positions as the hypothesis wrote
 * them (negative: from the end, so "the last token" fits any prompt), else the absolute ones it resolved to.
 */
export function viewSite(site: ResolvedSite, hypothesis?: Hypothesis, variable?: string): { hook: string; positions?: number[]; heads?: number[] } {
  const written = hypothesis?.variables.find((v) => v.name === variable)?.site;
  const positions = written && written.hook === site.hook && written.positions ? written.positions : site.positions;
  return { hook: site.hook, positions, ...(site.heads ? { heads: site.heads } : {}) };
}

/** Values per position a subspace at `hook` (with `heads`) has on a model: its width, or the heads' side by side. */
export function siteWidth(hook: string, heads: readonly number[] | undefined, m: { dModel: number; dHead: number; dMlp: number; nHeads: number }): number | undefined {
  const local = hook.replace(/^blocks\.\d+\./, '');
  if (local === 'mlp.hook_post') return m.dMlp;
  if (/^attn\.hook_(z|q|k|v)$/.test(local)) return m.dHead * (heads?.length ?? 1);
  if (local === 'attn.hook_result') return m.dModel * (heads?.length ?? 1);
  if (/^(hook_resid_(pre|mid|post)|hook_attn_out|hook_mlp_out|hook_embed|hook_pos_embed|mlp\.hook_out)$/.test(local)) return m.dModel;
  return undefined;
}

/** The hook's layer (null for a global hook such as hook_embed). */
function layerOf(hook: string): number | null {
  const m = /^blocks\.(\d+)\./.exec(hook);
  return m ? Number(m[1]) : null;
}

/** The spec's positions on a prompt of `n` tokens (negative ones from its end); throws bad-input outside it. */
function absolutePositions(spec: UiSubspace, n: number, where: string): number[] | undefined {
  return spec.positions?.map((p) => {
    const abs = p < 0 ? n + p : p;
    if (abs < 0 || abs >= n) badInput(`${where}: position ${p} is outside the prompt (${n} tokens)`);
    return abs;
  });
}

/** Checks a subspace spec against the model (its hook's layer, heads) and the prompt (positions). */
export function checkSubspace(spec: UiSubspace, ctx: CompileContext, where = 'subspace'): void {
  const layer = layerOf(spec.hook);
  if (layer !== null && layer >= ctx.nLayers) badInput(`${where}: ${spec.hook} is beyond the model (layers 0..${ctx.nLayers - 1}); was the subspace learned on another model?`);
  for (const h of spec.heads ?? []) if (h >= ctx.nHeads) badInput(`${where}: head ${h} is beyond the model (heads 0..${ctx.nHeads - 1})`);
  absolutePositions(spec, ctx.prompt.length, where);
}

/** The engine's interventions for a subspace spec on the context's prompt. */
export function compileUiSubspace(spec: UiSubspace, ctx: CompileContext, where = 'subspace'): Intervention[] {
  checkSubspace(spec, ctx, where);
  const positions = absolutePositions(spec, ctx.prompt.length, where);
  const target = { hook: spec.hook, ...(positions ? { positions } : {}), ...(spec.heads ? { heads: spec.heads } : {}) };
  const label = spec.name;
  switch (spec.kind) {
    case 'patch': {
      const cf = ctx.counterfactual;
      if (!cf) badInput(`${where}: patching a subspace needs a counterfactual prompt; write one in the Patching panel (MechLens: Open Patching), or project the subspace out instead`);
      if (cf.length !== ctx.prompt.length) badInput(`${where}: the counterfactual has ${cf.length} tokens and the prompt ${ctx.prompt.length}; patching a subspace position by position needs equal lengths`);
      return [{ kind: 'subspace', ...target, basis: spec.basis, source: { tokens: cf }, ...(label ? { label } : {}) }];
    }
    case 'ablate':
      return [{ kind: 'subspace', ...target, basis: spec.basis, ...(label ? { label } : {}) }];
    case 'steer': {
      // Steering adds the first direction. A DAS site over heads holds them side by side: each head gets its part.
      const column = spec.basis.map((row) => row[0]!);
      const heads = spec.heads ?? [];
      if (heads.length > 1) {
        if (column.length % heads.length !== 0) badInput(`${where}: the subspace's ${column.length} rows do not split over ${heads.length} heads`);
        const dh = column.length / heads.length;
        return heads.map((h, k) => ({ kind: 'add', ...target, heads: [h], vector: column.slice(k * dh, (k + 1) * dh), scale: spec.strength! }));
      }
      return [{ kind: 'add', ...target, vector: column, scale: spec.strength! }];
    }
  }
}

/** A chip's text, e.g. "subspace r=16 “IO” · patch · blocks.3.hook_resid_post · last token". */
export function subspaceLabel(spec: UiSubspace, tokenText: (pos: number) => string | undefined): string {
  const rank = spec.basis[0]!.length;
  const name = spec.name ? ` “${spec.name}”` : '';
  const what = spec.kind === 'steer' ? `steer dir 1 ×${Number(spec.strength!.toPrecision(3))}` : spec.kind === 'ablate' ? 'project out' : 'patch';
  const heads = spec.heads ? ` heads ${spec.heads.join(',')}` : '';
  const pos = spec.positions?.length
    ? spec.positions
        .map((p) => {
          if (p === -1) return 'last token';
          const t = p >= 0 ? tokenText(p) : undefined;
          return p < 0 ? `pos ${p}` : `pos ${p}${t !== undefined ? ` “${t}”` : ''}`;
        })
        .join(', ')
    : 'all positions';
  return `subspace r=${rank}${name} · ${what} · ${spec.hook}${heads} · ${pos}`;
}

/** Any chip spec compiled on a prompt: a site intervention (one per layer of its range) or a subspace. */
export function compileUiSpec(spec: UiSpec, ctx: CompileContext, where = 'intervention'): Intervention[] {
  return isSubspaceSpec(spec) ? compileUiSubspace(spec, ctx, where) : compileUiIntervention(spec, ctx, where);
}

/** Any chip spec checked against the model and a prompt. */
export function checkSpec(spec: UiSpec, ctx: CompileContext, where = 'intervention'): void {
  if (isSubspaceSpec(spec)) checkSubspace(spec, ctx, where);
  else checkAgainstModel(spec, ctx, where);
}

/** Any chip's text. */
export function specLabel(spec: UiSpec, tokenText: (pos: number) => string | undefined): string {
  return isSubspaceSpec(spec) ? subspaceLabel(spec, tokenText) : uiLabel(spec, tokenText);
}
