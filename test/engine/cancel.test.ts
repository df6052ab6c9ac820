// Long jobs stop soon after a cancel (issue #15: within 200 ms). A patching sweep on a wider model is
// split into bounded onnxruntime runs and checks its AbortSignal between them; this measures the time
// from abort() to the rejection and reports it. The assertion is looser (1 s) than the goal so a busy
// shared machine does not make the test flaky; the figure printed is what to compare with 200 ms.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { chunkRows } from '../../src/engine/analysis/patching';
import { randomGpt2Checkpoint } from '../../src/engine/checkpoint/synthetic';

describe('cancellation of long jobs', function () {
  this.timeout(300_000);
  let dir: string;
  let model: Model;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mechlens-cancel-'));
    randomGpt2Checkpoint(dir, { nLayers: 6, dModel: 512, nHeads: 8, dVocab: 2000, nCtx: 128 }, 1);
    model = await Model.load(dir);
  });
  after(async () => {
    await model?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a patching sweep stops within 1 s of a cancel (figure reported), and reports no progress after it', async function () {
    const T = 96;
    const clean = Array.from({ length: T }, (_, i) => (i * 37) % 2000);
    const corrupted = clean.map((t, i) => (i === 40 ? (t + 1) % 2000 : t));
    assert.ok(chunkRows(model, T, 0) < T, 'the sweep is split into several runs per layer');
    const controller = new AbortController();
    let progressAfterCancel = 0;
    let progress = 0;
    const job = runAnalysis(model, 'patch', { clean: { tokens: clean }, corrupted: { tokens: corrupted }, correct: 1, incorrect: 2 }, {
      signal: controller.signal,
      onProgress: () => {
        progress++;
        if (controller.signal.aborted) progressAfterCancel++;
      },
    });
    const outcome = job.then(
      () => 'finished',
      (e: unknown) => (e instanceof Error ? e.name : String(e)),
    );
    // Cancel once the sweep is well under way (after its first progress report or 1 s).
    const startedAt = performance.now();
    while (progress === 0 && performance.now() - startedAt < 1000) await new Promise((r) => setTimeout(r, 10));
    const cancelledAt = performance.now();
    controller.abort();
    const result = await outcome;
    const latency = performance.now() - cancelledAt;
    console.log(`      cancel latency: ${latency.toFixed(0)} ms (${progress} progress reports before; ${chunkRows(model, T, 0)} rows per run of ${T} tokens)`);
    assert.equal(result, 'AbortError');
    assert.equal(progressAfterCancel, 0);
    assert.ok(latency < 1000, `stopped ${latency.toFixed(0)} ms after the cancel`);
  });
});
