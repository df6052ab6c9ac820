// Experiment files (`*.mlexp.json`): one analysis, saved so it can be re-run, shared and diffed. A file
// holds the model (its folder and a content hash), the analysis by its registry name with its params
// (prompts and interventions included: they are params of the analyses that take them), an optional
// random-init seed, and the results last computed. Written with sorted keys, two-space indentation and
// float32 values in their shortest exact form, so a re-run that changes nothing changes no byte and a
// changed result is a readable diff.
// Runtime-agnostic: no vscode, node or DOM imports.
import { ANALYSIS_NAMES, ANALYSIS_PARAMS } from './analyses';
import type { AnalysisName } from './analyses';
import { badInput } from './schema';

export const EXPERIMENT_VERSION = 1;
export const EXPERIMENT_SUFFIX = '.mlexp.json';

export interface Experiment {
  /** Schema version (EXPERIMENT_VERSION). */
  mechlens_experiment: number;
  model: {
    /** The model folder: relative to the experiment file's folder, absolute, or a hub id ORG/NAME[@REV]. */
    dir: string;
    /** sha256 over the folder's config, tokenizer and weight files (see modelHash in the engine). */
    sha256: string;
    name?: string;
  };
  analysis: AnalysisName;
  params: Record<string, unknown>;
  /** Run on the architecture with re-initialised weights (the random-init control) with this seed. */
  random_init?: number;
  /** The results last computed (typed arrays as lists), absent until the first run. */
  results?: unknown;
  /** Free text for the reader. */
  note?: string;
}

const KEYS = new Set(['mechlens_experiment', 'model', 'analysis', 'params', 'random_init', 'results', 'note']);

/** Parses and checks an experiment file's text; every problem is bad-input naming `where` (the file). */
export function parseExperiment(text: string, where: string): Experiment {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return badInput(`${where} is not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return badInput(`${where} is not an experiment file (expected a JSON object).`);
  const r = v as Record<string, unknown>;
  const version = r.mechlens_experiment;
  if (version === undefined) return badInput(`${where} is not an experiment file: it has no "mechlens_experiment" version field.`);
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) return badInput(`${where}: "mechlens_experiment" must be a schema version number (got ${JSON.stringify(version)}).`);
  if (version > EXPERIMENT_VERSION) return badInput(`${where} was written by a newer MechLens (experiment schema version ${version}; this one reads up to ${EXPERIMENT_VERSION}). Update MechLens to run it.`);
  for (const k of Object.keys(r)) if (!KEYS.has(k)) badInput(`${where}: unknown field "${k}" (fields: ${[...KEYS].join(', ')}).`);
  const m = r.model as Record<string, unknown> | undefined;
  if (typeof m !== 'object' || m === null || typeof m.dir !== 'string' || m.dir.length === 0 || typeof m.sha256 !== 'string') {
    return badInput(`${where}: "model" must be {"dir": "...", "sha256": "..."}.`);
  }
  if (typeof r.analysis !== 'string' || !(ANALYSIS_NAMES as readonly string[]).includes(r.analysis)) {
    return badInput(`${where}: analysis ${JSON.stringify(r.analysis)} is not one this MechLens knows (${ANALYSIS_NAMES.join(', ')}); the file may be stale.`);
  }
  const name = r.analysis as AnalysisName;
  // The registry's own schema: a stale file (a renamed or removed param) is refused naming the field.
  ANALYSIS_PARAMS[name].parse(r.params, `${where}: params`);
  if (r.random_init !== undefined && (typeof r.random_init !== 'number' || !Number.isInteger(r.random_init) || r.random_init < 0)) badInput(`${where}: "random_init" must be a non-negative integer seed.`);
  if (r.note !== undefined && typeof r.note !== 'string') badInput(`${where}: "note" must be a string.`);
  return r as unknown as Experiment;
}

/** The shortest decimal that reads back as the same float32 (Float32Array values print 17 digits otherwise). */
function shortFloat32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 1; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return Number(x.toPrecision(9));
}

/** A value as plain JSON data: typed arrays as lists (float32 in shortest form), Maps as objects. */
export function toJsonData(v: unknown): unknown {
  if (v instanceof Float32Array) return Array.from(v, shortFloat32);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? Number(x) : x));
  if (v instanceof Map) return toJsonData(Object.fromEntries(v));
  if (Array.isArray(v)) return v.map(toJsonData);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, toJsonData(x)]));
  return v;
}

/** Keys sorted at every level (JSON.stringify keeps insertion order, which would make diffs noisy). */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

/** The file's text: sorted keys, two spaces, number lists one per line only when nested (short rows stay on a line). */
export function serializeExperiment(e: Experiment): string {
  const data = sortKeys(toJsonData(e));
  const text = JSON.stringify(data, null, 2);
  // Lists of numbers on one line each: a sweep's row per line diffs well; one number per line does not.
  return `${text.replace(/\[\s*\n\s*(-?[\d.eE+-]+(?:,\s*\n\s*-?[\d.eE+-]+)*)\s*\n\s*\]/g, (_, body: string) => `[${body.split(/,\s*\n\s*/).join(', ')}]`)}\n`;
}

/** Saved and new results: whether their structure is equal, and the largest difference between corresponding numbers. */
export function compareResults(a: unknown, b: unknown): { sameShape: boolean; maxAbsDiff: number } {
  let same = true;
  let worst = 0;
  const walk = (x: unknown, y: unknown) => {
    if (typeof x === 'number' && typeof y === 'number') worst = Math.max(worst, Number.isNaN(x) && Number.isNaN(y) ? 0 : Math.abs(x - y));
    else if (Array.isArray(x) && Array.isArray(y) && x.length === y.length) x.forEach((v, i) => walk(v, y[i]));
    else if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y)) {
      const kx = Object.keys(x).sort();
      const ky = Object.keys(y).sort();
      if (kx.join('\0') !== ky.join('\0')) same = false;
      for (const k of kx) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]);
    } else if (x !== y) same = false;
  };
  walk(a, b);
  return { sameShape: same, maxAbsDiff: worst };
}
