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
