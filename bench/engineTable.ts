// The README's headline table ("Forward, caching, patching, generation"), made from the runs `npm run bench`
// records in bench/out/engine-runs.jsonl: each cell is the median of the runs' figures with their range, each
// ratio the median of the runs' own ratios (each run's two columns met the same machine load), and whether a
// goal is met is read from those medians, never written by hand. `npm run bench:readme` puts it in the README.
import { median } from './stats';

/** One `npm run bench` run as engine.bench.ts records it (figures in ms, MB, tokens/s). */
export interface EngineRun {
  date?: string;
  threads: number;
  seq: number;
  iters: number;
  sessionReadyMs: number;
  forwardMs: number;
  minimalGraphForwardMs?: number;
  cachedHooks: number;
  forwardCacheAllMs: number;
  patchSweepMs: number;
  patchSweepLoopMs: number;
  generateTokensPerS: number;
  generateNoCacheTokensPerS: number;
  peakRssMb: number;
  weightMb: number;
  /** PyTorch eager on the same weights and threads; a string when it could not run. */
  torch?: TorchRun | string;
}

export interface TorchRun {
  torch_version: string;
  load_ms: number;
  forward_ms: number;
  forward_cache_ms: number;
  patch_sweep_ms: number;
  generate_tokens_per_s: number;
  peak_rss_mb: number;
  omp_wait_policy?: string;
}

/** The goals of issue #13 the table reports against. */
export const ENGINE_GOALS = {
  sessionReadyMs: 1000,
  forwardSpeedup: 1.3,
  cacheSpeedup: 1.3,
  peakRssOverWeights: 2,
} as const;

/** "129.9 ms (115.4–153.4)": the median and, where the runs differ, their range. */
function cell(xs: readonly number[], digits: number, unit: string): string {
  const f = (x: number) => x.toFixed(digits);
  const [lo, hi] = [f(Math.min(...xs)), f(Math.max(...xs))];
  const range = lo !== hi ? ` (${lo}–${hi})` : '';
  return `${f(median(xs))}${unit}${range}`;
}

const goal = (met: boolean, what: string) => `${what}: ${met ? 'met' : '**missed**'}`;

