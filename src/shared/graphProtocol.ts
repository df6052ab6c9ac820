// Messages between the extension host and the attribution-graph view (a custom editor over a graph file).
// The view's state is the file's `qParams` (Neuronpedia's saved UI state: pinned nodes, supernodes, the
// clicked node, the link type, plus the two threshold sliders), written back through the editor's document
// so undo, save and reopen work as for any file. What the webview sends is checked here before any handler
// runs; the host also checks that every node id it names is a node of the graph.
import { ANALYSIS_PANEL_PARAMS } from './analysisProtocol';
import type { AttributionGraphFile } from './graphFile';
import { finiteNumber, list, noParams, object, oneOf, optional, paramsValidator, string } from './schema';
import type { Infer, Schema } from './schema';

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
} satisfies Record<string, Schema<object>>;

export const validateGraphParams = paramsValidator(GRAPH_VIEW_PARAMS);

/** What the view shows: the parsed file, its name, and what needs a model. */
export interface GraphDocumentView {
  file: AttributionGraphFile;
  /** The file's name (for titles and export names). */
  name: string;
  /** The loaded model's name, when one is loaded (feature details and interventions need the graph's model). */
  modelName?: string;
}

type Params<K extends keyof typeof GRAPH_VIEW_PARAMS> = Infer<(typeof GRAPH_VIEW_PARAMS)[K]>;

export type GraphHostProtocol = {
  'graph/get': { params: Params<'graph/get'>; result: GraphDocumentView };
  'graph/state': { params: Params<'graph/state'>; result: null };
  'graph/label': { params: Params<'graph/label'>; result: null };
  'graph/exportJson': { params: Params<'graph/exportJson'>; result: { path: string | null } };
  'export/save': { params: Params<'export/save'>; result: { path: string | null } };
};

export type GraphNotifications = {
  /** The document changed outside the view (undo, redo, another editor): the view shows it again. */
  'graph/update': GraphDocumentView;
  /** The document is no longer a graph file the view can show (e.g. a broken edit). */
  'graph/error': { message: string };
};
