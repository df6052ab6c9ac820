// Stale-job handling: a new job of a kind (a click on another token, a re-run) aborts the previous
// job of the same kind, so late results never overwrite newer ones. No vscode import: unit-tested.

export interface Job {
  readonly signal: AbortSignal;
  /** True while this is still the newest job of its kind and not aborted. */
  readonly current: boolean;
  /** Call when the job finished (success or failure) to release its slot. */
  done(): void;
}

export class JobSlots {
  private readonly running = new Map<string, AbortController>();

  /** Starts a job of `kind`, aborting the previous one of that kind. `parent` aborts it too. */
  start(kind: string, parent?: AbortSignal): Job {
    this.running.get(kind)?.abort();
    const controller = new AbortController();
    this.running.set(kind, controller);
    const onParentAbort = () => controller.abort();
    if (parent?.aborted) controller.abort();
    else parent?.addEventListener('abort', onParentAbort, { once: true });
    const running = this.running;
    return {
      signal: controller.signal,
      get current() {
        return running.get(kind) === controller && !controller.signal.aborted;
      },
      done() {
        parent?.removeEventListener('abort', onParentAbort);
        if (running.get(kind) === controller) running.delete(kind);
      },
    };
  }

  /** Kinds with a job running now. */
  get kinds(): string[] {
    return [...this.running.keys()];
  }

  cancelAll(): void {
    for (const c of this.running.values()) c.abort();
    this.running.clear();
  }
}
