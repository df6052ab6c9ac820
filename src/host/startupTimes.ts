// Start-up performance marks (issue #13's goals: activation <= 150 ms, first inline decorations <= 1 s after a
// prompt file opens). Kept in one place so the log line, the API the end-to-end tests read, and the docs agree
// on what each figure covers.
//
// `loadStart` and `loadEnd` come from a banner and a footer esbuild puts around dist/extension.js
// (esbuild.mjs): the evaluation of the bundle's modules, VS Code's "code loading time" less reading the file.
// VS Code may then wait (for the extension's storage) before it calls activate(): that wait is not counted.
declare const __mechlensLoadStart: number | undefined;
declare const __mechlensLoadEnd: number | undefined;

export interface FirstDecorations {
  uri: string;
  /** From the inspector first seeing the prompt file open to its decorations being set (ms). */
  ms: number;
  /**
   * From the extension's code starting to load, when the file was open before activation ended (its opening
   * is what activates the extension); undefined for a file opened later.
   */
  sinceLoadMs: number | undefined;
  /** Of `ms`: starting the engine worker and loading the model, then the inspection itself. */
  engineMs: number;
  inspectMs: number;
  tokens: number;
}

export interface StartupReport {
  /** Evaluating the bundle's modules (ms); undefined when not run from the bundle. */
  codeLoadMs: number | undefined;
  /** From the bundle's evaluation to VS Code calling activate() (its wait for the extension's storage; ms). */
  waitMs: number | undefined;
  /** activate() itself (ms). */
  activateMs: number;
  /** codeLoadMs + activateMs. */
  activationMs: number;
  firstDecorations: FirstDecorations | undefined;
  /** The engine warm-up after activation (extension.ts), ms after activate() returned: begun, model loaded. */
  warmUp: { startMs: number; readyMs: number | undefined } | undefined;
}

export class StartupTimes {
  private readonly loadStart = typeof __mechlensLoadStart === 'number' ? __mechlensLoadStart : undefined;
  private activateStart = 0;
  private activateEnd = 0;
  private first: FirstDecorations | undefined;
  private warmStart: number | undefined;
  private warmReady: number | undefined;

  activating(): void {
    this.activateStart = performance.now();
  }

  activated(): void {
    this.activateEnd = performance.now();
  }

  warming(): void {
    this.warmStart = performance.now();
  }

  warmed(): void {
    this.warmReady = performance.now();
  }

  /** The first prompt file decorated (later ones are warm: not recorded). Returns true when this was it. */
  decorated(mark: { uri: string; seenAt: number; engineReadyAt: number; inspectedAt: number; tokens: number }): boolean {
    if (this.first) return false;
    const now = performance.now();
    this.first = {
      uri: mark.uri,
      ms: now - mark.seenAt,
      sinceLoadMs: this.loadStart !== undefined && mark.seenAt <= this.activateEnd ? now - this.loadStart : undefined,
      engineMs: mark.engineReadyAt - mark.seenAt,
      inspectMs: mark.inspectedAt - mark.engineReadyAt,
      tokens: mark.tokens,
    };
    return true;
  }

  report(): StartupReport {
    // Read at report time: the footer runs after this module's code (it ends the bundle).
    const loadEnd = typeof __mechlensLoadEnd === 'number' ? __mechlensLoadEnd : undefined;
    const codeLoadMs = this.loadStart === undefined || loadEnd === undefined ? undefined : loadEnd - this.loadStart;
    const activateMs = this.activateEnd - this.activateStart;
    const since = (t: number | undefined) => (t === undefined ? undefined : t - this.activateEnd);
    const warmUp = this.warmStart === undefined ? undefined : { startMs: since(this.warmStart)!, readyMs: since(this.warmReady) };
    const waitMs = loadEnd === undefined ? undefined : this.activateStart - loadEnd;
    return { codeLoadMs, waitMs, activateMs, activationMs: (codeLoadMs ?? 0) + activateMs, firstDecorations: this.first ? { ...this.first } : undefined, warmUp };
  }
}

export function describeFirstDecorations(f: FirstDecorations): string {
  const load = f.sinceLoadMs === undefined ? '' : `, ${f.sinceLoadMs.toFixed(0)} ms since the extension began loading`;
  return `First inline decorations (${f.tokens} tokens) ${f.ms.toFixed(0)} ms after the prompt file was seen open${load} (engine start and model load ${f.engineMs.toFixed(0)} ms, inspection ${f.inspectMs.toFixed(0)} ms).`;
}
