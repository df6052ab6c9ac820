// `mechlens`: every engine capability from a shell, JSON on stdout with --json. The field names of
// the JSON output are a public interface (scripts depend on them): change them only additively.
// Analyses run through the engine's registry (src/engine/analysis/registry.ts), as in the worker; a new
// analysis gets its command as one entry in COMMANDS below, plus its flags in FLAGS and a USAGE line.
// First: switches onnxruntime's telemetry off before onnxruntime-node loads (see privacy.ts).
import '../engine/privacy';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { Model } from '../engine/model';
import { validateCheckpoint } from '../engine/checkpoint/load';
import { UserError } from '../engine/errors';
import { runAnalysis } from '../engine/analysis/registry';
import { parseGraphFile, summarizeGraph } from '../engine/attribution/graphFile';
import { subspaceNote, validateIntervention } from '../shared/interventions';
import type { Intervention } from '../shared/interventions';
import { LENS_STREAMS, SALIENCY_METHODS } from '../shared/analyses';
import type { LensStream, PromptInput, SaliencyMethod } from '../shared/analyses';
import { RpcError } from '../shared/rpc';
import { MiB, checkOutputPath, readTextFile, writeTextFile } from '../engine/files';
import { SAE_FEATURES_USAGE, saeFeatures } from './saeCommand';
import { FEATURE_COMMAND_FLAGS, FEATURE_USAGE, featureCommands } from './featureCommands';
import { HUB_USAGE, cliBundledModels, downloadCommand, modelsCommand } from './hubCommands';
import { resolveModelName } from '../engine/bundledModels';
import { PATCH_USAGE, patchSweepCommand } from './patchCommand';
import { EXPERIMENT_USAGE, experimentCommand } from './experimentCommand';
import { CAUSAL_COMMAND_FLAGS, CAUSAL_FLAGS, CAUSAL_USAGE, causalCommands } from './causalCommands';
import { resolveModelRef } from '../engine/hub/cache';
import { randomInitModel } from '../engine/randomInit';

const USAGE = `mechlens — mechanistic interpretability on local models

Usage:
  mechlens info     --model DIR [--json]
  mechlens run      --model DIR (--prompt TEXT | --tokens 1,2,3) [--top K] [--json]
  mechlens cache    --model DIR (--prompt TEXT | --tokens ...) --hooks NAME[,NAME...] [--json]
  mechlens generate --model DIR --prompt TEXT --max-new-tokens N [--temperature T] [--seed S] [--json]
  mechlens hooks    --model DIR            list the model's hook names
  mechlens lens     --model DIR (--prompt TEXT | --tokens ...) [--stream pre|mid|post] [--top K] [--full] [--json]
  mechlens attention --model DIR (--prompt TEXT | --tokens ...) [--layer L[,L...]] [--json]
                    head-detector scores on the prompt; with --json every layer's patterns, or only --layer's
  mechlens heads    --model DIR [--json]    head-detector scores on repeated random sequences
  mechlens dla      --model DIR (--prompt TEXT | --tokens ...) --target TOKEN [--baseline TOKEN] [--json]
${PATCH_USAGE.trimEnd()}
${EXPERIMENT_USAGE.trimEnd()}
${CAUSAL_USAGE.trimEnd()}
  mechlens grad     --model DIR (--prompt TEXT | --tokens ...) --target TOKEN [--baseline TOKEN] --hooks NAME[,NAME...] [--json]
                    gradient of logit(target) [- logit(baseline)] at the last position with respect to the hooks
  mechlens graph    --model DIR (--prompt TEXT | --tokens ...) --out FILE [--transcoders DIR] [--max-feature-nodes N]
                    [--max-logits N] [--logit-prob P] [--node-threshold X] [--edge-threshold Y] [--batch-size N]
                    [--target TOKEN] [--target-diff TOKEN,TOKEN] [--json]
                    an attribution graph over transcoder features (circuit-tracer's algorithm), pruned, written as
                    Neuronpedia graph JSON; transcoders default to the model folder's transcoders/; progress on stderr
${SAE_FEATURES_USAGE.trimEnd()}
${FEATURE_USAGE.trimEnd()}
${HUB_USAGE.trimEnd()}
  mechlens graph-info FILE [--json]
                    an attribution graph file (circuit-tracer / Neuronpedia JSON): prompt, node counts by type,
                    links, replacement and completeness scores recomputed from its links
  mechlens saliency --model DIR (--prompt TEXT | --tokens ...) --target TOKEN [--baseline TOKEN]
                    --method grad_x_input|integrated_gradients [--steps N] [--json]
                    per-token input saliency at hook_embed (integrated gradients from a zero embedding, N steps, default 32)

TOKEN is a token's text as the tokenizer writes it (e.g. " Mary") or #ID (e.g. #42).
Wherever --model DIR is accepted, a bundled model's name (mechlens-tiny, stories260K) names its folder and a Hugging
Face repo id ORG/NAME[@REV] names that model in the local hub cache.
Wherever --prompt TEXT (--clean, --corrupted) is accepted, --prompt-file FILE (--clean-file, --corrupted-file)
reads the text from a file instead, or from standard input when FILE is -: for prompts too long for a command line.
Likewise wherever --tokens is accepted, --tokens-file FILE|- reads the ids (separated by commas or white space,
or a JSON list).

Common options:
  --interventions FILE   a JSON list of interventions to apply (run, cache, generate)
  --threads N            onnxruntime threads (default: onnxruntime's choice)
  --random-init SEED     run on the same architecture with re-initialised weights (seeded, the family's own
                         initialisation): the control for any analysis
  --json                 machine-readable output on stdout
`;

