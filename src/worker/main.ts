// The engine worker: a worker_threads thread that owns the model and its onnxruntime sessions and
// serves EngineProtocol over the shared RPC. onnxruntime's run() blocks the thread it runs on, so it
// must never run on the extension host's thread.
// First: switches onnxruntime's telemetry off before onnxruntime-node loads (see privacy.ts).
import '../engine/privacy';
import { parentPort } from 'node:worker_threads';
import { Model } from '../engine/model';
import { randomInitModel } from '../engine/randomInit';
import { validateCheckpoint } from '../engine/checkpoint/load';
import { UserError, throwIfAborted } from '../engine/errors';
import { runAnalysis } from '../engine/analysis/registry';
import { RpcEndpoint } from '../shared/rpc';
import type { HandlerContext, Handlers, RpcMessage } from '../shared/rpc';
import { ANALYSIS_NAMES } from '../shared/analyses';
import type { AnalysisProtocol } from '../shared/analyses';
import type { EngineNotifications, EngineProtocol } from '../shared/protocol';

function analysisContext(ctx: HandlerContext<EngineNotifications>) {
  return { signal: ctx.signal, onProgress: (message: string, fraction?: number, steps?: { phase: string; done: number; total: number }) => ctx.notify('progress', { message, fraction, ...steps }) };
}

/**
 * Lets the messages already queued behind this request arrive before it starts, and refuses it if one of
 * them cancelled it: while the user types, each keystroke's inspection supersedes the last, and a request
 * that was cancelled while it waited must never run (tokenizing alone can hold the thread for a while).
 */
async function superseded(signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  throwIfAborted(signal);
}

/** `analysis/<name>` for every analysis of the registry: params are checked there, not here. */
function analysisHandlers(requireModel: () => Model): Handlers<AnalysisProtocol, EngineNotifications> {
  const entries = ANALYSIS_NAMES.map((name) => [
    `analysis/${name}`,
    async (params: unknown, ctx: HandlerContext<EngineNotifications>) => {
      await superseded(ctx.signal);
      return runAnalysis(requireModel(), name, params, analysisContext(ctx));
    },
  ]);
  // One handler per name, built from the same list the protocol type is mapped from.
  return Object.fromEntries(entries) as Handlers<AnalysisProtocol, EngineNotifications>;
}

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('worker/main must run in a worker thread');
  let model: Model | null = null;

  const requireModel = (): Model => {
    if (!model) throw new UserError('No model is loaded.');
    return model;
  };

  const handlers: Handlers<EngineProtocol, EngineNotifications> = {
    'model/load': async ({ dir, threads, executionProvider, randomInit }, ctx) => {
      ctx.notify('progress', { message: `Loading ${dir}`, fraction: 0 });
      let next = await Model.load(dir, {
        threads,
        executionProvider,
        onProgress: (message, fraction) => ctx.notify('progress', { message, fraction }),
      });
      if (randomInit !== undefined && !ctx.signal.aborted) {
        // The random-init control: every analysis then runs on the architecture with re-initialised weights.
        const random = await randomInitModel(next, randomInit, { threads });
        await next.dispose();
        next = random;
      }
      if (ctx.signal.aborted) {
        await next.dispose();
        throw new UserError('Loading was cancelled.');
      }
      await model?.dispose();
      model = next;
      return next.info;
    },
    'model/validate': ({ dir }) => validateCheckpoint(dir),
    'model/info': () => model?.info ?? null,
    'model/unload': async () => {
      await model?.dispose();
      model = null;
      return null;
    },
    tokenize: ({ text }) => requireModel().tokenize(text),
    ...analysisHandlers(requireModel),
    'attribution/graph': (params, ctx) => runAnalysis(requireModel(), 'graph', params, analysisContext(ctx)),
    'debug/crash': () => {
      // Crash the thread for real (an uncaught error outside the RPC), as a native fault would.
      setImmediate(() => {
        throw new Error('debug/crash: the engine worker was asked to crash');
      });
      return null;
    },
  };

  const endpoint = new RpcEndpoint<EngineProtocol, Record<string, never>, EngineNotifications>(
    (message: RpcMessage, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer ?? []),
    handlers,
  );
  port.on('message', (m: unknown) => endpoint.handle(m));
}

main();
