// Running saved experiments (`*.mlexp.json`, format in src/shared/experiment.ts): the model folder's
// content hash, making an experiment from a finished analysis, and re-running one. A re-run whose model
// hash differs from the file's still runs (the user may have re-downloaded the same weights under another
// layout, or be checking a fine-tune) but says so: its results are not the saved ones' to compare with.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors';
import { MiB, readTextFile } from '../files';
import { experimentRecord, modelHash } from '../experimentRecord';
import { Model } from '../model';
import { randomInitModel } from '../randomInit';
import { resolveModelRef } from '../hub/cache';
import { runAnalysis } from './registry';
import type { AnalysisContext } from './registry';
import type { AnalysisName, AnalysisParams, AnalysisResults } from '../../shared/analyses';
import { compareResults, parseExperiment, toJsonData } from '../../shared/experiment';
import type { Experiment } from '../../shared/experiment';

export { modelHash };

/** An experiment of a finished analysis, its model folder written relative to the file's folder when it lies below it. */
export function makeExperiment<K extends AnalysisName>(model: Model, analysis: K, params: AnalysisParams<K>, results: AnalysisResults[K] | undefined, options: { file: string; randomInit?: number; note?: string }): Experiment {
  return experimentRecord(model.info, analysis, params, results, options);
}

export interface ExperimentRun {
  experiment: Experiment;
  /** The model folder as resolved. */
  modelDir: string;
  /** The folder's hash now; differs from experiment.model.sha256 when the model changed. */
  sha256: string;
  modelChanged: boolean;
  /** The new results as JSON data (the form a file stores). */
  results: unknown;
  /** Whether they differ from the file's saved results (undefined when it has none). */
  resultsChanged?: boolean;
  /** Largest absolute difference between numbers of the saved and new results. */
  maxAbsDiff?: number;
}

export function readExperiment(file: string): Experiment {
  return parseExperiment(readTextFile(file, `Experiment file ${file}`, 1024 * MiB), file);
}

/** Re-runs an experiment file: its model (re-initialised when the file says so), its analysis and params. */
export async function runExperiment(file: string, options: { threads?: number } & AnalysisContext = {}): Promise<ExperimentRun> {
  const experiment = readExperiment(file);
  const ref = experiment.model.dir;
  const local = isAbsolute(ref) ? ref : join(dirname(resolve(file)), ref);
  const modelDir = existsSync(local) ? local : resolveModelRef(ref);
  if (!existsSync(modelDir)) throw new UserError(`${file}: the model folder ${ref} does not exist (looked for ${local}). Edit "model.dir" in the file.`);
  const sha256 = modelHash(modelDir);
  let model = await Model.load(modelDir, { threads: options.threads });
  try {
    if (experiment.random_init !== undefined) {
      const random = await randomInitModel(model, experiment.random_init, { threads: options.threads });
      await model.dispose();
      model = random;
    }
    const r = await runAnalysis(model, experiment.analysis, experiment.params, options);
    const results = toJsonData(r);
    const run: ExperimentRun = { experiment, modelDir, sha256, modelChanged: sha256 !== experiment.model.sha256, results };
    if (experiment.results !== undefined) {
      const d = compareResults(experiment.results, results);
      run.maxAbsDiff = d.maxAbsDiff;
      run.resultsChanged = !d.sameShape || d.maxAbsDiff > 0;
    }
    return run;
  } finally {
    await model.dispose();
  }
}
