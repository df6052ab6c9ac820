// The one intervention state every view shares: the active interventions (chips), an undo history, and
// the counterfactual prompt patches read from. Specs arrive from webviews, so each is validated here
// again (shape by the shared schema; the model and prompt checks happen when it is compiled). Plain data
// and listeners, no vscode import: unit-tested directly.
import type { InterventionStateView } from '../shared/interventionProtocol';
import { uiSpecSchema } from '../shared/subspaceUi';
import type { UiSpec } from '../shared/subspaceUi';
import { badInput } from '../shared/schema';

interface Entry {
  id: number;
  spec: UiSpec;
  label: string;
}

interface Snapshot {
  items: Entry[];
  counterfactual: string | null;
  reference: { name: string; prompts: string[] } | null;
}

/** Enough for any experiment someone makes by hand; keeps a runaway page from growing the state. */
export const MAX_INTERVENTIONS = 64;
const MAX_HISTORY = 100;
const MAX_COUNTERFACTUAL_CHARS = 100_000;
/** Prompts in a reference set for mean ablation (each is one forward per intervened hook). */
export const MAX_REFERENCE = 1000;

export class InterventionStore {
  private items: Entry[] = [];
  private counterfactualText: string | null = null;
  private randomInitSeed: number | null = null;
  private referenceSet: { name: string; prompts: string[] } | null = null;
  private readonly history: Snapshot[] = [];
  private nextId = 1;
  private readonly listeners = new Set<(view: InterventionStateView) => void>();

  /** Calls `listener` after every change; returns its disposer. */
  onDidChange(listener: (view: InterventionStateView) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  get specs(): UiSpec[] {
    return this.items.map((e) => e.spec);
  }

  get counterfactual(): string | null {
    return this.counterfactualText;
  }

  view(): InterventionStateView {
    return {
      // A subspace's basis stays here (pages only mark positions): thousands of numbers per chip per update otherwise.
      chips: this.items.map((e) => ({ ...e, spec: e.spec.site === 'subspace' ? { ...e.spec, basis: [] } : e.spec })),
      canUndo: this.history.length > 0,
      counterfactual: this.counterfactualText,
      randomInit: this.randomInitSeed,
      reference: this.referenceSet && { name: this.referenceSet.name, count: this.referenceSet.prompts.length },
    };
  }

  /** The reference prompts mean ablation averages over (null: the prompt and the counterfactual). */
  get reference(): readonly string[] | null {
    return this.referenceSet?.prompts ?? null;
  }

  /** Sets (null: removes) the reference set; bounded, blank lines dropped. */
  setReference(set: { name: string; prompts: string[] } | null): InterventionStateView {
    const prompts = set?.prompts.filter((p) => p.trim().length > 0) ?? [];
    if (set && prompts.length === 0) badInput(`${set.name} holds no prompt (one prompt per line).`);
    if (prompts.length > MAX_REFERENCE) badInput(`${set!.name} holds ${prompts.length} prompts; at most ${MAX_REFERENCE} make a reference set.`);
    this.change(() => (this.referenceSet = set && { name: set.name.slice(0, 200), prompts }));
    return this.view();
  }

  /** Adds a validated spec with its chip label; an identical spec already active is not added twice. */
  add(spec: unknown, label: string): InterventionStateView {
    const checked = uiSpecSchema.parse(spec, 'intervention');
    const key = JSON.stringify(checked);
    if (this.items.some((e) => JSON.stringify(e.spec) === key)) return this.view();
    if (this.items.length >= MAX_INTERVENTIONS) badInput(`At most ${MAX_INTERVENTIONS} interventions can be active; remove some first.`);
    this.change(() => this.items.push({ id: this.nextId++, spec: checked, label: label.slice(0, 300) }));
    return this.view();
  }

  remove(id: number): InterventionStateView {
    if (!this.items.some((e) => e.id === id)) badInput(`No active intervention has id ${id} (it may have been removed already).`);
    this.change(() => (this.items = this.items.filter((e) => e.id !== id)));
    return this.view();
  }

  clear(): InterventionStateView {
    if (this.items.length) this.change(() => (this.items = []));
    return this.view();
  }

  /** Sets (or with null / blank text, removes) the counterfactual prompt. */
  setCounterfactual(text: string | null): InterventionStateView {
    const t = text === null || text.trim() === '' ? null : text;
    if (t !== null && t.length > MAX_COUNTERFACTUAL_CHARS) badInput(`The counterfactual prompt is longer than ${MAX_COUNTERFACTUAL_CHARS} characters.`);
    if (t !== this.counterfactualText) this.change(() => (this.counterfactualText = t));
    return this.view();
  }

  /** Records the random-init control's state (the model manager loads the model; this tells the views). Not undone by Undo. */
  setRandomInit(seed: number | null): InterventionStateView {
    if (seed !== this.randomInitSeed) {
      this.randomInitSeed = seed;
      this.fire();
    }
    return this.view();
  }

  /** Goes back one change (add, remove, clear, counterfactual). */
  undo(): InterventionStateView {
    const last = this.history.pop();
    if (!last) badInput('Nothing to undo.');
    this.items = last.items;
    this.counterfactualText = last.counterfactual;
    this.referenceSet = last.reference;
    this.fire();
    return this.view();
  }

  private change(apply: () => void): void {
    this.history.push({ items: this.items.slice(), counterfactual: this.counterfactualText, reference: this.referenceSet });
    if (this.history.length > MAX_HISTORY) this.history.shift();
    apply();
    this.fire();
  }

  private fire(): void {
    const v = this.view();
    for (const l of this.listeners) l(v);
  }
}
