// The prompt being inspected: runs it through the engine (tokens + next-token distribution) and answers
// "top next tokens at position i" for clicks in the webviews. Newer runs supersede older ones.
import * as vscode from 'vscode';
import type { TopToken } from '../shared/protocol';
import type { PromptView } from '../shared/panelProtocol';
import type { EngineClient } from './engineClient';
import { readConfig } from './config';
import type { Log } from './log';

export const TOP_K = 10;

export class PromptSession implements vscode.Disposable {
  private view: PromptView | null = null;
  private readonly changed = new vscode.EventEmitter<PromptView>();
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly engine: EngineClient,
    private readonly log: Log,
  ) {}

  get current(): PromptView | null {
    return this.view;
  }

  /** Tokenizes and runs `text`; keeps the last `mechlens.maxPromptTokens` tokens. */
  async run(text: string, signal?: AbortSignal): Promise<PromptView> {
    const job = this.engine.jobs.start('prompt/run', signal);
    try {
      const started = Date.now();
      const tokenized = await this.engine.call('tokenize', { text }, { signal: job.signal });
      const max = readConfig().maxPromptTokens;
      let ids = tokenized.ids;
      let texts = tokenized.texts;
      if (ids.length > max) {
        this.log.warn(`Prompt has ${ids.length} tokens; keeping the last ${max} (mechlens.maxPromptTokens).`);
        ids = ids.slice(-max);
        texts = texts.slice(-max);
      }
      if (ids.length === 0) throw new Error('The prompt is empty.');
      const result = await this.engine.call('analysis/run', { prompt: { tokens: ids }, topK: TOP_K }, { signal: job.signal });
      const view: PromptView = {
        modelName: this.engine.loadedModel?.name ?? '',
        text,
        tokens: ids.map((id, i) => ({ id, text: texts[i] ?? '' })),
        position: ids.length - 1,
        top: result.top,
        nLayers: this.engine.loadedModel?.nLayers,
        nHeads: this.engine.loadedModel?.nHeads,
      };
      this.log.info(`Ran a ${ids.length}-token prompt in ${Date.now() - started} ms; top next token ${JSON.stringify(result.top[0]?.text ?? '')}.`);
      if (job.current) {
        this.view = view;
        this.changed.fire(view);
      }
      return view;
    } finally {
      job.done();
    }
  }

  /** Top next tokens after the current prompt's first `position + 1` tokens (one engine run). */
  async topAt(position: number, signal?: AbortSignal): Promise<{ position: number; top: TopToken[] }> {
    const view = this.view;
    if (!view) throw new Error('No prompt has been run yet.');
    if (!Number.isInteger(position) || position < 0 || position >= view.tokens.length) {
      throw new RangeError(`position must be an integer in [0, ${view.tokens.length - 1}]`);
    }
    const job = this.engine.jobs.start('prompt/topAt', signal);
    try {
      const ids = view.tokens.slice(0, position + 1).map((t) => t.id);
      const result = await this.engine.call('analysis/run', { prompt: { tokens: ids }, topK: TOP_K }, { signal: job.signal });
      return { position, top: result.top };
    } finally {
      job.done();
    }
  }

  dispose(): void {
    this.changed.dispose();
  }
}
