// Owns the engine workers (worker_threads Workers running dist/worker.js): starts them on first use,
// calls them through the project's one RPC class, reloads the chosen model when needed, and survives
// crashes: a dead worker fails every pending call with `worker-crashed`, and the next call starts a
// fresh worker and loads the model again. Knows nothing about vscode (the host wires notices and
// progress in), so it is unit-tested with a stand-in worker script.
//
// Two workers: one onnxruntime run holds its thread for as long as it takes, so a request queued
// behind an attribution graph or a sweep would wait minutes. Long jobs (LONG_JOBS) therefore run in a
// second worker, started on demand with its own copy of the model and released after a short idle time
// (`longJobIdleMs`); everything else (inline inspection, hovers, the panels' analyses) runs in the main
// worker and never waits behind a long job. The second copy costs the model's weights again (README,
// "Safety guarantees", has the measured figure), so it is made only while free memory holds that copy
// twice over; otherwise long jobs share the main worker as before and a log line says why.
import { existsSync } from 'node:fs';
import { freemem } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RpcEndpoint, RpcError } from '../shared/rpc';
import type { NotificationHandlers } from '../shared/rpc';
import type { EngineNotifications, EngineProtocol, LoadModelParams, ModelInfo } from '../shared/protocol';
import { JobSlots } from './jobs';
import { ORT_PRIVACY_ENV, disableOrtTelemetry } from '../engine/privacy';

export type EngineState = 'stopped' | 'starting' | 'idle' | 'loading' | 'busy' | 'crashed';

type EngineRpc = RpcEndpoint<Record<string, never>, EngineProtocol, Record<string, never>, EngineNotifications>;
type Method = keyof EngineProtocol & string;

/** Methods that need a loaded model (tokenize and every analysis): the client loads the chosen one first. */
function needsModel(method: string): boolean {
  return method === 'tokenize' || method.startsWith('analysis/') || method.startsWith('attribution/');
}

/**
 * Jobs that can take seconds to minutes (many onnxruntime runs, a corpus, a generation loop): they run in
 * the long-job worker. Strings, not `Method`s: the feature analyses are registered elsewhere, and a name
 * that is not served simply never matches.
 */
const LONG_JOBS: ReadonlySet<string> = new Set([
  'analysis/graph',
  'attribution/graph',
  'analysis/patch',
  'analysis/heads',
  'analysis/generate',
  'analysis/featureDashboards',
  'analysis/featureDetails',
  'analysis/steer',
  'analysis/iia',
  'analysis/das',
  'analysis/probe',
]);

/** True for a request that goes to the long-job worker (integrated gradients is long; grad x input is one backward). */
export function isLongJob(method: string, params: unknown): boolean {
  if (method === 'analysis/saliency') return (params as { method?: string } | null)?.method === 'integrated_gradients';
  return LONG_JOBS.has(method);
}

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
  /** Long jobs in a second worker (default true); false runs everything in one worker, in order. */
  longJobWorker?: boolean;
  /** Idle time after which the long-job worker and its copy of the model are released (default 60 s). */
  longJobIdleMs?: number;
  /** Bytes of free memory (default os.freemem()): the second copy of the model is made only if it fits twice. */
  freeMemory?: () => number;
}

/** One worker thread, its RPC endpoint and the model loaded in it. */
class EngineWorker {
  worker: Worker | undefined;
  rpc: EngineRpc | undefined;
  loaded: { key: string; info: ModelInfo } | undefined;
  loading: { key: string; promise: Promise<ModelInfo> } | undefined;
  active = 0;
  /** Grows with every worker this slot loses: calls begun on an earlier one give nothing back. */
  generation = 0;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly role: 'main' | 'long jobs') {}

  forget(): void {
    this.worker = undefined;
    this.rpc = undefined;
    this.loaded = undefined;
    this.loading = undefined;
    this.active = 0;
    this.generation++;
  }
}

export class EngineClient {
  readonly jobs = new JobSlots();
  private readonly main = new EngineWorker('main');
  private readonly long = new EngineWorker('long jobs');
  private stopping = new WeakSet<Worker>();
  private lastWorkerError = new WeakMap<Worker, string>();
  private desired: LoadModelParams | undefined;
  private _state: EngineState = 'stopped';
  private disposed = false;
  private warnedMemory = false;
  /** Number of workers started so far (a restart after a crash makes it grow; so does each long-job worker). */
  startCount = 0;

  constructor(private readonly options: EngineClientOptions) {}

  get state(): EngineState {
    return this._state;
  }

  /** The model that is loaded in the main worker now, if any. */
  get loadedModel(): ModelInfo | undefined {
    return this.main.loaded?.info;
  }

