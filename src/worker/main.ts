// The engine worker: a worker_threads thread that owns the model and its onnxruntime sessions and
// serves EngineProtocol over the shared RPC. onnxruntime's run() blocks the thread it runs on, so it
// must never run on the extension host's thread.
import { parentPort } from 'node:worker_threads';
import { Model } from '../engine/model';
import { validateCheckpoint } from '../engine/checkpoint/load';
import { UserError } from '../engine/errors';
import { resolvePrompt, topTokens } from '../engine/prompt';
import { logitLens } from '../engine/analysis/logitLens';
import { readTunedLens } from '../engine/analysis/tunedLens';
import { attentionPatterns, detectHeads } from '../engine/analysis/attention';
import { directLogitAttribution } from '../engine/analysis/dla';
import { inspectPrompt } from '../engine/analysis/inspect';
import { normalisedLogitDiff, patchingSweep } from '../engine/analysis/patching';
import { RpcEndpoint } from '../shared/rpc';
import type { Handlers, RpcMessage } from '../shared/rpc';
import { validateIntervention } from '../shared/interventions';
import type { EngineNotifications, EngineProtocol } from '../shared/protocol';
import type { Intervention } from '../shared/interventions';

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('worker/main must run in a worker thread');
  let model: Model | null = null;

  const requireModel = (): Model => {
    if (!model) throw new UserError('No model is loaded.');
    return model;
  };
  const checkInterventions = (list: unknown): Intervention[] | undefined => {
    if (list === undefined) return undefined;
    if (!Array.isArray(list)) throw new UserError('interventions must be a list');
    return list.map((v, i) => validateIntervention(v, `intervention ${i + 1}`));
  };

  const handlers: Handlers<EngineProtocol, EngineNotifications> = {
    'model/load': async ({ dir, threads, executionProvider }, ctx) => {
      ctx.notify('progress', { message: `Loading ${dir}`, fraction: 0 });
      const next = await Model.load(dir, {
        threads,
        executionProvider,
        onProgress: (message, fraction) => ctx.notify('progress', { message, fraction }),
      });
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
    run: async ({ prompt, topK, allPositions, interventions }, ctx) => {
      const m = requireModel();
      const tokens = resolvePrompt(m, prompt);
      const logits = await m.run(tokens.ids, { interventions: checkInterventions(interventions), lastOnly: !allPositions, signal: ctx.signal });
      const V = m.config.dVocab;
      const last = logits.data.subarray(logits.data.length - V);
      return { tokens, logits, top: topTokens(m, last, topK ?? 10) };
    },
    runWithCache: async ({ prompt, hooks, interventions }, ctx) => {
      const m = requireModel();
      const tokens = resolvePrompt(m, prompt);
      const r = await m.runWithCache(tokens.ids, hooks, { interventions: checkInterventions(interventions), signal: ctx.signal, logits: false });
      return { tokens, hooks: Object.fromEntries(r.hooks) };
    },
    generate: async ({ prompt, maxNewTokens, temperature, seed, interventions }, ctx) => {
      const m = requireModel();
      const tokens = resolvePrompt(m, prompt);
      const newTokens = await m.generate(tokens.ids, {
        maxNewTokens,
        temperature,
        seed,
        interventions: checkInterventions(interventions),
        signal: ctx.signal,
        onToken: () => ctx.notify('progress', { message: 'Generating' }),
      });
      const all = [...tokens.ids, ...newTokens];
      return { tokens: all, text: m.decode(all), newTokens, newText: m.decode(newTokens) };
    },
    'analysis/inspect': async ({ prompt, topK, maxTokens }, ctx) => {
      const m = requireModel();
      const t = resolvePrompt(m, prompt, maxTokens);
      return { ...(await inspectPrompt(m, t.ids, { topK, signal: ctx.signal })), prompt: t };
    },
    'analysis/lens': async ({ prompt, stream, topK, targets, tunedLensFile }, ctx) => {
      const m = requireModel();
      const t = resolvePrompt(m, prompt);
      const tuned = tunedLensFile ? readTunedLens(tunedLensFile, m.config.nLayers, m.config.dModel) : undefined;
      const r = await logitLens(m, { tokens: t.ids, stream, topK, targets, tuned, signal: ctx.signal });
      return { ...r, prompt: t };
    },
    'analysis/attention': async ({ prompt }, ctx) => {
      const m = requireModel();
      const t = resolvePrompt(m, prompt);
      return { ...(await attentionPatterns(m, t.ids, ctx.signal)), prompt: t };
    },
    'analysis/detectHeads': ({ samples }, ctx) => detectHeads(requireModel(), { samples, signal: ctx.signal }),
    'analysis/dla': async ({ prompt, target, baseline, position }, ctx) => {
      const m = requireModel();
      const t = resolvePrompt(m, prompt);
      return { ...(await directLogitAttribution(m, { tokens: t.ids, target, baseline, position, signal: ctx.signal })), prompt: t };
    },
    'analysis/patchSweep': async ({ clean, corrupted, hook, positions, correct, incorrect }, ctx) => {
      const m = requireModel();
      const r = await patchingSweep(m, {
        clean: resolvePrompt(m, clean).ids,
        corrupted: resolvePrompt(m, corrupted).ids,
        hook,
        positions,
        signal: ctx.signal,
        onProgress: (fraction) => ctx.notify('progress', { message: 'Patching', fraction }),
      });
      const diff = (l: Float32Array) => l[correct]! - l[incorrect]!;
      return {
        layers: r.layers,
        positions: r.positions,
        metric: normalisedLogitDiff(r, correct, incorrect),
        cleanLogitDiff: diff(r.cleanLogits),
        corruptedLogitDiff: diff(r.corruptedLogits),
      };
    },
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
