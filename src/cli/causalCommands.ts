// `mechlens iia`, `mechlens das`, `mechlens probe`: causal abstraction (issue #16) through the registry's
// `iia`, `das` and `probe` analyses; main.ts adds them to COMMANDS, their flags to FLAGS and COMMAND_FLAGS.
// A hypothesis is a JSON file (format: src/shared/causal.ts, docs in the README); --site/--positions/--heads
// and --subspace override the chosen variable's site from the command line.
import { UserError } from '../engine/errors';
import { runAnalysis } from '../engine/analysis/registry';
import { saveSubspace } from '../engine/analysis/subspaceFile';
import { modelHash } from '../engine/experimentRecord';
import { MiB, checkOutputPath, readJsonFile, readTextFile } from '../engine/files';
import type { Model } from '../engine/model';
import { PROBE_METHODS, hypothesisSchema } from '../shared/causal';
import type { DasRun, Hypothesis, ProbeMethod, Site } from '../shared/causal';

export const CAUSAL_USAGE = `  mechlens iia      --model DIR (--hypothesis FILE | --pairs FILE) [--variable NAME[,NAME...]] [--site HOOK [--positions P,...] [--heads H,...]]
                    [--subspace FILE] [--random-labels] [--sweep 'blocks.{l}.hook_resid_post'] [--json]
                    interchange interventions: how often the run with each variable's site taken from its source
                    prompt gives the hypothesis' counterfactual output (IIA); --sweep: IIA of the variable's site
                    at every layer x position of a hook; --pairs: a counterfactual-pair file (JSON list or lines of
                    {"base", "source", "label"}), the variable's site from --site
  mechlens das      --model DIR (--hypothesis FILE | --pairs FILE) --rank K [--variable NAME] [--site HOOK [--positions P,...] [--heads H,...]]
                    [--epochs N] [--batch-size N] [--lr X] [--seed S] [--no-controls] [--out PREFIX] [--json]
                    distributed alignment search: a rank-K subspace of the site trained (Adam, seeded) so that
                    interchanging it gives the counterfactual output; held-out IIA beside the controls (random labels,
                    random-init model); --out writes PREFIX.safetensors + PREFIX.json (+ PREFIX.steer.json)
  mechlens probe    --model DIR (--prompts FILE | --hypothesis FILE --label-slot SLOT) [--hook 'blocks.{l}.hook_resid_post']
                    [--layers L,...] [--positions P,...] [--method least_squares|logistic] [--seed S] [--json]
                    linear probes per layer x position, held-out accuracy beside the causal effect of projecting the
                    probe's directions out (and of a random subspace of the same rank)
                    (positions: negative counts from the end; write a list starting with one as --positions=-1,1)
`;

export const CAUSAL_FLAGS = {
  hypothesis: { type: 'string' },
  pairs: { type: 'string' },
  variable: { type: 'string' },
  site: { type: 'string' },
  heads: { type: 'string' },
  subspace: { type: 'string' },
  'random-labels': { type: 'boolean' },
  rank: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  'no-controls': { type: 'boolean' },
  prompts: { type: 'string' },
  'label-slot': { type: 'string' },
  hook: { type: 'string' },
  layers: { type: 'string' },
} as const;

export const CAUSAL_COMMAND_FLAGS = {
  iia: ['hypothesis', 'pairs', 'variable', 'site', 'positions', 'heads', 'subspace', 'random-labels', 'sweep'],
  das: ['hypothesis', 'pairs', 'variable', 'site', 'positions', 'heads', 'rank', 'epochs', 'batch-size', 'lr', 'seed', 'no-controls', 'out'],
  probe: ['prompts', 'hypothesis', 'label-slot', 'hook', 'layers', 'positions', 'method', 'seed'],
} as const;

export interface CausalFlags {
  hypothesis?: string;
  pairs?: string;
  variable?: string;
  site?: string;
  positions?: string;
  heads?: string;
  subspace?: string;
  'random-labels'?: boolean;
  sweep?: string;
  rank?: string;
  epochs?: string;
  'batch-size'?: string;
  lr?: string;
  seed?: string;
  'no-controls'?: boolean;
  out?: string;
  prompts?: string;
  'label-slot'?: string;
  hook?: string;
  layers?: string;
  method?: string;
  json?: boolean;
}

