// EngineClient against a stand-in worker (a real worker_threads Worker running a tiny RPC server written
// here): lazy start, model loading before model-bound calls, crash -> worker-crashed -> restart and reload,
// cancellation, and superseded jobs. The real worker is exercised by the e2e suite.
import * as assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { EngineClient } from '../../src/host/engineClient';
import type { EngineClientOptions, EngineState } from '../../src/host/engineClient';
import type { EngineProtocol } from '../../src/shared/protocol';
import { RpcError } from '../../src/shared/rpc';

const FAKE_WORKER = `
const { parentPort, threadId } = require('node:worker_threads');
let loaded = null;
const info = (dir) => ({ dir, name: dir.split('/').pop(), architecture: 'gpt2', modelType: 'gpt2', nLayers: 1, dModel: 4,
  nHeads: 1, nKvHeads: 1, dHead: 4, dMlp: 16, dVocab: 8, nCtx: 16, parameterCount: 100, weightBytes: 400, storedDtypes: ['F32'],
  hasTokenizer: true, warnings: [] });
const timers = new Map();
parentPort.on('message', (m) => {
  if (m.kind === 'cancel') {
    const t = timers.get(m.id);
    if (t) { clearTimeout(t); timers.delete(m.id); parentPort.postMessage({ kind: 'error', id: m.id, error: { code: 'cancelled', message: 'Cancelled' } }); }
    return;
  }
  if (m.kind !== 'request') return;
  const reply = (result) => parentPort.postMessage({ kind: 'response', id: m.id, result });
  switch (m.method) {
    case 'model/load':
      parentPort.postMessage({ kind: 'notify', method: 'progress', params: { message: 'weights', fraction: 0.5 }, requestId: m.id });
      parentPort.postMessage({ kind: 'notify', method: 'log', params: { level: 'info', message: 'loading ' + m.params.dir } });
      loaded = m.params.dir; reply(info(m.params.dir)); return;
    case 'analysis/run':
      if (!loaded) { parentPort.postMessage({ kind: 'error', id: m.id, error: { code: 'bad-input', message: 'no model' } }); return; }
      if (m.params.slow) { timers.set(m.id, setTimeout(() => { timers.delete(m.id); reply({ model: loaded }); }, 5000)); return; }
      reply({ model: loaded, tokens: m.params.prompt.tokens }); return;
    case 'analysis/inspect':
      reply({ thread: threadId, model: loaded }); return;
    case 'analysis/patch': {
      // Holds the thread as one onnxruntime run does: nothing else in this worker runs meanwhile.
      if (m.params.crash) { setImmediate(() => { throw new Error('long job crashed'); }); return; }
      const until = Date.now() + m.params.holdMs;
      while (Date.now() < until) {}
      reply({ thread: threadId, model: loaded }); return;
    }
    case 'debug/crash':
      setImmediate(() => { throw new Error('asked to crash'); }); reply(null); return;
    default:
      parentPort.postMessage({ kind: 'error', id: m.id, error: { code: 'unknown-method', message: m.method } });
  }
});`;

function makeClient(more: Partial<EngineClientOptions> = {}) {
  const events = { crashes: [] as string[], logs: [] as string[], states: [] as EngineState[], workers: 0 };
  const client = new EngineClient({
    ...more,
    workerPath: 'fake',
    log: (_l, m) => events.logs.push(m),
    onCrash: (m) => events.crashes.push(m),
    onState: (s) => events.states.push(s),
    createWorker: () => {
      events.workers++;
      return new Worker(FAKE_WORKER, { eval: true });
    },
  });
  return { client, events };
}

// The fake's `run` takes extra params the real protocol does not have; the cast keeps the test honest about that.
type RunParams = EngineProtocol['analysis/run']['params'];

