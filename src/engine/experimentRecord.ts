// An experiment file's record of a finished analysis, and the model folder's content hash it holds
// (sha256 over the config, tokenizer and weight files). Node only, no onnxruntime: the extension host
// saves experiments with it too (the causal panel), the engine through makeExperiment.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UserError } from './errors';
import { MiB } from './files';
import type { AnalysisName, AnalysisParams, AnalysisResults } from '../shared/analyses';
import { EXPERIMENT_VERSION, toJsonData } from '../shared/experiment';
import type { Experiment } from '../shared/experiment';

/** What identifies a model's behaviour: its config, tokenizer and weights (not its README or eval files). */
function hashedFiles(dir: string): string[] {
  const names = readdirSync(dir).filter((n) => n === 'config.json' || n === 'tokenizer.json' || n === 'tokenizer_config.json' || n.endsWith('.safetensors') || n.endsWith('.safetensors.index.json'));
  if (!names.includes('config.json')) throw new UserError(`${dir} is not a model folder (no config.json).`);
  return names.sort();
}

/** sha256 over the model folder's config, tokenizer and weight files (names, sizes and bytes, in name order). */
export function modelHash(dir: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (const name of hashedFiles(dir)) {
    const path = join(dir, name);
    h.update(`${name}\0${statSync(path).size}\0`);
    const fd = openSync(path, 'r');
    try {
      for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) h.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  }
  return h.digest('hex');
}

/** An experiment of a finished analysis, its model folder written relative to the file's folder when it lies below it. */
export function experimentRecord<K extends AnalysisName>(model: { dir: string; name: string }, analysis: K, params: AnalysisParams<K>, results: AnalysisResults[K] | undefined, options: { file: string; randomInit?: number; note?: string }): Experiment {
  const dir = resolve(model.dir);
  const rel = relative(dirname(resolve(options.file)), dir);
  return {
    mechlens_experiment: EXPERIMENT_VERSION,
    model: { dir: rel.startsWith('..') || isAbsolute(rel) ? dir : rel.split(sep).join('/') || '.', sha256: modelHash(dir), name: model.name.replace(/ \(random init, seed \d+\)$/, '') },
    analysis,
    params: toJsonData(params) as Record<string, unknown>,
    ...(options.randomInit !== undefined ? { random_init: options.randomInit } : {}),
    ...(results !== undefined ? { results: toJsonData(results) } : {}),
    ...(options.note !== undefined ? { note: options.note } : {}),
  };
}
