// The shared RPC over an in-memory transport: replies, typed errors, notifications, cancellation,
// validation of untrusted params, and failure of pending calls when the peer dies.
import assert from 'node:assert/strict';
import { RpcEndpoint, RpcError, collectTransferables } from '../../src/shared/rpc';
import type { RpcMessage } from '../../src/shared/rpc';

type ServerProtocol = {
  add: { params: { a: number; b: number }; result: number };
  slow: { params: { ms: number }; result: string };
  fail: { params: Record<string, never>; result: null };
  tensor: { params: Record<string, never>; result: { data: Float32Array } };
};
type N = { progress: { step: number } };

function pair(validate?: (method: string, params: unknown) => void) {
  const sent: RpcMessage[] = [];
  // The client is created first, so it reaches the server through this late-bound reference.
  const peer: { server?: RpcEndpoint<ServerProtocol, Record<string, never>, N> } = {};
  const client = new RpcEndpoint<Record<string, never>, ServerProtocol, Record<string, never>, N>((m) => {
    sent.push(m);
    queueMicrotask(() => peer.server?.handle(structuredClone(m)));
  }, {});
  const server = new RpcEndpoint<ServerProtocol, Record<string, never>, N>(
    (m) => queueMicrotask(() => client.handle(structuredClone(m))),
    {
      add: ({ a, b }) => a + b,
      slow: async ({ ms }, ctx) => {
        for (let i = 0; i < ms; i++) {
          ctx.notify('progress', { step: i });
          await new Promise((r) => setTimeout(r, 1));
          if (ctx.signal.aborted) throw new RpcError('cancelled', 'Cancelled');
        }
        return 'done';
      },
      fail: () => {
        throw Object.assign(new Error('bad file'), { userFacing: true });
      },
      tensor: () => ({ data: new Float32Array([1, 2, 3]) }),
    },
    validate,
  );
  peer.server = server;
  return { client, server, sent };
}

describe('RpcEndpoint', function () {
  it('returns results and typed errors', async function () {
    const { client } = pair();
    assert.equal(await client.call('add', { a: 2, b: 3 }), 5);
    await assert.rejects(client.call('fail', {}), (e: unknown) => e instanceof RpcError && e.code === 'bad-input' && e.message === 'bad file');
    await assert.rejects(client.call('nope' as 'add', { a: 1, b: 1 }), (e: unknown) => e instanceof RpcError && e.code === 'unknown-method');
    const t = await client.call('tensor', {});
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual(Array.from(t.data), [1, 2, 3]);
  });

  it('delivers progress notifications to the caller of the request', async function () {
    const { client } = pair();
    const steps: number[] = [];
    await client.call('slow', { ms: 3 }, { notifications: { progress: (p) => steps.push(p.step) } });
    assert.deepEqual(steps, [0, 1, 2]);
  });

  it('cancels: the caller rejects at once and the handler sees an aborted signal', async function () {
    const { client, sent } = pair();
    const controller = new AbortController();
    const p = client.call('slow', { ms: 1000 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.code === 'cancelled');
    assert.ok(sent.some((m) => m.kind === 'cancel'));
  });

  it('validates untrusted params before the handler runs', async function () {
    const { client } = pair((method, params) => {
      if (method === 'add' && typeof (params as { a: unknown }).a !== 'number') throw new RpcError('invalid-params', 'a must be a number');
    });
    await assert.rejects(client.call('add', { a: 'x' as unknown as number, b: 1 }), (e: unknown) => e instanceof RpcError && e.code === 'invalid-params');
  });

  it('ignores malformed messages and fails pending calls when closed', async function () {
    const { client } = pair();
    client.handle({ kind: 'response' });
    client.handle('<script>');
    client.handle(null);
    const p = client.call('slow', { ms: 1000 });
    client.close(new RpcError('worker-crashed', 'The engine stopped'));
    await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.code === 'worker-crashed');
    await assert.rejects(client.call('add', { a: 1, b: 1 }), (e: unknown) => e instanceof RpcError && e.code === 'worker-crashed');
  });

  it('collects whole typed-array buffers for transfer, not views into larger buffers', function () {
    const whole = new Float32Array(4);
    const view = new Float32Array(new ArrayBuffer(64), 16, 2);
    const list = collectTransferables({ a: whole, b: [view, { c: whole }] });
    assert.deepEqual(list, [whole.buffer]);
  });
});
