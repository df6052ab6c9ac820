// The host's side of click-to-patch: one InterventionStore for every view, the RPC handlers each view
// merges into its own table (add / remove / undo / clear / compare), the compilation of the active specs
// against a view's prompt into engine interventions, and the before/after comparison (two runs of the
// prompt: clean and under the interventions).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineClient } from './engineClient';
import type { FeatureSitesView, InterventionHostProtocol, InterventionNotifications, InterventionStateView } from '../shared/interventionProtocol';
import { corpusMeanActivation } from '../shared/features';
import type { Intervention } from '../shared/interventions';
import type { ModelInfo } from '../shared/modelInfo';
import { compareLogits, checkAgainstModel, uiInterventionSchema, uiLabel } from '../shared/patchUi';
import { checkSubspace, compileUiSpec, subspaceLabel } from '../shared/subspaceUi';
import type { UiSubspace } from '../shared/subspaceUi';
import { pickSubspace } from './subspacePicker';
import type { Comparison, CompileContext, FeatureSiteInfo } from '../shared/patchUi';
import { noTranscodersReason } from '../shared/patchUi';
import { displayToken } from '../shared/tokenText';
import type { Handlers } from '../shared/rpc';
import { RpcError } from '../shared/rpc';
import { InterventionStore, MAX_REFERENCE } from './interventionStore';

/** A view's prompt, or null when it shows none. */
export type PromptOf = () => string | null;

/** Features per layer a token's menu lists as active there. */
const ACTIVE_FEATURES = 8;

/** Top tokens of each run shown in the comparison. */
const COMPARE_K = 5;
/** Prompts whose tokens are kept (one per open view, and some). */
const TOKEN_CACHE = 16 + MAX_REFERENCE;

export class InterventionService {
  readonly store = new InterventionStore();
  /** Compare round trips answered (tests). */
  compares = 0;

  constructor(
    private readonly engine: EngineClient,
    private readonly ensureModel: () => Promise<ModelInfo | undefined>,
    /** Loads the model with the random-init control on (a seed) or off. */
    private readonly loadRandomInit: (seed: number | undefined) => Promise<ModelInfo | undefined>,
  ) {}

  private async model(): Promise<ModelInfo> {
    const info = await this.ensureModel();
    if (!info) throw new RpcError('cancelled', 'No model is loaded.');
    return info;
  }

  /** Recent tokenizations, by model and text: every click compiles the views' prompts again. */
  private readonly tokenCache = new Map<string, { ids: number[]; texts: string[] }>();

  private async tokens(text: string, signal?: AbortSignal): Promise<{ ids: number[]; texts: string[] }> {
    const key = `${this.engine.loadedModel?.dir ?? ''}\0${text}`;
    const hit = this.tokenCache.get(key);
    if (hit) return hit;
    const t = await this.engine.call('tokenize', { text }, { signal });
    const value = { ids: t.ids, texts: t.texts };
    this.tokenCache.set(key, value);
    if (this.tokenCache.size > TOKEN_CACHE) this.tokenCache.delete(this.tokenCache.keys().next().value!);
    return value;
  }

  private async context(info: ModelInfo, prompt: number[], signal?: AbortSignal): Promise<CompileContext> {
    const cf = this.store.counterfactual;
    let counterfactual: number[] | undefined;
    if (cf !== null) {
      counterfactual = (await this.tokens(cf, signal)).ids;
    }
    const refs = this.store.reference;
    const reference = refs ? await Promise.all(refs.map(async (text) => (await this.tokens(text, signal)).ids)) : undefined;
    const features = this.store.specs.flatMap((s) => (s.site === 'feature' ? [s] : []));
    if (features.length === 0) return { nLayers: info.nLayers, nHeads: info.nHeads, hasResidMid: true, prompt, counterfactual, reference };
    const featureMeans = new Map<string, number>();
    for (const s of features) {
      const m = s.kind === 'mean' ? await this.featureMean(info, s.layer, s.feature) : undefined;
      if (m !== undefined) featureMeans.set(`${s.layer}:${s.feature}`, m);
    }
    return { nLayers: info.nLayers, nHeads: info.nHeads, hasResidMid: true, prompt, counterfactual, reference, features: await this.featureInfo(info), featureMeans };
  }

  private featureInfoCache: { key: string; value: FeatureSiteInfo } | undefined;

  /** The model's transcoders as feature sites (features per layer), or why there are none: the model folder's transcoders/, never a path from a view. */
  private async featureInfo(info: ModelInfo): Promise<FeatureSiteInfo> {
    const key = `${info.dir}\0${info.name}`;
    if (this.featureInfoCache?.key === key) return this.featureInfoCache.value;
    let value: FeatureSiteInfo;
    if (!existsSync(join(info.dir, 'transcoders'))) value = { missing: noTranscodersReason(info.name) };
    else {
      try {
        value = { nFeatures: (await this.engine.call('analysis/featureSites', {})).nFeatures };
      } catch (e) {
        // A set that does not load (a missing file, a mismatch) is shown as the reason; anything else is an error.
        if (!(e instanceof RpcError) || e.code !== 'bad-input') throw e;
        value = { missing: `${info.name}'s transcoders cannot be used: ${e.message}` };
      }
    }
    this.featureInfoCache = { key, value };
    return value;
  }

  /** Feature means from the model's dashboards (its features/), by model and feature; null: none, use the reference prompts. */
  private readonly featureMeans = new Map<string, number | null>();

