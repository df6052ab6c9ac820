// Rotary frequencies: Hugging Face's `rope_scaling` read from config.json (and llama.cpp's rope_freqs
// divisors from GGUF), and the inverse frequencies every rotary layer uses, as transformers'
// modeling_rope_utils computes them (default, linear, llama3). Only kinds that change the frequencies and
// nothing else are accepted: the others (dynamic, yarn, longrope) also rescale attention or depend on the
// sequence length, and are refused by name.
import { ConfigError, SIZE_LIMITS } from './spec';
import type { ConfigJson, RopeScaling } from './spec';

export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'llama3'] as const;

/** The largest rope_scaling factor accepted (factor, low/high_freq_factor). */
const MAX_ROPE_FACTOR = 1e4;

/** config.json's `rope_scaling` (null or {"rope_type" | "type": ...}); "default" and null mean none. */
export function ropeScaling(cfg: ConfigJson): RopeScaling | null {
  const rs = cfg.rope_scaling;
  if (rs === undefined || rs === null) return null;
  if (typeof rs !== 'object' || Array.isArray(rs)) throw new ConfigError('rope_scaling', `"rope_scaling" must be an object or null (got ${JSON.stringify(rs)})`);
  const o = rs as Record<string, unknown>;
  const type = o.rope_type ?? o.type;
  // Released models scale by 2 to 64 and extend contexts of up to a few hundred thousand positions; bounds
  // far above those keep absurd values (1e300) from passing as a silent, meaningless scaling.
  const field = (key: string, fallback?: number, max = MAX_ROPE_FACTOR): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError('rope_scaling', `rope_scaling "${key}" must be a finite number > 0 (got ${JSON.stringify(o[key])})`);
    if (v > max) throw new ConfigError('rope_scaling', `rope_scaling "${key}" is ${v}; at most ${max} is accepted`);
    return v;
  };
  switch (type) {
    case 'default':
      return null;
    case 'linear':
      return { type: 'linear', factor: field('factor') };
    case 'llama3': {
      // transformers reads original_max_position_embeddings from rope_scaling (older configs: the top level).
      const originalMax = o.original_max_position_embeddings ?? cfg.original_max_position_embeddings;
      const s: RopeScaling = {
        type: 'llama3',
        factor: field('factor'),
        lowFreqFactor: field('low_freq_factor'),
        highFreqFactor: field('high_freq_factor'),
        originalMaxPositions: field('original_max_position_embeddings', typeof originalMax === 'number' ? originalMax : undefined, SIZE_LIMITS.context),
      };
      if (!(s.highFreqFactor > s.lowFreqFactor)) throw new ConfigError('rope_scaling', `rope_scaling "high_freq_factor" (${s.highFreqFactor}) must be greater than "low_freq_factor" (${s.lowFreqFactor})`);
      return s;
    }
    default:
      throw new ConfigError(
        'rope_scaling',
        `rope_scaling type ${JSON.stringify(type ?? null)} is not supported (supported: ${SUPPORTED_ROPE_TYPES.join(', ')}; dynamic, yarn and longrope also change the attention or depend on the prompt length)`,
      );
  }
}

/** Inverse frequencies of a rotary embedding over `dim` dimensions: 1 / base^(2i/dim), then scaled. */
export function rotaryInvFreq(base: number, dim: number, scaling: RopeScaling | null | undefined): number[] {
  const inv: number[] = [];
  for (let i = 0; i < dim; i += 2) inv.push(1 / Math.pow(base, i / dim));
  if (!scaling) return inv;
  if (scaling.type === 'linear') return inv.map((f) => f / scaling.factor);
  if (scaling.type === 'divisors') {
    if (scaling.divisors.length !== inv.length) throw new Error(`${scaling.divisors.length} rotary frequency divisors for ${inv.length} frequencies`);
    return inv.map((f, i) => f / scaling.divisors[i]!);
  }
  // transformers' _compute_llama3_parameters: long wavelengths divided by the factor, short ones kept,
  // the band between interpolated smoothly.
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = scaling;
  const lowWavelen = old / low;
  const highWavelen = old / high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / factor;
    const smooth = (old / wavelen - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}
