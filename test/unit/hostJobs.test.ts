import * as assert from 'node:assert/strict';
import { JobSlots } from '../../src/host/jobs';
import { formatBytes, formatCount } from '../../src/host/models/format';
import { validatePanelParams } from '../../src/shared/panelProtocol';

describe('host JobSlots', () => {
  it('aborts the previous job of the same kind only', () => {
    const slots = new JobSlots();
    const a = slots.start('run');
    const b = slots.start('topAt');
    const c = slots.start('run');
    assert.equal(a.signal.aborted, true);
    assert.equal(a.current, false);
    assert.equal(b.signal.aborted, false);
    assert.equal(c.current, true);
    a.done();
    assert.deepEqual(slots.kinds.sort(), ['run', 'topAt'], 'a finished stale job does not free the newer one');
    c.done();
    b.done();
    assert.deepEqual(slots.kinds, []);
  });

  it('follows a parent signal and cancelAll aborts everything', () => {
    const slots = new JobSlots();
    const parent = new AbortController();
    const a = slots.start('run', parent.signal);
    parent.abort();
    assert.equal(a.signal.aborted, true);
    const aborted = new AbortController();
    aborted.abort();
    assert.equal(slots.start('x', aborted.signal).signal.aborted, true);
    const b = slots.start('y');
    slots.cancelAll();
    assert.equal(b.signal.aborted, true);
  });
});

describe('host model formatting', () => {
  it('formats counts and bytes', () => {
    assert.equal(formatCount(950), '950');
    assert.equal(formatCount(29_700), '29.7K');
    assert.equal(formatCount(1_234_567), '1.23M');
    assert.equal(formatCount(124_439_808), '124M');
    assert.equal(formatCount(7_000_000_000), '7B');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(3 * 1024 * 1024), '3 MiB');
  });
});

describe('host webview param validation', () => {
  it('accepts well-formed params and rejects others with bad-input', () => {
    validatePanelParams('prompt/topAt', { position: 3 });
    validatePanelParams('prompt/get', {});
    for (const bad of [null, [], 'x', { position: -1 }, { position: 1.5 }, { position: '2' }, { position: 1e9 }]) {
      assert.throws(() => validatePanelParams('prompt/topAt', bad), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'bad-input', JSON.stringify(bad));
    }
  });
});
