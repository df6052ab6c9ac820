// Typed access to the `mechlens.*` settings. Defaults live in package.json's contributes.configuration.
import * as vscode from 'vscode';
import { availableParallelism } from 'node:os';

export type ExecutionProvider = 'cpu' | 'cuda' | 'coreml' | 'dml';

export interface MechLensConfig {
  modelFolders: string[];
  /** Folder of the active model; empty means the bundled default. */
  activeModel: string;
  threads: number;
  maxPromptTokens: number;
  executionProvider: ExecutionProvider;
}

const SECTION = 'mechlens';
const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'coreml', 'dml'];

export function readConfig(): MechLensConfig {
  const c = vscode.workspace.getConfiguration(SECTION);
  const folders = c.get<unknown>('modelFolders', []);
  return {
    modelFolders: Array.isArray(folders) ? folders.filter((f): f is string => typeof f === 'string' && f.length > 0) : [],
    activeModel: c.get<string>('activeModel', ''),
    // Clamped here and again in the engine: a settings file may hold any number (restricted in untrusted workspaces).
    threads: clampSetting(c.get<unknown>('threads', 0), 0, availableParallelism(), 0),
    maxPromptTokens: clampSetting(c.get<unknown>('maxPromptTokens', 256), 1, 32768, 256),
    executionProvider: EXECUTION_PROVIDERS.find((p) => p === c.get<unknown>('executionProvider', 'cpu')) ?? 'cpu',
  };
}

export async function updateConfig<K extends keyof MechLensConfig>(key: K, value: MechLensConfig[K]): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update(key, value, vscode.ConfigurationTarget.Global);
}

/** An integer setting within [min, max]; anything that is not a finite number gets the default. */
export function clampSetting(v: unknown, min: number, max: number, fallback: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(v)));
}
