// The params schemas that the registry of analyses, the worker, the CLI and the panels share: checks,
// messages that name the field, refusal of unknown fields, and `pick` for what a panel may choose.
import assert from 'node:assert/strict';
import { ANALYSIS_NAMES, ANALYSIS_PARAMS } from '../../src/shared/analyses';
import { RpcError } from '../../src/shared/rpc';
import { integer, list, object, optional, paramsValidator } from '../../src/shared/schema';

const badInput = (re: RegExp) => (e: unknown) => e instanceof RpcError && e.code === 'bad-input' && re.test(e.message);

describe('params schemas', function () {
  it('returns the checked value and leaves out absent optional fields', function () {
    const s = object({ n: integer(0, 9), xs: optional(list(integer(), 3)) });
    assert.deepEqual(s.parse({ n: 3 }, 'm'), { n: 3 });
    assert.deepEqual(s.parse({ n: 3, xs: [1, 2], ignored: undefined }, 'm'), { n: 3, xs: [1, 2] });
  });

  it('names the field in its message and refuses unknown fields', function () {
    const s = object({ n: integer(0, 9), xs: optional(list(integer(), 3)) });
    assert.throws(() => s.parse({ n: 10 }, 'm'), badInput(/^m: n must be an integer from 0 to 9$/));
    assert.throws(() => s.parse({ n: 1, xs: [1, -1] }, 'm'), badInput(/m: xs\[1\] must be/));
    assert.throws(() => s.parse({ n: 1, xs: [1, 2, 3, 4] }, 'm'), badInput(/at most 3 items/));
    assert.throws(() => s.parse({ n: 1, nn: 2 }, 'm'), badInput(/unknown field "nn"/));
    assert.throws(() => s.parse([], 'm'), badInput(/must be an object/));
  });

  it('checks every analysis: prompts, interventions, enums', function () {
    assert.ok(ANALYSIS_NAMES.includes('lens') && ANALYSIS_NAMES.includes('patch'));
    assert.deepEqual(ANALYSIS_PARAMS.lens.parse({ prompt: { text: 'Hi' }, stream: 'mid', targets: [3] }, 'analysis/lens'), { prompt: { text: 'Hi' }, stream: 'mid', targets: [3] });
    assert.throws(() => ANALYSIS_PARAMS.lens.parse({ prompt: { text: 'Hi' }, stream: 'sideways' }, 'analysis/lens'), badInput(/stream must be one of pre, mid, post/));
    assert.throws(() => ANALYSIS_PARAMS.run.parse({ prompt: { ids: [1] } }, 'analysis/run'), badInput(/prompt must be \{text/));
    assert.throws(() => ANALYSIS_PARAMS.run.parse({ prompt: { tokens: [1.5] } }, 'analysis/run'), badInput(/token id/));
    assert.throws(() => ANALYSIS_PARAMS.run.parse({ prompt: { tokens: [1] }, interventions: [{ kind: 'explode', hook: 'x' }] }, 'analysis/run'), badInput(/kind must be one of/));
    assert.throws(() => ANALYSIS_PARAMS.dla.parse({ prompt: { tokens: [1] } }, 'analysis/dla'), badInput(/target must be a token id/));
  });

  it('a panel picks fields of an analysis with the same checks', function () {
    const panel = ANALYSIS_PARAMS.dla.pick('target', 'position');
    assert.deepEqual(panel.parse({ target: 4 }, 'dla/run'), { target: 4 });
    assert.throws(() => panel.parse({ target: 4, prompt: { text: 'x' } }, 'dla/run'), badInput(/unknown field "prompt"/));
    const validate = paramsValidator({ 'dla/run': panel });
    assert.throws(() => validate('nope', {}), badInput(/unknown method nope/));
    assert.throws(() => validate('dla/run', { target: -1 }), badInput(/target/));
  });
});