/** Every flag of every command (a new flag is one line here; its value type follows). */
const FLAGS = {
  model: { type: 'string', short: 'm' },
  prompt: { type: 'string', short: 'p' },
  'prompt-file': { type: 'string' },
  'clean-file': { type: 'string' },
  'corrupted-file': { type: 'string' },
  tokens: { type: 'string' },
  'tokens-file': { type: 'string' },
  hooks: { type: 'string' },
  top: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  interventions: { type: 'string' },
  stream: { type: 'string' },
  full: { type: 'boolean' },
  target: { type: 'string' },
  baseline: { type: 'string' },
  clean: { type: 'string' },
  corrupted: { type: 'string' },
  method: { type: 'string' },
  steps: { type: 'string' },
  threads: { type: 'string' },
  transcoders: { type: 'string' },
  sae: { type: 'string' },
  'max-feature-nodes': { type: 'string' },
  'max-logits': { type: 'string' },
  'logit-prob': { type: 'string' },
  'node-threshold': { type: 'string' },
  'edge-threshold': { type: 'string' },
  'batch-size': { type: 'string' },
  'target-diff': { type: 'string' },
  out: { type: 'string', short: 'o' },
  corpus: { type: 'string' },
  'max-tokens': { type: 'string' },
  layer: { type: 'string' },
  index: { type: 'string' },
  dashboards: { type: 'string' },
  token: { type: 'string' },
  label: { type: 'string' },
  positions: { type: 'string' },
  position: { type: 'string' },
  generated: { type: 'boolean' },
  value: { type: 'string' },
  scale: { type: 'string' },
  ablate: { type: 'boolean' },
  features: { type: 'string' },
  'freeze-attention': { type: 'boolean' },
  pack: { type: 'boolean' },
  sweep: { type: 'string' },
  direction: { type: 'string' },
  metric: { type: 'string' },
  'random-init': { type: 'string' },
  update: { type: 'boolean' },
  include: { type: 'string', multiple: true },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...CAUSAL_FLAGS,
} as const satisfies ParseArgsConfig['options'];

const parseFlags = (args: string[]) => parseArgs({ args, allowPositionals: true, options: FLAGS });
type Options = ReturnType<typeof parseFlags>['values'];