describe('host EngineClient', () => {
  it('starts no worker until the first call, and loads the chosen model before a model-bound call', async () => {
    const { client, events } = makeClient();
    try {
      client.setModel({ dir: '/models/a' });
      assert.equal(events.workers, 0);
      assert.equal(client.state, 'stopped');
      const progress: string[] = [];
      const r = (await client.call('analysis/run', { prompt: { tokens: [1, 2] } }, { onProgress: (m) => progress.push(m) })) as unknown as { model: string };
      assert.equal(r.model, '/models/a');
      assert.equal(events.workers, 1);
      assert.equal(client.loadedModel?.name, 'a');
      assert.deepEqual(progress, ['weights'], 'load progress reaches the caller');
      assert.ok(events.logs.some((l) => l.includes('[engine] loading /models/a')), 'worker log notifications are logged');
      assert.equal(client.state, 'idle');
      assert.ok(events.states.includes('loading') && events.states.includes('busy'));
    } finally {
      await client.dispose();
    }
  });

  it('fails pending calls with worker-crashed when the worker dies, then restarts and reloads on next use', async () => {
    const { client, events } = makeClient();
    try {
      client.setModel({ dir: '/models/a' });
      await client.call('analysis/run', { prompt: { tokens: [1] } });
      const pending = client.call('analysis/run', { prompt: { tokens: [1] }, slow: true } as RunParams);
      await client.call('debug/crash', {});
      await assert.rejects(pending, (e: unknown) => e instanceof RpcError && e.code === 'worker-crashed' && /asked to crash/.test(e.message));
      assert.equal(client.state, 'crashed');
      assert.equal(client.loadedModel, undefined);
      assert.equal(events.crashes.length, 1);
      const r = (await client.call('analysis/run', { prompt: { tokens: [3] } })) as unknown as { model: string };
      assert.equal(r.model, '/models/a', 'the model was loaded again in the new worker');
      assert.equal(events.workers, 2);
      assert.equal(client.startCount, 2);
    } finally {
      await client.dispose();
    }
  });

  it('cancels a call from its AbortSignal, and a newer job of the same kind supersedes the older', async () => {
    const { client } = makeClient();
    try {
      client.setModel({ dir: '/models/a' });
      const first = client.jobs.start('prompt/topAt');
      const slow = client.call('analysis/run', { prompt: { tokens: [1] }, slow: true } as RunParams, { signal: first.signal });
      await new Promise((r) => setTimeout(r, 50));
      const second = client.jobs.start('prompt/topAt');
      await assert.rejects(slow, (e: unknown) => e instanceof RpcError && e.code === 'cancelled');
      assert.equal(first.current, false);
      assert.equal(second.current, true);
      const ok = (await client.call('analysis/run', { prompt: { tokens: [5] } }, { signal: second.signal })) as unknown as { tokens: number[] };
      assert.deepEqual(ok.tokens, [5]);
      second.done();
      assert.deepEqual(client.jobs.kinds, []);
    } finally {
      await client.dispose();
    }
  });

  it('a user restart is not reported as a crash, and a changed model is loaded on the next call', async () => {
    const { client, events } = makeClient();
    try {
      client.setModel({ dir: '/models/a' });
      assert.equal(client.modelReady, false);
      await client.load();
      assert.equal(client.modelReady, true);
      client.setModel({ dir: '/models/a', threads: 1 });
      assert.equal(client.modelReady, false, 'changed settings need a reload');
      client.setModel({ dir: '/models/a' });
      await client.restart();
      assert.equal(client.modelReady, false);
      assert.equal(client.state, 'stopped');
      client.setModel({ dir: '/models/b' });
      const r = (await client.call('analysis/run', { prompt: { tokens: [1] } })) as unknown as { model: string };
      assert.equal(r.model, '/models/b');
      await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(events.crashes, []);
    } finally {
      await client.dispose();
    }
  });

  it('refuses model-bound calls when no model is chosen', async () => {
    const { client, events } = makeClient();
    await assert.rejects(client.call('tokenize', { text: 'x' }), (e: unknown) => e instanceof RpcError && e.code === 'bad-input');
    assert.equal(events.workers, 0);
    await client.dispose();
  });

  describe('long jobs in a second worker', function () {
    // Stand-in workers start and hold their thread for 1.5 s: more than mocha's default 2 s on a busy machine.
    this.timeout(20_000);
    type Where = { thread: number; model: string };
    const patch = (client: EngineClient, holdMs: number) => client.call('analysis/patch', { holdMs } as never) as unknown as Promise<Where>;
    const inspect = (client: EngineClient) => client.call('analysis/inspect', { prompt: { tokens: [1] } }) as unknown as Promise<Where>;
    /**
     * Starts a long job, waits until its worker holds the thread, then sends an inspect request: whether the
     * inspect answered before the job finished says if it queued behind it (an order, not a timing).
     */
    async function inspectDuringLongJob(client: EngineClient): Promise<{ ms: number; beforeJob: boolean; job: Where; inspected: Where }> {
      await client.load();
      let jobDone = false;
      const job = patch(client, 1500).then((w) => ((jobDone = true), w));
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      const inspected = await inspect(client);
      const ms = performance.now() - t0;
      const beforeJob = !jobDone;
      return { ms, beforeJob, job: await job, inspected };
    }

    it('an inspect request returns at once while a long job holds the long-job worker', async () => {
      const { client, events } = makeClient();
      try {
        client.setModel({ dir: '/models/a' });
        const { ms, beforeJob, job, inspected } = await inspectDuringLongJob(client);
        assert.ok(beforeJob, `inspect answered only after the long job (${ms.toFixed(0)} ms)`);
        assert.notEqual(job.thread, inspected.thread, 'the long job ran in its own worker');
        assert.equal(job.model, '/models/a', 'the long-job worker loaded the chosen model');
        assert.equal(events.workers, 2);
        assert.equal(client.longJobWorkerRunning, true);
      } finally {
        await client.dispose();
      }
    });

    it('with one worker (longJobWorker: false) the same inspect request waits for the long job', async () => {
      const { client } = makeClient({ longJobWorker: false });
      try {
        client.setModel({ dir: '/models/a' });
        const { ms, beforeJob, job, inspected } = await inspectDuringLongJob(client);
        assert.ok(!beforeJob, `inspect answered in ${ms.toFixed(0)} ms, before the long job it should queue behind`);
        assert.equal(job.thread, inspected.thread);
      } finally {
        await client.dispose();
      }
    });

    it('the long-job worker is released when idle and started again (and the model reloaded) for the next long job', async () => {
      const { client, events } = makeClient({ longJobIdleMs: 50 });
      try {
        client.setModel({ dir: '/models/a' });
        await patch(client, 10);
        assert.equal(client.longJobWorkerRunning, true);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(client.longJobWorkerRunning, false, 'released after 50 ms idle');
        assert.ok(events.logs.some((l) => /idle: released/.test(l)));
        assert.equal(client.state, 'stopped', 'no worker is running');
        client.setModel({ dir: '/models/b' });
        const r = await patch(client, 10);
        assert.equal(r.model, '/models/b');
        assert.equal(events.workers, 2);
        assert.deepEqual(events.crashes, []);
      } finally {
        await client.dispose();
      }
    });

    it('runs long jobs in the main worker when free memory does not hold a second copy of the model twice', async () => {
      // The fake model's weights are 400 bytes: 700 bytes free does not hold 2 x 400.
      const { client, events } = makeClient({ freeMemory: () => 700 });
      try {
        client.setModel({ dir: '/models/a' });
        const { job, inspected } = await inspectDuringLongJob(client);
        assert.equal(job.thread, inspected.thread);
        assert.equal(events.workers, 1);
        assert.equal(events.logs.filter((l) => /Long jobs share the main engine worker/.test(l)).length, 1);
      } finally {
        await client.dispose();
      }
    });

    it('a crash of the long-job worker fails its job with worker-crashed; the main worker keeps serving', async () => {
      const { client, events } = makeClient();
      try {
        client.setModel({ dir: '/models/a' });
        const first = await inspect(client);
        await assert.rejects(client.call('analysis/patch', { crash: true } as never), (e: unknown) => e instanceof RpcError && e.code === 'worker-crashed' && /long-job worker/.test(e.message));
        assert.equal(events.crashes.length, 1);
        const again = await inspect(client);
        assert.equal(again.thread, first.thread, 'the same main worker, its model still loaded');
        assert.notEqual(client.state, 'crashed');
        const r = await patch(client, 10);
        assert.equal(r.model, '/models/a', 'a new long-job worker loaded the model');
        assert.equal(events.workers, 3);
      } finally {
        await client.dispose();
      }
    });

    it('a restart cancels a running long job', async () => {
      const { client } = makeClient();
      try {
        client.setModel({ dir: '/models/a' });
        const job = patch(client, 1000);
        await new Promise((r) => setTimeout(r, 300));
        const refused = assert.rejects(job, (e: unknown) => e instanceof RpcError && e.code === 'cancelled');
        await client.restart();
        await refused;
        assert.equal(client.longJobWorkerRunning, false);
        assert.equal(client.state, 'stopped');
      } finally {
        await client.dispose();
      }
    });
  });
});
