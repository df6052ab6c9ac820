// The transcoder feature commands: `features` (build dashboards), `feature` (one feature's details),
// `feature-search`, `steer`, `feature-inputs`, `feature-outputs`. Each runs its analysis through the
// registry, as main.ts' commands do; main.ts adds them to COMMANDS, their flags to FLAGS and COMMAND_FLAGS.
import { writeFileSync } from 'node:fs';
import { UserError } from '../engine/errors';
import { runAnalysis } from '../engine/analysis/registry';
import { MiB, readTextFile } from '../engine/files';
import type { Model } from '../engine/model';
import type { PromptInput } from '../shared/analyses';
import { featureSteer } from '../shared/features';
import type { FeatureSteer } from '../shared/features';
import { list } from '../shared/schema';

export const FEATURE_USAGE = `  mechlens features --model DIR --corpus FILE|DIR --out DIR [--transcoders DIR] [--max-tokens N] [--pack] [--json]
                    feature dashboards (Neuronpedia feature-details records, layer_L.bin + index.json) over a corpus
                    (text files, or a .u16 token file); resumable: finished layers are kept; Ctrl-C cancels;
                    --pack writes brotli-packed layers (layer_L.bin.br, about 3x smaller; how the bundled model ships)
  mechlens feature  --model DIR --layer L --index F [--transcoders DIR] [--dashboards DIR | --corpus FILE] [--json]
                    one feature's details (from the model folder's features/ by default)
  mechlens feature-search --model DIR (--token TOKEN | --label TEXT) [--dashboards DIR] [--transcoders DIR] [--top K] [--json]
                    features firing most on a token, features whose decoder most promotes it, or with a label
  mechlens steer    --model DIR (--prompt TEXT | --tokens ...) (--layer L --index F [--positions P,...] [--generated]
                    (--value V | --scale S | --ablate) | --features FILE) [--freeze-attention] [--max-new-tokens N]
                    [--temperature T] [--seed S] [--top K] [--out FILE] [--transcoders DIR] [--json]
                    feature interventions: top next tokens and continuations before and after; --out writes the
                    equivalent interventions (replay: mechlens generate --interventions FILE)
  mechlens feature-inputs --model DIR (--prompt TEXT | --tokens ...) --layer L --index F [--position P] [--top K] [--json]
                    a feature's direct inputs at a position (one backward run through the frozen model)
  mechlens feature-outputs --model DIR --layer L --index F [--top K] [--json]
                    a feature's virtual weights to later features and its top and bottom logits
`;

export interface FeatureFlags {
  corpus?: string;
  out?: string;
  transcoders?: string;
  'max-tokens'?: string;
  pack?: boolean;
  layer?: string;
  index?: string;
  dashboards?: string;
  token?: string;
  label?: string;
  top?: string;
  positions?: string;
  position?: string;
  generated?: boolean;
  value?: string;
  scale?: string;
  ablate?: boolean;
  features?: string;
  'freeze-attention'?: boolean;
  'max-new-tokens'?: string;
  temperature?: string;
  seed?: string;
  json?: boolean;
}

export const FEATURE_COMMAND_FLAGS = {
  features: ['corpus', 'out', 'transcoders', 'max-tokens', 'pack'],
  feature: ['layer', 'index', 'transcoders', 'dashboards', 'corpus', 'max-tokens'],
  'feature-search': ['token', 'label', 'dashboards', 'transcoders', 'top'],
  steer: ['prompt', 'prompt-file', 'tokens', 'layer', 'index', 'positions', 'generated', 'value', 'scale', 'ablate', 'features', 'freeze-attention', 'max-new-tokens', 'temperature', 'seed', 'top', 'out', 'transcoders'],
  'feature-inputs': ['prompt', 'prompt-file', 'tokens', 'layer', 'index', 'position', 'top', 'transcoders'],
  'feature-outputs': ['layer', 'index', 'top', 'transcoders'],
} as const;

export interface CliHelpers {
  promptInput: (opts: never) => PromptInput;
  tokenId: (model: Model, s: string) => number;
}

const print = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v)}\n`);

function count(s: string | undefined, flag: string, min = 0): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${flag}: "${s}" is not ${min > 0 ? 'a positive' : 'a non-negative'} integer.`);
  return n;
}

function need(s: string | undefined, what: string): string {
  if (s === undefined || s === '') throw new UserError(`Missing ${what}.`);
  return s;
}

function finite(s: string | undefined, flag: string): number | undefined {
  if (s === undefined) return undefined;
  const x = Number(s);
  if (s.trim() === '' || !Number.isFinite(x)) throw new UserError(`--${flag}: "${s}" is not a number.`);
  return x;
}

