// Validation of params a webview sends (a webview is untrusted: its page renders model output).
// No vscode import, so it is unit-tested.
import { RpcError } from '../../shared/rpc';

/** Checks params a webview sent before a handler sees them. Throws `bad-input`. */
export function validatePanelParams(method: string, params: unknown): void {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new RpcError('bad-input', `${method}: params must be an object`);
  }
  if (method === 'prompt/topAt') {
    const position = (params as Record<string, unknown>).position;
    if (typeof position !== 'number' || !Number.isInteger(position) || position < 0 || position > 1_000_000) {
      throw new RpcError('bad-input', 'prompt/topAt: position must be a non-negative integer');
    }
  }
}
