// A loaded model: its spec, tokenizer and the onnxruntime sessions built from it (in `graphs`, a
// SessionCache). One main session (every hook an output, common intervention points, key/value
// cache) serves most requests. Other graph shapes (starting at a later layer from a residual input,
// rarer intervention points, gradient graphs) are variants built on demand and cached; they read the
// same float32 weights as fed inputs, so a new variant costs a graph build (milliseconds), not
// another copy of the weights.
import './privacy'; // before onnxruntime-node loads, for library users of Model too
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { UserError, throwIfAborted } from './errors';
import { MiB, readJsonFile } from './files';
import { allHooks, hookDims, hookRank, isMainInterventionPoint, localHookName, parseHookName } from './hooks';
import { compileInterventions } from './interventions';
import { resolveFeatureInterventions } from './attribution/featureEdits';
import type { HookEdit, SourceActivations } from './interventions';
import { startLoadingCheckpoint } from './checkpoint/load';
import type { LoadOptions, LoadedCheckpoint } from './checkpoint/load';
import type { PromptTokenizer } from './checkpoint/tokenizer';
import type { ModelConfig, ModelSpec } from './architectures/spec';
import { buildForwardGraph, forwardOptionsKey } from './onnx/forwardGraph';
import type { ForwardOptions } from './onnx/forwardGraph';
import type { GraphSession, SessionSettings } from './onnx/session';
import { SessionCache } from './onnx/sessionCache';
import { addEditFeeds, tokenFeed } from './onnx/feeds';
import type { HookName } from './hooks';
import type { Intervention } from '../shared/interventions';
import type { ModelInfo, TokenizedPrompt } from '../shared/modelInfo';
import { numel, withoutBatch, type NamedTensor } from '../shared/tensor';

/**
 * Every graph reads the one float32 copy of the weights the engine holds, fed as inputs (no graph bakes
 * them in as initializers: onnxruntime would keep two more copies, and a fed weight multiplied as the
 * left operand, as forwardGraph.ts does, needs no pre-packing to be fast).
 */
export type ModelLoadOptions = LoadOptions & Partial<SessionSettings>;


export interface ForwardRequest {
  /** Token ids per batch row; rows must have equal length. */
  tokens?: number[][];
  /** Instead of tokens: the residual stream entering `startLayer` (which may be 0), [B, n, d_model]. */
  resid?: NamedTensor;
  startLayer?: number;
  hooks?: readonly HookName[];
  interventions?: readonly Intervention[];
  logits?: 'all' | 'last' | 'none';
  /**
   * Precomputed edits (x * keep + add) per hook, for engine algorithms that set activations directly
   * (e.g. replacing MLP outputs by transcoder reconstructions). Applied instead of `interventions`.
   */
  edits?: ReadonlyMap<string, HookEdit>;
  /** Return a per-row summary of the logits (top-k, log-sum-exp, target logits and ranks) instead of them. */
  summary?: { topK: number; targets: number[] };
  /**
   * Key/value cache from a previous call (incremental decoding), or of the positions before a residual input
   * (`resid` with `startLayer`: the cache of layers startLayer on).
   */
  past?: KvCache;
  /** Return the key/value cache for the next call (of layers startLayer on). */
  returnCache?: boolean;
  /**
   * Run a graph of exactly these outputs (a cached variant), never the main session. The main graph exposes every
   * hook, and onnxruntime keeps every graph output's buffer to the end of a run, fetched or not: at T = 1024 on
   * GPT-2 small that is gigabytes (every layer's scores and patterns) and the unembedding of every position.
   */
  only?: boolean;
  signal?: AbortSignal;
}

export interface KvCache {
  /** Cached positions. */
  length: number;
  tensors: Record<string, ort.Tensor>;
}

export interface LogitSummary {
  /** Rows are [batch * positions] in order; k values / ids per row, largest first. */
  topValues: Float32Array;
  topIndices: BigInt64Array;
  logSumExp: Float32Array;
  /** [rows, n_targets] */
  targetLogits: Float32Array;
  targetRanks: BigInt64Array;
  k: number;
}

