// The frozen (linearised) model as a forward pass: attention patterns, every norm's scale and every MLP's
// output held at their values on a clean run of the prompt, a transcoder's linear skip path left live.
// It is what circuit-tracer's `setup_intervention_with_freeze` with every layer constrained computes:
// the model whose direct effects an attribution graph's edges are. The exactness test checks the
// graph's edges against it (an ordinary forward graph, not the backward graphs that computed the edges),
// and feature interventions in "direct effects" mode run on it.
import * as ort from 'onnxruntime-node';
import type { HookEdit } from '../interventions';
import type { Model } from '../model';
import { addEditFeeds, tokenFeed } from '../onnx/feeds';
import { emitForward, forwardOptionsKey } from '../onnx/forwardGraph';
import type { ForwardOptions } from '../onnx/forwardGraph';
import { GraphBuilder } from '../onnx/graphBuilder';
import { UNEMBED_INPUT } from '../onnx/gradientGraph';

export interface FrozenSkip {
  layer: number;
  /** The hook of `layer` the skip path reads (the transcoder's input hook). */
  input: string;
  /** [dIn, d_model]: the skip adds x @ weight to the MLP's output. */
  weight: Float32Array;
}

/** The clean run's frozen quantities, batch 1, ready to feed. */
export interface FrozenState {
  tokens: number[];
  skips: readonly FrozenSkip[];
  feeds: Record<string, ort.Tensor>;
}

function build(model: Model, o: ForwardOptions) {
  const key = `frozen:${forwardOptionsKey(o)}`;
  return model.graphs.get(key, () => {
    const g = new GraphBuilder(true);
    const fwd = emitForward(g, model.spec, o);
    g.op1('Identity', [fwd.finalNormOut!], {}, UNEMBED_INPUT);
    g.output(UNEMBED_INPUT);
    return { bytes: g.build('mechlens_frozen'), weightInputs: g.weightInputs };
  });
}

function options(outputs: Iterable<string>, interventions: Iterable<string>, freezing: ForwardOptions['freezing']): ForwardOptions {
  return {
    startLayer: 0,
    residInput: false,
    outputs: new Set(outputs),
    interventions: new Set(interventions),
    logits: 'none',
    past: false,
    weightsAsInputs: true,
    finalNorm: true,
    freezing,
  };
}

/**
 * Runs the prompt once and keeps what the frozen model holds fixed. With `edits` (batch 1: an
 * intervened run, e.g. an ablation), the frozen quantities are that run's, and every later frozen or
 * backward run must apply the same edits: the linearisation is then of the intervened model.
 */
export async function captureFrozenState(model: Model, tokens: number[], skips: readonly FrozenSkip[] = [], edits: ReadonlyMap<string, HookEdit> = new Map()): Promise<FrozenState> {
  const skipInputs = skips.map((s) => s.input);
  const session = await build(model, options(skipInputs, edits.keys(), { mode: 'capture' }));
  const fetches = session.outputNames.filter((n) => n.startsWith('frozen.'));
  const feedsIn: Record<string, ort.Tensor> = { input_ids: tokenFeed([tokens]) };
  addEditFeeds(feedsIn, edits);
  const out = await session.run(feedsIn, [...fetches, ...skipInputs]);
  const feeds: Record<string, ort.Tensor> = {};
  for (const n of fetches) feeds[n] = out[n]!;
  for (const s of skips) {
    feeds[`frozen.skip_in.${s.layer}`] = out[s.input]!;
    const dIn = s.weight.length / model.config.dModel;
    feeds[`skip.${s.layer}`] = new ort.Tensor('float32', s.weight, [dIn, model.config.dModel]);
  }
  return { tokens, skips, feeds };
}

export interface FrozenRun {
  /** Per requested hook: [batch, ...]. */
  hooks: Map<string, Float32Array>;
  /** The unembedding's input (the final norm's output), [batch, T, d_model]. */
  unembedInput: Float32Array;
}

/** Runs `batch` copies of the prompt through the frozen model, with per-row edits ([batch, ...] each). */
export async function runFrozen(model: Model, state: FrozenState, batch: number, edits: ReadonlyMap<string, HookEdit>, hooks: readonly string[]): Promise<FrozenRun> {
  const skips = state.skips.map((s) => ({ layer: s.layer, input: s.input, dIn: s.weight.length / model.config.dModel }));
  const session = await build(model, options([...hooks, ...skips.map((s) => s.input)], edits.keys(), { mode: 'frozen', skips }));
  const feeds: Record<string, ort.Tensor> = { ...state.feeds, input_ids: tokenFeed(Array.from({ length: batch }, () => state.tokens)) };
  addEditFeeds(feeds, edits);
  const out = await session.run(feeds, [...hooks, UNEMBED_INPUT]);
  return {
    hooks: new Map(hooks.map((h) => [h, out[h]!.data as Float32Array])),
    unembedInput: out[UNEMBED_INPUT]!.data as Float32Array,
  };
}
