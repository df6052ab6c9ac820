// The README's benchmark table is made from recorded runs: medians, ranges, each ratio the median of the runs'
// own ratios, and goals judged from the figures.
import assert from 'node:assert/strict';
import { engineTable, replaceTable, TABLE_END, TABLE_START, type EngineRun, type TorchRun } from '../../bench/engineTable';
import { median } from '../../bench/stats';

function run(over: Partial<EngineRun>, torch?: Partial<TorchRun>): EngineRun {
  return {
    date: '2026-12-03T20:00:00Z',
    threads: 2,
    seq: 64,
    iters: 10,
    sessionReadyMs: 900,
    forwardMs: 100,
    cachedHooks: 244,
    forwardCacheAllMs: 150,
    patchSweepMs: 12_000,
    patchSweepLoopMs: 24_000,
    generateTokensPerS: 30,
    generateNoCacheTokensPerS: 15,
    peakRssMb: 800,
    weightMb: 475,
    torch: torch && { torch_version: '1.13', load_ms: 1300, forward_ms: 150, forward_cache_ms: 180, patch_sweep_ms: 36_000, generate_tokens_per_s: 15, peak_rss_mb: 826, ...torch },
    ...over,
  };
}

const rowOf = (table: string, name: string) => table.split('\n').find((l) => l.startsWith(`| ${name}`))!.split(' | ');

describe('README benchmark table', function () {
  it('median: odd and even counts, none', function () {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('cells are medians with ranges; ratios are the median of each run\'s own ratio; goals come from the figures', function () {
    const table = engineTable([
      run({ forwardMs: 100, forwardCacheAllMs: 160 }, { forward_ms: 150, forward_cache_ms: 180 }),
      run({ forwardMs: 140, forwardCacheAllMs: 150, sessionReadyMs: 1200 }, { forward_ms: 175, forward_cache_ms: 180 }),
      run({ forwardMs: 120, forwardCacheAllMs: 170, sessionReadyMs: 1100 }, { forward_ms: 210, forward_cache_ms: 200 }),
    ]);
    const forward = rowOf(table, 'forward, no hooks');
    assert.equal(forward[1], '120.0 ms (100.0–140.0)');
    assert.equal(forward[2], '175.0 ms (150.0–210.0)');
    // Ratios 1.50, 1.25 and 1.75: their median, not the ratio of the medians (175 / 120 = 1.46).
    assert.equal(forward[3], '1.50× (1.25–1.75)');
    assert.match(forward[4]!, /≥ 1\.3×: met/);
    const cache = rowOf(table, 'forward caching all 244 hooks');
    assert.equal(cache[3], '1.18× (1.13–1.20)');
    assert.match(cache[4]!, /≥ 1\.3×: \*\*missed\*\*/);
    assert.match(rowOf(table, 'session ready')[4]!, /≤ 1 s: \*\*missed\*\*/, 'median 1100 ms');
    assert.match(rowOf(table, 'peak RSS')[1]!, /800 MB = 1\.68× the weights' 475 MB/);
    assert.match(rowOf(table, 'peak RSS')[4]!, /≤ 2×: met/);
    assert.match(rowOf(table, 'greedy generation')[3]!, /^2\.0×$/, 'a rate: ours over theirs (the same in every run: no range)');
    assert.match(table, /3 runs on 2026-12-03; T = 64, 2 threads, median of 10/);
  });

  it('without PyTorch: its cells say so and no speed goal is judged', function () {
    const table = engineTable([run({}, undefined), run({ torch: 'unavailable: no torch' })]);
    const forward = rowOf(table, 'forward, no hooks');
    assert.equal(forward[2], 'not run');
    assert.equal(forward[3], '');
    assert.equal(forward[4], ' |');
    assert.throws(() => engineTable([]), /npm run bench/);
  });

  it('replaces only the text between the markers', function () {
    const readme = `before\n${TABLE_START}\nold table\n${TABLE_END}\nafter\n`;
    assert.equal(replaceTable(readme, 'NEW'), `before\n${TABLE_START}\nNEW\n${TABLE_END}\nafter\n`);
    assert.throws(() => replaceTable('no markers', 'NEW'), /has no/);
  });
});
