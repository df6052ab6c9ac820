// The inputs every model graph (forward variants, gradient graphs) shares, as onnxruntime feeds: the
// token ids, and the intervention inputs `keep.<hook>` / `add.<hook>` that the graph applies as
// x * keep + add (see hook() in forwardGraph.ts).
import * as ort from 'onnxruntime-node';
import type { HookEdit } from '../interventions';

/** `input_ids` [rows, positions] from equal-length rows of token ids. */
export function tokenFeed(rows: readonly number[][]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
}

/** Adds `keep.<hook>` and `add.<hook>` for every edit to `feeds`. */
export function addEditFeeds(feeds: Record<string, ort.Tensor>, edits: Iterable<[string, HookEdit]>): void {
  for (const [hook, e] of edits) {
    feeds[`keep.${hook}`] = new ort.Tensor('float32', e.keep, e.shape);
    feeds[`add.${hook}`] = new ort.Tensor('float32', e.add, e.shape);
  }
}
