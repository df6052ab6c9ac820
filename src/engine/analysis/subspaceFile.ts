// A learned DAS subspace on disk (issue #16): safetensors + JSON, and a steering interventions file. Node
// only, no onnxruntime: the CLI (mechlens das --out) and the extension host (the causal panel's Save
// Subspace) both write it.
import { writeFileSync } from 'node:fs';
import { writeSafetensors } from '../checkpoint/safetensorsWriter';
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
