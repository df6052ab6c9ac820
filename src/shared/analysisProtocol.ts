// Messages between the extension host and the analysis panels (logit lens, attention, DLA). Types only:
// imported by the host (`import type`) and the browser bundles. Params are untrusted on the host side
// (validated in src/host/views/analysisValidate.ts).
import type { DlaResult, HeadKind, LensStream, TopToken } from './protocol';

export type { DlaResult, HeadKind, LensStream, TopToken };

export type AnalysisViewKind = 'lens' | 'attention' | 'dla';

/** The prompt a panel analyses. */
export interface Subject {
  text: string;
  modelName: string;
  nLayers: number;
  nHeads: number;
  /** A short label for the panel title (file name or "selection"). */
  source: string;
}

export interface TokenView {
  id: number;
  text: string;
}

export interface LensView {
  labels: string[];
  tokens: TokenView[];
  /** [layer][pos] top-k. */
  top: TopToken[][][];
  /** Chosen target tokens (id + text). */
  targets: TokenView[];
  /** [layer][pos][target] probability and rank (0 = top). */
  targetStats: Array<Array<Array<{ prob: number; rank: number }>>>;
  stream: LensStream;
}

export interface AttentionView {
  tokens: TokenView[];
  nLayers: number;
  nHeads: number;
  /** [layer] -> flat [head][query][key] row-major. */
  patterns: number[][];
  /** Scores on this prompt, [kind][layer][head]. */
  scores: Record<HeadKind, number[][]>;
}

export interface DlaView extends DlaResult {
  tokens: TokenView[];
  targetText: string;
  baselineText?: string;
}

export type ExportFormat = 'png' | 'svg' | 'json' | 'csv';

export type AnalysisHostProtocol = {
  'subject/get': { params: Record<string, never>; result: Subject | null };
  /** Tokenizes text with the model's tokenizer (to pick target tokens by typing). */
  tokenize: { params: { text: string }; result: TokenView[] };
  'lens/run': { params: { stream: LensStream; targets: number[] }; result: LensView };
  'attention/run': { params: Record<string, never>; result: AttentionView };
  /** Head-detector scores on repeated random sequences (the standard benchmark). */
  'heads/detect': { params: Record<string, never>; result: Record<HeadKind, number[][]> };
  'dla/run': { params: { target: number; baseline?: number; position?: number }; result: DlaView };
  /** Saves exported data through a save dialog. `data` is text, or a data: URL for PNG. */
  'export/save': { params: { format: ExportFormat; name: string; data: string }; result: { path: string | null } };
};

export type AnalysisNotifications = {
  'subject/update': Subject;
  'engine/error': { message: string };
};

/** UI state kept across reloads. */
export interface AnalysisState {
  text?: string;
  stream?: LensStream;
  targets?: string;
  layer?: number;
  head?: number;
  focus?: number;
  kind?: HeadKind;
  target?: string;
  baseline?: string;
  position?: number;
}
