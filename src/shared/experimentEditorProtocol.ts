// Messages between the host and the experiment editor (a custom editor for `*.mlexp.json`): the file as the
// editor shows it (parsed when this MechLens knows its schema and analysis, else its raw JSON and why), and a
// re-run. The webview is untrusted: the host validates what it sends.
import { noParams, paramsValidator } from './schema';
import type { Schema } from './schema';

export interface ExperimentDoc {
  /** The file's name (not its path). */
  file: string;
  /** The file's text, shown as it is when it cannot be parsed (another version's or another tool's experiment). */
  text: string;
  /** The experiment, when this MechLens reads it. */
  parsed: {
    analysis: string;
    model: { dir: string; sha256: string; name?: string };
    params: unknown;
    random_init?: number;
    note?: string;
    results?: unknown;
  } | null;
  /** Why it could not be parsed (a newer schema, an analysis this version does not know, bad JSON). */
  error: string | null;
}

export interface RerunOutcome {
  /** What happened, in a sentence (shown in the status line). */
  message: string;
  modelChanged: boolean;
  resultsChanged?: boolean;
  maxAbsDiff?: number;
  ms: number;
}

export const EXPERIMENT_EDITOR_PARAMS = {
  'experiment/get': noParams,
  /** Runs the file's analysis again on its model and writes the results and the model's hash back into the file. */
  'experiment/rerun': noParams,
} satisfies Record<string, Schema<object>>;

export type ExperimentEditorProtocol = {
  'experiment/get': { params: Record<string, never>; result: ExperimentDoc };
  'experiment/rerun': { params: Record<string, never>; result: RerunOutcome };
};

export const validateExperimentEditorParams = paramsValidator(EXPERIMENT_EDITOR_PARAMS);

export type ExperimentEditorNotifications = {
  'experiment/update': ExperimentDoc;
};
