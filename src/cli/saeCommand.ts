// `mechlens sae-features --model DIR --sae DIR (--prompt TEXT | --tokens ...) [--top K] [--json]`: the
// active features of an SAELens SAE at each position of a prompt, largest first. Registered in main.ts's
// COMMANDS as `'sae-features': (model, opts) => saeFeatures(model, promptInput(opts), opts)`, with a
// `sae` string flag in FLAGS and the usage line below.
import type { Model } from '../engine/model';
import { UserError } from '../engine/errors';
import { resolvePrompt } from '../engine/prompt';
import { loadSae, saeFeatureActivations } from '../engine/attribution/sae';
import type { PromptInput } from '../shared/analyses';

export const SAE_FEATURES_USAGE = `  mechlens sae-features --model DIR --sae DIR (--prompt TEXT | --tokens ...) [--top K] [--json]
                    active features of an SAELens SAE (cfg.json + sae_weights.safetensors) per position, largest first
`;

export interface SaeFeaturesOptions {
  sae?: string;
  top?: string;
  json?: boolean;
}

export async function saeFeatures(model: Model, prompt: PromptInput, opts: SaeFeaturesOptions): Promise<void> {
  if (!opts.sae) throw new UserError('Missing --sae DIR (an SAELens folder with cfg.json and sae_weights.safetensors).');
  const topK = opts.top === undefined ? 10 : Number(opts.top);
  if (!Number.isInteger(topK) || topK < 1) throw new UserError(`--top: "${opts.top}" is not a positive integer.`);
  const sae = loadSae(opts.sae, model.config);
  const tokens = resolvePrompt(model, prompt);
  const r = await saeFeatureActivations(model, sae, tokens.ids, { topK });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ hook: r.hook, d_sae: r.dSae, tokens: tokens.ids, token_strings: tokens.texts, positions: r.positions })}\n`);
    return;
  }
  process.stdout.write(`${sae.hook}: ${sae.dSae} features (${sae.activation.kind})\n`);
  r.positions.forEach((p, t) => {
    const top = p.features.map((f, i) => `${f} (${p.values[i]!.toFixed(3)})`).join(', ');
    process.stdout.write(`  ${String(t).padStart(3)} ${JSON.stringify(tokens.texts[t])}: ${p.active} active${top ? `; ${top}` : ''}\n`);
  });
}
