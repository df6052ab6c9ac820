// Messages between the extension host and the analysis panels (logit lens, attention, DLA). The browser
// bundles import its types only; the host also uses its params schemas to validate what a panel sends.
import { ANALYSIS_PARAMS } from './analyses';
import type { LensStream } from './analyses';
import { badInput, integer, noParams, object, oneOf, optional, paramsValidator, refine, string } from './schema';
import type { Infer, Schema } from './schema';
import type { DlaResult, HeadKind, TopToken } from './protocol';
import { INTERVENTION_PARAMS } from './interventionProtocol';
import type { InterventionHostProtocol, InterventionNotifications } from './interventionProtocol';

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
  /** A first part (`lens/partial`): only the positions on screen are decoded; the others' cells are empty. */
  partial?: boolean;
}

/** A prompt's attention, without patterns: its tokens and head scores (issue #13: patterns come one layer at a time). */
export interface AttentionView {
  tokens: TokenView[];
  nLayers: number;
  nHeads: number;
  /** Scores on this prompt, [kind][layer][head]; a layer not scored yet has an empty row. */
  scores: Record<HeadKind, number[][]>;
}

/** One layer's attention pattern (at T = 1024 on GPT-2 small: 48 MiB; every layer at once would be 576 MiB). */
export interface AttentionLayerView {
  layer: number;
  /** Flat [head][query][key] row-major (a typed array: structured clone, no JSON numbers). */
  pattern: Float32Array;
  /** This layer's head scores on the prompt, [kind][head]. */
  scores: Record<HeadKind, number[]>;
}

export interface DlaView extends DlaResult {
  tokens: TokenView[];
  targetText: string;
  baselineText?: string;
}

export const EXPORT_FORMATS = ['png', 'svg', 'json', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
const MAX_EXPORT_CHARS = 64 * 1024 * 1024;

/**
 * What a panel may send, checked by the host before any handler runs (the webview is untrusted: its page
 * renders model output). An analysis request takes its checks from the analysis' own params
 * (src/shared/analyses.ts); the host adds the prompt.
 */
export const ANALYSIS_PANEL_PARAMS = {
  'subject/get': noParams,
  /** Tokenizes text with the model's tokenizer (to pick target tokens by typing). */
  tokenize: object({ text: string(10_000) }),
  /**
   * `visible`: how many positions fit on screen, and the focused one (lensPositions.ts picks the window). They
   * are decoded first and sent as `lens/partial` for the first paint; the reply has every position.
   */
  'lens/run': object({ ...ANALYSIS_PARAMS.lens.pick('stream', 'targets').fields, visible: optional(object({ count: integer(1, 100_000), focus: optional(integer(0, 1_000_000)) })) }),
  /**
   * `layer`: the layer on screen. Its pattern comes first, as `attention/partial` (the first paint); then every
   * layer's head scores (`attention/progress` while they run), the reply. Other layers: `attention/layer`.
   */
  'attention/run': object({ layer: optional(integer(0, 100_000)) }),
  /** One layer's pattern of the panel's prompt (a layer switch); the engine keeps the prompt's residual streams. */
  'attention/layer': object({ layer: integer(0, 100_000) }),
  /** Head-detector scores on repeated random sequences (the standard benchmark). */
  'heads/detect': noParams,
  'dla/run': ANALYSIS_PARAMS.dla.pick('target', 'baseline', 'position'),
  /** Saves the panel's last analysis (params, interventions included, and result) as an experiment file and opens it. */
  'experiment/save': noParams,
  /** Saves exported data through a save dialog. `data` is text, or a data: URL for PNG. */
  'export/save': refine(object({ format: oneOf(EXPORT_FORMATS), name: string(80, /^[\w .-]{1,80}$/, 'a plain file name'), data: string(MAX_EXPORT_CHARS) }), (p, where) => {
    if (p.format === 'png' && !p.data.startsWith('data:image/png;base64,')) badInput(`${where}: a PNG must be a data:image/png;base64 URL`);
  }),
} satisfies Record<string, Schema<object>>;

type PanelParams<K extends keyof typeof ANALYSIS_PANEL_PARAMS> = Infer<(typeof ANALYSIS_PANEL_PARAMS)[K]>;

/** A panel's requests: its analyses, and the shared intervention state's (interventionProtocol.ts). */
export type AnalysisHostProtocol = InterventionHostProtocol & {
  'subject/get': { params: PanelParams<'subject/get'>; result: Subject | null };
  tokenize: { params: PanelParams<'tokenize'>; result: TokenView[] };
  'lens/run': { params: PanelParams<'lens/run'>; result: LensView };
  'attention/run': { params: PanelParams<'attention/run'>; result: AttentionView };
  'attention/layer': { params: PanelParams<'attention/layer'>; result: AttentionLayerView };
  'heads/detect': { params: PanelParams<'heads/detect'>; result: Record<HeadKind, number[][]> };
  'dla/run': { params: PanelParams<'dla/run'>; result: DlaView };
  'export/save': { params: PanelParams<'export/save'>; result: { path: string | null } };
  'experiment/save': { params: PanelParams<'experiment/save'>; result: { path: string | null } };
};

export const validateAnalysisParams = paramsValidator({ ...ANALYSIS_PANEL_PARAMS, ...INTERVENTION_PARAMS });

export type AnalysisNotifications = InterventionNotifications & {
  'subject/update': Subject;
  /** The positions on screen of a `lens/run` (its first paint), before its reply. */
  'lens/partial': LensView;
  /** The layer on screen of an `attention/run` (its first paint), with the prompt's tokens, before its reply. */
  'attention/partial': AttentionView & { first: AttentionLayerView };
  /** Scoring every layer's heads after the first paint of an `attention/run`. */
  'attention/progress': { message: string; fraction?: number };
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
