// Messages between the extension host and the attribution-graph view (a custom editor over a graph file).
// The view's state is the file's `qParams` (Neuronpedia's saved UI state: pinned nodes, supernodes, the
// clicked node, the link type, plus the two threshold sliders), written back through the editor's document
// so undo, save and reopen work as for any file. What the webview sends is checked here before any handler
// runs; the host also checks that every node id it names is a node of the graph.
import { ANALYSIS_PANEL_PARAMS } from './analysisProtocol';
import { featureSteer } from './features';
import type { FeatureInputsResult, FeatureOutputsResult, FeatureSearchResult, FeatureSteer, SteerResult } from './features';
import type { AttributionGraphFile } from './graphFile';
import { badInput, boolean, finiteNumber, integer, list, noParams, object, oneOf, optional, paramsValidator, refine, string } from './schema';
import { INTERVENTION_PARAMS } from './interventionProtocol';
import type { InterventionHostProtocol, InterventionNotifications } from './interventionProtocol';
import type { Infer, Schema } from './schema';
import type { Intervention } from './interventions';

export const LINK_TYPES = ['both', 'input', 'output'] as const;
export type LinkType = (typeof LINK_TYPES)[number];

const MAX_NODES = 1_000_000;
const nodeId = string(200);
/** A supernode: [label, node id, node id, …] as Neuronpedia saves it. */
const supernode = list(string(200), 10_000);

/** The part of `qParams` the view reads and writes; other keys of a file's `qParams` are kept as they are. */
export const graphViewState = object({
  pinnedIds: list(nodeId, MAX_NODES),
  supernodes: list(supernode, 10_000),
  clickedId: string(200),
  linkType: oneOf(LINK_TYPES),
  /** Node (influence) threshold: features whose cumulative influence is above it are hidden. */
  pruningThreshold: optional(finiteNumber(0, 1)),
  /** Edge threshold: links carrying less than this share of their target's input are hidden. */
  edgeThreshold: optional(finiteNumber(0, 1)),
});
export type GraphViewState = Infer<typeof graphViewState>;

const layer = integer(0, 10_000, 'a layer (a non-negative integer)');
const index = integer(0, 100_000_000, 'a feature index (a non-negative integer)');

/** Most tokens one steering run generates from the view (each is a forward pass before and after). */
export const MAX_STEER_TOKENS = 64;

export const GRAPH_VIEW_PARAMS = {
  /** The graph the editor shows. */
  'graph/get': noParams,
  /** Saves the view state into the document's qParams (an undoable edit). */
  'graph/state': graphViewState,
  /** Sets a node's label (`clerp`) in the document (an undoable edit). */
  'graph/label': object({ nodeId, clerp: string(2000) }),
  /** Writes the document's current text (with its state) to a file the user picks. */
  'graph/exportJson': object({ name: string(80, /^[\w .-]{1,80}$/, 'a plain file name') }),
  /** PNG / SVG of the view, through a save dialog (same checks as the analysis panels' exports). */
  'export/save': ANALYSIS_PANEL_PARAMS['export/save'],
  /**
   * One feature's dashboard (engine `featureDetails`). The host picks the dashboards folder (a build in the
   * extension's storage for this model and transcoder set, else the model's shipped features/): no path
   * comes from the view.
   */
  'feature/details': object({ layer, index }),
  /** Features by a token (the text is tokenized by the host) or by label text. */
  'feature/search': object({ by: oneOf(['token', 'label'] as const), query: string(200) }),
  /** Steering on the graph's own prompt (the host takes the prompt from the file, not from the view). */
  'feature/steer': object({
    features: refine(list(featureSteer, 64), (v, where) => v.length > 0 || badInput(`${where}: give at least one feature`)),
    freezeAttention: boolean,
    maxNewTokens: integer(1, MAX_STEER_TOKENS),
    seed: optional(integer(0, 2 ** 31 - 1)),
    temperature: optional(finiteNumber(0, 10)),
  }),
  /**
   * Saves the steering set through a save dialog, as the JSON `mechlens steer --features FILE` replays
   * (the same validated intervention objects).
   */
  'feature/saveSteering': object({ features: refine(list(featureSteer, 64), (v, where) => v.length > 0 || badInput(`${where}: the steering set is empty`)) }),
  /** Reads a steering set the user picks in an open dialog (validated by the host; no path comes from the view). */
  'feature/loadSteering': noParams,
  /** A feature's top inputs at one position of the graph's prompt (the last when absent). */
  'feature/inputs': object({ layer, index, position: optional(integer(0, 1_000_000)) }),
  /** A feature's top outputs (virtual weights to later features, logits). */
  'feature/outputs': object({ layer, index }),
  /** Runs "MechLens: Build Feature Dashboards" (the corpus is picked in VS Code's own dialogs). */
  'feature/buildDashboards': noParams,
  /** What the token menu needs: the model's shape and how the graph's positions map onto the prompt's. */
  'graph/promptInfo': noParams,
  /** The attribution graph of the graph's prompt under the active interventions (the host compiles them; none come from the view). */
  'graph/intervene': noParams,
} satisfies Record<string, Schema<object>>;

export const validateGraphParams = paramsValidator({ ...GRAPH_VIEW_PARAMS, ...INTERVENTION_PARAMS });

