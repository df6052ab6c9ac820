// Long jobs stop soon after a cancel (issue #15: within 200 ms). Patching sweeps, attribution graphs, integrated
// gradients, feature dashboards, DAS training and IIA sweeps on a wider model (6 layers, 512 wide) run as bounded
// onnxruntime runs (fewer rows a run where runs prove slow: gradients.ts RunSizer) and check their AbortSignal
// between them; head detection and generation check it between forwards. Each test cancels a job under way and
// asserts that it rejects with AbortError within 200 ms, with no progress after the cancel. One onnxruntime run
// cannot be interrupted and holds the thread, so on a busy shared machine one try can land on a run stretched
// by the load: a job gets three tries and the best must hold the bound. Every try's figure is printed, with the
// longest the job held the thread between two turns of the event loop (the worst wait a cancel message arriving
// from another thread could see).
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { chunkRows } from '../../src/engine/analysis/patching';
import { randomGpt2Checkpoint } from '../../src/engine/checkpoint/synthetic';
import { BACKWARD_BUDGET, RUN_TARGET_MS, RunSizer, backwardRows } from '../../src/engine/gradients';
import type { AnalysisName } from '../../src/shared/analyses';
import { writeJumpReluTranscoders } from '../support/transcoderFixtures';
import { DEFAULT_MODEL } from '../support/fixtures';

