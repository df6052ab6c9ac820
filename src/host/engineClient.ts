// Owns the engine worker (a worker_threads Worker running dist/worker.js): starts it on first use,
// calls it through the project's one RPC class, reloads the chosen model when needed, and survives
// crashes: a dead worker fails every pending call with `worker-crashed`, and the next call starts a
// fresh worker and loads the model again. Knows nothing about vscode (the host wires notices and
// progress in), so it is unit-tested with a stand-in worker script.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { RpcEndpoint, RpcError } from '../shared/rpc';
import type { NotificationHandlers } from '../shared/rpc';
import type { EngineNotifications, EngineProtocol, LoadModelParams, ModelInfo } from '../shared/protocol';
import { JobSlots } from './jobs';
import { ORT_PRIVACY_ENV, disableOrtTelemetry } from '../engine/privacy';

export type EngineState = 'stopped' | 'starting' | 'idle' | 'loading' | 'busy' | 'crashed';

type EngineRpc = RpcEndpoint<Record<string, never>, EngineProtocol, Record<string, never>, EngineNotifications>;
type Method = keyof EngineProtocol & string;

/** Methods that need a loaded model: the client loads the chosen one first. */
const NEEDS_MODEL: ReadonlySet<Method> = new Set<Method>(['tokenize', 'analysis/run', 'analysis/cache', 'analysis/generate']);

export interface EngineCallOptions {
  signal?: AbortSignal;
  onProgress?: (message: string, fraction?: number) => void;
}

function progressHandlers(options: EngineCallOptions): NotificationHandlers<EngineNotifications> {
  return { progress: ({ message, fraction }) => options.onProgress?.(message, fraction) };
}

export interface EngineClientOptions {
  workerPath: string;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Called once per unexpected worker death, with a message for the user. */
  onCrash?: (message: string) => void;
  onState?: (state: EngineState) => void;
  /** Replaces `new Worker(path)` (tests). */
  createWorker?: (path: string) => Worker;
}

export class EngineClient {
  readonly jobs = new JobSlots();
  private worker: Worker | undefined;
  private rpc: EngineRpc | undefined;
  private stopping = new WeakSet<Worker>();
  private lastWorkerError: string | undefined;
  private desired: LoadModelParams | undefined;
  private loaded: { key: string; info: ModelInfo } | undefined;
  private loading: { key: string; promise: Promise<ModelInfo> } | undefined;
  private active = 0;
  private _state: EngineState = 'stopped';
  private disposed = false;
  /** Number of workers started so far (a restart after a crash makes it grow). */
  startCount = 0;

  constructor(private readonly options: EngineClientOptions) {}

  get state(): EngineState {
    return this._state;
  }

  /** The model that is loaded in the worker now, if any. */
  get loadedModel(): ModelInfo | undefined {
    return this.loaded?.info;
  }

  /** Chooses the model that model-bound calls use; it is loaded on the next such call (or by `load`). */
  setModel(params: LoadModelParams): void {
    this.desired = { ...params };
  }

  /** True when the chosen model (with its settings) is loaded in a live worker. */
  get modelReady(): boolean {
    return this.desired !== undefined && this.rpc !== undefined && this.loaded?.key === modelKey(this.desired);
  }

  get model(): LoadModelParams | undefined {
    return this.desired;
  }

  /** Loads the chosen model unless it is loaded already. */
  async load(options: EngineCallOptions = {}): Promise<ModelInfo> {
    const desired = this.desired;
    if (!desired) throw new RpcError('bad-input', 'No model is selected.');
    const key = modelKey(desired);
    if (this.loaded?.key === key && this.rpc) return this.loaded.info;
    if (this.loading?.key === key) return this.loading.promise;
    const rpc = this.ensureStarted();
    const slot: { key: string; promise: Promise<ModelInfo> } = { key, promise: Promise.resolve(undefined as never) };
    this.loading = slot;
    slot.promise = (async () => {
      this.active++;
      this.settleState();
      try {
        const info = await rpc.call('model/load', desired, {
          signal: options.signal,
          notifications: progressHandlers(options),
        });
        if (this.rpc === rpc) this.loaded = { key, info };
        return info;
      } finally {
        this.active--;
        if (this.loading === slot) this.loading = undefined;
        this.settleState();
      }
    })();
    return slot.promise;
  }

