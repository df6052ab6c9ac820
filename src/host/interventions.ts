// The host's side of click-to-patch: one InterventionStore for every view, the RPC handlers each view
// merges into its own table (add / remove / undo / clear / compare), the compilation of the active specs
// against a view's prompt into engine interventions, and the before/after comparison (two runs of the
// prompt: clean and under the interventions).
import type { EngineClient } from './engineClient';
import type { InterventionHostProtocol, InterventionNotifications, InterventionStateView } from '../shared/interventionProtocol';
import type { Intervention } from '../shared/interventions';
import type { ModelInfo } from '../shared/modelInfo';
import { compareLogits, checkAgainstModel, uiInterventionSchema, uiLabel } from '../shared/patchUi';
import { checkSubspace, compileUiSpec, subspaceLabel } from '../shared/subspaceUi';
import type { UiSubspace } from '../shared/subspaceUi';
import { pickSubspace } from './subspacePicker';
import type { Comparison, CompileContext } from '../shared/patchUi';
import { displayToken } from '../shared/tokenText';
import type { Handlers } from '../shared/rpc';
import { RpcError } from '../shared/rpc';
import { InterventionStore, MAX_REFERENCE } from './interventionStore';

/** A view's prompt, or null when it shows none. */
export type PromptOf = () => string | null;

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
    return { nLayers: info.nLayers, nHeads: info.nHeads, hasResidMid: true, prompt, counterfactual, reference };
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
    checkAgainstModel(spec, { nLayers: info.nLayers, nHeads: info.nHeads, hasResidMid: true, prompt: t.ids });
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
