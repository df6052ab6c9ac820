// Timing for the benchmarks: the median wall time of repeated runs, after untimed warm-up runs.
export async function medianMs(fn: () => Promise<unknown>, iters: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const xs: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
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
  return xs.map((x) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)]!);
}