function ints(s: string, flag: string, allowNegative = false): number[] {
  return s.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || (!allowNegative && n < 0)) throw new UserError(`--${flag}: "${x}" is not ${allowNegative ? 'an integer' : 'a non-negative integer'}.`);
    return n;
  });
}

function count(s: string | undefined, flag: string, min = 1): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${flag} must be an integer >= ${min} (got "${s}").`);
  return n;
}

function readHypothesis(file: string): Hypothesis {
  return hypothesisSchema.parse(readJsonFile(file, `--hypothesis ${file}`, 256 * MiB), file);
}

/**
 * --hypothesis FILE, or --pairs FILE (a counterfactual-pair file: a JSON list or JSON lines of {"base", "source"
 * or "sources", "label"}) with the variable named by --variable (default X) and its site from --site: the pairs
 * replace a hypothesis file's templates.
 */
function hypothesisOf(opts: CausalFlags): Hypothesis {
  if (opts.pairs === undefined) return readHypothesis(requiredFlag(opts.hypothesis, '--hypothesis FILE or --pairs FILE'));
  const text = readTextFile(opts.pairs, `--pairs ${opts.pairs}`, 256 * MiB);
  let rows: unknown[];
  try {
    const t = text.trim();
    rows = t.startsWith('[') ? (JSON.parse(t) as unknown[]) : t.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
  } catch (e) {
    throw new UserError(`--pairs ${opts.pairs}: not a JSON list or JSON lines (${e instanceof Error ? e.message : String(e)}).`);
  }
  const pairs = rows.map((r) => {
    if (typeof r !== 'object' || r === null) return r;
    const { source, ...rest } = r as Record<string, unknown>;
    return source !== undefined && rest.sources === undefined ? { ...rest, sources: [source] } : r;
  });
  const base = opts.hypothesis !== undefined ? readHypothesis(opts.hypothesis) : undefined;
  const variables = base?.variables ?? [{ name: opts.variable?.split(',')[0] ?? 'X' }];
  return hypothesisSchema.parse({ name: base?.name ?? opts.pairs, variables, pairs }, `--pairs ${opts.pairs}`);
}

/** The hypothesis with the command line's site (or subspace) put on the named variable (default: the first). */
function withSite(h: Hypothesis, opts: CausalFlags): Hypothesis {
  if (opts.site === undefined && opts.subspace === undefined && opts.positions === undefined && opts.heads === undefined) return h;
  const name = opts.variable?.split(',')[0] ?? h.variables[0]!.name;
  const i = h.variables.findIndex((v) => v.name === name);
  if (i < 0) throw new UserError(`Unknown variable "${name}" (the hypothesis has ${h.variables.map((v) => v.name).join(', ')}).`);
  const old = h.variables[i]!.site;
  const hook = opts.site ?? old?.hook;
  if (hook === undefined) throw new UserError(`Variable ${name} has no site in the hypothesis: give --site HOOK.`);
  const site: Site = { ...(opts.site === undefined ? old : {}), hook };
  if (opts.positions !== undefined) site.positions = ints(opts.positions, 'positions', true);
  if (opts.heads !== undefined) site.heads = ints(opts.heads, 'heads');
  if (opts.subspace !== undefined) site.subspace = opts.subspace;
  return { ...h, variables: h.variables.map((v, j) => (j === i ? { ...v, site } : v)) };
}

const pct = (x: number) => (Number.isNaN(x) ? '   n/a' : `${(x * 100).toFixed(1).padStart(5)}%`);

function runJson(r: DasRun): Record<string, unknown> {
  return { train_iia: r.trainIia, test_iia: r.testIia, loss: r.loss, epoch_loss: r.epochLoss, orthogonality: r.orthogonality, steps: r.steps, ms: r.ms, delta_rms: r.deltaRms };
}

export const causalCommands = (): Record<string, (model: Model, opts: CausalFlags) => Promise<void>> => ({
  iia: async (model, opts) => {
    const hypothesis = withSite(hypothesisOf(opts), opts);
    const sweep = opts.sweep !== undefined ? { variable: opts.variable?.split(',')[0] ?? hypothesis.variables[0]!.name, hook: opts.sweep } : undefined;
    const r = await runAnalysis(model, 'iia', { hypothesis, variables: opts.variable?.split(','), randomLabels: opts['random-labels'], sweep }, { onProgress: progress(opts) });
    endProgress(opts);
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ hypothesis: r.hypothesis, variables: r.variables, sites: r.sites, pairs: r.pairs, iia: Number.isNaN(r.iia) ? null : r.iia, chance: r.chance, base_accuracy: r.baseAccuracy ?? null, random_labels: r.randomLabels, examples: r.examples, sweep: r.sweep ?? null })}\n`,
      );
      return;
    }
    const w = (s: string) => process.stdout.write(s);
    w(`${r.hypothesis}: ${r.pairs} pairs${r.randomLabels ? ' (labels shuffled: the random-label control)' : ''}\n`);
    if (r.baseAccuracy !== undefined) w(`model's output = the hypothesis' output on the bases: ${pct(r.baseAccuracy)}\n`);
    if (r.variables.length) w(`IIA interchanging ${r.variables.join(' + ')} at ${r.sites.map((s) => `${s.hook}[${s.positions.join(',')}]${s.subspaceRank ? ` (subspace rank ${s.subspaceRank})` : ''}`).join(' + ')}: ${pct(r.iia)} (chance ${pct(r.chance)})\n`);
    if (r.sweep) {
      w(`IIA of ${r.sweep.variable} by layer x position (${r.sweep.hook}):\n${''.padEnd(6)}${r.sweep.tokens.map((t) => JSON.stringify(t).slice(0, 7).padStart(8)).join('')}\n`);
      r.sweep.iia.forEach((row, i) => w(`L${r.sweep!.layers[i]}`.padEnd(6) + row.map((v) => (v * 100).toFixed(0).padStart(8)).join('') + '\n'));
    }
  },
  das: async (model, opts) => {
    const hypothesis = withSite(hypothesisOf(opts), opts);
    const rank = count(requiredFlag(opts.rank, '--rank K'), 'rank')!;
    if (opts.out !== undefined) checkOutputPath(`${opts.out.replace(/\.(safetensors|json)$/, '')}.json`, '--out');
    let lr: number | undefined;
    if (opts.lr !== undefined) {
      lr = Number(opts.lr);
      if (!Number.isFinite(lr) || lr <= 0) throw new UserError(`--lr must be a positive number (got "${opts.lr}").`);
    }
    const r = await runAnalysis(
      model,
      'das',
      { hypothesis, variable: opts.variable, rank, epochs: count(opts.epochs, 'epochs'), batchSize: count(opts['batch-size'], 'batch-size'), lr, seed: count(opts.seed, 'seed', 0), controls: !opts['no-controls'] },
      { onProgress: progress(opts) },
    );
    endProgress(opts);
    let files: string[] | undefined;
    if (opts.out !== undefined) {
      let sha256: string | undefined;
      try {
        sha256 = modelHash(model.info.dir);
      } catch {
        sha256 = undefined; // a model with no folder (random init): the name says which
      }
      files = saveSubspace(opts.out, r, hypothesis, { name: model.info.name, sha256, dModel: model.config.dModel });
    }
    if (opts.json) {
      const controls = r.controls ? { random_labels: runJson(r.controls.randomLabels), random_init: { ...runJson(r.controls.randomInit), seed: r.controls.randomInit.seed } } : null;
      process.stdout.write(
        `${JSON.stringify({ hypothesis: r.hypothesis, variable: r.variable, site: r.site, rank: r.rank, site_dim: r.site.dim, n_train: r.nTrain, n_test: r.nTest, chance: r.chance, trained: runJson(r.trained), controls, verdict: r.verdict, files: files ?? null })}\n`,
      );
      return;
    }
    const w = (s: string) => process.stdout.write(s);
    w(`DAS for ${r.variable} at ${r.site.hook}[${r.site.positions.join(',')}]${r.site.heads ? ` heads ${r.site.heads.join(',')}` : ''}: rank ${r.rank} of ${r.site.dim}; ${r.nTrain} train / ${r.nTest} held-out pairs\n`);
    w(`${'run'.padEnd(20)}${'held-out IIA'.padStart(14)}${'train IIA'.padStart(11)}${'final loss'.padStart(12)}${'|RtR-I|'.padStart(10)}\n`);
    const row = (name: string, x: DasRun) => w(`${name.padEnd(20)}${pct(x.testIia).padStart(14)}${pct(x.trainIia).padStart(11)}${x.loss.at(-1)!.toFixed(3).padStart(12)}${x.orthogonality.toExponential(1).padStart(10)}\n`);
    row('trained model', r.trained);
    if (r.controls) {
      row('random labels', r.controls.randomLabels);
      row(`random init (${r.controls.randomInit.seed})`, r.controls.randomInit);
    }
    w(`chance ${pct(r.chance)}. ${r.verdict}\n`);
    if (files) w(`wrote ${files.join(', ')}\n`);
  },
  probe: async (model, opts) => {
    let method: ProbeMethod | undefined;
    if (opts.method !== undefined) {
      if (!(PROBE_METHODS as readonly string[]).includes(opts.method)) throw new UserError(`--method must be ${PROBE_METHODS.join(' or ')} (got "${opts.method}").`);
      method = opts.method as ProbeMethod;
    }
    let prompts: Array<{ text: string; label: string; target?: string }> | undefined;
    if (opts.prompts !== undefined) {
      const v = readJsonFile(opts.prompts, `--prompts ${opts.prompts}`, 256 * MiB);
      if (!Array.isArray(v)) throw new UserError(`--prompts ${opts.prompts}: expected a JSON list of {"text": ..., "label": ..., "target"?: ...}.`);
      prompts = v as typeof prompts;
    }
    const r = await runAnalysis(
      model,
      'probe',
      {
        prompts,
        hypothesis: opts.hypothesis !== undefined ? readHypothesis(opts.hypothesis) : undefined,
        labelSlot: opts['label-slot'],
        hook: opts.hook,
        layers: opts.layers !== undefined ? ints(opts.layers, 'layers') : undefined,
        positions: opts.positions !== undefined ? ints(opts.positions, 'positions', true) : undefined,
        method,
        seed: count(opts.seed, 'seed', 0),
      },
      { onProgress: progress(opts) },
    );
    endProgress(opts);
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ hook: r.hook, layers: r.layers, positions: r.positions, classes: r.classes, method: r.method, n_train: r.nTrain, n_test: r.nTest, accuracy: r.accuracy, ablation_effect: r.ablationEffect, random_effect: r.randomEffect, task_accuracy: r.taskAccuracy, task_accuracy_ablated: r.taskAccuracyAblated, steer_flip: r.steerFlip, random_steer_flip: r.randomSteerFlip, chance: r.chance })}\n`,
      );
      return;
    }
    const w = (s: string) => process.stdout.write(s);
    w(`${r.method} probes of ${r.classes.length} classes at ${r.hook}; ${r.nTrain} train / ${r.nTest} held-out prompts; majority class ${pct(r.chance)}; task accuracy ${pct(r.taskAccuracy)}\n`);
    w(`${'layer'.padEnd(7)}${'pos'.padStart(5)}${'probe acc'.padStart(11)}${'Δ log p (probe)'.padStart(17)}${'Δ log p (random)'.padStart(18)}${'task acc after'.padStart(16)}${'steered (probe)'.padStart(17)}${'steered (random)'.padStart(18)}\n`);
    r.layers.forEach((l, i) =>
      r.positions.forEach((q, j) =>
        w(`${`L${l}`.padEnd(7)}${String(q).padStart(5)}${pct(r.accuracy[i]![j]!).padStart(11)}${r.ablationEffect[i]![j]!.toFixed(3).padStart(17)}${r.randomEffect[i]![j]!.toFixed(3).padStart(18)}${pct(r.taskAccuracyAblated[i]![j]!).padStart(16)}${pct(r.steerFlip[i]![j]!).padStart(17)}${pct(r.randomSteerFlip[i]![j]!).padStart(18)}\n`),
      ),
    );
  },
});

function requiredFlag(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw new UserError(`Missing ${what}.`);
  return v;
}

function progress(opts: CausalFlags): (message: string) => void {
  let last = 0;
  return (message) => {
    if (opts.json) return;
    const now = Date.now();
    if (now - last < 200) return;
    last = now;
    process.stderr.write(`\r${message.padEnd(60)}`);
  };
}

function endProgress(opts: CausalFlags): void {
  if (!opts.json) process.stderr.write(`\r${''.padEnd(60)}\r`);
}