export interface ForwardResult {
  /** [B, n or 1, d_vocab] */
  logits?: NamedTensor;
  summary?: LogitSummary;
  hooks: Map<string, NamedTensor>;
  cache?: KvCache;
}

export class Model {
  readonly config: ModelConfig;
  /** Every onnxruntime session of this model (forward variants, gradient graphs), over one copy of the weights. */
  readonly graphs: SessionCache;

  private constructor(
    readonly spec: ModelSpec,
    readonly info: ModelInfo,
    readonly tokenizer: PromptTokenizer | undefined,
    settings: SessionSettings,
    graphs = new SessionCache(settings),
  ) {
    this.config = spec.config;
    this.graphs = graphs;
    this.mainInterventions = new Set(this.hookNames().filter((h) => isMainInterventionPoint(localHookName(h))));
  }

  private readonly mainInterventions: ReadonlySet<string>;
  /** In-distribution repeated sequences for the head detectors, when the model folder ships them. */
  headProbe: number[][] | undefined;
  private readonly identity = {
    keep: [new ort.Tensor('float32', Float32Array.from([1]), [1, 1, 1]), new ort.Tensor('float32', Float32Array.from([1]), [1, 1, 1, 1])],
    add: [new ort.Tensor('float32', Float32Array.from([0]), [1, 1, 1]), new ort.Tensor('float32', Float32Array.from([0]), [1, 1, 1, 1])],
  };

  static async load(dir: string, options: ModelLoadOptions = {}): Promise<Model> {
    const loading = startLoadingCheckpoint(dir, options);
    const settings: SessionSettings = { threads: clampThreads(options.threads ?? 0), executionProvider: options.executionProvider ?? 'cpu' };
    // The graph the first prompt runs (inline inspection and the prompt panel ask for every position's logits,
    // no hooks, no edits) depends on shapes only, so its session is built while the weights are read on
    // background threads: a fifth of a second of the load for GPT-2 small.
    const graphs = new SessionCache(settings);
    const shapesOnly = new Model(loading.shapes, loading.info, undefined, settings, graphs);
    // Its failure is reported by the first session below.
    graphs.buildAhead(buildForwardGraph(loading.shapes, shapesOnly.plainOptions('all', false, false)).bytes).catch(() => undefined);
    let loaded: LoadedCheckpoint;
    try {
      loaded = await loading.loaded;
    } catch (e) {
      await graphs.dispose();
      throw e;
    }
    const model = new Model(loaded.spec, loaded.info, loaded.tokenizer, settings, graphs);
    model.headProbe = readHeadProbe(dir, model.config.dVocab);
    options.onProgress?.('Building the model graph', 0.8);
    // Fail now, not on the first prompt; its first answer waits for no build.
    await model.session(model.plainOptions('all', false, false));
    return model;
  }

  /** A model from a spec in memory, with no folder (the random-init control, src/engine/randomInit.ts). */
  static async fromSpec(spec: ModelSpec, info: ModelInfo, tokenizer: PromptTokenizer | undefined, options: Partial<SessionSettings> = {}): Promise<Model> {
    const model = new Model(spec, info, tokenizer, { threads: clampThreads(options.threads ?? 0), executionProvider: options.executionProvider ?? 'cpu' });
    await model.session(model.plainOptions('all', false, false));
    return model;
  }

  /** Every hook this model exposes, in forward order. */
  hookNames(): HookName[] {
    return allHooks(this.config);
  }

  tokenize(text: string): TokenizedPrompt {
    if (!this.tokenizer) throw new UserError(`${this.info.name} has no tokenizer.json: give the prompt as token ids.`);
    if (text.length === 0) throw new UserError('The prompt is empty.');
    const t = this.tokenizer.encode(text);
    if (t.ids.length === 0) throw new UserError('The prompt produced no tokens.');
    return t;
  }

  tokenText(id: number): string {
    return this.tokenizer ? this.tokenizer.tokenText(id) : `<${id}>`;
  }

  /** Describes token ids given directly (no spans). */
  describeTokens(ids: number[]): TokenizedPrompt {
    this.checkTokens([ids]);
    return { ids, texts: ids.map((id) => this.tokenText(id)) };
  }

