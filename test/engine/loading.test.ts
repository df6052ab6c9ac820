// Model.load reads the weights on libuv's threads while it builds the first graph's session from the shapes
// alone. These tests hold that path to the plain synchronous loader, bit for bit, on every architecture.
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model';
import { loadCheckpoint } from '../../src/engine/checkpoint/load';
import { GraphSession } from '../../src/engine/onnx/session';
import { SessionCache } from '../../src/engine/onnx/sessionCache';
import { GraphBuilder } from '../../src/engine/onnx/graphBuilder';
import { fixture } from '../support/fixtures';

/** Counts onnxruntime sessions built the ordinary way (not ahead) while `f` runs. */
async function countBuilds<T>(f: () => Promise<T>): Promise<{ value: T; builds: number }> {
  const original = GraphSession.createOrtSession;
  let builds = 0;
  GraphSession.createOrtSession = (...args) => {
    builds++;
    return original.apply(GraphSession, args);
  };
  try {
    return { value: await f(), builds };
  } finally {
    GraphSession.createOrtSession = original;
  }
}

describe('loading a checkpoint (weights read while the first session builds)', function () {
  for (const name of ['gpt2', 'gpt2-bf16', 'gpt2-f16', 'neox', 'llama', 'qwen3', 'gemma2', 'gemma3', 'gguf-quants/llama-q4k.gguf']) {
    it(`${name}: the same weights as the synchronous loader, and the first prompt's session is the one built ahead`, async function () {
      const dir = fixture(name);
      const { value: model, builds } = await countBuilds(() => Model.load(dir));
      const sync = loadCheckpoint(dir);
      const reference = await Model.fromSpec(sync.spec, sync.info, sync.tokenizer);
      try {
        assert.equal(builds, 1, 'one session built during the load, ahead of the weights');
        const prompt = [1, 2, 3, 4, 5];
        const { value: ours, builds: afterLoad } = await countBuilds(() => model.run(prompt));
        assert.equal(afterLoad, 0, 'the first prompt waits for no session build');
        const theirs = await reference.run(prompt);
        assert.deepEqual(new Uint32Array(ours.data.buffer), new Uint32Array(theirs.data.buffer), 'logits equal bit for bit');
      } finally {
        await model.dispose();
        await reference.dispose();
      }
    });
  }

  it('a session built ahead for other bytes is released and the graph asked for is built', async function () {
    const graph = (op: string) => {
      const g = new GraphBuilder(true);
      const x = g.input('x', 1, [2]);
      g.expose(g.op1(op, [x, x]), 'y');
      return { bytes: g.build('t'), weightInputs: [] };
    };
    const cache = new SessionCache({ threads: 1, executionProvider: 'cpu' });
    try {
      const ahead = (await cache.buildAhead(graph('Add').bytes)) as { release(): Promise<void> };
      let released = false;
      const release = ahead.release.bind(ahead);
      ahead.release = async () => {
        released = true;
        await release();
      };
      const { value: session, builds } = await countBuilds(() => cache.get('mul', () => graph('Mul')));
      assert.equal(builds, 1, 'the graph asked for was built');
      const ort = await import('onnxruntime-node');
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([3, 4]), [2]) }, ['y']);
      assert.deepEqual(Array.from(out.y!.data as Float32Array), [9, 16], 'and it is the one that runs');
      await new Promise((r) => setImmediate(r));
      assert.ok(released, 'the session built ahead was released');
    } finally {
      await cache.dispose();
    }
  });

  it('a session built ahead and never asked for is released with the cache', async function () {
    const g = new GraphBuilder(true);
    const x = g.input('x', 1, [2]);
    g.expose(g.op1('Neg', [x]), 'y');
    const cache = new SessionCache({ threads: 1, executionProvider: 'cpu' });
    const ahead = (await cache.buildAhead(g.build('t'))) as { release(): Promise<void> };
    let released = false;
    const release = ahead.release.bind(ahead);
    ahead.release = async () => {
      released = true;
      await release();
    };
    await cache.dispose();
    assert.ok(released);
  });
});
