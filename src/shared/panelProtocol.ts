// Messages between the extension host and the prompt panel and Inspector webviews. The browser bundles
// import its types only; the host also uses its params schemas to validate what a webview sends.
import type { TopToken } from './protocol';
import { integer, noParams, object, paramsValidator } from './schema';
import type { Infer, Schema } from './schema';
import { INTERVENTION_PARAMS } from './interventionProtocol';
import type { InterventionHostProtocol, InterventionNotifications } from './interventionProtocol';

export type { TopToken };

/** One token of a prompt as a webview shows it. */
export interface PromptToken {
  id: number;
  text: string;
}

/** What a prompt view shows: the prompt's tokens and the next-token distribution at one position. */
export interface PromptView {
  modelName: string;
  text: string;
  tokens: PromptToken[];
  /** Position whose next-token distribution `top` holds (the last one after a run). */
  position: number;
  top: TopToken[];
  /** The model's layers and heads (the intervention menu's pickers). */
  nLayers?: number;
  nHeads?: number;
}

/** What a prompt panel or the Inspector may send, checked by the host before any handler runs. */
export const PANEL_PARAMS = {
  /** The prompt currently shown (null before the first run). */
  'prompt/get': noParams,
  /** Top next tokens after the prompt's first `position + 1` tokens: a round trip to the engine. */
  'prompt/topAt': object({ position: integer(0, 1_000_000, 'a non-negative integer') }),
  /** Runs the current prompt again (e.g. after a model change). */
  'prompt/rerun': noParams,
} satisfies Record<string, Schema<object>>;

type Params<K extends keyof typeof PANEL_PARAMS> = Infer<(typeof PANEL_PARAMS)[K]>;

/** Requests a webview may send to the host. Params are untrusted: the host validates them (PANEL_PARAMS). */
export type PanelHostProtocol = {
  'prompt/get': { params: Params<'prompt/get'>; result: PromptView | null };
  'prompt/topAt': { params: Params<'prompt/topAt'>; result: { position: number; top: TopToken[] } };
  'prompt/rerun': { params: Params<'prompt/rerun'>; result: PromptView | null };
};

export const validatePanelParams = paramsValidator(PANEL_PARAMS);

/** The prompt panel also serves the shared intervention state (the Inspector does not). */
export type PromptPanelProtocol = PanelHostProtocol & InterventionHostProtocol;
export type PromptPanelNotifications = PanelNotifications & InterventionNotifications;
export const validatePromptPanelParams = paramsValidator({ ...PANEL_PARAMS, ...INTERVENTION_PARAMS });

/** Notifications the host sends to a webview. */
export type PanelNotifications = {
  'prompt/update': PromptView;
  'engine/error': { message: string };
  /** The active (or last active) text editor's file name and URI: the Inspector's quick links apply to it. */
  'editor/active': { name: string | null; uri?: string };
};

/** Nothing: webviews serve no methods to the host. */
export type WebviewServes = Record<string, never>;

/** State a prompt panel keeps across reloads with getState/setState (UI state only). */
export interface PanelState {
  text: string;
  position?: number;
}
