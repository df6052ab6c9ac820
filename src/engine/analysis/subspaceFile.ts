// A learned DAS subspace on disk (issue #16): safetensors + JSON, and a steering interventions file. Node
// only, no onnxruntime: the CLI (mechlens das --out) and the extension host (the causal panel's Save
// Subspace) both write it; IIA sites and the host's "add a saved subspace" read it.
import { existsSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../errors';
import { MiB, readJsonFile } from '../files';
import { readSafetensorsHeader, readTensorF32 } from '../checkpoint/safetensors';
import { writeSafetensors } from '../checkpoint/safetensorsWriter';
import { orthogonalityError } from '../../shared/subspace';
import type { DasResult, Hypothesis, SubspaceFile } from '../../shared/causal';

/**
 * Writes a learned subspace: PREFIX.safetensors (`rotation` [dim, rank], F32) and PREFIX.json (site,
 * variable, hypothesis, rank, held-out IIA, model). A site on a residual-width hook also gets
 * PREFIX.steer.json: an `add` intervention along the first direction, scaled by the training pairs' RMS
 * difference there, for `mechlens run|generate --interventions`. Returns the files written.
 */
export function saveSubspace(prefix: string, r: DasResult, hypothesis: Hypothesis, model: { name: string; sha256?: string; dModel: number }): string[] {
  const base = prefix.replace(/\.(safetensors|json)$/, '');
  const files = [`${base}.safetensors`, `${base}.json`];
  writeSafetensors(files[0]!, { rotation: { dtype: 'F32', shape: [r.site.dim, r.rank], data: r.trained.rotation } }, { format: 'pt', mechlens: 'das-subspace' });
  const meta: SubspaceFile = { mechlens_subspace: 1, site: r.site, variable: r.variable, hypothesis, rank: r.rank, test_iia: r.trained.testIia, model: { name: model.name, ...(model.sha256 ? { sha256: model.sha256 } : {}) } };
  writeFileSync(files[1]!, `${JSON.stringify(meta, null, 2)}\n`);
  if (!r.site.heads && r.site.dim === model.dModel) {
    const vector = Array.from({ length: r.site.dim }, (_, i) => r.trained.rotation[i * r.rank]!);
    const steer = [{ kind: 'add', hook: r.site.hook, positions: r.site.positions, vector, scale: r.trained.deltaRms[0]! }];
    files.push(`${base}.steer.json`);
    writeFileSync(files[2]!, `${JSON.stringify(steer)}\n`);
  }
  return files;
}

export interface LoadedSubspace {
  /** [dim, rank] row-major. */
  rotation: Float32Array;
  dim: number;
  rank: number;
  /** ‖RᵀR − I‖ of the rotation as stored. */
  orthogonality: number;
  /** PREFIX.json when it is there and well-formed enough to name a site. */
  meta?: SubspaceFile;
  /** The scale of PREFIX.steer.json's first intervention (the training pairs' RMS along direction 1), when there. */
  steerScale?: number;
}

/**
 * Reads a saved subspace: PREFIX.safetensors's `rotation` [dim, rank] (finite, rank <= dim) and what PREFIX.json
 * and PREFIX.steer.json beside it say. Every problem is a UserError naming the file.
 */
export function readSubspaceFile(file: string): LoadedSubspace {
  const name = basename(file);
  const t = readSafetensorsHeader(file).tensors.get('rotation');
  if (!t) throw new UserError(`${name} has no "rotation" tensor (a subspace file written by mechlens das --out holds rotation [dim, rank]).`);
  if (t.shape.length !== 2 || t.shape[1]! < 1) throw new UserError(`${name}'s rotation has shape [${t.shape.join(', ')}]; expected [dim, rank].`);
  const [dim, rank] = t.shape as [number, number];
  if (rank > dim) throw new UserError(`${name}'s rotation is [${dim}, ${rank}]: rank ${rank} exceeds the dimension ${dim} (transposed?).`);
  const rotation = readTensorF32(t);
  if (!rotation.every(Number.isFinite)) throw new UserError(`${name}'s rotation holds values that are not finite numbers.`);
  const out: LoadedSubspace = { rotation, dim, rank, orthogonality: orthogonalityError(rotation, dim, rank) };
  const base = file.replace(/\.safetensors$/, '');
  if (existsSync(`${base}.json`)) {
    const m = readJsonFile(`${base}.json`, basename(`${base}.json`), 64 * MiB) as Partial<SubspaceFile> | null;
    const site = m?.site;
    if (m && m.mechlens_subspace === 1 && site && typeof site.hook === 'string' && Array.isArray(site.positions)) {
      if (site.dim !== undefined && site.dim !== dim) throw new UserError(`${basename(`${base}.json`)} says the site has ${site.dim} values per position but ${name}'s rotation has ${dim} rows: the two files do not belong together.`);
      out.meta = m as SubspaceFile;
    }
  }
  if (existsSync(`${base}.steer.json`)) {
    const steer = readJsonFile(`${base}.steer.json`, basename(`${base}.steer.json`), 64 * MiB) as Array<{ scale?: unknown }> | null;
    const scale = Array.isArray(steer) ? steer[0]?.scale : undefined;
    if (typeof scale === 'number' && Number.isFinite(scale)) out.steerScale = scale;
  }
  return out;
}
