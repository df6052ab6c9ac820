// Messages between the extension host and the prompt panel and Inspector webviews. Types only: imported
// by the host (`import type`) and by the browser bundles, so it holds no vscode, node or DOM code.
import type { TopToken } from './protocol';

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
}

/** Requests a webview may send to the host. Params are untrusted: the host validates them. */
export type PanelHostProtocol = {
  /** The prompt currently shown (null before the first run). */
  'prompt/get': { params: Record<string, never>; result: PromptView | null };
  /** Top next tokens after the prompt's first `position + 1` tokens: a round trip to the engine. */
  'prompt/topAt': { params: { position: number }; result: { position: number; top: TopToken[] } };
  /** Runs the current prompt again (e.g. after a model change). */
  'prompt/rerun': { params: Record<string, never>; result: PromptView | null };
};

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