  /** What identifies the loaded model and its settings (the same after a reload of the same model); undefined when none is. */
  get loadedModelKey(): string | undefined {
    return this.main.loaded?.key;
  }

  /** True while the long-job worker is alive (holding its own copy of the model once it loaded one). */
  get longJobWorkerRunning(): boolean {
    return this.long.rpc !== undefined;
  }

  /** Chooses the model that model-bound calls use; it is loaded on the next such call (or by `load`). */
  setModel(params: LoadModelParams): void {
    this.desired = { ...params };
  }

  /** True when the chosen model (with its settings) is loaded in a live main worker. */
  get modelReady(): boolean {
    return this.desired !== undefined && this.main.rpc !== undefined && this.main.loaded?.key === modelKey(this.desired);
  }

  get model(): LoadModelParams | undefined {
    return this.desired;
  }

  /** Loads the chosen model in the main worker unless it is loaded already. */
  load(options: EngineCallOptions = {}): Promise<ModelInfo> {
    return this.loadIn(this.main, options);
  }

  private async loadIn(slot: EngineWorker, options: EngineCallOptions): Promise<ModelInfo> {
    const desired = this.desired;
    if (!desired) throw new RpcError('bad-input', 'No model is selected.');
    const key = modelKey(desired);
    if (slot.loaded?.key === key && slot.rpc) return slot.loaded.info;
    if (slot.loading?.key === key) return slot.loading.promise;
    const rpc = this.ensureStarted(slot);
    const loading: { key: string; promise: Promise<ModelInfo> } = { key, promise: Promise.resolve(undefined as never) };
    slot.loading = loading;
    loading.promise = (async () => {
      this.begin(slot);
      try {
        const info = await rpc.call('model/load', desired, {
          signal: options.signal,
          notifications: progressHandlers(options),
        });
        if (slot.rpc === rpc) slot.loaded = { key, info };
        return info;
      } finally {
        if (slot.loading === loading) slot.loading = undefined;
        this.end(slot, rpc);
      }
    })();
    return loading.promise;
  }

  /**
   * Calls a worker, starting it (and loading the chosen model) first when needed: a long job goes to the
   * long-job worker, everything else to the main worker.
   */
  async call<K extends Method>(method: K, params: EngineProtocol[K]['params'], options: EngineCallOptions = {}): Promise<EngineProtocol[K]['result']> {
    const slot = this.workerFor(method, params);
    // The long-job worker is busy from the first moment (its idle timer must not release it mid-load).
    const held = slot === this.long ? this.holdLong() : undefined;
    try {
      if (needsModel(method)) await this.loadIn(slot, options);
      const rpc = this.ensureStarted(slot);
      this.begin(slot);
      try {
        return await rpc.call(method, params, {
          signal: options.signal,
          notifications: progressHandlers(options),
        });
      } finally {
        this.end(slot, rpc);
      }
    } finally {
      if (held !== undefined) this.releaseLong(held);
    }
  }

  /** Stops the workers (pending calls fail with `cancelled`); the next call starts a new one. */
  async restart(): Promise<void> {
    await this.stop(new RpcError('cancelled', 'The engine was restarted.'));
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.jobs.cancelAll();
    await this.stop(new RpcError('cancelled', 'MechLens is shutting down.'));
  }

  private workerFor(method: string, params: unknown): EngineWorker {
    if (this.options.longJobWorker === false || !isLongJob(method, params)) return this.main;
    if (this.long.rpc) return this.long;
    // A second copy of the model: only when free memory holds it twice over (weights as float32, plus
    // onnxruntime's buffers, plus room for everything else on the machine).
    const weightBytes = this.main.loaded?.info.weightBytes;
    const free = (this.options.freeMemory ?? freemem)();
    if (weightBytes !== undefined && 2 * weightBytes > free) {
      if (!this.warnedMemory) {
        this.warnedMemory = true;
        const gib = (b: number) => (b / 2 ** 30).toFixed(1);
        this.options.log('warn', `Long jobs share the main engine worker: a second copy of the model (${gib(weightBytes)} GiB) does not fit twice in the ${gib(free)} GiB free. Inline inspection waits while a long job runs.`);
      }
      return this.main;
    }
    return this.long;
  }

  private holdLong(): number {
    this.long.active++;
    if (this.long.idleTimer) clearTimeout(this.long.idleTimer);
    this.long.idleTimer = undefined;
    return this.long.generation;
  }

