// Interactive requests do not wait behind long jobs (issue #15): the host's EngineClient with the real
// built worker (dist/worker.js) runs a long patching sweep in its long-job worker while inspect requests
// go to the main worker. Reports the inspect latency during the job, how soon the long-job worker is free after
// a cancel, the memory the second copy of the model costs, and what releasing the idle long-job worker gives
// back. Assertions are loose (a shared machine); the figures printed are what the README quotes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '../../src/host/engineClient';
import { RpcError } from '../../src/shared/rpc';
import { randomGpt2Checkpoint } from '../../src/engine/checkpoint/synthetic';

const WORKER = join(__dirname, '..', '..', 'dist', 'worker.js');
const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('long jobs and interactive requests (two workers)', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mechlens-longjobs-'));
    randomGpt2Checkpoint(dir, { nLayers: 6, dModel: 512, nHeads: 8, dVocab: 2000, nCtx: 128 }, 1);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('inspect requests return quickly while a patching sweep runs; the idle long-job worker is released (figures reported)', async function () {
    const logs: string[] = [];
    const client = new EngineClient({ workerPath: WORKER, log: (_l, m) => logs.push(m), longJobIdleMs: 500 });
    try {
      client.setModel({ dir, threads: 1 });
      const info = await client.load();
      const prompt = { tokens: Array.from({ length: 16 }, (_, i) => (i * 11) % 2000) };
      await client.call('analysis/inspect', { prompt });
      const idle: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await client.call('analysis/inspect', { prompt });
        idle.push(performance.now() - t0);
      }
      global.gc?.();
      const rssOne = process.memoryUsage().rss;

      const T = 96;
      const clean = Array.from({ length: T }, (_, i) => (i * 37) % 2000);
      const corrupted = clean.map((t, i) => (i === 40 ? (t + 1) % 2000 : t));
      const controller = new AbortController();
      let progress = 0;
      const jobStart = performance.now();
      const job = client
        .call('analysis/patch', { clean: { tokens: clean }, corrupted: { tokens: corrupted }, correct: 1, incorrect: 2 }, { signal: controller.signal, onProgress: () => progress++ })
        .then(
          () => 'finished',
          (e: unknown) => (e instanceof RpcError ? e.code : String(e)),
        );
      // Once the sweep is under way (its first progress report), the long-job worker holds its thread.
      while (progress === 0 && performance.now() - jobStart < 60_000) await sleep(10);
      assert.ok(progress > 0, 'the sweep reported progress');
      assert.equal(client.longJobWorkerRunning, true);
      const rssTwo = process.memoryUsage().rss;
      const during: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        await client.call('analysis/inspect', { prompt });
        during.push(performance.now() - t0);
      }
      const progressAtEnd = progress;
      const stillRunning = (await Promise.race([job, sleep(0).then(() => 'running')])) === 'running';
      controller.abort();
      const cancelledAt = performance.now();
      const outcome = await job;
      const jobMs = performance.now() - jobStart;
      // The long-job worker is free soon after the cancel: a small sweep sent at once is answered within its own
      // (warm, idle) time plus the wait for the cancelled sweep's run in progress.
      const small = { clean: { tokens: [1, 2, 3, 4] }, corrupted: { tokens: [1, 2, 5, 4] }, correct: 1, incorrect: 2 };
      await client.call('analysis/patch', small);
      const afterCancel = performance.now() - cancelledAt;
      const t1 = performance.now();
      await client.call('analysis/patch', small);
      const smallIdle = performance.now() - t1;
      const freeAfter = Math.max(0, afterCancel - smallIdle);
      await sleep(1500);
      global.gc?.();
      const rssReleased = process.memoryUsage().rss;
      const worst = Math.max(...during);
      console.log(
        `      inspect (16 tokens) idle: ${Math.max(...idle).toFixed(0)} ms; during the sweep: ${during.map((m) => m.toFixed(0)).join(', ')} ms` +
          ` (sweep ${stillRunning ? 'still running' : 'finished'} after ${progressAtEnd} progress reports, ${jobMs.toFixed(0)} ms, ${outcome})`,
      );
      console.log(
        `      memory: weights ${(info.weightBytes / MiB).toFixed(0)} MiB; RSS one worker ${(rssOne / MiB).toFixed(0)} MiB, two workers ${(rssTwo / MiB).toFixed(0)} MiB` +
          ` (+${((rssTwo - rssOne) / MiB).toFixed(0)} MiB = ${((rssTwo - rssOne) / info.weightBytes).toFixed(2)} x weights), long-job worker released ${(rssReleased / MiB).toFixed(0)} MiB`,
      );
      assert.ok(stillRunning, 'the sweep was still running while the inspect requests were answered');
      assert.equal(outcome, 'cancelled');
      console.log(`      the long-job worker free ${freeAfter.toFixed(0)} ms after the cancel (a small sweep: ${afterCancel.toFixed(0)} ms sent at the cancel, ${smallIdle.toFixed(0)} ms idle)`);
      assert.ok(freeAfter < 1000, `the long-job worker was busy ${freeAfter.toFixed(0)} ms after the cancel`);
      assert.ok(worst < 2000, `an inspect request took ${worst.toFixed(0)} ms during the sweep`);
      assert.equal(client.longJobWorkerRunning, false, 'released after 500 ms idle');
      assert.ok(logs.some((l) => /idle: released/.test(l)));
      assert.ok(client.modelReady, 'the main worker keeps its model');
    } finally {
      await client.dispose();
    }
  });
});
