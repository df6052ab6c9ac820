// Feature search: which transcoder features go with a token, or with a label.
// - firing on a token: from a dashboards folder, the features whose top activating examples have the token
//   as their chosen token, ranked by that activation (the dashboards' top examples are the corpus maxima, so
//   this is "the features that fire on it most" over the corpus, up to each feature's top K);
// - promoting a token: every feature's decoder row (summed over the layers it writes), through the final
//   norm's weight, · W_U[token] (the direct-path logit weight the dashboards' top logits rank), largest first;
// - by label: `labels.json` in the dashboards folder ({"labels": [{"layer", "index", "label"}]}, written by
//   whoever labels features), case-insensitive substring.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors';
import { MiB, readJsonFile } from '../files';
import type { Model } from '../model';
import type { FeatureSearchResult } from '../../shared/features';
import { foldFinalNorm, logitWeightsOfToken, readDashboardIndex, readLayerDetails, totalDecoderRows } from './dashboards';
import type { DashboardIndex } from './dashboards';
import type { TranscoderSet } from './transcoders';

/** token id → [layer, index, act] of every top example, per dashboards folder (read once per build). */
const firingIndex = new Map<string, { key: string; byToken: Map<number, Array<[number, number, number]>> }>();

function firingByToken(dir: string, idx: DashboardIndex): Map<number, Array<[number, number, number]>> {
  const key = JSON.stringify(idx.layers.map((e) => e?.offsets.at(-1) ?? null)) + idx.corpus.sha256;
  const cached = firingIndex.get(dir);
  if (cached?.key === key) return cached.byToken;
  const byToken = new Map<number, Array<[number, number, number]>>();
  for (let l = 0; l < idx.n_layers; l++) {
    for (const details of readLayerDetails(dir, idx, l)) {
      const best = new Map<number, number>();
      for (const e of details.examples_quantiles[0]?.examples ?? []) {
        const id = e.token_id;
        const a = e.tokens_acts_list[e.train_token_ind];
        if (id === undefined || a === undefined) continue;
        if (a > (best.get(id) ?? -Infinity)) best.set(id, a);
      }
      for (const [id, a] of best) {
        let list = byToken.get(id);
        if (!list) byToken.set(id, (list = []));
        list.push([l, details.index, a]);
      }
    }
  }
  firingIndex.set(dir, { key, byToken });
  return byToken;
}

export function readFeatureLabels(dir: string): Array<{ layer: number; index: number; label: string }> | undefined {
  const file = join(dir, 'labels.json');
  if (!existsSync(file)) return undefined;
  const json = readJsonFile(file, 'feature labels', 64 * MiB);
  const labels = (json as { labels?: unknown }).labels;
  if (!Array.isArray(labels)) throw new UserError(`${file} must be {"labels": [{"layer", "index", "label"}, ...]}.`);
  return labels.filter((x): x is { layer: number; index: number; label: string } => typeof x === 'object' && x !== null && Number.isInteger(x.layer) && Number.isInteger(x.index) && typeof x.label === 'string');
}

export function searchFeatures(
  model: Model,
  set: TranscoderSet | undefined,
  o: { token?: number; label?: string; dashboards?: string; top?: number },
): FeatureSearchResult {
  const top = o.top ?? 20;
  const result: FeatureSearchResult = { firing: [], promoting: [], labels: [], notes: [] };
  if (o.token === undefined && o.label === undefined) throw new UserError('Search by a token or by a label.');
  const idx = o.dashboards ? readDashboardIndex(o.dashboards) : undefined;
  if (o.token !== undefined) {
    const t = o.token;
    if (!Number.isInteger(t) || t < 0 || t >= model.config.dVocab) throw new UserError(`Token ${t} is outside the vocabulary (0..${model.config.dVocab - 1}).`);
    if (idx && o.dashboards) {
      const list = firingByToken(o.dashboards, idx).get(t) ?? [];
      result.firing = [...list].sort((a, b) => b[2] - a[2]).slice(0, top).map(([layer, index, act]) => ({ layer, index, act }));
    } else {
      result.notes.push('No dashboards: features firing on the token need a dashboards folder (mechlens features).');
    }
    if (set) {
      const all: FeatureSearchResult['promoting'] = [];
      for (let l = 0; l < set.layers.length; l++) {
        const F = set.layers[l]!.dTranscoder;
        // In chunks: a decoder read on demand is never held whole.
        for (let s = 0; s < F; s += 4096) {
          const ids = Array.from({ length: Math.min(4096, F - s) }, (_, i) => s + i);
          const w = logitWeightsOfToken(model, foldFinalNorm(model, totalDecoderRows(set, l, ids)), t);
          w.forEach((v, i) => all.push({ layer: l, index: s + i, weight: v }));
          if (all.length > 8 * top) {
            all.sort((a, b) => b.weight - a.weight);
            all.length = top;
          }
        }
      }
      result.promoting = all.sort((a, b) => b.weight - a.weight).slice(0, top);
    }
  }
  if (o.label !== undefined) {
    const labels = o.dashboards ? readFeatureLabels(o.dashboards) : undefined;
    if (!labels) result.notes.push(`No labels.json${o.dashboards ? ` in ${o.dashboards}` : ''}: no feature has a label yet.`);
    const q = o.label.toLowerCase();
    result.labels = (labels ?? []).filter((x) => x.label.toLowerCase().includes(q)).slice(0, top);
  }
  return result;
}
