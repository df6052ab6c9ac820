// Experiment files (*.mlexp.json): made from a finished analysis, re-run by `mechlens experiment`, stable
// text (a re-run that changes nothing changes no byte), a changed model warned about, stale and bad files
// refused with messages naming the problem.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model';
import { runAnalysis } from '../../src/engine/analysis/registry';
import { makeExperiment, modelHash, runExperiment } from '../../src/engine/analysis/experiment';
import { parseExperiment, serializeExperiment } from '../../src/shared/experiment';
import { DEFAULT_MODEL } from '../support/fixtures';
import { cli } from '../support/cli';

describe('experiment files', function () {
  const dir = mkdtempSync(join(tmpdir(), 'mlexp-'));
  const file = join(dir, 'ioi.mlexp.json');
  let text: string;

  before(async function () {
    const model = await Model.load(DEFAULT_MODEL);
    try {
      const params = {
        clean: { text: 'When Mary and John went to the store, John gave a drink to' },
        corrupted: { text: 'When Mary and John went to the store, Mary gave a drink to' },
        sweep: 'z' as const,
        method: 'both' as const,
        target: model.tokenize(' Mary').ids[0]!,
        baseline: model.tokenize(' John').ids[0]!,
      };
      const r = await runAnalysis(model, 'patchSweep', params);
      text = serializeExperiment(makeExperiment(model, 'patchSweep', params, r, { file, note: 'IOI heads' }));
      writeFileSync(file, text);
    } finally {
      await model.dispose();
    }
  });

  it('stable text: sorted keys, pretty-printed, float32 in shortest form; parse and write again gives the same bytes', function () {
    const e = parseExperiment(text, file);
    assert.equal(serializeExperiment(e), text);
    assert.deepEqual(Object.keys(JSON.parse(text) as object), ['analysis', 'mechlens_experiment', 'model', 'note', 'params', 'results']);
    assert.match(text, /^\{\n {2}"analysis": "patchSweep",\n/);
    assert.match(text, /"exact": \[-?[\d.e-]+, /, 'number lists on one line');
    const exact = (JSON.parse(text) as { results: { exact: number[] } }).results.exact;
    for (const v of exact) assert.ok(String(v).replace(/e.*$/, '').replace(/^-?0\.0*|[.-]/g, '').length <= 9, `${v} is not float32's shortest form`);
    assert.equal(e.model.sha256, modelHash(DEFAULT_MODEL));
  });

  it('mechlens experiment FILE re-runs it: same model, identical results; --update rewrites nothing then', async function () {
    const r = await cli('experiment', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { analysis: string; model_changed: boolean; results_changed: boolean; max_abs_diff: number; results: { sweep: string } };
    assert.equal(j.analysis, 'patchSweep');
    assert.equal(j.model_changed, false);
    assert.equal(j.results_changed, false, `max difference ${j.max_abs_diff}`);
    assert.equal(j.results.sweep, 'z');
    assert.equal(r.stderr, '');
    const u = await cli('experiment', file, '--update');
    assert.equal(u.code, 0, u.stderr);
    assert.equal(readFileSync(file, 'utf8'), text, 'an unchanged re-run changes no byte');
  });

  it('warns when the model hash differs, still runs; --update fills results of a hand-written file', async function () {
    const e = JSON.parse(text) as Record<string, unknown> & { model: { sha256: string } };
    const stale = join(dir, 'stale.mlexp.json');
    writeFileSync(stale, JSON.stringify({ ...e, model: { ...e.model, sha256: '0'.repeat(64) } }));
    const r = await cli('experiment', stale);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*not the one this experiment was saved with/);
    const bare = join(dir, 'bare.mlexp.json');
    writeFileSync(bare, JSON.stringify({ mechlens_experiment: 1, model: { dir: DEFAULT_MODEL, sha256: '' }, analysis: 'run', params: { prompt: { text: 'Mary found a' }, topK: 2 } }));
    const u = await cli('experiment', bare, '--update');
    assert.equal(u.code, 0, u.stderr);
    const filled = parseExperiment(readFileSync(bare, 'utf8'), bare);
    assert.equal(filled.model.sha256, modelHash(DEFAULT_MODEL));
    assert.equal((filled.results as { top: unknown[] }).top.length, 2);
  });

  it('a random_init seed in the file runs the re-initialised model', async function () {
    const e = JSON.parse(text) as Record<string, unknown>;
    const f = join(dir, 'random.mlexp.json');
    writeFileSync(f, JSON.stringify({ ...e, random_init: 3 }));
    const run = await runExperiment(f);
    assert.equal(run.resultsChanged, true, 'a random network does not reproduce the trained sweep');
  });

  const bad: Array<[string, string, RegExp]> = [
    ['not JSON', '{"mechlens_experiment": 1,', /is not valid JSON/],
    ['no version', '{"analysis": "run"}', /has no "mechlens_experiment" version field/],
    ['a newer schema', '{"mechlens_experiment": 2}', /newer MechLens \(experiment schema version 2; this one reads up to 1\)/],
    ['an unknown analysis', JSON.stringify({ mechlens_experiment: 1, model: { dir: DEFAULT_MODEL, sha256: '' }, analysis: 'sweepz', params: {} }), /analysis "sweepz" is not one this MechLens knows.*stale/],
    ['a stale param', JSON.stringify({ mechlens_experiment: 1, model: { dir: DEFAULT_MODEL, sha256: '' }, analysis: 'run', params: { prompt: { text: 'a' }, top_k: 3 } }), /params.*top_k/],
    ['a missing model folder', JSON.stringify({ mechlens_experiment: 1, model: { dir: 'no/such/model/folder/here', sha256: '' }, analysis: 'run', params: { prompt: { text: 'a' } } }), /neither a folder nor a model|does not exist/],
    ['an unknown field', JSON.stringify({ mechlens_experiment: 1, model: { dir: DEFAULT_MODEL, sha256: '' }, analysis: 'run', params: { prompt: { text: 'a' } }, resluts: {} }), /unknown field "resluts"/],
  ];
  for (const [what, content, expected] of bad) {
    it(`refuses ${what} with a clear message (exit code 2)`, async function () {
      const f = join(dir, `bad-${what.replace(/\W+/g, '-')}.mlexp.json`);
      writeFileSync(f, content);
      const r = await cli('experiment', f);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, expected);
      assert.ok(r.stderr.includes(f) || /neither a folder/.test(r.stderr), 'the message names the file');
      assert.equal(readFileSync(f, 'utf8'), content, 'the file is left as it was');
    });
  }
});
