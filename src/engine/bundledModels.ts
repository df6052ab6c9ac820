// The models that ship in the package's models/ folder (the extension's and the CLI's), default first: the one
// list the Models view, `mechlens models` and `--model NAME` read. A bundled model is named by its folder name
// (case-insensitive), so `--model stories260K` and the setting `mechlens.activeModel: "stories260K"` work wherever
// the package is installed.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from './errors';
import { resolveModelRef } from './hub/cache';

/** Folder names under models/, the default first (models/README.md describes each). */
export const BUNDLED_MODEL_NAMES = ['mechlens-tiny', 'stories260K'] as const;

export interface BundledModel {
  name: string;
  dir: string;
}

/** The bundled models present under `modelsRoot` (a folder with config.json), default first. */
export function bundledModels(modelsRoot: string): BundledModel[] {
  return BUNDLED_MODEL_NAMES.map((name) => ({ name, dir: resolve(modelsRoot, name) })).filter((m) => existsSync(join(m.dir, 'config.json')));
}

/** The models/ folder beside a built script (dist/cli.js → models/) or two levels up (src/cli/ when run from source). */
export function packageModelsRoot(scriptDir: string): string | undefined {
  return [join(scriptDir, '..', 'models'), join(scriptDir, '..', '..', 'models')].find((d) => bundledModels(d).length > 0);
}

/** The bundled model a bare name refers to (case-insensitive), if any. */
export function bundledModelNamed(name: string, models: BundledModel[]): BundledModel | undefined {
  const n = name.toLowerCase();
  return models.find((m) => m.name.toLowerCase() === n);
}

/**
 * What `--model` and the model settings accept: an existing path (kept as given), a bundled model's name, or a
 * Hugging Face repo id in the local cache (hub/cache.ts resolveModelRef, which also words the errors).
 */
export function resolveModelName(ref: string, models: BundledModel[]): string {
  if (existsSync(ref)) return ref;
  const bundled = bundledModelNamed(ref, models);
  if (bundled) return bundled.dir;
  const resolved = resolveModelRef(ref);
  // A bare word that is not a folder here, a bundled model or a cached repo: most likely a mistyped name.
  if (resolved === ref && !/[\\/]/.test(ref)) {
    throw new UserError(
      `${ref} is not a folder (it does not exist) nor a bundled model's name (${models.map((m) => m.name).join(', ') || 'none installed'}). ` +
        'Give a checkpoint folder holding config.json and *.safetensors, a bundled model\'s name, or ORG/NAME of a model in the Hugging Face cache.',
    );
  }
  return resolved;
}
