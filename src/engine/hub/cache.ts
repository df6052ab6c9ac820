// The local Hugging Face cache, read the way huggingface_hub writes it, so the models a researcher already
// fetched with transformers or TransformerLens open without a download:
//   HUB/models--ORG--NAME/refs/main              the commit `main` pointed to when last fetched
//   HUB/models--ORG--NAME/snapshots/COMMIT/...   the repo's files (symlinks into blobs/)
//   HUB/models--ORG--NAME/blobs/HASH             file contents, named by sha256 (LFS) or git blob id
// HUB is HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
// Listing checks each snapshot with the engine's own validation (validateCheckpoint), so "supported"
// means the Models view and `--model` would load it. Transcoder sets (circuit-tracer's config.yaml) are
// listed with the models they were trained for.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors';
import { validateCheckpoint } from '../checkpoint/load';
import { isJsonObject, readJsonFile, MiB } from '../files';
import { isCommitHash, isSafeRepoPath, parseRepoRef, repoFolderName, repoIdFromFolder } from './repoId';

export type Env = Record<string, string | undefined>;

/** HF_HOME: where huggingface_hub keeps its token and its cache (`~/.cache/huggingface` by default). */
export function hfHome(env: Env = process.env): string {
  if (env.HF_HOME) return resolve(env.HF_HOME);
  const xdg = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'huggingface');
}

/** The hub cache folder, with huggingface_hub's precedence (HUGGINGFACE_HUB_CACHE is its older name). */
export function hubCacheDir(env: Env = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  return explicit ? resolve(explicit) : join(hfHome(env), 'hub');
}

export interface CachedModel {
  id: string;
  /** The snapshot's commit (null for a folder outside the cache). */
  revision: string | null;
  /** Branches and tags (files under refs/) that point at this commit, e.g. ["main"]. */
  refs: string[];
  path: string;
  /** config.json's model_type, null when there is no readable config.json. */
  model_type: string | null;
  /** MechLens' architecture family when supported (llama for mistral, ...). */
  architecture: string | null;
  supported: boolean;
  /** Why it cannot be used (null when supported): the message loading it would give. */
  reason: string | null;
  /** Bytes of the snapshot's files. */
  size_bytes: number;
  source: 'hub-cache' | 'bundled' | 'folder';
}

export interface CachedTranscoders {
  /** The repo id (hub cache) or folder name. */
  id: string;
  revision: string | null;
  path: string;
  /** config.yaml's model_name: the model the set was trained on. */
  model_name: string | null;
  model_kind: string | null;
  feature_input_hook: string | null;
  feature_output_hook: string | null;
  /** Ids of listed models the set fits (same model_name, or the model whose folder holds it). */
  fits: string[];
  /** Files config.yaml names on the Hub (hf://…) that are not in the cache yet (`mechlens download --transcoders` fetches them). */
  remote_files: number;
  source: CachedModel['source'];
}

export interface ModelListing {
  cache_dir: string;
  models: CachedModel[];
  transcoders: CachedTranscoders[];
}

/** A folder to list besides the cache: the bundled model, configured folders. */
export interface ExtraFolder {
  path: string;
  source: 'bundled' | 'folder';
}

/** Largest config.yaml read while listing (a set's config is a few KiB, even with a list of 100 layers). */
const MAX_YAML_BYTES = 4 * MiB;

/**
 * Every model snapshot in the cache and every extra folder, each checked as the loader would check it,
 * and the transcoder sets among them. Never throws for one bad entry: its reason says what is wrong.
 */
export function listModels(options: { env?: Env; cacheDir?: string; extra?: ExtraFolder[] } = {}): ModelListing {
  const cacheDir = options.cacheDir ?? hubCacheDir(options.env);
  const models: CachedModel[] = [];
  const transcoders: CachedTranscoders[] = [];
  for (const f of options.extra ?? []) {
    const dir = resolve(f.path);
    const name = dir.split(/[\\/]/).pop() ?? dir;
    addFolder(dir, name, null, [], f.source, models, transcoders);
  }
  for (const repo of listDir(cacheDir)) {
    const id = repoIdFromFolder(repo);
    if (!id) continue;
    const repoDir = join(cacheDir, repo);
    const refs = readRefs(repoDir);
    for (const commit of listDir(join(repoDir, 'snapshots'))) {
      if (!isCommitHash(commit)) continue;
      const names = [...refs].filter(([, c]) => c === commit).map(([r]) => r);
      addFolder(join(repoDir, 'snapshots', commit), id, commit, names, 'hub-cache', models, transcoders);
    }
  }
  // A set fits the models trained as its model_name (a hub id such as google/gemma-2-2b) or the model
  // whose folder holds it (models/X/transcoders, as the bundled model ships).
  for (const t of transcoders) {
    const wanted = t.model_name?.toLowerCase();
    for (const m of models) {
      const byName = wanted !== undefined && (m.id.toLowerCase() === wanted || m.id.toLowerCase().endsWith(`/${wanted}`));
      const byFolder = t.path === join(m.path, 'transcoders');
      if ((byName || byFolder) && !t.fits.includes(m.id)) t.fits.push(m.id);
    }
  }
  return { cache_dir: cacheDir, models, transcoders };
}

