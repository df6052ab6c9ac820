// Errors a user can act on (a broken file, an unsupported model, a prompt too long) are UserErrors:
// their message is shown as is, naming the file and the problem. Anything else is a bug.

export class UserError extends Error {
  readonly userFacing = true;
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Throws a DOMException-style AbortError when the signal is aborted (checked between layers and batches). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const e = new Error('Cancelled');
    e.name = 'AbortError';
    throw e;
  }
}
