// Short human descriptions of a model for tree items, quick picks and the status bar. No vscode import.
import type { ModelInfo } from '../../shared/modelInfo';

export function formatCount(n: number): string {
  if (n >= 1e9) return `${trim(n / 1e9)}B`;
  if (n >= 1e6) return `${trim(n / 1e6)}M`;
  if (n >= 1e3) return `${trim(n / 1e3)}K`;
  return String(n);
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${trim(n / 1024 ** 3)} GiB`;
  if (n >= 1024 ** 2) return `${trim(n / 1024 ** 2)} MiB`;
  if (n >= 1024) return `${trim(n / 1024)} KiB`;
  return `${n} B`;
}

function trim(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1).replace(/\.0$/, '') : x.toFixed(2).replace(/\.?0+$/, '');
}

/** "gpt2 · 1.2M params" */
export function describeModel(info: ModelInfo): string {
  return `${info.architecture} · ${formatCount(info.parameterCount)} params`;
}

/** Multi-line detail: shape, vocabulary, context, storage. */
export function modelDetails(info: ModelInfo): string[] {
  return [
    `Architecture: ${info.architecture} (model_type "${info.modelType}")`,
    `Parameters: ${formatCount(info.parameterCount)} (${formatBytes(info.weightBytes)} as float32, stored ${info.storedDtypes.join('/') || '?'})`,
    `Layers ${info.nLayers} · d_model ${info.dModel} · heads ${info.nHeads}${info.nKvHeads !== info.nHeads ? ` (kv ${info.nKvHeads})` : ''} · d_head ${info.dHead} · d_mlp ${info.dMlp}`,
    `Vocabulary ${info.dVocab} · context ${info.nCtx}${info.hasTokenizer ? '' : ' · no tokenizer.json'}`,
    ...info.warnings.map((w) => `Warning: ${w}`),
  ];
}
