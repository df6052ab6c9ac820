// Where the extension keeps feature dashboards it built: the extension's global storage, one folder per
// (model, transcoder set) named by their content hashes, so a retrained model or swapped transcoders never
// read another build's dashboards, and a renamed or moved model folder still finds its own. Inside, one
// folder per corpus (a build is resumable only over the same corpus: the engine refuses a folder holding
// another), and `latest.json` naming the last finished build, which the feature panel reads. With no
// finished build the model folder's own features/ (the bundled model ships its dashboards) is used.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** The part of a dashboards index.json the host reads. */
interface IndexSummary {
  corpus?: { description?: string; n_tokens?: number };
  n_layers?: number;
  layers?: unknown[];
}

export interface DashboardsChoice {
  /** The folder to pass as `dashboards`; undefined: the engine's default (the model folder's features/). */
  dir: string | undefined;
  /** Where they come from, in words, for the panel. */
  source: string;
  /** False when neither a build nor shipped dashboards exist. */
  exists: boolean;
}

/** Files of a model folder that make up its content (the engine's modelHash reads the same ones). */
function isModelFile(name: string): boolean {
  return name === 'config.json' || name === 'tokenizer.json' || name === 'tokenizer_config.json' || name.endsWith('.safetensors') || name.endsWith('.safetensors.index.json');
}

export class FeatureStore {
  /** File hashes by path, size and mtime: a multi-gigabyte checkpoint is read once per change. */
  private readonly fileHashes = new Map<string, string>();

  constructor(private readonly root: string) {}

  private async fileHash(path: string): Promise<string> {
    const s = await stat(path);
    const key = `${path}\0${s.size}\0${s.mtimeMs}`;
    const known = this.fileHashes.get(key);
    if (known) return known;
    const h = createHash('sha256');
    // Streamed: the extension host is shared, and weight files can be gigabytes.
    for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(chunk as Buffer);
    const digest = h.digest('hex');
    this.fileHashes.set(key, digest);
    return digest;
  }

  /** sha256 over (name, size, content hash) of the chosen files of a folder, in name order (sub-folders too). */
  private async folderHash(dir: string, keep: (name: string) => boolean, prefix = '', recurse = true): Promise<string> {
    const h = createHash('sha256');
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory() && recurse) h.update(`${prefix}${e.name}/\0${await this.folderHash(path, keep, `${prefix}${e.name}/`)}\0`);
      else if (e.isFile() && keep(e.name)) h.update(`${prefix}${e.name}\0${(await stat(path)).size}\0${await this.fileHash(path)}\0`);
    }
    return h.digest('hex');
  }

  /** The folder for a model and its transcoders (`<model dir>/transcoders`, the engine's default). */
  async keyDir(modelDir: string): Promise<string> {
    const transcoders = join(modelDir, 'transcoders');
    if (!existsSync(transcoders)) throw new Error(`${basename(modelDir)} has no transcoders/ folder: feature dashboards need a transcoder set.`);
    // Only the checkpoint's own files: the folder's features/, eval/ and transcoders/ are not the model.
    const m = await this.folderHash(modelDir, isModelFile, '', false);
    const t = await this.folderHash(transcoders, (name) => !name.startsWith('.'));
    return join(this.root, 'dashboards', `${m.slice(0, 16)}-${t.slice(0, 16)}`);
  }

  /** The build folder of one corpus (named by a hash of its path: the same corpus resumes in the same folder). */
  async corpusDir(modelDir: string, corpusPath: string): Promise<string> {
    const key = createHash('sha256').update(corpusPath).digest('hex').slice(0, 16);
    const dir = join(await this.keyDir(modelDir), `corpus-${key}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Layers finished in a build folder, of how many. */
  async progress(dir: string): Promise<{ done: number; total: number }> {
    const idx = await readIndex(dir);
    const layers = idx?.layers ?? [];
    return { done: layers.filter((e) => e !== null && e !== undefined).length, total: idx?.n_layers ?? layers.length };
  }

  /** Records a finished build as the one the feature panel reads. */
  async setLatest(modelDir: string, dir: string, corpus: string): Promise<void> {
    const key = await this.keyDir(modelDir);
    const file = join(key, 'latest.json');
    await writeFile(`${file}.tmp`, JSON.stringify({ dir: basename(dir), corpus }) + '\n');
    await rename(`${file}.tmp`, file);
  }

  /** The dashboards the panel reads for this model: the last finished build, else the model's shipped ones. */
  async choose(modelDir: string, modelName: string): Promise<DashboardsChoice> {
    let key: string | undefined;
    try {
      key = await this.keyDir(modelDir);
    } catch {
      key = undefined;
    }
    if (key) {
      try {
        const latest = JSON.parse(await readFile(join(key, 'latest.json'), 'utf8')) as { dir?: unknown; corpus?: unknown };
        // Only a plain folder name inside the key folder: the file is ours, but a path is never followed out of it.
        if (typeof latest.dir === 'string' && /^[\w.-]+$/.test(latest.dir)) {
          const dir = join(key, latest.dir);
          const idx = await readIndex(dir);
          if (idx && complete(idx)) return { dir, source: `built on ${typeof latest.corpus === 'string' ? basename(latest.corpus) : 'a corpus'}${describe(idx)}`, exists: true };
        }
      } catch {
        // No finished build yet.
      }
    }
    const own = join(modelDir, 'features');
    const idx = await readIndex(own);
    if (idx) return { dir: undefined, source: `shipped with ${modelName}${describe(idx)}`, exists: true };
    return { dir: undefined, source: `${modelName} has no dashboards`, exists: false };
  }
}

async function readIndex(dir: string): Promise<IndexSummary | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as IndexSummary;
  } catch {
    return undefined;
  }
}

function complete(idx: IndexSummary): boolean {
  return Array.isArray(idx.layers) && idx.layers.length > 0 && idx.layers.every((e) => e !== null && e !== undefined);
}

function describe(idx: IndexSummary): string {
  const c = idx.corpus;
  return c?.description ? ` (${c.description})` : '';
}
