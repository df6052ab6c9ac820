// One typed RPC for every boundary (extension host <-> engine worker, extension host <-> webview).
// It knows nothing about the transport: give it a `send` function and feed it incoming messages.
// Requests carry ids; replies carry either a result or a typed error; notifications carry no id;
// a request can be cancelled from the caller's AbortSignal, which aborts the handler's signal.
// Runtime-agnostic: no vscode, node or DOM imports.

/** A protocol maps method names to their params and result types. */
export type Protocol = Record<string, { params: unknown; result: unknown }>;
/** Notifications map names to payloads. */
export type Notifications = Record<string, unknown>;

export type ErrorCode =
  | 'cancelled'
  | 'invalid-params'
  | 'unknown-method'
  | 'bad-input'
  | 'engine-error'
  | 'worker-crashed'
  | 'internal';

export interface RpcErrorData {
  code: ErrorCode;
  message: string;
  /** Optional extra detail for a user-facing message (a file name, a list of valid names). */
  detail?: string;
}

export class RpcError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
  toData(): RpcErrorData {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}

export type RpcMessage =
  | { kind: 'request'; id: number; method: string; params: unknown }
  | { kind: 'response'; id: number; result: unknown }
  | { kind: 'error'; id: number; error: RpcErrorData }
  | { kind: 'notify'; method: string; params: unknown; requestId?: number }
  | { kind: 'cancel'; id: number };

export interface HandlerContext<N extends Notifications> {
  signal: AbortSignal;
  /** Sends a notification tied to this request (used for progress). */
  notify<K extends keyof N & string>(method: K, params: N[K]): void;
}

export type Handlers<P extends Protocol, N extends Notifications> = {
  [K in keyof P]: (params: P[K]['params'], ctx: HandlerContext<N>) => Promise<P[K]['result']> | P[K]['result'];
};

/** Sends a message; `transfer` lists ArrayBuffers to move instead of copy (workers). */
export type Send = (message: RpcMessage, transfer?: ArrayBuffer[]) => void;

/**
 * One handler per notification name, each typed with its own payload; names without a handler are
 * ignored. Payloads come from the trusted side of a boundary (the worker, or the host to a webview).
 */
export type NotificationHandlers<N extends Notifications> = { [K in keyof N]?: (params: N[K]) => void };

export interface CallOptions<N extends Notifications> {
  signal?: AbortSignal;
  /** Notifications the handler sends while this request runs (e.g. progress). */
  notifications?: NotificationHandlers<N>;
  transfer?: ArrayBuffer[];
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  notifications?: NotificationHandlers<Notifications>;
  cleanup: () => void;
}

function dispatchNotification(handlers: NotificationHandlers<Notifications> | undefined, method: string, params: unknown): void {
  // Own properties only: a method name such as "constructor" must not reach Object.prototype.
  if (handlers && Object.prototype.hasOwnProperty.call(handlers, method)) handlers[method]?.(params);
}

/** Collects the ArrayBuffers under typed arrays in a value, so they can be transferred. */
export function collectTransferables(value: unknown, out: ArrayBuffer[] = [], seen = new Set<unknown>()): ArrayBuffer[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return out;
  seen.add(value);
  if (ArrayBuffer.isView(value)) {
    const buf = value.buffer;
    // Only whole, unshared buffers can be moved; views into a larger buffer are copied.
    if (buf instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === buf.byteLength && !out.includes(buf)) {
      out.push(buf);
    }
    return out;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) collectTransferables(v, out, seen);
  return out;
}

/**
 * An RPC endpoint. `Local` is the protocol this side serves, `Remote` the one it calls;
 * `LocalN`/`RemoteN` are the notifications it sends and receives.
 */
