// `mechlens patch` with --sweep / --direction / --metric / --method: patching sweeps of every kind through
// the registry's `patchSweep` analysis. Without those flags main.ts runs today's residual sweep with its
// original output fields (a public interface).
import { UserError } from '../engine/errors';
import { runAnalysis } from '../engine/analysis/registry';
import type { Model } from '../engine/model';
import type { PromptInput } from '../shared/analyses';
import { PATCH_DIRECTIONS, PATCH_METHODS, PATCH_METRICS, PATCH_SWEEPS } from '../shared/patching';
import type { PatchDirection, PatchMethod, PatchMetric, PatchSweepKind } from '../shared/patching';

export const PATCH_USAGE = `  mechlens patch    --model DIR --clean TEXT --corrupted TEXT --target TOKEN --baseline TOKEN [--json]
                    residual-stream patching sweep (layers x positions), normalised logit difference
  mechlens patch    --model DIR --clean TEXT --corrupted TEXT --target TOKEN [--baseline TOKEN]
                    [--sweep ${PATCH_SWEEPS.join('|')}]
                    [--direction denoise|noise] [--metric ${PATCH_METRICS.join('|')}] [--method exact|attribution|both] [--json]
                    patching sweeps (TransformerLens' coverage): clean into corrupted (denoise, default) or corrupted
                    into clean (noise); attribution: the first-order estimate from one backward; both: side by side
                    with their correlation
`;

interface PatchOptions {
  sweep?: string;
  direction?: string;
  metric?: string;
  method?: string;
  baseline?: string;
  json?: boolean;
}

function pick<T extends string>(flag: string, v: string | undefined, values: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (!(values as readonly string[]).includes(v)) throw new UserError(`--${flag} must be one of ${values.join(', ')} (got "${v}").`);
  return v as T;
}

/** A flat row-major array as nested lists in `shape` order (the JSON `metric` field). */
export function nest(flat: ArrayLike<number>, shape: readonly number[]): unknown[] {
  const rec = (offset: number, axis: number): unknown[] => {
    const n = shape[axis]!;
    if (axis === shape.length - 1) return Array.from({ length: n }, (_, i) => flat[offset + i]!);
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: n }, (_, i) => rec(offset + i * stride, axis + 1));
  };
  return rec(0, 0);
}

export async function patchSweepCommand(model: Model, opts: PatchOptions, clean: PromptInput, corrupted: PromptInput, target: number, tokenId: (model: Model, s: string) => number): Promise<void> {
  const sweep = pick<PatchSweepKind>('sweep', opts.sweep, PATCH_SWEEPS, 'resid_pre');
  const direction = pick<PatchDirection>('direction', opts.direction, PATCH_DIRECTIONS, 'denoise');
  const metric = pick<PatchMetric>('metric', opts.metric, PATCH_METRICS, 'logit_diff_norm');
  const method = pick<PatchMethod>('method', opts.method, PATCH_METHODS, 'exact');
  if ((metric === 'logit_diff' || metric === 'logit_diff_norm') && opts.baseline === undefined) throw new UserError(`--metric ${metric} needs --baseline TOKEN.`);
  const baseline = opts.baseline !== undefined ? tokenId(model, opts.baseline) : undefined;
  const r = await runAnalysis(model, 'patchSweep', { clean, corrupted, sweep, direction, metric, method, target, baseline });
  const values = (r.exact ?? r.attribution)!;
  if (opts.json) {
    const out: Record<string, unknown> = {
      sweep: r.sweep,
      dims: r.dims,
      metric: nest(values, r.shape),
      clean_metric: r.cleanMetric,
      corrupted_metric: r.corruptedMetric,
      direction: r.direction,
      metric_name: r.metric,
      method: r.method,
      hook: r.hook,
      layers: r.layers,
      tokens: r.prompt.ids,
      token_strings: r.prompt.texts,
      corrupted_token_strings: r.corruptedPrompt.texts,
    };
    if (r.exact && r.attribution) {
      out.attribution = nest(r.attribution, r.shape);
      out.correlation = r.correlation;
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const w = (s: string) => process.stdout.write(s);
  w(`${r.sweep} sweep, ${r.direction === 'denoise' ? 'clean into corrupted' : 'corrupted into clean'}, ${r.metric} (clean ${r.cleanMetric.toFixed(4)}, corrupted ${r.corruptedMetric.toFixed(4)})`);
  w(r.correlation !== undefined ? `; exact vs attribution correlation ${r.correlation.toFixed(3)}\n` : `, ${r.method}\n`);
  const cols = r.shape[r.shape.length - 1]!;
  const header = r.dims[r.dims.length - 1] === 'pos' ? r.prompt.texts.map((t) => JSON.stringify(t).slice(0, 8)) : Array.from({ length: cols }, (_, i) => `${r.dims[r.dims.length - 1] === 'kv_head' ? 'KV' : 'H'}${i}`);
  const table = (flat: Float32Array, label: string) => {
    w(`${label}\n${''.padEnd(8)}${header.map((h) => h.padStart(9)).join('')}\n`);
    for (let row = 0; row * cols < flat.length; row++) {
      const l = r.layers[Math.floor((row * cols) / (flat.length / r.layers.length))]!;
      const name = r.dims.length === 3 ? `L${l}H${row % r.shape[1]!}` : `L${l}`;
      w(`${name.padEnd(8)}${Array.from(flat.subarray(row * cols, (row + 1) * cols), (v) => v.toFixed(2).padStart(9)).join('')}\n`);
    }
  };
  if (r.exact) table(r.exact, 'exact:');
  if (r.attribution) table(r.attribution, 'attribution patching:');
}