describe('cancellation of long jobs', function () {
  this.timeout(300_000);
  let dir: string;
  let model: Model;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mechlens-cancel-'));
    // The bundled model's tokenizer for the analyses that take text (hypotheses, a graph's BOS): the vocabulary
    // is the tokenizer's, so every id it makes is in range.
    const dVocab = (JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
    randomGpt2Checkpoint(dir, { nLayers: 6, dModel: 512, nHeads: 8, dVocab, nCtx: 128 }, 1);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(DEFAULT_MODEL, f), join(dir, f));
    model = await Model.load(dir);
    writeJumpReluTranscoders(join(dir, 'transcoders'), model.config, 3, { dTranscoder: 1024 });
  });
  after(async () => {
    await model?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const BOUND_MS = 200;

  /**
   * Runs an analysis, cancels it once it reported `minProgress` progress (or after `waitMs` for one that reports none),
   * and returns how it ended, the time from abort() to the rejection, the progress reported after it, and the
   * longest the thread was held between event-loop turns from the `minProgress`th progress report (the job under way,
   * its sessions built) to the cancel.
   */
  async function cancelMidway(name: AnalysisName, params: unknown, waitMs = 1000, minProgress = 1) {
    const controller = new AbortController();
    let progress = 0;
    let progressAfterCancel = 0;
    let held = 0;
    let lastTurn = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      if (progress >= minProgress && !controller.signal.aborted) held = Math.max(held, now - lastTurn);
      lastTurn = now;
    }, 2);
    const outcome = runAnalysis(model, name, params, {
      signal: controller.signal,
      onProgress: () => {
        progress++;
        if (controller.signal.aborted) progressAfterCancel++;
      },
    }).then(
      () => 'finished',
      (e: unknown) => (e instanceof Error ? e.name : String(e)),
    );
    const startedAt = performance.now();
    let settled = false;
    void outcome.then(() => (settled = true));
    while (!settled && progress < minProgress && performance.now() - startedAt < waitMs) await new Promise((r) => setTimeout(r, 5));
    const cancelledAt = performance.now();
    controller.abort();
    const result = await outcome;
    const latency = performance.now() - cancelledAt;
    clearInterval(ticker);
    const reported = progress;
    // Anything still queued (a progress report from a run that ended after the cancel) shows up now.
    await new Promise((r) => setTimeout(r, 50));
    return { result, latency, held, progressBefore: reported, progressAfterCancel };
  }

  /** Up to three tries of cancelMidway; each is reported; the best must stop within BOUND_MS. */
  async function cancelWithin(what: string, name: AnalysisName, params: unknown, waitMs = 1000, minProgress = 1) {
    const tries: Array<Awaited<ReturnType<typeof cancelMidway>>> = [];
    for (let i = 0; i < 3; i++) {
      const r = await cancelMidway(name, params, waitMs, minProgress);
      tries.push(r);
      console.log(`      ${what}: cancel latency ${r.latency.toFixed(0)} ms, thread held at most ${r.held.toFixed(0)} ms between turns (${r.progressBefore} progress reports before)`);
      assert.equal(r.result, 'AbortError');
      assert.equal(r.progressAfterCancel, 0, 'no progress after the cancel');
      if (r.latency < BOUND_MS) break;
    }
    const best = Math.min(...tries.map((t) => t.latency));
    assert.ok(best < BOUND_MS, `stopped ${tries.map((t) => t.latency.toFixed(0)).join(', ')} ms after the cancel (bound ${BOUND_MS} ms)`);
  }

  it('a patching sweep stops within 200 ms of a cancel (figures reported), and reports no progress after it', async function () {
    const T = 96;
    const clean = Array.from({ length: T }, (_, i) => (i * 37) % 2000);
    const corrupted = clean.map((t, i) => (i === 40 ? (t + 1) % 2000 : t));
    assert.ok(chunkRows(model, T, 0) < T, 'the sweep is split into several runs per layer');
    await cancelWithin(`patch (${chunkRows(model, T, 0)} rows per run of ${T} tokens)`, 'patch', { clean: { tokens: clean }, corrupted: { tokens: corrupted }, correct: 1, incorrect: 2 });
  });

  const tokens64 = Array.from({ length: 64 }, (_, i) => (i * 37 + 5) % 2000);

  for (const sweep of ['z_by_pos', 'pattern', 'mlp_out'] as const) {
    it(`a ${sweep} patching sweep stops within 200 ms of a cancel (figures reported), and reports no progress after it`, async function () {
      const T = 64;
      const clean = Array.from({ length: T }, (_, i) => (i * 37) % 2000);
      const corrupted = clean.map((t, i) => (i === 40 ? (t + 1) % 2000 : t));
      await cancelWithin(`patch --sweep ${sweep}`, 'patchSweep', { clean: { tokens: clean }, corrupted: { tokens: corrupted }, sweep, target: 1, baseline: 2 });
    });
  }

  it('an attribution graph stops within 200 ms of a cancel (figures reported), and reports no progress after it', async function () {
    // Cancelled in the rows phase (setup and the first logit rows reported).
    await cancelWithin(`graph (${backwardRows(model.config, 65, 6)}+ rows per backward run)`, 'graph', { prompt: { tokens: tokens64 }, transcoders: join(dir, 'transcoders'), maxFeatureNodes: 400 }, 60_000, 4);
  });

  it('integrated gradients stop within 200 ms of a cancel (figures reported), and report no progress after it', async function () {
    // After its first run: building the gradient graph's session the first time is one step that cannot be interrupted.
    await cancelWithin(`integrated gradients (${Math.min(16, backwardRows(model.config, 64, 6, BACKWARD_BUDGET / 4))} steps per run)`, 'saliency', { prompt: { tokens: tokens64 }, target: 1, method: 'integrated_gradients', steps: 64 }, 60_000);
  });

  it('head detection stops within 200 ms of a cancel (figures reported)', async function () {
    await cancelWithin('heads', 'heads', { samples: 10_000 }, 300);
  });

  it('generation stops within 200 ms of a cancel (figures reported), and reports no token after it', async function () {
    await cancelWithin('generate', 'generate', { prompt: { tokens: tokens64.slice(0, 16) }, maxNewTokens: 100 });
  });
  /** Two capitalised words the tokenizer holds as single tokens with a leading space. */
  function names(): string[] {
    const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    return Object.keys(tok.model.vocab)
      .filter((k) => /^\u0120[A-Z][a-z]{3,}$/.test(k))
      .slice(0, 3)
      .map((k) => k.slice(1));
  }
  const hypothesis = (n: number) => ({
    templates: ['When {IO} and {S} went to the park after school on a sunny day, {S} gave a ball to'],
    slots: { IO: names(), S: names() },
    output: ' {IO}',
    n,
    seed: 1,
    variables: [{ name: 'IO', site: { hook: 'blocks.3.hook_resid_post', positions: [-1] } }],
  });

  it('feature dashboards stop within 200 ms of a cancel (figures reported), and report no progress after it', async function () {
    const corpus = join(dir, 'corpus.u16');
    writeFileSync(corpus, Buffer.from(Uint16Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 2000).buffer));
    await cancelWithin('feature dashboards', 'featureDashboards', { corpus, out: join(dir, 'dashboards'), transcoders: join(dir, 'transcoders') }, 60_000, 2);
  });

  it('DAS training stops within 200 ms of a cancel (figures reported), and reports no progress after it', async function () {
    await cancelWithin('DAS', 'das', { hypothesis: hypothesis(256), rank: 8, epochs: 20, batchSize: 64, controls: false }, 60_000, 2);
  });

  it('probes stop within 200 ms of a cancel (figures reported), and report no progress after it', async function () {
    await cancelWithin('probe', 'probe', { hypothesis: hypothesis(256), labelSlot: 'IO' }, 60_000, 2);
  });

  it('an IIA layer x position sweep stops within 200 ms of a cancel (figures reported), and reports no progress after it', async function () {
    await cancelWithin('IIA sweep', 'iia', { hypothesis: hypothesis(128), sweep: { variable: 'IO', hook: 'blocks.{l}.hook_resid_post' } }, 60_000, 3);
  });
});

describe('RunSizer (rows a run on a busy machine)', function () {
  this.timeout(10_000);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  it('one slow run (a session being built) keeps the rows; two in a row lower them to what fits RUN_TARGET_MS', async function () {
    const sizer = new RunSizer();
    assert.equal(sizer.rows(16), 16);
    await sizer.time(16, () => sleep(RUN_TARGET_MS * 4));
    assert.equal(sizer.rows(16), 16, 'a single slow run changes nothing');
    await sizer.time(16, () => sleep(5));
    await sizer.time(16, () => sleep(RUN_TARGET_MS * 4));
    assert.equal(sizer.rows(16), 16, 'slow runs apart change nothing');
    await sizer.time(16, () => sleep(RUN_TARGET_MS * 4));
    const rows = sizer.rows(16);
    assert.ok(rows >= 1 && rows <= 4, `two slow runs in a row: ${rows} rows (16 rows took 4x the target)`);
    assert.equal(sizer.rows(2), Math.min(2, rows), 'never more than asked');
  });
});