/** The markdown table of `runs` (oldest first); PyTorch columns from the runs that have them. */
export function engineTable(runs: readonly EngineRun[]): string {
  if (runs.length === 0) throw new Error('no benchmark runs recorded: run `npm run bench` first');
  const all = <K extends keyof EngineRun>(k: K) => runs.map((r) => r[k] as number);
  const withTorch = runs.filter((r): r is EngineRun & { torch: TorchRun } => typeof r.torch === 'object');
  const torch = <K extends keyof TorchRun>(k: K) => withTorch.map((r) => r.torch[k] as number);
  /** Each run's own ratio (how many times faster we are); `higherIsBetter` for rates. */
  const ratios = (ours: (r: EngineRun) => number, theirs: (t: TorchRun) => number, higherIsBetter = false) =>
    withTorch.map((r) => (higherIsBetter ? ours(r) / theirs(r.torch) : theirs(r.torch) / ours(r)));
  const ratio = (...args: Parameters<typeof ratios>) => median(ratios(...args));
  /** The median ratio, with the runs' range. */
  const ratioCell = (xs: number[], digits = 2) => (xs.length ? cell(xs, digits, '×') : '');
  const torchCell = (xs: number[], digits: number, unit: string) => (xs.length ? cell(xs, digits, unit) : 'not run');

  const forwardRatio = ratio((r) => r.forwardMs, (t) => t.forward_ms);
  const cacheRatio = ratio((r) => r.forwardCacheAllMs, (t) => t.forward_cache_ms);
  const rss = runs.map((r) => r.peakRssMb / r.weightMb);
  const hooks = runs.at(-1)!.cachedHooks;
  const rows: string[][] = [
    ['session ready (read weights + build graph)', cell(all('sessionReadyMs'), 0, ' ms'), torchCell(torch('load_ms'), 0, ' ms'), ratioCell(ratios((r) => r.sessionReadyMs, (t) => t.load_ms), 1),
      goal(median(all('sessionReadyMs')) <= ENGINE_GOALS.sessionReadyMs, `≤ ${ENGINE_GOALS.sessionReadyMs / 1000} s`)],
    ['forward, no hooks', cell(all('forwardMs'), 1, ' ms'), torchCell(torch('forward_ms'), 1, ' ms'), ratioCell(ratios((r) => r.forwardMs, (t) => t.forward_ms)),
      withTorch.length ? goal(forwardRatio >= ENGINE_GOALS.forwardSpeedup, `≥ ${ENGINE_GOALS.forwardSpeedup}×`) : ''],
    [`forward caching all ${hooks} hooks`, cell(all('forwardCacheAllMs'), 1, ' ms'), torchCell(torch('forward_cache_ms'), 1, ' ms'), ratioCell(ratios((r) => r.forwardCacheAllMs, (t) => t.forward_cache_ms)),
      withTorch.length ? goal(cacheRatio >= ENGINE_GOALS.cacheSpeedup, `≥ ${ENGINE_GOALS.cacheSpeedup}×`) : ''],
    ['residual patching sweep, 12 layers × 16 positions', cell(all('patchSweepMs').map((x) => x / 1000), 1, ' s'), torchCell(torch('patch_sweep_ms').map((x) => x / 1000), 1, ' s'),
      ratioCell(ratios((r) => r.patchSweepMs, (t) => t.patch_sweep_ms), 1), ''],
    ['the same sweep as a loop of 192 patched full forwards (ours)', cell(all('patchSweepLoopMs').map((x) => x / 1000), 1, ' s'), '',
      `fast sweep ${median(runs.map((r) => r.patchSweepLoopMs / r.patchSweepMs)).toFixed(1)}× faster`, ''],
    ['greedy generation with key/value cache', cell(all('generateTokensPerS'), 1, ' tokens/s'), torchCell(torch('generate_tokens_per_s'), 1, ' tokens/s'),
      ratioCell(ratios((r) => r.generateTokensPerS, (t) => t.generate_tokens_per_s, true), 1), ''],
    ['generation without the cache', cell(all('generateNoCacheTokensPerS'), 1, ' tokens/s'), '', '', ''],
    ['peak RSS (load + one forward caching every hook)', `${cell(all('peakRssMb'), 0, ' MB')} = ${median(rss).toFixed(2)}× the weights' ${median(all('weightMb')).toFixed(0)} MB`,
      torchCell(torch('peak_rss_mb'), 0, ' MB'), '', goal(median(rss) <= ENGINE_GOALS.peakRssOverWeights, `≤ ${ENGINE_GOALS.peakRssOverWeights}×`)],
  ];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    '| measure | MechLens | PyTorch eager | ratio | goal |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
  const dates = runs.map((r) => r.date?.slice(0, 10)).filter((d): d is string => !!d);
  const span = dates.length ? (dates[0] === dates.at(-1) ? ` on ${dates[0]}` : ` from ${dates[0]} to ${dates.at(-1)}`) : '';
  const r0 = runs.at(-1)!;
  const t0 = withTorch.at(-1)?.torch;
  lines.push(
    '',
    `${runs.length} run${runs.length === 1 ? '' : 's'}${span}; T = ${r0.seq}, ${r0.threads} threads, median of ${r0.iters} within each run; ` +
      `each cell is the median of the runs' figures (their range in brackets), each ratio the median of the runs' own ratios` +
      (t0 ? `; PyTorch ${t0.torch_version}${t0.omp_wait_policy ? `, OMP_WAIT_POLICY=${t0.omp_wait_policy}` : ''}` : '') + '.',
  );
  return lines.join('\n');
}

export const TABLE_START = '<!-- bench:engine (generated by `npm run bench:readme` from bench/out/engine-runs.jsonl) -->';
export const TABLE_END = '<!-- /bench:engine -->';

/** `readme` with the text between the table's markers replaced by `table`. */
export function replaceTable(readme: string, table: string): string {
  const a = readme.indexOf(TABLE_START);
  const b = readme.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error(`README.md has no "${TABLE_START}" … "${TABLE_END}" block`);
  return `${readme.slice(0, a + TABLE_START.length)}\n${table}\n${readme.slice(b)}`;
}
