// The webview side of VS Code: acquireVsCodeApi may be called only once per page, so it is cached here.
export interface VsCodeApi<S> {
  postMessage(message: unknown): void;
  getState(): S | undefined;
  setState(state: S): S;
}

declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

let api: VsCodeApi<unknown> | undefined;

export function vscodeApi<S>(): VsCodeApi<S> {
  api ??= acquireVsCodeApi<unknown>();
  return api as VsCodeApi<S>;
}

/** UI state kept across reloads (getState/setState): small, never tensors. */
export function getState<S>(): S | undefined {
  return vscodeApi<S>().getState();
}

export function setState<S>(state: S): void {
  vscodeApi<S>().setState(state);
}
