import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { GraphBuilder } from '../src/engine/onnx/graphBuilder';
import { ortSessionOptions } from '../src/engine/onnx/session';
import { median } from './stats';

// Timing for the benchmarks: the median wall time of repeated runs, after untimed warm-up runs.
export async function medianMs(fn: () => Promise<unknown>, iters: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const xs: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

/**
 * Median wall times of several functions run in turn (one call of each per round), after untimed warm-up
 * rounds: a ratio of two of them is then taken under the same load, however other jobs vary it.
 */
export async function medianMsInTurn(fns: ReadonlyArray<() => Promise<unknown>>, iters: number, warmup: number): Promise<number[]> {
  const xs = fns.map((): number[] => []);
  for (let i = 0; i < warmup + iters; i++) {
    for (const [k, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn();
      if (i >= warmup) xs[k]!.push(performance.now() - t0);
    }
  }
  return xs.map(median);
}

/**
 * The matrix-product rate this machine reaches through onnxruntime on `threads` threads, in GFLOP/s: the
 * best of a few runs of one [m, k] · [n, k]ᵀ Gemm whose right operand is a pre-packed initializer (the
 * kernel's fastest form). A workload's arithmetic floor is its FLOPs at this rate.
 */
export async function matmulPeakGflops(m: number, k: number, n: number, threads: number, runs = 4): Promise<number> {
  const g = new GraphBuilder(false);
  const x = g.input('x', onnx.TensorProto.DataType.FLOAT, [m, k]);
  const w = g.weight('w', Float32Array.from({ length: n * k }, (_, i) => ((i * 2654435761) % 1000) / 1e5), [n, k]);
  g.expose(g.op1('Gemm', [x, w], { transB: 1 }), 'y');
  const session = await ort.InferenceSession.create(g.build('peak'), ortSessionOptions({ threads, executionProvider: 'cpu' }));
  const feeds = { x: new ort.Tensor('float32', Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)), [m, k]) };
  let best = Infinity;
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    if (i > 0) best = Math.min(best, performance.now() - t0);
  }
  await session.release();
  return (2 * m * k * n) / (best / 1000) / 1e9;
}
