// The engine worker over the shared RPC, as the extension host uses it: the built dist/worker.js in a
// real worker thread, typed replies, progress, cancellation, and a crash that leaves the caller alive.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RpcEndpoint, RpcError } from '../../src/shared/rpc';
import type { RpcMessage } from '../../src/shared/rpc';
import type { EngineNotifications, EngineProtocol } from '../../src/shared/protocol';
import { DEFAULT_MODEL, fixture } from '../support/fixtures';

const WORKER = join(__dirname, '..', '..', 'dist', 'worker.js');

function start(): { worker: Worker; rpc: RpcEndpoint<Record<string, never>, EngineProtocol, Record<string, never>, EngineNotifications> } {
  const worker = new Worker(WORKER);
  const rpc = new RpcEndpoint<Record<string, never>, EngineProtocol, Record<string, never>, EngineNotifications>(
    (m: RpcMessage, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer ?? []),
    {},
  );
  worker.on('message', (m: unknown) => rpc.handle(m));
  worker.on('error', (e) => rpc.close(new RpcError('worker-crashed', e.message)));
  return { worker, rpc };
}

describe('engine worker', function () {
  it('loads a model, runs a prompt and returns typed errors for bad input', async function () {
    const { worker, rpc } = start();
    try {
      const progress: string[] = [];
      const info = await rpc.call('model/load', { dir: fixture('gpt2') }, { notifications: { progress: (p) => progress.push(p.message) } });
      assert.equal(info.architecture, 'gpt2');
      assert.ok(progress.length > 0, 'progress notifications arrive');
      const r = await rpc.call('analysis/run', { prompt: { tokens: [1, 2, 3] }, topK: 5 });
      assert.equal(r.top.length, 5);
      assert.ok(r.logits.data instanceof Float32Array, 'tensors travel as typed arrays');
      assert.deepEqual(r.logits.shape, [1, info.dVocab]);
      const sum = r.top.reduce((s, t) => s + t.prob, 0);
      assert.ok(sum > 0 && sum <= 1 + 1e-9);
      await assert.rejects(rpc.call('analysis/cache', { prompt: { tokens: [1] }, hooks: ['nope'] }), (e: unknown) => e instanceof RpcError && e.code === 'bad-input' && /Unknown hook/.test(e.message));
      await assert.rejects(rpc.call('model/load', { dir: '/nonexistent' }), (e: unknown) => e instanceof RpcError && e.code === 'bad-input');
      await assert.rejects(
        rpc.call('analysis/run', { prompt: { tokens: [1] }, interventions: [{ kind: 'explode', hook: 'x' } as never] }),
        (e: unknown) => e instanceof RpcError && /kind must be one of/.test(e.message),
      );
    } finally {
      await worker.terminate();
    }
  });

  it('a cancelled request rejects at once with code cancelled', async function () {
    const { worker, rpc } = start();
    try {
      await rpc.call('model/load', { dir: fixture('gpt2') });
      const controller = new AbortController();
      const p = rpc.call('analysis/generate', { prompt: { tokens: [1, 2] }, maxNewTokens: 25 }, { signal: controller.signal });
      controller.abort();
      await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.code === 'cancelled');
      // The worker is still usable afterwards.
      const r = await rpc.call('analysis/run', { prompt: { tokens: [4, 5] } });
      assert.equal(r.tokens.ids.length, 2);
    } finally {
      await worker.terminate();
    }
  });

  it('a crash fails pending calls with worker-crashed and the caller survives', async function () {
    const { worker, rpc } = start();
    const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
    await rpc.call('model/load', { dir: fixture('gpt2') });
    const pending = rpc.call('analysis/generate', { prompt: { tokens: [1, 2] }, maxNewTokens: 20 });
    await rpc.call('debug/crash', {});
    await assert.rejects(pending.then(() => rpc.call('analysis/run', { prompt: { tokens: [1] } })), (e: unknown) => e instanceof RpcError && e.code === 'worker-crashed');
    assert.notEqual(await exited, 0);
  });

  it('attribution/graph: the graph with progress by phase and rows; a cancel stops it between batches', async function () {
    this.timeout(120_000);
    const { worker, rpc } = start();
    try {
      await rpc.call('model/load', { dir: DEFAULT_MODEL });
      const prompt = { text: 'When Mary and John went to the store, John gave a drink to' };
      const steps: Array<{ phase?: string; done?: number; total?: number }> = [];
      const r = await rpc.call('attribution/graph', { prompt, maxNLogits: 2 }, { notifications: { progress: (p) => steps.push(p) } });
      const file = JSON.parse(r.graph) as { metadata: { schema_version: number }; nodes: unknown[] };
      assert.equal(file.metadata.schema_version, 1);
      assert.equal(file.nodes.length, r.summary.nodes.feature + r.summary.nodes.error + r.summary.nodes.embedding + r.summary.nodes.logit);
      const features = steps.filter((s) => s.phase === 'features');
      assert.ok(features.length > 1, 'progress per batch of feature rows');
      assert.deepEqual([...new Set(steps.map((s) => s.phase))], ['setup', 'logits', 'features']);
      for (let i = 1; i < features.length; i++) assert.ok(features[i]!.done! > features[i - 1]!.done!);
      assert.equal(features.at(-1)!.done, features.at(-1)!.total);

      // Cancel after a few batches: the call rejects, and the worker is free again within a batch or two.
      const controller = new AbortController();
      let cancelledAt = 0;
      const pending = rpc.call('attribution/graph', { prompt, batchSize: 8 }, {
        signal: controller.signal,
        notifications: {
          progress: (p) => {
            if (p.phase === 'features' && p.done! >= 32 && !controller.signal.aborted) {
              cancelledAt = performance.now();
              controller.abort();
            }
          },
        },
      });
      await assert.rejects(pending, (e: unknown) => e instanceof RpcError && e.code === 'cancelled');
      await rpc.call('analysis/run', { prompt: { tokens: [4, 5] } });
      const freeAfter = performance.now() - cancelledAt;
      console.log(`      worker free ${freeAfter.toFixed(0)} ms after the cancel`);
      assert.ok(freeAfter < 2000, `the worker kept computing for ${freeAfter} ms after the cancel`);
    } finally {
      await worker.terminate();
    }
  });
});
