// Messages between the host and the Patching panel: the counterfactual pair written beside the prompt
// (the clean prompt is the prompt panel's; the counterfactual lives in the shared intervention state),
// patching sweeps with their answer tokens, and the intervention messages every view shares. The host
// validates every request against these schemas before a handler runs.
import { INTERVENTION_PARAMS } from './interventionProtocol';
import type { InterventionHostProtocol, InterventionNotifications } from './interventionProtocol';
import type { PairAlignment } from './pairs';
import { PATCH_DIRECTIONS, PATCH_METHODS, PATCH_METRICS, PATCH_SWEEPS } from './patching';
import type { PatchSweepOutput } from './patching';
import { boolean, noParams, object, oneOf, optional, paramsValidator, string } from './schema';
import type { Infer, Schema } from './schema';

export interface PairToken {
  id: number;
  text: string;
}

export interface PairView {
  modelName: string;
  nLayers: number;
  nHeads: number;
  clean: { text: string; tokens: PairToken[] } | null;
  counterfactual: { text: string; tokens: PairToken[] } | null;
  /** Present when both prompts are set. */
  alignment: PairAlignment | null;
}

export interface SweepView extends PatchSweepOutput {
  targetText: string;
  baselineText?: string;
}

const PROMPT_CHARS = 100_000;
/** An answer as typed: the text of one token (with its leading space). */
const answer = string(200);

export const PATCH_PANEL_PARAMS = {
  'pair/get': noParams,
  /** Runs `text` as the prompt (the prompt panel and this panel's clean prompt). */
  'pair/setClean': object({ text: string(PROMPT_CHARS) }),
  /** Sets (blank: removes) the counterfactual prompt every view's patches read from. */
  'pair/setCounterfactual': object({ text: string(PROMPT_CHARS) }),
  'sweep/run': object({
    sweep: oneOf(PATCH_SWEEPS),
    direction: optional(oneOf(PATCH_DIRECTIONS)),
    metric: optional(oneOf(PATCH_METRICS)),
    method: optional(oneOf(PATCH_METHODS)),
    target: answer,
    baseline: optional(answer),
  }),
  /** Picks a file of reference prompts (one per line) that mean ablation averages over, in the host's open dialog; `clear` drops it. */
  'pair/reference': object({ clear: optional(boolean) }),
  /** The last sweep this session ran (the panel shows it again after a reload), or why it is gone (another model). */
  'sweep/last': noParams,
  /** Saves the last sweep as an experiment file (*.mlexp.json) through a save dialog and opens it. */
  'sweep/save': noParams,
  ...INTERVENTION_PARAMS,
} satisfies Record<string, Schema<object>>;

type P<K extends keyof typeof PATCH_PANEL_PARAMS> = Infer<(typeof PATCH_PANEL_PARAMS)[K]>;

export type PatchPanelProtocol = InterventionHostProtocol & {
  'pair/get': { params: P<'pair/get'>; result: PairView | null };
  'pair/setClean': { params: P<'pair/setClean'>; result: PairView | null };
  'pair/setCounterfactual': { params: P<'pair/setCounterfactual'>; result: PairView | null };
  'sweep/run': { params: P<'sweep/run'>; result: SweepView };
  'sweep/last': { params: P<'sweep/last'>; result: { sweep: SweepView | null; note: string | null } };
  'pair/reference': { params: P<'pair/reference'>; result: null };
  'sweep/save': { params: P<'sweep/save'>; result: { path: string | null } };
};

export const validatePatchPanelParams = paramsValidator(PATCH_PANEL_PARAMS);

export type PatchPanelNotifications = InterventionNotifications & {
  'pair/update': PairView | null;
  'engine/error': { message: string };
  /** The heatmaps shown were another model's (the active model changed): the page removes them and says why. */
  'sweep/clear': { message: string };
};

/** UI state kept across reloads. */
export interface PatchPanelState {
  target?: string;
  baseline?: string;
  sweep?: string;
  direction?: string;
  metric?: string;
  method?: string;
}
