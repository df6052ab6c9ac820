// The onnxruntime sessions of one model, built on demand from graph descriptions and kept in a
// least-recently-used cache. Every graph reads its weights as fed inputs, and the cache holds one
// ort.Tensor per weight over the model's one float32 copy: a new graph variant (forward, gradient,
// transcoder) costs a graph build, never another copy of the weights.
import * as ort from 'onnxruntime-node';
import type { WeightRef } from './graphBuilder';
import { GraphSession } from './session';
import type { SessionSettings } from './session';

export interface GraphDescription {
  bytes: Uint8Array;
  weightInputs: WeightRef[];
}

export class SessionCache {
  private readonly sessions = new Map<string, Promise<GraphSession>>();
  private readonly weightTensors = new Map<string, ort.Tensor>();
  private readonly pinned = new Set<string>();

  /** A session built from a graph's bytes before the weights were in (Model.load), for the first graph built if it has those bytes. */
  private early: { bytes: Uint8Array; session: Promise<ort.InferenceSession> } | undefined;

  constructor(
    private readonly settings: SessionSettings,
    private readonly maxSessions = 24,
  ) {}

  /**
   * Starts building the session of a graph whose weights are not read yet (graphs depend on shapes only). The
   * next session built uses it if its graph has the same bytes, and releases it otherwise: the bytes, not a key,
   * decide, so a graph that came out differently once the weights were in is never served by it.
   */
  buildAhead(bytes: Uint8Array): Promise<unknown> {
    const session = GraphSession.createOrtSession(bytes, this.settings);
    this.early = { bytes, session };
    return session;
  }

  /** The session for `key`, built by `build` on first use. Pinned sessions are never evicted. */
  get(key: string, build: () => GraphDescription, options: { pin?: boolean } = {}): Promise<GraphSession> {
    if (options.pin) this.pinned.add(key);
    let s = this.sessions.get(key);
    if (s) {
      // LRU: move to the end.
      this.sessions.delete(key);
      this.sessions.set(key, s);
      return s;
    }
    s = this.create(build());
    s.catch(() => this.sessions.delete(key));
    this.sessions.set(key, s);
    if (this.sessions.size > this.maxSessions) {
      const oldKey = [...this.sessions.keys()].find((k) => !this.pinned.has(k));
      if (oldKey !== undefined) {
        const old = this.sessions.get(oldKey)!;
        this.sessions.delete(oldKey);
        void old.then((x) => x.release()).catch(() => undefined);
      }
    }
    return s;
  }

  private async create(graph: GraphDescription): Promise<GraphSession> {
    const early = this.early;
    this.early = undefined;
    if (early && sameBytes(early.bytes, graph.bytes)) return GraphSession.over(await early.session, this.weightFeeds(graph));
    // Built for the first graph asked for, which came out otherwise: of no further use.
    if (early) void early.session.then((s) => s.release()).catch(() => undefined);
    return GraphSession.create(graph.bytes, this.weightFeeds(graph), this.settings);
  }

  private weightFeeds(graph: GraphDescription): Record<string, ort.Tensor> {
    const weightFeeds: Record<string, ort.Tensor> = {};
    for (const w of graph.weightInputs) {
      let t = this.weightTensors.get(w.name);
      if (!t) {
        t = new ort.Tensor('float32', w.data, w.dims);
        this.weightTensors.set(w.name, t);
      }
      weightFeeds[w.name] = t;
    }
    return weightFeeds;
  }

  async dispose(): Promise<void> {
    if (this.early) await this.early.session.then((s) => s.release()).catch(() => undefined);
    this.early = undefined;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await s.then((x) => x.release()).catch(() => undefined);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