export class RpcEndpoint<Local extends Protocol, Remote extends Protocol, LocalN extends Notifications = Notifications, RemoteN extends Notifications = Notifications> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly running = new Map<number, AbortController>();
  private readonly notificationListeners = new Set<NotificationHandlers<Notifications>>();
  private closedError: RpcError | undefined;

  constructor(
    private readonly send: Send,
    private readonly handlers: Partial<Handlers<Local, LocalN>>,
    /** Validates incoming params before a handler sees them (untrusted peers such as webviews). */
    private readonly validate?: (method: string, params: unknown) => void,
  ) {}

  call<K extends keyof Remote & string>(method: K, params: Remote[K]['params'], options: CallOptions<RemoteN> = {}): Promise<Remote[K]['result']> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new RpcError('cancelled', 'Cancelled'));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.send({ kind: 'cancel', id });
        // Reject at once: the caller has moved on; a late reply is dropped.
        this.pending.delete(id);
        reject(new RpcError('cancelled', 'Cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        notifications: options.notifications as NotificationHandlers<Notifications> | undefined,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      this.send({ kind: 'request', id, method, params }, options.transfer);
    });
  }

  notify<K extends keyof LocalN & string>(method: K, params: LocalN[K]): void {
    this.send({ kind: 'notify', method, params }, collectTransferables(params));
  }

  /** Handles notifications that belong to no request (e.g. log lines, pushed updates). */
  onNotification(handlers: NotificationHandlers<RemoteN>): { dispose(): void } {
    const table = handlers as NotificationHandlers<Notifications>;
    this.notificationListeners.add(table);
    return { dispose: () => this.notificationListeners.delete(table) };
  }

  /** Feed every incoming message here. Malformed messages are ignored (they may come from untrusted pages). */
  handle(message: unknown): void {
    if (!isRpcMessage(message)) return;
    switch (message.kind) {
      case 'request':
        void this.serve(message.id, message.method, message.params);
        return;
      case 'cancel':
        this.running.get(message.id)?.abort();
        return;
      case 'response':
      case 'error': {
        const p = this.pending.get(message.id);
        if (!p) return;
        this.pending.delete(message.id);
        p.cleanup();
        if (message.kind === 'response') p.resolve(message.result);
        else p.reject(new RpcError(message.error.code, message.error.message, message.error.detail));
        return;
      }
      case 'notify': {
        if (message.requestId !== undefined) {
          dispatchNotification(this.pending.get(message.requestId)?.notifications, message.method, message.params);
          return;
        }
        for (const table of this.notificationListeners) dispatchNotification(table, message.method, message.params);
        return;
      }
    }
  }

  /** Fails every pending call (the peer died) and refuses new ones until `reopen()`. */
  close(error: RpcError): void {
    this.closedError = error;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.cleanup();
      p.reject(error);
    }
    for (const c of this.running.values()) c.abort();
    this.running.clear();
  }

  private async serve(id: number, method: string, params: unknown): Promise<void> {
    const handler = (this.handlers as Record<string, ((p: unknown, c: HandlerContext<LocalN>) => unknown) | undefined>)[method];
    if (!handler || !Object.prototype.hasOwnProperty.call(this.handlers, method)) {
      this.send({ kind: 'error', id, error: { code: 'unknown-method', message: `Unknown method: ${method}` } });
      return;
    }
    const controller = new AbortController();
    this.running.set(id, controller);
    const ctx: HandlerContext<LocalN> = {
      signal: controller.signal,
      notify: (m, p) => this.send({ kind: 'notify', method: m, params: p, requestId: id }, collectTransferables(p)),
    };
    try {
      this.validate?.(method, params);
      const result = await handler(params, ctx);
      if (controller.signal.aborted) throw new RpcError('cancelled', 'Cancelled');
      this.send({ kind: 'response', id, result }, collectTransferables(result));
    } catch (e) {
      this.send({ kind: 'error', id, error: toErrorData(e, controller.signal.aborted) });
    } finally {
      this.running.delete(id);
    }
  }
}

export function toErrorData(e: unknown, aborted = false): RpcErrorData {
  if (e instanceof RpcError) return e.toData();
  if (aborted || (e instanceof Error && e.name === 'AbortError')) return { code: 'cancelled', message: 'Cancelled' };
  if (e instanceof Error && 'userFacing' in e && e.userFacing === true) {
    return { code: 'bad-input', message: e.message };
  }
  return { code: 'engine-error', message: e instanceof Error ? e.message : String(e) };
}

function isRpcMessage(m: unknown): m is RpcMessage {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  switch (r.kind) {
    case 'request':
      return typeof r.id === 'number' && typeof r.method === 'string';
    case 'response':
      return typeof r.id === 'number';
    case 'error':
      return typeof r.id === 'number' && typeof r.error === 'object' && r.error !== null;
    case 'notify':
      return typeof r.method === 'string';
    case 'cancel':
      return typeof r.id === 'number';
    default:
      return false;
  }
}