  decode(ids: number[]): string {
    return this.tokenizer ? this.tokenizer.decode(ids) : ids.join(' ');
  }

  checkTokens(rows: number[][], offset = 0): void {
    if (rows.length === 0) throw new UserError('No prompts were given.');
    const n = rows[0]!.length;
    if (n === 0) throw new UserError('The prompt is empty.');
    for (const r of rows) {
      if (r.length !== n) throw new UserError(`Prompts in one batch must have equal token lengths (got ${n} and ${r.length}).`);
      for (const id of r) {
        if (!Number.isInteger(id) || id < 0 || id >= this.config.dVocab) throw new UserError(`Token id ${id} is outside the vocabulary (0..${this.config.dVocab - 1}).`);
      }
    }
    if (offset + n > this.config.nCtx) {
      throw new UserError(`The prompt has ${offset + n} tokens but ${this.info.name} has a context of ${this.config.nCtx}. Shorten the prompt.`);
    }
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    // Feature interventions become adds first: their deltas need this run's own activations.
    if (req.interventions?.some((iv) => iv.kind === 'feature')) return this.forward({ ...req, interventions: await resolveFeatureInterventions(this, req) });
    const startLayer = req.startLayer ?? 0;
    const hooks = [...new Set(req.hooks ?? [])];
    if (hooks.length === 0 && req.logits === 'none' && !req.returnCache) throw new Error('internal: a forward must return logits, hooks or a cache');
    for (const h of hooks) {
      const p = parseHookName(h, this.config);
      if (p.layer !== null && p.layer < startLayer) throw new Error(`internal: hook ${h} is below the start layer ${startLayer}`);
    }
    let B: number;
    let n: number;
    const feeds: Record<string, ort.Tensor> = {};
    const offset = req.past?.length ?? 0;
    if (req.interventions?.length) await this.prepareSources(req.interventions, req.signal);
    if (!req.resid) {
      if (!req.tokens) throw new Error('internal: forward needs tokens');
      if (startLayer !== 0) throw new Error('internal: forward from a later layer needs resid');
      this.checkTokens(req.tokens, offset);
      B = req.tokens.length;
      n = req.tokens[0]!.length;
      feeds.input_ids = tokenFeed(req.tokens);
    } else {
      [B, n] = req.resid.shape as [number, number];
      feeds.resid = new ort.Tensor('float32', req.resid.data, req.resid.shape);
    }
    if (req.edits && req.interventions?.length) throw new Error('internal: give interventions or edits, not both');
    const edits = req.edits
      ? new Map(req.edits)
      : req.interventions?.length
      ? compileInterventions(req.interventions, { config: this.config, batch: B, seq: n, offset }, this.sourceActivations(await this.subspaceBases(req, B, n, offset)))
      : new Map<string, HookEdit>();
    const wantCache = req.past !== undefined || req.returnCache === true;
    const logitsMode = req.logits ?? 'all';
    // The main session serves every whole-model forward whose interventions it has inputs for;
    // other shapes (a later start layer, a residual input, rarer intervention points) get a variant.
    const useMain = !req.only && !req.resid && !req.summary && startLayer === 0 && [...edits.keys()].every((h) => this.mainInterventions.has(h));
    // A main-session forward that fetches no hook runs the main graph without hook outputs (and without
    // intervention points when it has no edits): onnxruntime holds every graph output until a run ends,
    // fetched or not, so the main graph keeps GPT-2-small's 244 hooks alive (2.4 GB at T = 1024).
    const options: ForwardOptions = useMain
      ? hooks.length === 0
        ? this.plainOptions(logitsMode, edits.size > 0, n === 1)
        : edits.size > 0
        ? this.mainOptions(n === 1)
        : this.cacheOptions(n === 1)
      : {
          startLayer,
          residInput: req.resid !== undefined,
          outputs: new Set(hooks),
          interventions: new Set(edits.keys()),
          logits: logitsMode,
          past: wantCache,
          weightsAsInputs: true,
          summary: req.summary ? { topK: req.summary.topK } : undefined,
          onePosition: n === 1,
        };
    if (req.summary) {
      if (logitsMode === 'none') throw new Error('internal: a logit summary needs logits');
      for (const t of req.summary.targets) if (!Number.isInteger(t) || t < 0 || t >= this.config.dVocab) throw new UserError(`Target token ${t} is outside the vocabulary.`);
      feeds.targets = new ort.Tensor('int64', BigInt64Array.from(req.summary.targets.map(BigInt)), [req.summary.targets.length]);
    }
    addEditFeeds(feeds, edits);
    if (useMain) {
      // Unused intervention points are fed the identity (x * 1 + 0), broadcast from one element.
      for (const hook of options.interventions) {
        if (edits.has(hook)) continue;
        const rank = hookRank(localHookName(hook));
        feeds[`keep.${hook}`] = this.identity.keep[rank - 3]!;
        feeds[`add.${hook}`] = this.identity.add[rank - 3]!;
      }
    }
    if (options.past) {
      const { nKvHeads: Hkv, dHead: dh, nLayers } = this.config;
      for (let l = startLayer; l < nLayers; l++) {
        for (const kv of ['k', 'v']) {
          feeds[`past.${l}.${kv}`] = req.past?.tensors[`present.${l}.${kv}`] ?? new ort.Tensor('float32', new Float32Array(0), [B, Hkv, 0, dh]);
        }
      }
    }
    throwIfAborted(req.signal);
    const session = await this.session(options);
    throwIfAborted(req.signal);
    const fetches: string[] = [...hooks];
    if (req.summary) fetches.push('top_values', 'top_indices', 'logsumexp', 'target_logits', 'target_ranks');
    else if (logitsMode !== 'none') fetches.push('logits');
    // A cache read but not asked back is not copied out (a patched run from a long prompt's cache).
    if (req.returnCache) for (let l = startLayer; l < this.config.nLayers; l++) fetches.push(`present.${l}.k`, `present.${l}.v`);
    const out = await session.run(feeds, fetches);
    const result: ForwardResult = { hooks: new Map() };
    for (const h of hooks) {
      const t = out[h]!;
      const p = parseHookName(h, this.config);
      const { dims } = hookDims(this.config, p.local, B, n, offset + n);
      result.hooks.set(h, { shape: t.dims.slice(), dims, data: t.data as Float32Array });
    }
    if (req.summary) {
      result.summary = {
        topValues: out.top_values!.data as Float32Array,
        topIndices: out.top_indices!.data as BigInt64Array,
        logSumExp: out.logsumexp!.data as Float32Array,
        targetLogits: out.target_logits!.data as Float32Array,
        targetRanks: out.target_ranks!.data as BigInt64Array,
        k: out.top_values!.dims[1]!,
      };
    }
    if (out.logits) {
      let data = out.logits.data as Float32Array;
      // The graph's logits are [B * rows, d_vocab] (no copy to reshape them there).
      const shape = [B, out.logits.dims[0]! / B, out.logits.dims[1]!];
      if (logitsMode === 'last' && shape[1]! > 1) {
        // The main session unembeds every position; keep the last one per row.
        const V = this.config.dVocab;
        const T = shape[1]!;
        const last = new Float32Array(B * V);
        for (let b = 0; b < B; b++) last.set(data.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
        data = last;
        shape[1] = 1;
      }
      result.logits = { shape, dims: ['batch', 'pos', 'd_vocab'], data };
    }
    if (req.returnCache) {
      const tensors: Record<string, ort.Tensor> = {};
      for (let l = startLayer; l < this.config.nLayers; l++) for (const kv of ['k', 'v']) tensors[`present.${l}.${kv}`] = out[`present.${l}.${kv}`]!;
      result.cache = { length: offset + n, tensors };
    }
    return result;
  }

  /** Logits for one prompt: [pos][vocab] (or the last position only). */
  async run(tokens: number[], options: { interventions?: readonly Intervention[]; lastOnly?: boolean; signal?: AbortSignal } = {}): Promise<NamedTensor> {
    const r = await this.forward({ tokens: [tokens], interventions: options.interventions, logits: options.lastOnly ? 'last' : 'all', signal: options.signal });
    return withoutBatch(r.logits!);
  }

  /** Runs one prompt and returns the activations at the requested hooks (batch dim kept, = 1). */
  async runWithCache(tokens: number[], hookNames: readonly string[], options: { interventions?: readonly Intervention[]; signal?: AbortSignal; logits?: boolean } = {}): Promise<ForwardResult> {
    // Names from users become HookNames here (unknown ones are refused with the nearest valid names).
    const hooks = hookNames.map((h) => parseHookName(h, this.config).name);
    return this.forward({ tokens: [tokens], hooks, interventions: options.interventions, logits: options.logits === false ? 'none' : 'all', signal: options.signal });
  }

  /**
   * Continues a prompt. With `useCache` (default) each step feeds only the new token and reuses the
   * keys/values of earlier positions; without it every step reruns the whole sequence.
   */
  async generate(
    tokens: number[],
    options: { maxNewTokens: number; temperature?: number; seed?: number; interventions?: readonly Intervention[]; useCache?: boolean; signal?: AbortSignal; onToken?: (id: number) => void },
  ): Promise<number[]> {
    const { maxNewTokens, temperature = 0, interventions } = options;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new UserError('maxNewTokens must be a non-negative integer.');
    if (tokens.length + maxNewTokens > this.config.nCtx) {
      throw new UserError(`Prompt (${tokens.length} tokens) plus ${maxNewTokens} new tokens exceeds the context of ${this.config.nCtx}.`);
    }
    const rand = mulberry32(options.seed ?? 0);
    const seq = tokens.slice();
    const useCache = options.useCache !== false;
    let cache: KvCache | undefined;
    let pending = tokens.slice();
    for (let i = 0; i < maxNewTokens; i++) {
      throwIfAborted(options.signal);
      const r = useCache
        ? await this.forward({ tokens: [pending], past: cache, returnCache: true, logits: 'last', interventions, signal: options.signal })
        : await this.forward({ tokens: [seq], logits: 'last', interventions, signal: options.signal });
      throwIfAborted(options.signal); // a cancel during the forward: no token, no progress after it
      cache = r.cache;
      const logits = r.logits!.data;
      const next = temperature > 0 ? sample(logits, temperature, rand) : argmax(logits);
      seq.push(next);
      pending = [next];
      options.onToken?.(next);
    }
    return seq.slice(tokens.length);
  }

  /**
   * The edits (x * keep + add) `interventions` make on one prompt of `seq` tokens, batch 1: for engine
   * algorithms that run other graphs of the same forward (attribution graphs' frozen and backward runs).
   */
  async compileEdits(interventions: readonly Intervention[], seq: number, signal?: AbortSignal): Promise<Map<string, HookEdit>> {
    await this.prepareSources(interventions, signal);
    return compileInterventions(interventions, { config: this.config, batch: 1, seq, offset: 0 }, this.sourceActivations());
  }

  /**
   * The h of each subspace intervention in `req`: its hook's activation in this same run (same input, key/value
   * cache and rows) under every intervention before it: those on earlier hooks in forward order, and those
   * earlier in the list on its own hook (later ones cannot reach it). One extra forward each, in forward order,
   * so an earlier subspace's h is known when a later one's run applies it.
   */
  private async subspaceBases(req: ForwardRequest, batch: number, seq: number, offset: number): Promise<Map<Intervention, NamedTensor> | undefined> {
    const list = req.interventions ?? [];
    if (!list.some((iv) => iv.kind === 'subspace')) return undefined;
    const order = new Map<string, number>(this.hookNames().map((h, i) => [h, i]));
    // Feature interventions were made adds at the start of forward(); were one left, it writes at its layer's MLP output.
    const at = list.map((iv) => order.get(parseHookName(iv.kind === 'feature' ? `blocks.${iv.layer}.hook_mlp_out` : iv.hook, this.config).name)!);
    const bases = new Map<Intervention, NamedTensor>();
    const subspaces = list.flatMap((iv, i) => (iv.kind === 'subspace' ? [i] : [])).sort((a, b) => at[a]! - at[b]! || a - b);
    for (const i of subspaces) {
      const before = (j: number) => at[j]! < at[i]! || (at[j] === at[i] && j < i);
      const edits = compileInterventions(list, { config: this.config, batch, seq, offset }, this.sourceActivations(bases), before);
      const hook = parseHookName((list[i] as Intervention & { kind: 'subspace' }).hook, this.config).name;
      const r = await this.forward({ tokens: req.tokens, resid: req.resid, startLayer: req.startLayer, past: req.past, edits, hooks: [hook], logits: 'none', signal: req.signal });
      bases.set(list[i]!, r.hooks.get(hook)!);
    }
    return bases;
  }

  /** Reads the source activations `prepareSources` ran (compileInterventions itself is synchronous), and subspace bases. */
  private sourceActivations(bases?: ReadonlyMap<Intervention, NamedTensor>): SourceActivations {
    return {
      patch: (iv) => {
        const v = this.preparedSources.get(sourceKey(iv.hook, iv.source.tokens));
        if (!v) throw new Error('internal: patch source was not prepared');
        return v;
      },
      base: (iv) => {
        const v = bases?.get(iv);
        // Only Model.forward knows the run's input that h comes from.
        if (!v) throw new UserError(`A subspace intervention (${iv.hook}) cannot be applied here: it needs its own run's activations; use it in a forward run (run, generate, the views), not in this analysis.`);
        return v;
      },
      mean: (iv) => {
        const v = this.preparedMeans.get(sourceKey(iv.hook, iv.reference.flatMap((r) => [-1, ...r.tokens])));
        if (!v) throw new Error('internal: mean reference was not prepared');
        return v;
      },
    };
  }

  private readonly preparedSources = new Map<string, NamedTensor>();
  private readonly preparedMeans = new Map<string, Float32Array>();

  /** Runs the prompts that patch and mean interventions read from, once each. */
  async prepareSources(interventions: readonly Intervention[] | undefined, signal?: AbortSignal): Promise<void> {
    for (const iv of interventions ?? []) {
      if (iv.kind === 'patch' || (iv.kind === 'subspace' && iv.source)) {
        const key = sourceKey(iv.hook, iv.source!.tokens);
        if (this.preparedSources.has(key)) continue;
        const r = await this.forward({ tokens: [iv.source!.tokens], hooks: [parseHookName(iv.hook, this.config).name], logits: 'none', signal });
        this.preparedSources.set(key, r.hooks.get(iv.hook)!);
      } else if (iv.kind === 'mean') {
        const key = sourceKey(iv.hook, iv.reference.flatMap((r) => [-1, ...r.tokens]));
        if (this.preparedMeans.has(key)) continue;
        const p = parseHookName(iv.hook, this.config);
        if (p.local === 'attn.hook_pattern') throw new UserError('Mean ablation of attention patterns is not defined (their length depends on the position); use zero or patch.');
        let sum: Float64Array | null = null;
        let count = 0;
        for (const ref of iv.reference) {
          const r = await this.forward({ tokens: [ref.tokens], hooks: [p.name], logits: 'none', signal });
          const t = r.hooks.get(iv.hook)!;
          const per = numel(t.shape.slice(2));
          const T = t.shape[1]!;
          sum ??= new Float64Array(per);
          for (let pos = 0; pos < T; pos++) for (let j = 0; j < per; j++) sum[j]! += t.data[pos * per + j]!;
          count += T;
        }
        this.preparedMeans.set(key, Float32Array.from(sum!, (v) => v / count));
      }
    }
    // Keep the tables small: they only serve the next forward.
    while (this.preparedSources.size > 64) this.preparedSources.delete(this.preparedSources.keys().next().value!);
    while (this.preparedMeans.size > 64) this.preparedMeans.delete(this.preparedMeans.keys().next().value!);
  }

  /**
   * The main graph: every hook an output, interventions at the points people patch, ablate and steer
   * most, and a key/value cache. Hooks not fetched cost little: they are intermediate values the
   * forward computes anyway.
   */
  mainOptions(onePosition = false): ForwardOptions {
    const main = this.pinnedOptions('main', () => ({
      startLayer: 0,
      residInput: false,
      outputs: new Set(this.hookNames()),
      interventions: this.mainInterventions,
      logits: 'all',
      past: true,
      weightsAsInputs: true,
    }));
    // Decoding steps (one position) get the same graph with matrix products arranged for one row.
    return onePosition ? this.pinnedOptions('main-step', () => ({ ...main, onePosition: true })) : main;
  }

  /**
   * The main graph without intervention points, for forwards that fetch hooks and edit nothing (caching,
   * a patch's clean and source runs): each point fed the identity would still cost a multiply and an add
   * over its activation.
   */
  private cacheOptions(onePosition: boolean): ForwardOptions {
    return this.pinnedOptions(`cache:${onePosition}`, () => ({ ...this.mainOptions(onePosition), interventions: new Set<string>() }));
  }

  /**
   * The main graph without hook outputs, for forwards that fetch none (run, generate): the main
   * intervention points when the run has edits, none otherwise; logits as asked.
   */
  private plainOptions(logits: 'all' | 'last' | 'none', interventions: boolean, onePosition: boolean): ForwardOptions {
    return this.pinnedOptions(`plain:${logits}:${interventions}:${onePosition}`, () => ({
      ...this.mainOptions(onePosition),
      outputs: new Set<string>(),
      interventions: interventions ? this.mainInterventions : new Set<string>(),
      logits,
    }));
  }

  /**
   * The options of the graphs that serve most requests (the main graph and its forms above), by name: each
   * object is made once, and its session is looked up by that name and never evicted.
   */
  private readonly pinned = new Map<string, ForwardOptions>();

  private pinnedOptions(name: string, make: () => ForwardOptions): ForwardOptions {
    let o = this.pinned.get(name);
    if (!o) this.pinned.set(name, (o = make()));
    return o;
  }

  private session(options: ForwardOptions): Promise<GraphSession> {
    const name = [...this.pinned].find(([, o]) => o === options)?.[0];
    return this.graphs.get(name ?? forwardOptionsKey(options), () => buildForwardGraph(this.spec, options), { pin: name !== undefined });
  }

  async dispose(): Promise<void> {
    await this.graphs.dispose();
  }
}

/**
 * Intra-op threads per session: 0 (onnxruntime's choice, its physical cores) or at most this machine's
 * cores. onnxruntime-node exposes no global thread pool, and every cached session (up to 24) owns a pool,
 * so an unclamped setting multiplies: 256 threads once gave 6,133 OS threads.
 */
export function clampThreads(threads: number, cores = availableParallelism()): number {
  if (!Number.isFinite(threads) || threads <= 0) return 0;
  return Math.min(Math.floor(threads), cores);
}

/** Reads `eval/head_probe.json` (`{"repeated": [[ids...], ...]}`) if the model folder has one. */
function readHeadProbe(dir: string, dVocab: number): number[][] | undefined {
  const file = join(dir, 'eval', 'head_probe.json');
  try {
    const json = readJsonFile(file, 'eval/head_probe.json', 16 * MiB);
    const rows = typeof json === 'object' && json !== null ? (json as { repeated?: unknown }).repeated : undefined;
    if (!Array.isArray(rows) || rows.length === 0) return undefined;
    const valid = rows.every((r) => Array.isArray(r) && r.length >= 2 && r.every((t) => Number.isInteger(t) && t >= 0 && t < dVocab));
    return valid ? (rows as number[][]) : undefined;
  } catch {
    return undefined; // a missing or unreadable probe file only means the default probe is used
  }
}

function sourceKey(hook: string, tokens: number[]): string {
  return `${hook}|${tokens.join(',')}`;
}

export function argmax(a: Float32Array, start = 0, end = a.length): number {
  let best = start;
  for (let i = start + 1; i < end; i++) if (a[i]! > a[best]!) best = i;
  return best - start;
}

export function sample(logits: Float32Array, temperature: number, rand: () => number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const p = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp((logits[i]! - max) / temperature);
  let u = rand() * sum;
  for (let i = 0; i < p.length; i++) {
    u -= p[i]!;
    if (u <= 0) return i;
  }
  return p.length - 1;
}

/** A small seeded PRNG so sampled generation is reproducible. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