function addFolder(dir: string, id: string, revision: string | null, refs: string[], source: CachedModel['source'], models: CachedModel[], transcoders: CachedTranscoders[]): void {
  const set = readTranscoderConfig(dir, id, revision, source) ?? readTranscoderConfig(join(dir, 'transcoders'), id, revision, source);
  if (set) transcoders.push(set);
  const hasConfig = existsSync(join(dir, 'config.json'));
  // A repo holding only transcoders (config.yaml, no config.json) is not a model.
  if (!hasConfig && set && set.path === dir) return;
  const entry: CachedModel = { id, revision, refs, path: dir, model_type: modelTypeOf(dir), architecture: null, supported: false, reason: null, size_bytes: folderSize(dir), source };
  try {
    const info = validateCheckpoint(dir);
    entry.supported = true;
    entry.architecture = info.architecture;
  } catch (e) {
    entry.reason = e instanceof Error ? e.message : String(e);
  }
  models.push(entry);
}

function modelTypeOf(dir: string): string | null {
  try {
    const cfg = readJsonFile(join(dir, 'config.json'), 'config.json', MiB);
    return isJsonObject(cfg) && typeof cfg.model_type === 'string' ? cfg.model_type : null;
  } catch {
    return null;
  }
}

function readTranscoderConfig(dir: string, id: string, revision: string | null, source: CachedModel['source']): CachedTranscoders | undefined {
  const file = join(dir, 'config.yaml');
  if (!existsSync(file)) return undefined;
  let cfg: unknown;
  try {
    if (statSync(file).size > MAX_YAML_BYTES) return undefined;
    cfg = parseYaml(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isJsonObject(cfg)) return undefined;
  const kind = typeof cfg.model_kind === 'string' ? cfg.model_kind : null;
  // config.yaml is a common name: only circuit-tracer's transcoder configs count.
  if (cfg.feature_input_hook === undefined && kind !== 'transcoder_set' && kind !== 'cross_layer_transcoder') return undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const list = Array.isArray(cfg.transcoders) ? cfg.transcoders : [];
  const remote = list.filter((item) => {
    const p = typeof item === 'string' ? item : isJsonObject(item) ? item.filepath : undefined;
    if (typeof p !== 'string' || !isRemoteEntry(p)) return false;
    try {
      return cachedHubFile(parseHfUri(p)) === undefined;
    } catch {
      return true; // not an hf:// file MechLens can fetch: still not local
    }
  }).length;
  return {
    id,
    revision,
    path: dir,
    model_name: str(cfg.model_name),
    model_kind: kind,
    feature_input_hook: str(cfg.feature_input_hook),
    feature_output_hook: str(cfg.feature_output_hook),
    fits: [],
    remote_files: remote,
    source,
  };
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** refs/NAME files (NAME may hold '/', as refs/pr/3 does) → commit. */
function readRefs(repoDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string, depth: number) => {
    if (depth > 4) return;
    for (const name of listDir(join(repoDir, 'refs', rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(repoDir, 'refs', r);
      try {
        const st = statSync(p);
        if (st.isDirectory()) walk(r, depth + 1);
        else if (st.isFile() && st.size <= 128) {
          const commit = readFileSync(p, 'utf8').trim();
          if (isCommitHash(commit)) out.set(r, commit);
        }
      } catch {
        // an unreadable ref is skipped, as huggingface_hub's scan does
      }
    }
  };
  walk('', 0);
  return out;
}

/** Bytes of the files under `dir` (symlinks followed, as the snapshot's files are links into blobs/). */
function folderSize(dir: string, depth = 0): number {
  if (depth > 8) return 0;
  let total = 0;
  for (const name of listDir(dir)) {
    try {
      const st = statSync(join(dir, name));
      total += st.isDirectory() ? folderSize(join(dir, name), depth + 1) : st.isFile() ? st.size : 0;
    } catch {
      // a dangling link (a blob still downloading, or deleted) counts as nothing
    }
  }
  return total;
}

/**
 * The folder a model reference names. Used for `--model`, `--transcoders` and the extension's settings:
 * an existing path is returned as given (so `models/mechlens-tiny`, which also looks like ORG/NAME, stays a
 * path); otherwise `ORG/NAME[@REV]` is looked up in the hub cache (REV: a branch or tag under refs/, or a
 * commit; default main). Anything else is returned unchanged, for the loader's own "not a folder" message.
 */
export function resolveModelRef(ref: string, options: { env?: Env; cacheDir?: string } = {}): string {
  if (existsSync(ref)) return ref;
  const parsed = parseRepoRef(ref);
  if (!parsed) return ref;
  const cacheDir = options.cacheDir ?? hubCacheDir(options.env);
  const repoDir = join(cacheDir, repoFolderName(parsed.id));
  const downloadHint = `Download it with \`mechlens download ${ref}\` or MechLens: Download Model….`;
  if (!existsSync(repoDir)) {
    // A bare word is more likely a mistyped folder than a repo id: keep the loader's message for it.
    if (!parsed.id.includes('/') && parsed.revision === undefined) return ref;
    throw new UserError(`${ref} is neither a folder nor a model in the Hugging Face cache (${cacheDir}). ${downloadHint}`);
  }
  const snapshots = listDir(join(repoDir, 'snapshots')).filter(isCommitHash);
  let commit: string | undefined;
  const revision = parsed.revision ?? 'main';
  if (isCommitHash(revision)) commit = revision;
  else {
    const refs = readRefs(repoDir);
    commit = refs.get(revision);
    // A repo fetched by commit has no refs/main; with one snapshot there is no ambiguity.
    if (commit === undefined && parsed.revision === undefined && snapshots.length === 1) commit = snapshots[0];
    if (commit === undefined) {
      const known = [...refs.keys()];
      throw new UserError(
        `${parsed.id} is in the Hugging Face cache but revision "${revision}" is not${known.length ? ` (cached refs: ${known.join(', ')}` : ' (no refs'}; snapshots: ${snapshots.map((s) => s.slice(0, 12)).join(', ') || 'none'}). ${downloadHint}`,
      );
    }
  }
  const dir = join(repoDir, 'snapshots', commit);
  if (!existsSync(dir)) throw new UserError(`${parsed.id}@${revision} points at commit ${commit}, whose snapshot is not in the cache (${repoDir}). ${downloadHint}`);
  return dir;
}

/** True when `s` names a hub repo rather than a path (for messages and UI labels). */
export function looksLikeRepoRef(s: string): boolean {
  const p = parseRepoRef(s);
  return p !== undefined && (p.id.includes('/') || p.revision !== undefined);
}

/** A file on the Hub named by a transcoder config (hf://ORG/NAME/PATH?revision=REV). */
export interface HfFile {
  /** As written in config.yaml. */
  uri: string;
  id: string;
  path: string;
  revision: string;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** True for an entry that names a remote file (hf://, https://, s3://…) rather than a local path. */
export function isRemoteEntry(path: string): boolean {
  return SCHEME.test(path);
}

/** `hf://ORG/NAME/PATH[?revision=REV]` → its parts; anything else is refused naming the expected form. */
export function parseHfUri(uri: string): HfFile {
  const m = /^hf:\/\/([^/?#]+)\/([^/?#]+)\/([^?#]+)(?:\?revision=([^&#]+))?$/.exec(uri);
  const revision = m?.[4] ? decodeURIComponent(m[4]) : 'main';
  const ref = m ? parseRepoRef(`${m[1]}/${m[2]}@${revision}`) : undefined;
  if (!m || !ref || !isSafeRepoPath(m[3]!)) {
    throw new UserError(`${uri} is not a Hub file MechLens can fetch: expected hf://ORG/NAME/PATH or hf://ORG/NAME/PATH?revision=REV.`);
  }
  return { uri, id: ref.id, path: m[3]!, revision };
}

/** The cached copy of an hf:// file, or undefined when the cache does not hold it (yet). */
export function cachedHubFile(f: HfFile, options: { env?: Env; cacheDir?: string } = {}): string | undefined {
  let snapshot: string;
  try {
    snapshot = resolveModelRef(`${f.id}@${f.revision}`, options);
  } catch {
    return undefined;
  }
  const local = join(snapshot, ...f.path.split('/'));
  return snapshot !== `${f.id}@${f.revision}` && existsSync(local) ? local : undefined;
}
