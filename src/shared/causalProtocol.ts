// Messages between the extension host and the causal-abstraction panel (issue #16): the panel sends a
// hypothesis (JSON the user edits) and asks for interchange interventions, DAS or probes; the host validates
// the params with the analyses' own schemas, runs them in the long-job worker with progress and
// cancellation, keeps the last result of each kind, and saves it (an experiment file, a subspace) through
// its own dialogs: results never travel back from the webview.
// Runtime-agnostic: no vscode, node or DOM imports.
import { ANALYSIS_PARAMS } from './analyses';
import type { DasResult, Hypothesis, IiaResult, ProbeResult } from './causal';
import { badInput, noParams, object, oneOf, optional, paramsValidator, refine, string } from './schema';
import type { Infer, Schema } from './schema';

export const CAUSAL_KINDS = ['iia', 'das', 'probe'] as const;
export type CausalKind = (typeof CAUSAL_KINDS)[number];

/** A hypothesis from the webview may not name files (a saved subspace is a host-side choice). */
function noFiles<T extends { hypothesis?: Hypothesis }>(schema: Schema<T>): Schema<T> {
  return refine(schema, (p, where) => {
    for (const v of p.hypothesis?.variables ?? []) if (v.site?.subspace !== undefined) badInput(`${where}: variable ${v.name}: a subspace file cannot be named from the panel; use mechlens iia --subspace`);
  });
}

export const CAUSAL_PANEL_PARAMS = {
  'causal/init': noParams,
  'causal/iia': noFiles(ANALYSIS_PARAMS.iia.pick('hypothesis', 'variables', 'randomLabels', 'sweep')),
  'causal/das': noFiles(ANALYSIS_PARAMS.das.pick('hypothesis', 'variable', 'rank', 'epochs', 'batchSize', 'lr', 'seed', 'controls')),
  'causal/probe': noFiles(ANALYSIS_PARAMS.probe.pick('hypothesis', 'labelSlot', 'hook', 'layers', 'positions', 'method', 'seed')),
  /** IIA with a saved subspace (picked in the host's open dialog) as the variable's site. */
  'causal/iiaSubspace': noFiles(object({ hypothesis: ANALYSIS_PARAMS.iia.fields.hypothesis, variable: optional(string(200)) })),
  /** Saves the last result of a kind as an experiment file (*.mlexp.json) through a save dialog. */
  'causal/saveExperiment': object({ kind: oneOf(CAUSAL_KINDS) }),
  /** Saves the last DAS subspace (safetensors + JSON, and a steering interventions file) through a save dialog. */
  'causal/saveSubspace': noParams,
  /**
   * Puts the last DAS subspace into every view's interventions: as a patching site (only the subspace patched from
   * the counterfactual prompt) or a steering direction (its first direction × the training pairs' RMS along it).
   */
  'causal/useSubspace': object({ as: oneOf(['patch', 'steer'] as const) }),
} satisfies Record<string, Schema<object>>;

type Params<K extends keyof typeof CAUSAL_PANEL_PARAMS> = Infer<(typeof CAUSAL_PANEL_PARAMS)[K]>;

/** The active model as the panel shows it, with a starting hypothesis for it. */
export interface CausalHeader {
  modelName: string;
  nLayers: number;
  dModel: number;
  /** A starting hypothesis for this model (IOI over single-token names), as JSON text. */
  example: string;
}

export interface CausalInit extends CausalHeader {
  /** Results re-opened from an experiment file. */
  opened?: CausalOpened;
  /** The panel's last results, kept by the host: a hidden webview loses its page and redraws them when shown. */
  last?: { iia?: IiaResult; das?: DasResult; probe?: ProbeResult };
}

/** An experiment file's causal analysis, as re-opened. */
export type CausalOpened = { file: string; hypothesis: Hypothesis } & ({ kind: 'iia'; result: IiaResult } | { kind: 'das'; result: DasResult } | { kind: 'probe'; result: ProbeResult });

export type CausalHostProtocol = {
  'causal/init': { params: Params<'causal/init'>; result: CausalInit };
  'causal/iia': { params: Params<'causal/iia'>; result: IiaResult };
  'causal/das': { params: Params<'causal/das'>; result: DasResult };
  'causal/probe': { params: Params<'causal/probe'>; result: ProbeResult };
  /** null when the dialog was cancelled. */
  'causal/iiaSubspace': { params: Params<'causal/iiaSubspace'>; result: IiaResult | null };
  'causal/saveExperiment': { params: Params<'causal/saveExperiment'>; result: { path: string | null } };
  'causal/saveSubspace': { params: Params<'causal/saveSubspace'>; result: { paths: string[] | null } };
  /** The chip's label. */
  'causal/useSubspace': { params: Params<'causal/useSubspace'>; result: { label: string } };
};

export const validateCausalParams = paramsValidator(CAUSAL_PANEL_PARAMS);

export type CausalNotifications = {
  /** Progress of the running request (tied to it). */
  'causal/progress': { message: string; fraction?: number };
  /** An experiment file was opened into the panel. */
  'causal/opened': CausalOpened;
  /** The active model changed: the results shown were the previous model's (the host dropped them). */
  'causal/modelChanged': CausalHeader;
};

/** The panel's state kept across reloads. */
export interface CausalState {
  hypothesis?: string;
  rank?: string;
  epochs?: string;
  sweepHook?: string;
  labelSlot?: string;
  variable?: string;
  probePositions?: string;
}