  private async featureMean(info: ModelInfo, layer: number, index: number): Promise<number | undefined> {
    const key = `${info.dir}\0${layer}:${index}`;
    if (!this.featureMeans.has(key)) {
      let mean: number | null = null;
      try {
        mean = corpusMeanActivation(await this.engine.call('analysis/featureDetails', { layer, index })) ?? null;
      } catch (e) {
        if (!(e instanceof RpcError) || e.code !== 'bad-input') throw e;
      }
      this.featureMeans.set(key, mean);
    }
    return this.featureMeans.get(key) ?? undefined;
  }

  /** The feature sites a click at `position` of the view's prompt (`text`) offers. */
  async featureSites(text: string | null, position: number, signal?: AbortSignal): Promise<FeatureSitesView> {
    const info = await this.model();
    const f = await this.featureInfo(info);
    if ('missing' in f) return { available: false, reason: f.missing };
    if (!text) return { available: true, nFeatures: f.nFeatures, active: [] };
    const r = await this.engine.call('analysis/featureSites', { prompt: { text }, position, top: ACTIVE_FEATURES }, { signal });
    return { available: true, nFeatures: r.nFeatures, active: r.active ?? [] };
  }

  /** The engine interventions of the active specs on `text` (undefined when none are active). */
  async compile(text: string, signal?: AbortSignal): Promise<Intervention[] | undefined> {
    const specs = this.store.specs;
    if (specs.length === 0) return undefined;
    const info = await this.model();
    const ctx = await this.context(info, (await this.tokens(text, signal)).ids, signal);
    const labels = this.store.view().chips;
    return specs.flatMap((s, i) => compileUiSpec(s, ctx, `Intervention ${i + 1} (${labels[i]?.label ?? s.site})`));
  }

  /** Adds `spec` sent by a view showing `text`: checked against the model and that prompt, labelled with its tokens. */
  async add(untrusted: unknown, text: string | null, signal?: AbortSignal): Promise<InterventionStateView> {
    const spec = uiInterventionSchema.parse(untrusted, 'intervention');
    const info = await this.model();
    const t = text ? await this.tokens(text, signal) : { ids: [], texts: [] };
    if (spec.positions?.length && !text) throw new RpcError('bad-input', 'This view shows no prompt: choose all positions, or open a prompt first.');
    const features = spec.site === 'feature' ? await this.featureInfo(info) : undefined;
    checkAgainstModel(spec, { nLayers: info.nLayers, nHeads: info.nHeads, hasResidMid: true, prompt: t.ids, ...(features ? { features } : {}) });
    return this.store.add(spec, uiLabel(spec, (p) => (t.texts[p] === undefined ? undefined : displayToken(t.texts[p]))));
  }

  /**
   * Adds a subspace spec the host made (from a file it read, or the Causal panel's DAS result), checked against the
   * model and, when a view shows one, its prompt (`text`), labelled with that prompt's tokens.
   */
  async addSubspace(spec: UiSubspace, text: string | null, signal?: AbortSignal): Promise<InterventionStateView> {
    const info = await this.model();
    const t = text ? await this.tokens(text, signal) : { ids: [], texts: [] };
    if (text) checkSubspace(spec, { nLayers: info.nLayers, nHeads: info.nHeads, hasResidMid: true, prompt: t.ids });
    return this.store.add(spec, subspaceLabel(spec, (p) => (t.texts[p] === undefined ? undefined : displayToken(t.texts[p]))));
  }

  /** The prompt's last-position next-token distribution, clean and under the interventions. */
  async compare(text: string, signal?: AbortSignal): Promise<Comparison | null> {
    const interventions = await this.compile(text, signal);
    if (!interventions) return null;
    const prompt = { text };
    const clean = await this.engine.call('analysis/run', { prompt, topK: COMPARE_K }, { signal });
    const patched = await this.engine.call('analysis/run', { prompt, topK: COMPARE_K, interventions }, { signal });
    // The compared rows are each run's top COMPARE_K, so the runs' own top lists name them all.
    const texts = new Map([...clean.top, ...patched.top].map((t) => [t.id, t.text]));
    const c = compareLogits(clean.logits.data, patched.logits.data, (id) => texts.get(id) ?? `#${id}`, COMPARE_K, clean.tokens.ids.length - 1);
    this.compares++;
    return c;
  }

  /** The handlers a view merges into its table; `promptOf` gives the text that view shows. */
  handlers(promptOf: PromptOf): Handlers<InterventionHostProtocol, InterventionNotifications> {
    return {
      'interventions/get': () => this.store.view(),
      'interventions/add': ({ spec }, ctx) => this.add(spec, promptOf(), ctx.signal),
      'interventions/remove': ({ id }) => this.store.remove(id),
      'interventions/undo': () => this.store.undo(),
      'interventions/clear': () => this.store.clear(),
      'interventions/features': ({ position }, ctx) => this.featureSites(promptOf(), position, ctx.signal),
      'interventions/addSubspace': async (_p, ctx) => {
        const spec = await pickSubspace(await this.model());
        return spec ? this.addSubspace(spec, promptOf(), ctx.signal) : null;
      },
      'interventions/randomInit': async ({ seed }) => {
        await this.loadRandomInit(seed);
        return this.store.setRandomInit(seed ?? null);
      },
      'interventions/compare': async (_p, ctx) => {
        const text = promptOf();
        return text ? this.compare(text, ctx.signal) : null;
      },
    };
  }
}
