// Typed access to the `mechlens.*` settings. Defaults live in package.json's contributes.configuration.
import * as vscode from 'vscode';

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

export function readConfig(): MechLensConfig {
  const c = vscode.workspace.getConfiguration(SECTION);
  const folders = c.get<unknown>('modelFolders', []);
  return {
    modelFolders: Array.isArray(folders) ? folders.filter((f): f is string => typeof f === 'string' && f.length > 0) : [],
    activeModel: c.get<string>('activeModel', ''),
    threads: Math.max(0, Math.floor(c.get<number>('threads', 0))),
    maxPromptTokens: Math.max(1, Math.floor(c.get<number>('maxPromptTokens', 256))),
    executionProvider: c.get<ExecutionProvider>('executionProvider', 'cpu'),
  };
}

export async function updateConfig<K extends keyof MechLensConfig>(key: K, value: MechLensConfig[K]): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update(key, value, vscode.ConfigurationTarget.Global);
}