async function main(argv: string[]): Promise<number> {
  const { values: opts, positionals } = parseFlags(argv);
  const command = positionals[0];
  if (opts.help || !command) {
    process.stdout.write(USAGE);
    return command || opts.help ? 0 : 2;
  }
  checkFlagsApply(command, opts);
  if (opts['random-init'] !== undefined && ['info', 'graph-info', 'models', 'download', 'experiment'].includes(command)) {
    throw new UserError(command === 'experiment' ? 'An experiment file says itself whether it runs re-initialised ("random_init"): remove --random-init.' : `mechlens ${command} runs no model: --random-init applies to the analysis commands.`);
  }
  await readPromptFiles(opts);
  if (command === 'graph-info') {
    const file = required(positionals[1], 'the graph FILE (mechlens graph-info FILE)');
    const text = readTextFile(file, 'Cannot read the graph file', 1024 * MiB);
    const summary = summarizeGraph(parseGraphFile(text, file));
    if (opts.json) print(summary);
    else {
      const n = summary.nodes;
      process.stdout.write(
        `prompt: ${JSON.stringify(summary.prompt)}\n` +
          `nodes: ${n.feature} features, ${n.error} errors, ${n.embedding} embeddings, ${n.logit} logits; ${summary.links} links\n` +
          `replacement score ${summary.replacement_score.toFixed(4)}, completeness score ${summary.completeness_score.toFixed(4)} (from the file's links)\n`,
      );
    }
    return 0;
  }
  if (command === 'experiment') {
    await experimentCommand(required(positionals[1], 'the experiment FILE (mechlens experiment FILE)'), { json: opts.json, update: opts.update, threads: opts.threads ? integer(opts.threads, '--threads') : undefined });
    return 0;
  }
  if (Object.prototype.hasOwnProperty.call(HUB_COMMANDS, command)) {
    await HUB_COMMANDS[command]!(positionals.slice(1), opts);
    return 0;
  }
  // A path stays a path; a bundled model's name (stories260K) names its folder; a repo id (ORG/NAME[@REV]) a
  // snapshot in the Hugging Face cache.
  const modelDir = resolveModelName(required(opts.model, '--model DIR'), cliBundledModels());
  if (opts.transcoders !== undefined) opts.transcoders = resolveModelRef(opts.transcoders);
  const threads = opts.threads ? integer(opts.threads, '--threads') : undefined;

  if (command === 'info') {
    const info = validateCheckpoint(modelDir);
    if (opts.json) print(info);
    else {
      process.stdout.write(
        `${info.name}: ${info.modelType} (${info.architecture}), ${info.nLayers} layers, d_model ${info.dModel}, ${info.nHeads} heads` +
          `${info.nKvHeads !== info.nHeads ? ` (${info.nKvHeads} kv)` : ''}, d_head ${info.dHead}, d_mlp ${info.dMlp}, vocab ${info.dVocab}, context ${info.nCtx}\n` +
          `parameters: ${info.parameterCount.toLocaleString('en-US')} (${(info.weightBytes / 2 ** 20).toFixed(1)} MiB as float32, stored ${info.storedDtypes.join('/')})\n` +
          `tokenizer: ${info.hasTokenizer ? 'yes' : 'no (use --tokens)'}\n`,
      );
    }
    return 0;
  }

  let model = await Model.load(modelDir, { threads });
  for (const w of model.info.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts['random-init'] !== undefined) {
    // The control: the same architecture, weights re-initialised (src/engine/randomInit.ts).
    const random = await randomInitModel(model, integer(opts['random-init'], '--random-init'), { threads });
    await model.dispose();
    model = random;
    process.stderr.write(`note: ${model.info.name}: every weight re-initialised, not the checkpoint's\n`);
  }
  try {
    const run = Object.prototype.hasOwnProperty.call(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UserError(`Unknown command "${command}". Commands: info, ${Object.keys(COMMANDS).join(', ')}.`);
    await run(model, opts);
    return 0;
  } finally {
    await model.dispose();
  }
}

/** Commands that need no model: the hub cache and downloads (src/cli/hubCommands.ts). */
const HUB_COMMANDS: Record<string, (args: string[], opts: Options) => void | Promise<void>> = {
  models: modelsCommand,
  download: downloadCommand,
};

/**
 * The commands that need a loaded model. An analysis command turns flags into the analysis' params, runs
 * it through the engine's registry (`runAnalysis`: the same validation and code as the worker) and prints
 * the result as text or, with --json, with the documented field names.
 */
const COMMANDS: Record<string, (model: Model, opts: Options) => Promise<void>> = {
  run: async (model, opts) => {
    const r = await runAnalysis(model, 'run', { prompt: promptInput(opts), topK: opts.top ? integer(opts.top, '--top') : 10, allPositions: true, interventions: interventionsOf(opts) });
    const [T, V] = r.logits.shape as [number, number];
    const rows = Array.from({ length: T }, (_, t) => Array.from(r.logits.data.subarray(t * V, (t + 1) * V)));
    if (opts.json) print({ tokens: r.tokens.ids, token_strings: r.tokens.texts, logits: rows, top: r.top });
    else {
      process.stdout.write(`tokens: ${JSON.stringify(r.tokens.texts)}\nnext-token predictions:\n`);
      for (const t of r.top) process.stdout.write(`  ${(t.prob * 100).toFixed(2).padStart(6)}%  ${JSON.stringify(t.text)}  (id ${t.id}, logit ${t.logit.toFixed(3)})\n`);
    }
  },
  cache: async (model, opts) => {
    const hooks = hookList(opts);
    const r = await runAnalysis(model, 'cache', { prompt: promptInput(opts), hooks, interventions: interventionsOf(opts) });
    const entries = Object.entries(r.hooks);
    if (opts.json) print({ tokens: r.tokens.ids, hooks: Object.fromEntries(entries.map(([name, t]) => [name, { shape: t.shape, dims: t.dims, data: Array.from(t.data) }])) });
    else for (const [name, t] of entries) process.stdout.write(`${name}: shape [${t.shape.join(', ')}] (${t.dims.join(', ')})\n`);
  },
  generate: async (model, opts) => {
    const maxNewTokens = integer(required(opts['max-new-tokens'], '--max-new-tokens N'), '--max-new-tokens');
    const temperature = opts.temperature ? Number(opts.temperature) : 0;
    if (!Number.isFinite(temperature) || temperature < 0) throw new UserError('--temperature must be a number >= 0.');
    const seed = opts.seed ? integer(opts.seed, '--seed') : 0;
    const started = performance.now();
    const r = await runAnalysis(model, 'generate', { prompt: promptInput(opts), maxNewTokens, temperature, seed, interventions: interventionsOf(opts) });
    const seconds = (performance.now() - started) / 1000;
    if (opts.json) print({ tokens: r.tokens, new_tokens: r.newTokens, text: r.text, new_text: r.newText, tokens_per_second: r.newTokens.length / seconds });
    else process.stdout.write(`${r.text}\n`);
  },
  hooks: async (model) => print(model.hookNames()),
  lens: async (model, opts) => {
    const stream = opts.stream ?? 'pre';
    if (!isLensStream(stream)) throw new UserError('--stream must be pre, mid or post.');
    const r = await runAnalysis(model, 'lens', { prompt: promptInput(opts), stream, topK: opts.top ? integer(opts.top, '--top') : 5, full: opts.full });
    const top = r.top.map((layer) => layer.map((pos) => pos.map((t) => ({ token: t.text, id: t.id, prob: t.prob }))));
    if (opts.json) {
      const out: Record<string, unknown> = { labels: r.labels, tokens: r.prompt.ids, token_strings: r.prompt.texts, top };
      if (opts.full) out.logits = r.logits!.map((layer) => layer.map((row) => Array.from(row)));
      print(out);
    } else {
      process.stdout.write(`${'layer'.padEnd(12)}${r.prompt.texts.map((t) => JSON.stringify(t).slice(0, 10).padEnd(12)).join('')}\n`);
      r.labels.forEach((label, i) => process.stdout.write(`${label.padEnd(12)}${top[i]!.map((p) => JSON.stringify(p[0]!.token).slice(0, 10).padEnd(12)).join('')}\n`));
    }
  },
  attention: async (model, opts) => {
    // --layer: only those layers' patterns (the engine computes them one layer at a time; at T = 1024 each layer of
    // GPT-2 small is 48 MiB). The text output prints scores only, so it asks for no pattern it would not print.
    const layers = opts.layer !== undefined ? opts.layer.split(',').map((v) => integer(v.trim(), '--layer')) : undefined;
    const r = await runAnalysis(model, 'attention', { prompt: promptInput(opts), layers: opts.json ? layers : (layers ?? []) });
    const T = r.prompt.ids.length;
    if (opts.json) {
      const patterns = r.patterns.map((p) => Array.from({ length: r.nHeads }, (_, h) => Array.from({ length: T }, (_, q) => Array.from(p.subarray((h * T + q) * T, (h * T + q + 1) * T)))));
      print({ tokens: r.prompt.ids, token_strings: r.prompt.texts, ...(layers ? { layers } : {}), patterns, scores: r.scores });
      return;
    }
    printHeadScores(r.scores);
    // Per head of each --layer: where the last token looks most.
    r.patterns.forEach((p, i) => {
      process.stdout.write(`layer ${r.layers![i]}, the last token (${JSON.stringify(r.prompt.texts[T - 1])}) attends most to:\n`);
      for (let h = 0; h < r.nHeads; h++) {
        const row = p.subarray((h * T + T - 1) * T, (h * T + T) * T);
        let k = 0;
        for (let j = 1; j < T; j++) if (row[j]! > row[k]!) k = j;
        process.stdout.write(`  H${h}: ${k} ${JSON.stringify(r.prompt.texts[k])} (${row[k]!.toFixed(3)})\n`);
      }
    });
  },
  heads: async (model, opts) => {
    const scores = await runAnalysis(model, 'heads', {});
    if (opts.json) print({ scores });
    else printHeadScores(scores);
  },
  dla: async (model, opts) => {
    const target = tokenId(model, required(opts.target, '--target TOKEN'));
    const baseline = opts.baseline ? tokenId(model, opts.baseline) : undefined;
    const { prompt, ...r } = await runAnalysis(model, 'dla', { prompt: promptInput(opts), target, baseline });
    if (opts.json) print({ tokens: prompt.ids, ...r });
    else {
      process.stdout.write(`logit${baseline !== undefined ? ' difference' : ''} ${r.logit.toFixed(4)} = sum of parts ${r.total.toFixed(4)}\n`);
      process.stdout.write(`embed ${r.embed.toFixed(3)}  pos ${r.posEmbed.toFixed(3)}  constant ${r.constant.toFixed(3)}\n`);
      r.attn.forEach((a, l) => process.stdout.write(`layer ${l}: attn ${a.toFixed(3)} ${r.heads ? `[${r.heads[l]!.map((h) => h.toFixed(2)).join(' ')}]` : ''}  mlp ${r.mlp[l]!.toFixed(3)}\n`));
    }
  },
  patch: async (model, opts) => {
    const clean = { text: required(opts.clean, '--clean TEXT') };
    const corrupted = { text: required(opts.corrupted, '--corrupted TEXT') };
    const correct = tokenId(model, required(opts.target, '--target TOKEN'));
    if (opts.sweep !== undefined || opts.direction !== undefined || opts.metric !== undefined || opts.method !== undefined) {
      await patchSweepCommand(model, opts, clean, corrupted, correct, tokenId);
      return;
    }
    const incorrect = tokenId(model, required(opts.baseline, '--baseline TOKEN'));
    const r = await runAnalysis(model, 'patch', { clean, corrupted, correct, incorrect });
    if (opts.json) print({ tokens: r.prompt.ids, token_strings: r.prompt.texts, layers: r.layers, positions: r.positions, metric: r.metric });
    else {
      process.stdout.write(`${'layer'.padEnd(8)}${r.prompt.texts.map((t) => JSON.stringify(t).slice(0, 8).padEnd(9)).join('')}\n`);
      r.metric.forEach((row, l) => process.stdout.write(`${String(l).padEnd(8)}${row.map((v) => v.toFixed(2).padStart(8)).join(' ')}\n`));
    }
  },
  grad: async (model, opts) => {
    const target = tokenId(model, required(opts.target, '--target TOKEN'));
    const baseline = opts.baseline ? tokenId(model, opts.baseline) : undefined;
    const hooks = hookList(opts);
    const r = await runAnalysis(model, 'grad', { prompt: promptInput(opts), target, baseline, hooks });
    const entries = Object.entries(r.grads);
    if (opts.json) print({ tokens: r.prompt.ids, metric: r.metric, grads: Object.fromEntries(entries.map(([name, t]) => [name, { shape: t.shape, dims: t.dims, data: Array.from(t.data) }])) });
    else {
      process.stdout.write(`metric: logit${baseline !== undefined ? ' difference' : ''} ${r.metric.toFixed(4)}\n`);
      for (const [name, t] of entries) {
        let sq = 0;
        for (const v of t.data) sq += v * v;
        process.stdout.write(`${name}: shape [${t.shape.join(', ')}], |grad| ${Math.sqrt(sq).toPrecision(4)}\n`);
      }
    }
  },
  saliency: async (model, opts) => {
    const target = tokenId(model, required(opts.target, '--target TOKEN'));
    const baseline = opts.baseline ? tokenId(model, opts.baseline) : undefined;
    const method = required(opts.method, '--method grad_x_input|integrated_gradients');
    if (!isSaliencyMethod(method)) throw new UserError(`--method must be ${SALIENCY_METHODS.join(' or ')} (got "${method}").`);
    let steps: number | undefined;
    if (opts.steps !== undefined) {
      if (method !== 'integrated_gradients') throw new UserError('--steps applies to --method integrated_gradients only.');
      steps = Number(opts.steps);
      if (!Number.isInteger(steps) || steps < 1 || steps > 4096) throw new UserError(`--steps must be an integer from 1 to 4096 (got "${opts.steps}").`);
    }
    const r = await runAnalysis(model, 'saliency', { prompt: promptInput(opts), target, baseline, method, steps });
    if (opts.json) print({ tokens: r.prompt.ids, token_strings: r.prompt.texts, scores: r.scores, metric: r.metric, ...(r.baselineMetric !== undefined ? { baseline_metric: r.baselineMetric } : {}) });
    else {
      process.stdout.write(`metric ${r.metric.toFixed(4)}${r.baselineMetric !== undefined ? `, with zero embeddings ${r.baselineMetric.toFixed(4)}; scores sum to ${r.scores.reduce((a, b) => a + b, 0).toFixed(4)}` : ''}\n`);
      r.prompt.texts.forEach((t, i) => process.stdout.write(`${String(i).padStart(4)}  ${JSON.stringify(t).padEnd(16)} ${r.scores[i]!.toFixed(4).padStart(10)}\n`));
    }
  },
  'sae-features': (model, opts) => saeFeatures(model, promptInput(opts), opts),
  ...featureCommands({ promptInput, tokenId }),
  ...causalCommands(),
  graph: async (model, opts) => {
    const out = required(opts.out, '--out FILE');
    checkOutputPath(out, '--out'); // before the job, not after minutes of it
    const fraction = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const x = Number(v);
      if (!Number.isFinite(x) || x < 0 || x > 1) throw new UserError(`--${flag} must be a number from 0 to 1 (got "${v}").`);
      return x;
    };
    const positive = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = integer(v, `--${flag}`);
      if (n < 1) throw new UserError(`--${flag} must be at least 1 (got "${v}").`);
      return n;
    };
    let targetDiffs: number[][] | undefined;
    if (opts['target-diff'] !== undefined) {
      const parts = opts['target-diff'].split(',');
      if (parts.length !== 2) throw new UserError(`--target-diff takes TOKEN,TOKEN (got "${opts['target-diff']}"); write a token containing a comma as #ID.`);
      targetDiffs = [[tokenId(model, parts[0]!), tokenId(model, parts[1]!)]];
    }
    const logitProb = fraction('logit-prob', opts['logit-prob']);
    if (logitProb === 0) throw new UserError('--logit-prob must be above 0.');
    const started = performance.now();
    let lastLine = '';
    const r = await runAnalysis(
      model,
      'graph',
      {
        prompt: promptInput(opts),
        transcoders: opts.transcoders,
        maxFeatureNodes: positive('max-feature-nodes', opts['max-feature-nodes']),
        maxNLogits: positive('max-logits', opts['max-logits']),
        desiredLogitProb: logitProb,
        nodeThreshold: fraction('node-threshold', opts['node-threshold']),
        edgeThreshold: fraction('edge-threshold', opts['edge-threshold']),
        batchSize: positive('batch-size', opts['batch-size']),
        targets: opts.target !== undefined ? [tokenId(model, opts.target)] : undefined,
        targetDiffs,
        slug: basename(out).replace(/(\.graph)?\.json$/i, ''),
      },
      {
        onProgress: (message) => {
          if (message === lastLine) return;
          lastLine = message;
          process.stderr.write(`${message}\n`);
        },
      },
    );
    writeTextFile(out, '--out', r.graph);
    const seconds = (performance.now() - started) / 1000;
    const summary = { out, prompt: r.prompt.texts.join(''), ...r.summary, stats: { ...r.stats, seconds } };
    if (opts.json) print(summary);
    else {
      const n = r.summary.nodes;
      process.stdout.write(
        `wrote ${out}: ${n.feature} features, ${n.error} errors, ${n.embedding} embeddings, ${n.logit} logits; ${r.summary.links} links (pruned from ${r.stats.unprunedLinks})\n` +
          `${r.stats.activeFeatures} active features, ${r.stats.featureNodes} attributed in ${r.stats.backwardRuns} backward runs, ${seconds.toFixed(2)} s\n` +
          `replacement score ${r.summary.replacement_score.toFixed(4)}, completeness score ${r.summary.completeness_score.toFixed(4)} (full graph)\n`,
      );
    }
  },
};

