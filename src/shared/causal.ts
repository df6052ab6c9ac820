// Causal abstraction (issue #16): hypotheses, interchange interventions and their accuracy (IIA),
// distributed alignment search (DAS) and probes checked by intervention. Params schemas and result
// types shared by the engine, the worker, the CLI, saved experiments and the causal view; registered by
// name in analyses.ts (`iia`, `das`, `probe`).
//
// A hypothesis is a small high-level causal model over prompts: the prompts come from templates with
// slots ("When {IO} and {S} went to the store, {S} gave the drink to"), the output is a template over the
// slots (" {IO}"), and each high-level variable is a slot, aligned with a site in the network (a hook,
// positions, optionally heads or a saved subspace). Interchanging a variable sets it to its value in a
// source prompt: the high-level model's counterfactual output is the output template with that slot taken
// from the source; the network's counterfactual is the base run with the site's value taken from the
// source run. Or the pairs are given directly (base, one source per variable, the counterfactual label).
// Runtime-agnostic: no vscode, node or DOM imports.
import type { TokenizedPrompt } from './modelInfo';
import { badInput, boolean, finiteNumber, integer, list, object, oneOf, optional, refine, string } from './schema';
import type { Infer, Schema } from './schema';

const MAX_TEXT = 100_000;
const MAX_ITEMS = 100_000;

/** A map from names to lists of strings (a template's slot values). */
function stringLists(maxKeys: number): Schema<Record<string, string[]>> {
  const values = list(string(MAX_TEXT), MAX_ITEMS);
  return {
    parse(v, where) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return badInput(`${where} must be an object of lists of strings`);
      const keys = Object.keys(v);
      if (keys.length > maxKeys) badInput(`${where} has more than ${maxKeys} slots`);
      return Object.fromEntries(keys.map((k) => [k, values.parse((v as Record<string, unknown>)[k], `${where}.${k}`)]));
    },
  };
}

/**
 * Where a variable lives in the network: a hook, positions (negative: from the end, -1 = the last token;
 * default every position) and, on hooks with a head axis, heads (default all). `subspace`: a saved DAS
 * subspace file (safetensors, written by `mechlens das --out`); then only that subspace is interchanged.
 */
export const siteSchema = object({
  hook: string(200),
  positions: optional(list(integer(-1_000_000, 1_000_000, 'a position (negative counts from the end)'), 100_000)),
  heads: optional(list(integer(0, 100_000), 100_000)),
  subspace: optional(string(4096)),
});
export type Site = Infer<typeof siteSchema>;

export const variableSchema = object({
  name: string(200, /^\S.*$/, 'a non-empty name'),
  /** The template slot this variable is (default: the slot of the same name). */
  slot: optional(string(200)),
  site: optional(siteSchema),
});

const pairSchema = object({
  base: string(MAX_TEXT),
  /** One source prompt per interchanged variable, in the order of `variables`. */
  sources: list(string(MAX_TEXT), 1000),
  /** The high-level model's counterfactual output (a single token's text, e.g. " Mary"). */
  label: string(1000),
  /** The output on the base itself (optional: the base accuracy is reported when given). */
  baseLabel: optional(string(1000)),
});

export const hypothesisSchema = refine(
  object({
    name: optional(string(200)),
    /** Prompt templates with {SLOT} placeholders; a pair's base and sources share one template. */
    templates: optional(list(string(MAX_TEXT), 1000)),
    slots: optional(stringLists(100)),
    /** The output as a template over the slots, e.g. " {IO}". */
    output: optional(string(1000)),
    /** Slot values within one prompt are distinct (default true). */
    distinct: optional(boolean),
    /** Pairs generated from the templates (default 200). */
    n: optional(integer(1, 1_000_000)),
    seed: optional(integer(0, 2 ** 31)),
    /** Counterfactual pairs given directly instead of templates. */
    pairs: optional(list(pairSchema, 1_000_000)),
    variables: list(variableSchema, 100),
  }),
  (h, where) => {
    if (h.variables.length === 0) badInput(`${where}: variables must name at least one high-level variable`);
    if ((h.pairs === undefined) === (h.templates === undefined)) badInput(`${where}: give either templates (with slots and output) or pairs`);
    if (h.templates && (h.slots === undefined || h.output === undefined)) badInput(`${where}: templates need slots and an output template`);
  },
);
export type Hypothesis = Infer<typeof hypothesisSchema>;

