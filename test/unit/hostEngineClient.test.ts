// EngineClient against a stand-in worker (a real worker_threads Worker running a tiny RPC server written
// here): lazy start, model loading before model-bound calls, crash -> worker-crashed -> restart and reload,
// cancellation, and superseded jobs. The real worker is exercised by the e2e suite.
import * as assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { EngineClient } from '../../src/host/engineClient';
import type { EngineState } from '../../src/host/engineClient';
import type { EngineProtocol } from '../../src/shared/protocol';
import { RpcError } from '../../src/shared/rpc';

const FAKE_WORKER = `
const { parentPort } = require('node:worker_threads');
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
    case 'debug/crash':
      setImmediate(() => { throw new Error('asked to crash'); }); reply(null); return;
    default:
      parentPort.postMessage({ kind: 'error', id: m.id, error: { code: 'unknown-method', message: m.method } });
  }
});`;

function makeClient() {
  const events = { crashes: [] as string[], logs: [] as string[], states: [] as EngineState[], workers: 0 };
  const client = new EngineClient({
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
});
