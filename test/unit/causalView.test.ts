// The causal view's pure pieces (webview/causal/plot.ts) and the host's checks of what the panel sends
// (src/shared/causalProtocol.ts).
import * as assert from 'node:assert/strict';
import { dasRows, dasSummary, lossCurves, probeRows, sweepHeatmap } from '../../webview/causal/plot';
import type { ThemeColors } from '../../webview/common/theme';
import { validateCausalParams } from '../../src/shared/causalProtocol';
import { hypothesisSchema } from '../../src/shared/causal';
import type { DasResult, DasRun, Hypothesis } from '../../src/shared/causal';

const theme: ThemeColors = { kind: 'dark', foreground: '#ccc', background: '#111', accent: '#39f', muted: '#999', grid: '#333', border: '#444', fontFamily: 'x', fontSize: 13 };

const run = (testIia: number, loss: number[]): DasRun => ({ trainIia: 1, testIia, loss, epochLoss: [loss[0]!], orthogonality: 3e-8, rotation: new Float32Array(8), deltaRms: [1, 2], steps: loss.length, ms: 10 });

const das: DasResult = {
  hypothesis: 'IOI',
  variable: 'IO',
  site: { hook: 'blocks.3.hook_resid_post', positions: [13], dim: 4 },
  rank: 2,
  nTrain: 80,
  nTest: 20,
  chance: 0.1,
  trained: run(0.95, [3, 1, 0.1]),
  controls: { randomLabels: run(0.1, [5, 5, 4.9]), randomInit: { ...run(0, [6, 6, 6]), seed: 1 } },
  verdict: 'Aligned',
  prompt: { ids: [1], texts: ['a'] },
};

const ioi: Hypothesis = {
  templates: ['When {IO} and {S} went to the store, {S} gave the drink to'],
  slots: { IO: ['Mary', 'John'], S: ['Mary', 'John'] },
  output: ' {IO}',
  variables: [{ name: 'IO', site: { hook: 'blocks.3.hook_resid_post', positions: [-1] } }],
};

describe('causal view', () => {
  it('DAS rows put the trained run beside its controls, rank and chance in the summary', () => {
    const rows = dasRows(das);
    assert.deepEqual(rows.map((r) => r.run), ['trained model', 'control: random labels', 'control: random init (seed 1)']);
    assert.equal(rows[0]!.testIia, '95.0%');
    assert.equal(rows[2]!.finalLoss, '6.000');
    assert.match(dasSummary(das), /rank 2 of 4, held-out IIA 95\.0% \(80 train \/ 20 held-out pairs; chance 10\.0%\)/);
    const curves = lossCurves(das, theme);
    assert.equal(curves.data.length, 3);
    assert.deepEqual(curves.data[0]!.x, [1, 2, 3]);
    assert.equal(lossCurves({ ...das, controls: undefined }, theme).data.length, 1);
  });

  it('the IIA heatmap has a row per swept layer and token columns', () => {
    const p = sweepHeatmap({ variable: 'IO', hook: 'blocks.{l}.hook_resid_post', layers: [1, 3], tokens: [' When', ' Mary'], iia: [[0, 1], [0.5, 0]] }, theme);
    const layout = p.layout as { xaxis: { ticktext: string[] }; yaxis: { ticktext: string[] } };
    assert.deepEqual(layout.xaxis.ticktext, ['0 ·When', '1 ·Mary']);
    assert.deepEqual(layout.yaxis.ticktext, ['L1', 'L3']);
    assert.equal((p.data[0] as { zmax: number }).zmax, 1);
  });

  it('probe rows pair accuracy with the causal effects', () => {
    const rows = probeRows({ hook: 'h', layers: [0, 2], positions: [-1], tokens: [], classes: ['a', 'b'], method: 'least_squares', nTrain: 5, nTest: 5, accuracy: [[1], [0.5]], ablationEffect: [[-2], [0]], randomEffect: [[0], [0]], taskAccuracy: 1, taskAccuracyAblated: [[0.2], [1]], steerFlip: [[0.9], [0]], randomSteerFlip: [[0], [0]], chance: 0.5 });
    assert.deepEqual(rows[0], { site: 'L0 pos -1', accuracy: '100.0%', effect: '-2.000', random: '0.000', taskAfter: '20.0%', steered: '90.0%', randomSteered: '0.0%' });
  });

  it('the host refuses panel requests that name files or break the schema', () => {
    assert.doesNotThrow(() => validateCausalParams('causal/das', { hypothesis: ioi, rank: 4 }));
    const withFile = { ...ioi, variables: [{ name: 'IO', site: { hook: 'blocks.3.hook_resid_post', subspace: '/etc/passwd' } }] };
    assert.throws(() => validateCausalParams('causal/iia', { hypothesis: withFile }), /subspace file cannot be named from the panel/);
    assert.throws(() => validateCausalParams('causal/das', { hypothesis: ioi, rank: 0 }), /rank must be/);
    assert.throws(() => validateCausalParams('causal/das', { hypothesis: ioi, rank: 2, out: '/tmp/x' }), /unknown field "out"/);
    assert.throws(() => validateCausalParams('causal/saveExperiment', { kind: 'graph' }), /kind must be one of iia, das, probe/);
    assert.throws(() => hypothesisSchema.parse({ ...ioi, pairs: [] }, 'h'), /either templates .* or pairs/);
    assert.throws(() => hypothesisSchema.parse({ ...ioi, variables: [] }, 'h'), /at least one high-level variable/);
  });
});
