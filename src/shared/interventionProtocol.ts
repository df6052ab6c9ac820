// Messages every view (prompt panel, logit lens, attention, DLA, patching) exchanges with the host about
// the one intervention state they share: add a chip, remove one, undo, clear, compare the view's prompt
// before and after. The browser bundles import the types only; the host merges INTERVENTION_PARAMS into
// each view's params table, so what a webview sends is validated before any handler runs.
import { integer, noParams, object, optional } from './schema';
import type { Infer, Schema } from './schema';
import { uiInterventionSchema } from './patchUi';
import type { Comparison, UiIntervention } from './patchUi';
import type { UiSpec } from './subspaceUi';

export type { Comparison, UiIntervention, UiSpec };

export interface InterventionChip {
  id: number;
  /** e.g. "zero · MLP out · L1 · “ Mary”@4" (token text: render with textContent). */
  label: string;
  /** A subspace's basis is left out (empty): pages only read positions. */
  spec: UiSpec;
}

/** The transcoder features as sites at one token: per layer, the feature count and the most active features there (largest first). */
export type FeatureSitesView = { available: true; nFeatures: number[]; active: Array<Array<{ index: number; act: number }>> } | { available: false; reason: string };

/** The shared state as the views show it. */
export interface InterventionStateView {
  chips: InterventionChip[];
  canUndo: boolean;
  /** The counterfactual prompt patches read from, when one is set. */
  counterfactual: string | null;
  /** The random-init control's seed while it is on: every view runs the architecture with re-initialised weights. */
  randomInit: number | null;
  /** The reference set mean ablation averages over, when one is loaded (its file name and size). */
  reference: { name: string; count: number } | null;
}

export const INTERVENTION_PARAMS = {
  'interventions/get': noParams,
  /** Adds an intervention; `positions` are positions of the sending view's prompt. */
  'interventions/add': object({ spec: uiInterventionSchema }),
  'interventions/remove': object({ id: integer(1, Number.MAX_SAFE_INTEGER, 'a chip id') }),
  'interventions/undo': noParams,
  'interventions/clear': noParams,
  /**
   * What a click on the view's token at `position` offers as feature sites: the transcoders' features per layer
   * and the features most active there; or, for a model without transcoders, why (and how to get them).
   */
  'interventions/features': object({ position: integer(0, 1_000_000, 'a token position (a non-negative integer)') }),
  /**
   * Adds a saved subspace (mechlens das --out, Save Subspace…): the host asks for the file in its open dialog, reads
   * and checks it, and asks what to do with it (patch from the counterfactual, project out, steer). No path and no
   * numbers come from the page. Null when the user cancelled.
   */
  'interventions/addSubspace': noParams,
  /** The view's prompt, last position: clean vs under the interventions (null when none are active). */
  'interventions/compare': noParams,
  /** Turns the random-init control on (with a seed) or off (no seed) for every view. */
  'interventions/randomInit': object({ seed: optional(integer(0, 2_147_483_647, 'a seed (a non-negative integer)')) }),
} satisfies Record<string, Schema<object>>;

type P<K extends keyof typeof INTERVENTION_PARAMS> = Infer<(typeof INTERVENTION_PARAMS)[K]>;

export type InterventionHostProtocol = {
  'interventions/get': { params: P<'interventions/get'>; result: InterventionStateView };
  'interventions/add': { params: P<'interventions/add'>; result: InterventionStateView };
  'interventions/remove': { params: P<'interventions/remove'>; result: InterventionStateView };
  'interventions/undo': { params: P<'interventions/undo'>; result: InterventionStateView };
  'interventions/clear': { params: P<'interventions/clear'>; result: InterventionStateView };
  'interventions/features': { params: P<'interventions/features'>; result: FeatureSitesView };
  'interventions/addSubspace': { params: P<'interventions/addSubspace'>; result: InterventionStateView | null };
  'interventions/compare': { params: P<'interventions/compare'>; result: Comparison | null };
  'interventions/randomInit': { params: P<'interventions/randomInit'>; result: InterventionStateView };
};

export type InterventionNotifications = {
  'interventions/update': InterventionStateView;
};