export function featureCommands(h: CliHelpers): Record<string, (model: Model, opts: FeatureFlags) => Promise<void>> {
  const promptOf = (opts: FeatureFlags) => h.promptInput(opts as never);
  return {
    features: async (model, opts) => {
      const corpus = need(opts.corpus, '--corpus FILE|DIR');
      const out = need(opts.out, '--out DIR');
      // Ctrl-C cancels between batches; finished layers stay and the same command resumes.
      const controller = new AbortController();
      const onSigint = () => controller.abort();
      process.once('SIGINT', onSigint);
      process.once('SIGTERM', onSigint);
      let last = '';
      try {
        const r = await runAnalysis(
          model,
          'featureDashboards',
          { corpus, out, transcoders: opts.transcoders, maxTokens: count(opts['max-tokens'], 'max-tokens', 1), pack: opts.pack },
          {
            signal: controller.signal,
            onProgress: (message, fraction) => {
              const line = `${fraction !== undefined ? `${(fraction * 100).toFixed(0).padStart(3)}% ` : ''}${message.replace(/: \d+ \/ \d+ tokens$/, '')}`;
              if (line === last) return;
              last = line;
              process.stderr.write(`${line}\n`);
            },
          },
        );
        if (opts.json) print({ out: r.out, built: r.built, resumed: r.resumed, passes: r.passes, n_tokens: r.nTokens, seconds: r.seconds });
        else process.stdout.write(`wrote ${out}: layers ${r.built.join(', ') || 'none'} built${r.resumed.length ? `, ${r.resumed.join(', ')} already finished` : ''}; ${r.nTokens} tokens, ${r.passes} corpus pass${r.passes === 1 ? '' : 'es'}, ${r.seconds.toFixed(1)} s\n`);
      } catch (e) {
        if (e instanceof Error && e.name === 'AbortError') throw new UserError(`Cancelled: finished layers are kept in ${out}; run the same command again to resume.`);
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
    },
    feature: async (model, opts) => {
      const layer = count(need(opts.layer, '--layer L'), 'layer')!;
      const index = count(need(opts.index, '--index F'), 'index')!;
      const d = await runAnalysis(model, 'featureDetails', { layer, index, transcoders: opts.transcoders, dashboards: opts.dashboards, corpus: opts.corpus, maxTokens: count(opts['max-tokens'], 'max-tokens', 1) });
      if (opts.json) return print(d);
      const f = d as unknown as { act_max: number; activation_frequency: number; top_logits: string[]; examples_quantiles: Array<{ examples: Array<{ tokens: string[]; tokens_acts_list: number[]; train_token_ind: number }> }> };
      process.stdout.write(`layer ${layer} feature ${index}: max ${f.act_max}, active on ${(f.activation_frequency * 100).toFixed(3)}% of tokens\ntop logits: ${f.top_logits.map((t) => JSON.stringify(t)).join(' ')}\n`);
      for (const e of f.examples_quantiles[0]?.examples.slice(0, 10) ?? []) {
        const i = e.train_token_ind;
        process.stdout.write(`  ${e.tokens_acts_list[i]!.toFixed(3).padStart(8)}  ${JSON.stringify(e.tokens.slice(0, i).join(''))} [${JSON.stringify(e.tokens[i])}] ${JSON.stringify(e.tokens.slice(i + 1).join(''))}\n`);
      }
    },
    'feature-search': async (model, opts) => {
      if ((opts.token === undefined) === (opts.label === undefined)) throw new UserError('Give --token TOKEN or --label TEXT.');
      const token = opts.token !== undefined ? h.tokenId(model, opts.token) : undefined;
      const r = await runAnalysis(model, 'featureSearch', { token, label: opts.label, dashboards: opts.dashboards, transcoders: opts.transcoders, top: count(opts.top, 'top', 1) });
      if (opts.json) return print(r);
      for (const n of r.notes) process.stdout.write(`note: ${n}\n`);
      if (token !== undefined) {
        process.stdout.write(`firing on ${JSON.stringify(model.tokenText(token))}: ${r.firing.map((f) => `L${f.layer}/${f.index} (${f.act.toFixed(2)})`).join(', ') || 'none'}\n`);
        process.stdout.write(`promoting it: ${r.promoting.map((f) => `L${f.layer}/${f.index} (${f.weight.toFixed(3)})`).join(', ')}\n`);
      } else {
        for (const l of r.labels) process.stdout.write(`L${l.layer}/${l.index}: ${l.label}\n`);
      }
    },
    steer: async (model, opts) => {
      let features: FeatureSteer[];
      if (opts.features !== undefined) {
        if (opts.layer !== undefined || opts.index !== undefined) throw new UserError('Give --features FILE or --layer/--index, not both.');
        let json: unknown;
        try {
          json = JSON.parse(readTextFile(opts.features, '--features', 64 * MiB));
        } catch (e) {
          throw e instanceof UserError ? e : new UserError(`--features ${opts.features}: ${e instanceof Error ? e.message : String(e)}`);
        }
        features = list(featureSteer, 1000).parse(json, `--features ${opts.features}`);
      } else {
        const chosen = [opts.value !== undefined, opts.scale !== undefined, opts.ablate === true].filter(Boolean).length;
        if (chosen !== 1) throw new UserError('Give exactly one of --value V, --scale S or --ablate.');
        features = [
          {
            layer: count(need(opts.layer, '--layer L'), 'layer')!,
            index: count(need(opts.index, '--index F'), 'index')!,
            positions: opts.positions?.split(',').map((s) => count(s.trim(), 'positions')!),
            generated: opts.generated,
            value: finite(opts.value, 'value'),
            scale: finite(opts.scale, 'scale'),
            ablate: opts.ablate,
          },
        ];
      }
      const temperature = finite(opts.temperature, 'temperature');
      if (temperature !== undefined && temperature < 0) throw new UserError('--temperature must be a number >= 0.');
      const r = await runAnalysis(model, 'steer', {
        prompt: promptOf(opts),
        features,
        freezeAttention: opts['freeze-attention'],
        maxNewTokens: count(opts['max-new-tokens'], 'max-new-tokens'),
        temperature,
        seed: count(opts.seed, 'seed'),
        topK: count(opts.top, 'top', 1),
        transcoders: opts.transcoders,
      });
      if (opts.out) writeFileSync(opts.out, `${JSON.stringify(r.interventions)}\n`);
      const side = (s: typeof r.before) => ({ top: s.top, new_tokens: s.newTokens, new_text: s.newText });
      if (opts.json) return print({ tokens: r.prompt.ids, token_strings: r.prompt.texts, before: side(r.before), after: side(r.after), activations: r.activations, interventions: r.interventions });
      const tops = (s: typeof r.before) => s.top.map((t) => `${JSON.stringify(t.text)} ${(t.prob * 100).toFixed(1)}%`).join(', ');
      process.stdout.write(`before: ${tops(r.before)}\n        ${JSON.stringify(r.before.newText)}\nafter:  ${tops(r.after)}\n        ${JSON.stringify(r.after.newText)}\n`);
      for (const a of r.activations.slice(0, 20)) process.stdout.write(`  L${a.layer}/${a.index} @${a.position}: ${a.current.toFixed(3)} -> ${a.value.toFixed(3)}\n`);
    },
    'feature-inputs': async (model, opts) => {
      const r = await runAnalysis(model, 'featureInputs', {
        prompt: promptOf(opts),
        layer: count(need(opts.layer, '--layer L'), 'layer')!,
        index: count(need(opts.index, '--index F'), 'index')!,
        position: count(opts.position, 'position'),
        top: count(opts.top, 'top', 1),
        transcoders: opts.transcoders,
      });
      if (opts.json) return print({ tokens: r.prompt.ids, token_strings: r.prompt.texts, position: r.position, pre_activation: r.preActivation, activation: r.activation, inputs: r.inputs });
      process.stdout.write(`position ${r.position} (${JSON.stringify(r.prompt.texts[r.position])}): pre-activation ${r.preActivation.toFixed(4)}, activation ${r.activation.toFixed(4)}\n`);
      for (const i of r.inputs) {
        const what = i.kind === 'feature' ? `feature L${i.layer}/${i.index} @${i.position}` : i.kind === 'error' ? `error L${i.layer} @${i.position}` : `token ${JSON.stringify(i.token)} @${i.position}`;
        process.stdout.write(`  ${i.weight.toFixed(4).padStart(10)}  ${what}\n`);
      }
    },
    'feature-outputs': async (model, opts) => {
      const r = await runAnalysis(model, 'featureOutputs', { layer: count(need(opts.layer, '--layer L'), 'layer')!, index: count(need(opts.index, '--index F'), 'index')!, top: count(opts.top, 'top', 1), transcoders: opts.transcoders });
      if (opts.json) return print({ features: r.features, top_logits: r.topLogits, bottom_logits: r.bottomLogits });
      process.stdout.write(`later features: ${r.features.map((f) => `L${f.layer}/${f.index} (${f.weight.toFixed(3)})`).join(', ') || 'none (last layer)'}\n`);
      process.stdout.write(`top logits: ${r.topLogits.map((t) => `${JSON.stringify(t.text)} ${t.weight.toFixed(3)}`).join(', ')}\nbottom logits: ${r.bottomLogits.map((t) => `${JSON.stringify(t.text)} ${t.weight.toFixed(3)}`).join(', ')}\n`);
    },
  };
}