  /** When the last long job ends, the long-job worker is released after the idle time. */
  private releaseLong(generation: number): void {
    if (generation === this.long.generation) this.long.active--;
    this.settleState();
    if (this.long.active > 0 || !this.long.worker) return;
    const worker = this.long.worker;
    this.long.idleTimer = setTimeout(() => {
      this.long.idleTimer = undefined;
      if (this.long.worker !== worker || this.long.active > 0) return;
      this.options.log('info', 'Long-job worker idle: released with its copy of the model.');
      void this.stopWorker(this.long, new RpcError('cancelled', 'The long-job worker was released.'));
    }, this.options.longJobIdleMs ?? 60_000);
    // An idle timer must not keep a process (the CLI, a test) alive.
    this.long.idleTimer.unref?.();
  }

  private begin(slot: EngineWorker): void {
    if (slot === this.main) slot.active++;
    this.settleState();
  }

  private end(slot: EngineWorker, rpc: EngineRpc): void {
    if (slot === this.main && slot.rpc === rpc) slot.active--;
    this.settleState();
  }

  private async stop(reason: RpcError): Promise<void> {
    await Promise.all([this.stopWorker(this.main, reason), this.stopWorker(this.long, reason)]);
    this.setState('stopped');
  }

  private async stopWorker(slot: EngineWorker, reason: RpcError): Promise<void> {
    const worker = slot.worker;
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    slot.rpc?.close(reason);
    slot.forget();
    this.settleState();
    if (worker) {
      this.stopping.add(worker);
      await worker.terminate();
    }
  }

  private ensureStarted(slot: EngineWorker): EngineRpc {
    if (this.disposed) throw new RpcError('cancelled', 'MechLens is shutting down.');
    if (slot.rpc) return slot.rpc;
    const path = this.options.workerPath;
    if (!this.options.createWorker && !existsSync(path)) {
      throw new RpcError('internal', `The engine is not built: ${path} is missing (run "npm run build").`);
    }
    if (slot === this.main) this.setState('starting');
    const started = Date.now();
    // onnxruntime reads its telemetry switch with getenv(): the worker's process.env is only a copy, so the
    // variable goes into this process' real environment first, and explicitly to the worker as well.
    disableOrtTelemetry();
    const worker = this.options.createWorker ? this.options.createWorker(path) : new Worker(path, { env: { ...process.env, ...ORT_PRIVACY_ENV } });
    this.startCount++;
    const rpc: EngineRpc = new RpcEndpoint((message, transfer) => worker.postMessage(message, transfer ?? []), {});
    const tag = slot === this.main ? '[engine]' : '[engine, long jobs]';
    rpc.onNotification({ log: ({ level, message }) => this.options.log(level, `${tag} ${message}`) });
    worker.on('message', (m: unknown) => rpc.handle(m));
    worker.on('online', () => this.options.log('info', `Engine worker (${slot.role}) started in ${Date.now() - started} ms (thread ${worker.threadId}).`));
    worker.on('error', (err: Error) => {
      this.lastWorkerError.set(worker, err.message);
      this.options.log('error', `Engine worker (${slot.role}) error: ${err.stack ?? err.message}`);
    });
    worker.on('exit', (code: number) => this.onExit(slot, worker, rpc, code));
    slot.worker = worker;
    slot.rpc = rpc;
    this.settleState();
    return rpc;
  }

  private onExit(slot: EngineWorker, worker: Worker, rpc: EngineRpc, code: number): void {
    if (this.stopping.has(worker)) return;
    const error = this.lastWorkerError.get(worker);
    const why = error ? `: ${error}` : '';
    const message = `The MechLens engine${slot === this.long ? "'s long-job worker" : ''} stopped unexpectedly (exit code ${code})${why}. It restarts on next use.`;
    rpc.close(new RpcError('worker-crashed', message));
    if (slot.worker === worker) {
      slot.forget();
      if (slot === this.main) this.setState('crashed');
      else this.settleState();
    }
    this.options.log('error', message);
    if (!this.disposed) this.options.onCrash?.(message);
  }

  private settleState(): void {
    if (!this.main.rpc && !this.long.rpc) {
      if (this._state !== 'crashed') this.setState('stopped');
      return;
    }
    const loading = this.main.loading ?? this.long.loading;
    const busy = this.main.active > 0 || this.long.active > 0;
    if (!this.main.rpc && !busy && this._state === 'crashed') return;
    this.setState(loading ? 'loading' : busy ? 'busy' : 'idle');
  }

  private setState(state: EngineState): void {
    if (this._state === state) return;
    this._state = state;
    this.options.onState?.(state);
  }
}

function modelKey(p: LoadModelParams): string {
  return JSON.stringify([p.dir, p.threads ?? 0, p.executionProvider ?? 'cpu', p.randomInit ?? null]);
}
