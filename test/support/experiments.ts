// Writes an experiment file for an analysis and checks the CLI's replay: `mechlens experiment --update` fills
// its results, then a re-run finds them unchanged (what saving an analysis with its params promises).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { cli } from './cli';

export async function assertExperimentReplays(file: string, modelDir: string, analysis: string, params: Record<string, unknown>): Promise<void> {
  writeFileSync(file, JSON.stringify({ mechlens_experiment: 1, model: { dir: modelDir, sha256: '' }, analysis, params }));
  const first = await cli('experiment', file, '--update');
  assert.equal(first.code, 0, first.stderr);
  const again = await cli('experiment', file, '--json');
  assert.equal(again.code, 0, again.stderr);
  const j = JSON.parse(again.stdout) as { results_changed: boolean; max_abs_diff: number };
  assert.equal(j.results_changed, false, `max difference ${j.max_abs_diff}`);
}