/** Interchange interventions: IIA of the hypothesis, optionally swept over layers x positions for one variable. */
export const iiaParams = object({
  hypothesis: hypothesisSchema,
  /** The variables interchanged together (each from its own source; default: every variable with a site). */
  variables: optional(list(string(200), 100)),
  /** Labels shuffled across pairs (the random-label control). */
  randomLabels: optional(boolean),
  /** IIA of `variable` with its site moved over every layer x position of a hook template ("blocks.{l}.hook_resid_post"). */
  sweep: optional(object({ variable: string(200), hook: string(200, /\{l\}/, 'a hook name with {l} for the layer'), layers: optional(list(integer(0, 10_000), 10_000)) })),
});
export type IiaParams = Infer<typeof iiaParams>;

export const dasParams = object({
  hypothesis: hypothesisSchema,
  /** The variable to align (default: the first); its site is where the subspace is learned. */
  variable: optional(string(200)),
  /** Dimension of the learned subspace (1 .. the site's dimension). */
  rank: integer(1, 1_000_000),
  epochs: optional(integer(1, 10_000)),
  batchSize: optional(integer(1, 4096)),
  lr: optional(refine(finiteNumber(0, 10), (v, where) => v > 0 || badInput(`${where} must be above 0`))),
  /** Share of the pairs trained on; the rest are held out for the reported IIA (default 0.8). */
  trainFraction: optional(refine(finiteNumber(0, 1), (v, where) => (v > 0 && v < 1) || badInput(`${where} must be between 0 and 1`))),
  seed: optional(integer(0, 2 ** 31)),
  /** Run the controls (random-label hypothesis, random-init model) beside it (default true). */
  controls: optional(boolean),
});
export type DasParams = Infer<typeof dasParams>;

export const PROBE_METHODS = ['least_squares', 'logistic'] as const;
export type ProbeMethod = (typeof PROBE_METHODS)[number];

export const probeParams = object({
  /** Labelled prompts: the probe's label and, optionally, the answer token whose log-probability the causal check reads. */
  prompts: optional(list(object({ text: string(MAX_TEXT), label: string(1000), target: optional(string(1000)) }), 1_000_000)),
  /** Or: the base prompts of a hypothesis, labelled by a slot's value, the target being the hypothesis' output. */
  hypothesis: optional(hypothesisSchema),
  labelSlot: optional(string(200)),
  /** Hook template with {l} (default blocks.{l}.hook_resid_post). */
  hook: optional(string(200, /\{l\}/, 'a hook name with {l} for the layer')),
  layers: optional(list(integer(0, 10_000), 10_000)),
  /** Positions probed (default [-1], the last token; negative counts from the end). */
  positions: optional(list(integer(-1_000_000, 1_000_000), 10_000)),
  method: optional(oneOf(PROBE_METHODS)),
  trainFraction: optional(refine(finiteNumber(0, 1), (v, where) => (v > 0 && v < 1) || badInput(`${where} must be between 0 and 1`))),
  seed: optional(integer(0, 2 ** 31)),
});
export type ProbeParams = Infer<typeof probeParams>;

/** A site as resolved on the prompts: absolute positions, the dimension interchanged per position. */
export interface ResolvedSite {
  hook: string;
  positions: number[];
  heads?: number[];
  /** Values per position: the hook's last dim, or heads x d_head. */
  dim: number;
  /** Rank of a saved subspace interchanged instead of the whole site. */
  subspaceRank?: number;
}

