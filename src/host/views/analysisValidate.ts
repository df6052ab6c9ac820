// Validation of what the analysis panels (logit lens, attention, DLA) send to the host: a webview is
// untrusted (its page renders model output). No vscode import, so it is unit-tested.
import { RpcError } from '../../shared/rpc';

const FORMATS = new Set(['png', 'svg', 'json', 'csv']);
const STREAMS = new Set(['pre', 'mid', 'post']);
const MAX_EXPORT_CHARS = 64 * 1024 * 1024;

function bad(message: string): never {
  throw new RpcError('bad-input', message);
}

function tokenId(v: unknown, what: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 10_000_000) bad(`${what} must be a token id (a non-negative integer)`);
}

/** Checks params a panel sent before a handler sees them. Throws `bad-input`. */
export function validateAnalysisParams(method: string, params: unknown): void {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) bad(`${method}: params must be an object`);
  const p = params as Record<string, unknown>;
  switch (method) {
    case 'subject/get':
    case 'attention/run':
    case 'heads/detect':
      return;
    case 'tokenize':
      if (typeof p.text !== 'string' || p.text.length > 10_000) bad('tokenize: text must be a string of at most 10000 characters');
      return;
    case 'lens/run':
      if (typeof p.stream !== 'string' || !STREAMS.has(p.stream)) bad('lens/run: stream must be pre, mid or post');
      if (!Array.isArray(p.targets) || p.targets.length > 16) bad('lens/run: targets must be a list of at most 16 token ids');
      for (const t of p.targets) tokenId(t, 'lens/run: each target');
      return;
    case 'dla/run':
      tokenId(p.target, 'dla/run: target');
      if (p.baseline !== undefined) tokenId(p.baseline, 'dla/run: baseline');
      if (p.position !== undefined) tokenId(p.position, 'dla/run: position');
      return;
    case 'export/save':
      if (typeof p.format !== 'string' || !FORMATS.has(p.format)) bad('export/save: format must be png, svg, json or csv');
      if (typeof p.name !== 'string' || !/^[\w .-]{1,80}$/.test(p.name)) bad('export/save: name must be a plain file name');
      if (typeof p.data !== 'string' || p.data.length > MAX_EXPORT_CHARS) bad('export/save: data must be a string');
      if (p.format === 'png' && !p.data.startsWith('data:image/png;base64,')) bad('export/save: a PNG must be a data:image/png;base64 URL');
      return;
    default:
      bad(`unknown method ${method}`);
  }
}