function isSaliencyMethod(s: string): s is SaliencyMethod {
  return (SALIENCY_METHODS as readonly string[]).includes(s);
}

function isLensStream(s: string): s is LensStream {
  return (LENS_STREAMS as readonly string[]).includes(s);
}

/** A token given as its text (" Mary") or as #ID. */
function tokenId(model: Model, s: string): number {
  if (/^#\d+$/.test(s)) return integer(s.slice(1), 'token id');
  const ids = model.tokenize(s).ids;
  if (ids.length !== 1) throw new UserError(`"${s}" is ${ids.length} tokens (${ids.join(', ')}); give a single token, or #ID.`);
  return ids[0]!;
}

function printHeadScores(scores: Record<string, number[][]>): void {
  for (const [kind, layers] of Object.entries(scores)) {
    process.stdout.write(`${kind}:\n`);
    layers.forEach((row, l) => process.stdout.write(`  layer ${l}: ${row.map((v) => v.toFixed(2)).join(' ')}\n`));
  }
}

function promptInput(opts: Options): PromptInput {
  if (opts.prompt !== undefined && opts.tokens !== undefined) throw new UserError('Give either --prompt or --tokens, not both.');
  if (opts.prompt !== undefined) return { text: opts.prompt };
  if (opts.tokens !== undefined) {
    const flag = opts['tokens-file'] !== undefined ? `--tokens-file ${opts['tokens-file']}` : '--tokens';
    // Commas or white space between ids, optionally in a JSON list: what a file of ids usually holds.
    const ids = opts.tokens.replace(/^\s*\[|\]\s*$/g, '').split(/[\s,]+/).filter(Boolean).map((s) => integer(s, flag));
    return { tokens: ids };
  }
  throw new UserError('Give the prompt with --prompt TEXT or --tokens 1,2,3.');
}

/** --interventions FILE, read once per command (the registry checks each again with the other params). */
function interventionsOf(opts: Options): Intervention[] | undefined {
  return opts.interventions ? readInterventions(opts.interventions) : undefined;
}

function readInterventions(file: string): Intervention[] {
  let json: unknown;
  const text = readTextFile(file, '--interventions', 256 * MiB);
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`--interventions ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!Array.isArray(json)) throw new UserError(`--interventions ${file}: expected a JSON list of interventions.`);
  return json.map((v, i) => {
    const iv = validateIntervention(v, `${file}: intervention ${i + 1}`);
    const note = subspaceNote(iv);
    if (note) process.stderr.write(`note: ${file}: intervention ${i + 1}: ${note}\n`);
    return iv;
  });
}

/** --hooks NAME[,NAME...]: at least one name (an empty list would silently compute nothing). */
function hookList(opts: Options): string[] {
  const hooks = required(opts.hooks, '--hooks NAME[,NAME...]').split(',').map((h) => h.trim()).filter(Boolean);
  if (hooks.length === 0) throw new UserError('--hooks: give at least one hook name (mechlens hooks --model DIR lists them).');
  return hooks;
}

/**
 * Flags each command reads besides --model, --threads, --json and --help. A flag a command would ignore
 * (say --interventions to lens) is refused: ignoring it would print a result the user did not ask for.
 * Commands missing from this table are not checked.
 */
const COMMAND_FLAGS: Record<string, ReadonlyArray<keyof Options>> = {
  info: [],
  hooks: [],
  heads: [],
  'graph-info': [],
  experiment: ['update'],
  ...FEATURE_COMMAND_FLAGS,
  ...CAUSAL_COMMAND_FLAGS,
  models: [],
  download: ['include', 'yes', 'transcoders'],
  run: ['prompt', 'prompt-file', 'tokens', 'top', 'interventions'],
  cache: ['prompt', 'prompt-file', 'tokens', 'hooks', 'interventions'],
  generate: ['prompt', 'prompt-file', 'tokens', 'max-new-tokens', 'temperature', 'seed', 'interventions'],
  lens: ['prompt', 'prompt-file', 'tokens', 'stream', 'top', 'full'],
  attention: ['prompt', 'prompt-file', 'tokens', 'layer'],
  dla: ['prompt', 'prompt-file', 'tokens', 'target', 'baseline'],
  patch: ['clean', 'clean-file', 'corrupted', 'corrupted-file', 'target', 'baseline', 'sweep', 'direction', 'metric', 'method'],
  grad: ['prompt', 'prompt-file', 'tokens', 'target', 'baseline', 'hooks'],
  saliency: ['prompt', 'prompt-file', 'tokens', 'target', 'baseline', 'method', 'steps'],
  'sae-features': ['prompt', 'prompt-file', 'tokens', 'sae', 'top'],
  graph: ['prompt', 'prompt-file', 'tokens', 'out', 'transcoders', 'max-feature-nodes', 'max-logits', 'logit-prob', 'node-threshold', 'edge-threshold', 'batch-size', 'target', 'target-diff'],
};
const COMMON_FLAGS: ReadonlyArray<keyof Options> = ['model', 'threads', 'json', 'help', 'random-init'];

function checkFlagsApply(command: string, opts: Options): void {
  const accepted = Object.prototype.hasOwnProperty.call(COMMAND_FLAGS, command) ? COMMAND_FLAGS[command] : undefined;
  if (!accepted) return;
  for (const key of Object.keys(opts) as Array<keyof Options>) {
    if (opts[key] === undefined || COMMON_FLAGS.includes(key) || accepted.includes(key)) continue;
    if (key === 'tokens-file' && accepted.includes('tokens')) continue; // wherever --tokens is
    throw new UserError(`mechlens ${command} does not use --${key}${accepted.length ? ` (it takes ${accepted.map((f) => `--${f}`).join(', ')})` : ''}.`);
  }
}

/** Longest prompt file read (the engine refuses longer prompts anyway: 1,000,000 characters or ids). */
const MAX_PROMPT_FILE_BYTES = 8 * MiB;

/**
 * --prompt-file / --clean-file / --corrupted-file / --tokens-file: the text from a file or, for "-",
 * standard input (long prompts do not fit a command line). The text becomes --prompt / --clean /
 * --corrupted / --tokens.
 */
async function readPromptFiles(opts: Options): Promise<void> {
  const pairs = [
    ['prompt', 'prompt-file'],
    ['clean', 'clean-file'],
    ['corrupted', 'corrupted-file'],
    ['tokens', 'tokens-file'],
  ] as const;
  let stdinUsed = false;
  for (const [textFlag, fileFlag] of pairs) {
    const file = opts[fileFlag];
    if (file === undefined) continue;
    if (opts[textFlag] !== undefined) throw new UserError(`Give either --${textFlag} or --${fileFlag}, not both.`);
    if (file === '-') {
      if (stdinUsed) throw new UserError('Only one of the prompt files can be standard input (-).');
      stdinUsed = true;
      opts[textFlag] = await readStdin(`--${fileFlag} -`, MAX_PROMPT_FILE_BYTES);
    } else {
      opts[textFlag] = readTextFile(file, `--${fileFlag}`, MAX_PROMPT_FILE_BYTES);
    }
  }
}

async function readStdin(what: string, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += b.length;
    if (total > maxBytes) throw new UserError(`${what}: standard input is longer than ${maxBytes / MiB} MiB.`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function required(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw new UserError(`Missing ${what}.`);
  return v;
}

function integer(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${what}: "${s}" is not a non-negative integer.`);
  return n;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

// `mechlens ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // UserError from the engine, bad-input from the registry's params check, or a command line parseArgs
    // refused (unknown option, missing value): all the user's to fix, exit code 2, one line.
    const parseError = e instanceof TypeError && String((e as NodeJS.ErrnoException).code ?? '').startsWith('ERR_PARSE_ARGS');
    const userFacing = (e instanceof Error && 'userFacing' in e) || (e instanceof RpcError && e.code === 'bad-input') || parseError;
    const message = e instanceof Error ? e.message : String(e);
    // parseArgs puts its hint on later lines ("use '--lr=-XYZ'"): joined into the one line.
    const line = parseError ? message.split('\n').join(' ') : message.split('\n')[0];
    process.stderr.write(`mechlens: ${userFacing ? line : `internal error: ${e instanceof Error ? (e.stack ?? message) : message}`}\n`);
    process.exitCode = userFacing ? 2 : 1;
  },
);
