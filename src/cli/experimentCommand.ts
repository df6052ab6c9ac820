// `mechlens experiment FILE [--json] [--update]`: re-runs a saved experiment (*.mlexp.json), warns when the
// model's content hash differs from the file's, and says whether the results changed; --update writes the
// new results and hash back (also how a hand-written file with only model.dir, analysis and params gets them).
import { writeFileSync } from 'node:fs';
import { runExperiment } from '../engine/analysis/experiment';
import { serializeExperiment } from '../shared/experiment';

export const EXPERIMENT_USAGE = `  mechlens experiment FILE [--json] [--update]
                    re-runs a saved experiment (*.mlexp.json: model folder and hash, analysis, params, results);
                    warns when the model differs from the one saved; --update writes the new results back
`;

export async function experimentCommand(file: string, opts: { json?: boolean; update?: boolean; threads?: number }): Promise<void> {
  const run = await runExperiment(file, {
    threads: opts.threads,
    onProgress: (message, fraction) => {
      if (!opts.json && fraction !== undefined) process.stderr.write(`\r${message} ${(fraction * 100).toFixed(0)}%`);
    },
  });
  if (!opts.json) process.stderr.write('\r');
  const e = run.experiment;
  if (run.modelChanged) {
    process.stderr.write(
      `warning: ${file}: the model in ${run.modelDir} is not the one this experiment was saved with (content hash ${run.sha256.slice(0, 12)}, saved ${e.model.sha256.slice(0, 12) || 'none'}); results may differ for that reason.\n`,
    );
  }
  if (opts.update) writeFileSync(file, serializeExperiment({ ...e, model: { ...e.model, sha256: run.sha256 }, results: run.results }));
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ file, analysis: e.analysis, model_dir: run.modelDir, model_changed: run.modelChanged, results_changed: run.resultsChanged ?? null, max_abs_diff: run.maxAbsDiff ?? null, updated: opts.update === true, results: run.results })}\n`,
    );
  } else {
    const same = run.resultsChanged === undefined ? 'no saved results to compare' : run.resultsChanged ? `results changed (largest difference ${run.maxAbsDiff!.toPrecision(3)})` : 'results identical to the saved ones';
    process.stdout.write(`${file}: ${e.analysis} on ${run.modelDir}${e.random_init !== undefined ? ` (random init, seed ${e.random_init})` : ''}: ${same}${opts.update ? '; file updated' : ''}\n`);
  }
}