/** What the view shows: the parsed file, its name, and what needs a model. */
export interface GraphDocumentView {
  file: AttributionGraphFile;
  /** The file's name (for titles and export names). */
  name: string;
  /** The loaded model's name, when one is loaded (feature details and interventions need the graph's model). */
  modelName?: string;
}

/** The token menu's needs: the model's shape, and `offset`, the graph's leading tokens that are not the prompt's (a BOS it prepended). */
export interface GraphPromptInfo {
  nLayers: number;
  nHeads: number;
  /** Graph position p is the prompt's position p − offset (the views' positions, which interventions use). */
  offset: number;
}

/** The graph re-run under the active interventions (view-only: the document keeps the clean graph). */
export interface IntervenedGraph {
  file: AttributionGraphFile;
  /** The chips it was computed under, in order. */
  labels: string[];
  ms: number;
}

/**
 * The interventions the views compiled on the prompt, moved onto the attributed prompt: `lead` (its BOS)
 * comes first, so positions shift by lead.length, "all positions" means the prompt's own, and a patch
 * source (a counterfactual of the prompt's length) gets the same lead, so it stays position-aligned.
 */
export function graphInterventions(list: readonly Intervention[], lead: readonly number[], promptLength: number): Intervention[] {
  const off = lead.length;
  return list.map((iv): Intervention => {
    const positions = (iv.positions ?? Array.from({ length: promptLength }, (_, p) => p)).map((p) => p + off);
    const source = 'source' in iv && iv.source ? { source: { tokens: [...lead, ...iv.source.tokens] } } : {};
    return { ...iv, positions, ...source } as Intervention;
  });
}

/** A graph made by MechLens names its transcoder set after the model (e.g. mechlens-tiny-transcoders-…). */
export function graphNeedsOtherModel(scan: string, modelName: string | undefined): boolean {
  return modelName === undefined || !(scan === modelName || scan.startsWith(`${modelName}-`));
}

/** One example of a feature dashboard (the engine's FeatureExample, Neuronpedia's layout). */
export interface FeatureExampleView {
  tokens: string[];
  tokens_acts_list: number[];
  train_token_ind: number;
  is_repeated_datapoint?: boolean;
}

/** The fields of a feature-details record the view reads (the engine's FeatureDetails). */
export interface FeatureDashboardView {
  index: number;
  layer: number;
  examples_quantiles: Array<{ quantile_name: string; examples: FeatureExampleView[] }>;
  top_logits: string[];
  bottom_logits: string[];
  top_logits_values: number[];
  bottom_logits_values: number[];
  act_min: number;
  act_max: number;
  act_mean: number;
  activation_frequency: number;
  n_tokens: number;
  histogram: { bin_edges: number[]; counts: number[] };
}

export interface FeatureDetailsReply {
  /** Null when no dashboards exist for the model (the view offers to build them). */
  details: FeatureDashboardView | null;
  /** Where the dashboards come from, in words (corpus, shipped or built). */
  source: string;
  /** The label from the dashboards' labels.json, when one is there. */
  label?: string;
}

export interface FeatureSearchReply extends FeatureSearchResult {
  /** What was searched, in words (the token and its id, or the label text). */
  searched: string;
}

type Params<K extends keyof typeof GRAPH_VIEW_PARAMS> = Infer<(typeof GRAPH_VIEW_PARAMS)[K]>;

/** The graph view's requests, and the shared intervention state's (interventionProtocol.ts). */
export type GraphHostProtocol = InterventionHostProtocol & {
  'graph/get': { params: Params<'graph/get'>; result: GraphDocumentView };
  'graph/state': { params: Params<'graph/state'>; result: null };
  'graph/label': { params: Params<'graph/label'>; result: null };
  'graph/exportJson': { params: Params<'graph/exportJson'>; result: { path: string | null } };
  'export/save': { params: Params<'export/save'>; result: { path: string | null } };
  'feature/details': { params: Params<'feature/details'>; result: FeatureDetailsReply };
  'feature/search': { params: Params<'feature/search'>; result: FeatureSearchReply };
  'feature/steer': { params: Params<'feature/steer'>; result: SteerResult };
  'feature/inputs': { params: Params<'feature/inputs'>; result: FeatureInputsResult };
  'feature/outputs': { params: Params<'feature/outputs'>; result: FeatureOutputsResult };
  'feature/buildDashboards': { params: Params<'feature/buildDashboards'>; result: null };
  'feature/saveSteering': { params: Params<'feature/saveSteering'>; result: { path: string | null } };
  'feature/loadSteering': { params: Params<'feature/loadSteering'>; result: { features: FeatureSteer[]; path: string } | null };
  'graph/promptInfo': { params: Params<'graph/promptInfo'>; result: GraphPromptInfo };
  'graph/intervene': { params: Params<'graph/intervene'>; result: IntervenedGraph };
};

export type GraphNotifications = InterventionNotifications & {
  /** The document changed outside the view (undo, redo, another editor): the view shows it again. */
  'graph/update': GraphDocumentView;
  /** The document is no longer a graph file the view can show (e.g. a broken edit). */
  'graph/error': { message: string };
  /** Dashboards were built: the view fetches the open feature's details again. */
  'feature/dashboardsChanged': { source: string };
  /**
   * Another model is loaded: the view's note on whether feature requests can run (they need the graph's model),
   * the prompt's shape and the open feature follow it, without laying the graph out again.
   */
  'graph/modelChanged': { modelName?: string };
};
