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

  constructor(
    private readonly settings: SessionSettings,
    private readonly maxSessions = 24,
  ) {}

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
    const weightFeeds: Record<string, ort.Tensor> = {};
    for (const w of graph.weightInputs) {
      let t = this.weightTensors.get(w.name);
      if (!t) {
        t = new ort.Tensor('float32', w.data, w.dims);
        this.weightTensors.set(w.name, t);
      }
      weightFeeds[w.name] = t;
    }
    return GraphSession.create(graph.bytes, weightFeeds, this.settings);
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await s.then((x) => x.release()).catch(() => undefined);
  }
}