export interface IiaResult {
  hypothesis: string;
  variables: string[];
  sites: ResolvedSite[];
  pairs: number;
  /** Share of pairs where the intervened run's top token is the high-level counterfactual output. */
  iia: number;
  /** 1 / the number of distinct counterfactual labels: what guessing among them scores. */
  chance: number;
  /** Share of bases whose own top token is the high-level output on the base (when known). */
  baseAccuracy?: number;
  randomLabels: boolean;
  /** The first pairs, for reading: prompts, expected and predicted tokens. */
  examples: Array<{ base: string; sources: string[]; label: string; predicted: string; ok: boolean }>;
  /** IIA with the variable's site at each layer x position (params.sweep). */
  sweep?: { variable: string; hook: string; layers: number[]; tokens: string[]; iia: number[][] };
  prompt: TokenizedPrompt;
}

export interface DasRun {
  trainIia: number;
  testIia: number;
  /** Cross-entropy of the counterfactual label per training step. */
  loss: number[];
  /** Mean loss per epoch. */
  epochLoss: number[];
  /** Frobenius norm of R^T R - I of the returned (float32) rotation. */
  orthogonality: number;
  /** The learned subspace: [dim, rank] row-major, orthonormal columns. */
  rotation: Float32Array;
  /** Root mean square of R^T (h_source - h_base) per column over the training pairs (a steering scale). */
  deltaRms: number[];
  steps: number;
  ms: number;
}

export interface DasResult {
  hypothesis: string;
  variable: string;
  site: ResolvedSite;
  rank: number;
  nTrain: number;
  nTest: number;
  chance: number;
  trained: DasRun;
  /** The same search on a random-label hypothesis and on a random-init model of the same architecture. */
  controls?: { randomLabels: DasRun; randomInit: DasRun & { seed: number } };
  /** What the result supports, in words (a result without controls is not a finding). */
  verdict: string;
  prompt: TokenizedPrompt;
}

export interface ProbeResult {
  hook: string;
  layers: number[];
  positions: number[];
  tokens: string[];
  classes: string[];
  method: ProbeMethod;
  nTrain: number;
  nTest: number;
  /** Held-out probe accuracy, [layer][position]. */
  accuracy: number[][];
  /** Mean change of log p(target) when the probe's subspace is projected out there, [layer][position]. */
  ablationEffect: number[][];
  /** The same for a random subspace of the same rank (the control). */
  randomEffect: number[][];
  /** Share of prompts whose top token is the target, before and after projecting out, [layer][position]. */
  taskAccuracy: number;
  taskAccuracyAblated: number[][];
  /**
   * Adding: the share of held-out prompts whose answer becomes another class's answer when the activation's
   * component in the probe's subspace is moved from its class's mean to that class's mean, [layer][position];
   * `randomSteerFlip`: the same move in a random subspace of the same rank.
   */
  steerFlip: number[][];
  randomSteerFlip: number[][];
  chance: number;
}

/** The JSON written beside a saved subspace (`<name>.safetensors` holds `rotation` [dim, rank]). */
export interface SubspaceFile {
  mechlens_subspace: 1;
  site: ResolvedSite;
  variable: string;
  hypothesis: Hypothesis;
  rank: number;
  test_iia: number;
  model: { name: string; sha256?: string };
}

/** Names for the example hypothesis (those the model's tokenizer writes as one token are used). */
export const EXAMPLE_NAMES = ['Mary', 'John', 'Alice', 'Bob', 'Tom', 'Anna', 'Sarah', 'David', 'James', 'Emma', 'Lucy', 'Mark'];

/** A starting hypothesis for a model: IOI over common names, the site after the last layer at the last token. */
export function exampleHypothesis(nLayers: number, names = EXAMPLE_NAMES): Hypothesis {
  return {
    name: 'IOI indirect object',
    templates: ['When {IO} and {S} went to the store, {S} gave the drink to'],
    slots: { IO: names, S: names },
    output: ' {IO}',
    n: 100,
    seed: 1,
    variables: [{ name: 'IO', site: { hook: `blocks.${nLayers - 1}.hook_resid_post`, positions: [-1] } }],
  };
}