  /** Calls the worker, starting it (and loading the chosen model) first when needed. */
  async call<K extends Method>(method: K, params: EngineProtocol[K]['params'], options: EngineCallOptions = {}): Promise<EngineProtocol[K]['result']> {
    if (NEEDS_MODEL.has(method)) await this.load(options);
    const rpc = this.ensureStarted();
    this.active++;
    this.settleState();
    try {
      return await rpc.call(method, params, {
        signal: options.signal,
        notifications: progressHandlers(options),
      });
    } finally {
      this.active--;
      this.settleState();
    }
  }

  /** Stops the worker (pending calls fail with `cancelled`); the next call starts a new one. */
  async restart(): Promise<void> {
    await this.stop(new RpcError('cancelled', 'The engine was restarted.'));
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.jobs.cancelAll();
    await this.stop(new RpcError('cancelled', 'MechLens is shutting down.'));
  }

  private async stop(reason: RpcError): Promise<void> {
    const worker = this.worker;
    this.rpc?.close(reason);
    this.worker = undefined;
    this.rpc = undefined;
    this.loaded = undefined;
    this.loading = undefined;
    this.setState('stopped');
    if (worker) {
      this.stopping.add(worker);
      await worker.terminate();
    }
  }

  private ensureStarted(): EngineRpc {
    if (this.disposed) throw new RpcError('cancelled', 'MechLens is shutting down.');
    if (this.rpc) return this.rpc;
    const path = this.options.workerPath;
    if (!this.options.createWorker && !existsSync(path)) {
      throw new RpcError('internal', `The engine is not built: ${path} is missing (run "npm run build").`);
    }
    this.setState('starting');
    const started = Date.now();
    // onnxruntime reads its telemetry switch with getenv(): the worker's process.env is only a copy, so the
    // variable goes into this process' real environment first, and explicitly to the worker as well.
    disableOrtTelemetry();
    const worker = this.options.createWorker ? this.options.createWorker(path) : new Worker(path, { env: { ...process.env, ...ORT_PRIVACY_ENV } });
    this.startCount++;
    const rpc: EngineRpc = new RpcEndpoint((message, transfer) => worker.postMessage(message, transfer ?? []), {});
    rpc.onNotification({ log: ({ level, message }) => this.options.log(level, `[engine] ${message}`) });
    worker.on('message', (m: unknown) => rpc.handle(m));
    worker.on('online', () => this.options.log('info', `Engine worker started in ${Date.now() - started} ms (thread ${worker.threadId}).`));
    worker.on('error', (err: Error) => {
      this.lastWorkerError = err.message;
      this.options.log('error', `Engine worker error: ${err.stack ?? err.message}`);
    });
    worker.on('exit', (code: number) => this.onExit(worker, rpc, code));
    this.worker = worker;
    this.rpc = rpc;
    this.settleState();
    return rpc;
  }

  private onExit(worker: Worker, rpc: EngineRpc, code: number): void {
    if (this.stopping.has(worker)) return;
    const why = this.lastWorkerError ? `: ${this.lastWorkerError}` : '';
    this.lastWorkerError = undefined;
    const message = `The MechLens engine stopped unexpectedly (exit code ${code})${why}. It restarts on next use.`;
    rpc.close(new RpcError('worker-crashed', message));
    if (this.worker === worker) {
      this.worker = undefined;
      this.rpc = undefined;
      this.loaded = undefined;
      this.loading = undefined;
      this.active = 0;
      this.setState('crashed');
    }
    this.options.log('error', message);
    if (!this.disposed) this.options.onCrash?.(message);
  }

  private settleState(): void {
    if (!this.rpc) return;
    this.setState(this.loading ? 'loading' : this.active > 0 ? 'busy' : 'idle');
  }

  private setState(state: EngineState): void {
    if (this._state === state) return;
    this._state = state;
    this.options.onState?.(state);
  }
}

function modelKey(p: LoadModelParams): string {
  return JSON.stringify([p.dir, p.threads ?? 0, p.executionProvider ?? 'cpu']);
}
