// One wrapper around onnxruntime sessions. It exists because onnxruntime silently ignores feeds with
// unknown names and inputs shadowed by initializers: every run checks its feeds against the
// session's input names, both ways, so a misnamed feed is an error, never a silent no-op.
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors';

export interface SessionSettings {
  threads: number;
  executionProvider: 'cpu' | 'cuda' | 'coreml' | 'dml';
}

/**
 * The options of every onnxruntime session the engine makes (the benchmarks use them too, so that what they time
 * is what the engine runs).
 */
export function ortSessionOptions(settings: SessionSettings): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    executionProviders: [settings.executionProvider],
    // Warnings such as unused constants in graph variants are noise to a user; errors still show.
    logSeverityLevel: 3,
    // Threads spin between the operators of a run, which spares a wake-up per operator (a GPT-2-small forward
    // ran about 8% faster than with spinning off), and stop when the run returns (force_spinning_stop): several
    // sessions share the cores, and an idle session's spinning threads would slow the next session's run.
    extra: { session: { intra_op: { allow_spinning: '1' }, force_spinning_stop: '1' } },
  };
  if (settings.threads > 0) options.intraOpNumThreads = settings.threads;
  return options;
}

export class GraphSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly weightFeeds: Record<string, ort.Tensor>,
  ) {}

  static async create(bytes: Uint8Array, weightFeeds: Record<string, ort.Tensor>, settings: SessionSettings): Promise<GraphSession> {
    return GraphSession.over(await GraphSession.createOrtSession(bytes, settings), weightFeeds);
  }

  /** The wrapper over a session built ahead of its weights (GraphSession.createOrtSession). */
  static over(session: ort.InferenceSession, weightFeeds: Record<string, ort.Tensor>): GraphSession {
    return new GraphSession(session, weightFeeds);
  }

  /** The onnxruntime session of a graph, which needs no weights: they are fed at each run. */
  static async createOrtSession(bytes: Uint8Array, settings: SessionSettings): Promise<ort.InferenceSession> {
    const options = ortSessionOptions(settings);
    try {
      return await ort.InferenceSession.create(bytes, options);
    } catch (e) {
      if (settings.executionProvider !== 'cpu') {
        throw new UserError(
          `The ${settings.executionProvider} execution provider is not available in this onnxruntime-node install (${e instanceof Error ? e.message : String(e)}). ` +
            'Set mechlens.executionProvider to cpu, or reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA and internet.',
        );
      }
      throw e;
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, ort.Tensor>, fetches: string[]): Promise<Record<string, ort.Tensor>> {
    const all: Record<string, ort.Tensor> = { ...this.weightFeeds, ...feeds };
    const inputs = new Set(this.session.inputNames);
    for (const name of Object.keys(all)) {
      if (!inputs.has(name)) throw new Error(`internal: feed "${name}" is not an input of this graph`);
    }
    for (const name of inputs) {
      if (!(name in all)) throw new Error(`internal: graph input "${name}" was not fed`);
    }
    const outputs = new Set(this.session.outputNames);
    for (const f of fetches) if (!outputs.has(f)) throw new Error(`internal: "${f}" is not an output of this graph`);
    return this.session.run(all, fetches);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
