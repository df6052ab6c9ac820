// The "MechLens" output channel, with a timestamped logger on top (a LogOutputChannel adds levels).
import * as vscode from 'vscode';

export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('MechLens', { log: true });
  }

  info(message: string): void {
    this.channel.info(message);
  }
  warn(message: string): void {
    this.channel.warn(message);
  }
  error(message: string, err?: unknown): void {
    this.channel.error(err === undefined ? message : `${message}: ${errorMessage(err)}`);
  }
  show(): void {
    this.channel.show(true);
  }
  dispose(): void {
    this.channel.dispose();
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const detail = 'detail' in err && typeof err.detail === 'string' ? ` (${err.detail})` : '';
    return err.message + detail;
  }
  return String(err);
}
