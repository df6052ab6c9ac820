// Downloads from the Hugging Face Hub, only when asked, into the standard cache so every other tool shares
// the files. Two steps, so the user sees what will come before anything does:
//   1. planDownload: GET /api/models/ORG/NAME/revision/REV?blobs=true → the commit, every file with its size
//      and hash (LFS: sha256; small files: git blob id). Pickle files are never planned; weights in other
//      formats (h5, msgpack, onnx, gguf…) only when --include names them. Files already in the cache are marked.
//   2. downloadPlan: per file, GET /ORG/NAME/resolve/COMMIT/FILE (following the redirect to the CDN) into
//      blobs/HASH.incomplete, resuming a partial file with a Range request; the bytes are hashed as they
//      arrive and checked against the plan (a mismatch deletes the file and fails, naming it); then renamed
//      to blobs/HASH and linked from snapshots/COMMIT/FILE; refs/REV is written once every file is there.
// A dropped connection resumes from where it stopped (a few times, then the partial file stays for the next
// run); cancel stops at once and keeps the partial file too. Two processes downloading the same blob (two
// `mechlens download` runs, the CLI beside the extension) take turns through a lock file per blob in
// CACHE/.locks/models--ORG--NAME/ (see withBlobLock): the second waits, then finds the blob complete.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, copyFileSync, renameSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError, throwIfAborted } from '../errors';
import { isJsonObject } from '../files';
import { hubCacheDir } from './cache';
import type { Env } from './cache';
import { hubRequest, readBody } from './http';
import type { HubConnection, HubResponse } from './http';
import { isBlobName, isCommitHash, isSafeRepoPath, repoFolderName, requireRepoRef } from './repoId';

export interface PlannedFile {
  /** Path inside the repo ('/'-separated, checked by isSafeRepoPath). */
  path: string;
  size: number;
  /** Name of its blob in the cache: sha256 for LFS files, the git blob id otherwise. */
  blob: string;
  /** How the blob name is checked: sha256 of the bytes, or git's sha1 of "blob SIZE\0" + bytes. */
  hash: 'sha256' | 'git-sha1';
  /** Already complete in the cache (blob of the right size). */
  cached: boolean;
}

export interface DownloadPlan {
  id: string;
  /** The revision asked for (main by default). */
  revision: string;
  commit: string;
  files: PlannedFile[];
  /** Files left out, with why: pickle, another weight format, not matching --include, an unsafe name. */
  skipped: Array<{ path: string; reason: string }>;
  /** Bytes still to download (files not yet cached). */
  downloadBytes: number;
  totalBytes: number;
  cacheDir: string;
  /** Where the model will be: HUB/models--ORG--NAME/snapshots/COMMIT. */
  snapshotDir: string;
  gated: boolean;
}

export interface DownloadProgress {
  file: string;
  fileBytes: number;
  fileSize: number;
  /** Bytes of the whole plan present so far (cached files count from the start). */
  doneBytes: number;
  totalBytes: number;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Told when a file starts, resumes or is retried after a dropped connection. */
  onEvent?: (message: string) => void;
  /** Resumptions of one file after a dropped connection within this run (default 3). */
  retries?: number;
}

export interface DownloadResult {
  snapshotDir: string;
  downloadedBytes: number;
  files: number;
}

/** Never downloaded: loading these runs arbitrary code. */
export const PICKLE_EXTENSIONS = ['.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle', '.joblib'];
/** Weights for other frameworks: left out unless --include names them (MechLens reads safetensors). */
const OTHER_WEIGHT_EXTENSIONS = ['.h5', '.msgpack', '.onnx', '.onnx_data', '.ot', '.tflite', '.gguf', '.ggml', '.mlmodel', '.keras', '.pb', '.nemo'];

function extensionOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const dot = base.lastIndexOf('.');
  return dot < 0 ? '' : base.slice(dot);
}

/**
 * fnmatch-style patterns, as huggingface_hub's allow_patterns: `*` matches any run of characters ('/'
 * included), `?` one character, `[abc]` a class; a pattern ending in '/' matches everything below it.
 */
export function globToRegExp(glob: string): RegExp {
  const g = glob.endsWith('/') ? `${glob}*` : glob;
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = g.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = g.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

interface Sibling {
  rfilename: string;
  size: number;
  blobId: string;
  sha256?: string;
}

/** Reads and checks the repo's file list from the revision API (every field is untrusted). */
function siblingsOf(info: Record<string, unknown>, what: string): Sibling[] {
  if (!Array.isArray(info.siblings)) throw new UserError(`${what}: the Hub's answer has no file list.`);
  return info.siblings.map((s, i) => {
    if (!isJsonObject(s) || typeof s.rfilename !== 'string') throw new UserError(`${what}: file entry ${i} has no name.`);
    const lfs = isJsonObject(s.lfs) ? s.lfs : undefined;
    const size = lfs && typeof lfs.size === 'number' ? lfs.size : s.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new UserError(`${what}: ${s.rfilename} has no size in the Hub's answer.`);
    const sha256 = lfs && typeof lfs.sha256 === 'string' ? lfs.sha256.toLowerCase() : undefined;
    const blobId = typeof s.blobId === 'string' ? s.blobId.toLowerCase() : '';
    return { rfilename: s.rfilename, size, blobId, sha256 };
  });
}

/** What the Hub's status codes mean to a user; the message says what to do. */
function hubError(res: HubResponse, id: string, revision: string, conn: HubConnection): UserError {
  const code = String(res.headers['x-error-code'] ?? '');
  const serverMessage = String(res.headers['x-error-message'] ?? '');
  const tokenHint = conn.token
    ? 'The token in use (HF_TOKEN or the token file) does not give access to it: accept its terms on its Hub page with that account, or use another token.'
    : 'If it is gated or private, accept its terms on its Hub page, then set HF_TOKEN or log in with `hf auth login` (the token file is read too).';
  if (code === 'RevisionNotFound') return new UserError(`${id} has no revision "${revision}".`);
  if (code === 'EntryNotFound') return new UserError(`${id}@${revision}: file not found (${serverMessage || res.url}).`);
  if (code === 'GatedRepo' || res.status === 403) return new UserError(`${id} is a gated repo (HTTP ${res.status}). ${tokenHint}`);
  // The Hub answers 401 both for private repos and for repos that do not exist, so a caller cannot probe.
  if (res.status === 401 || code === 'RepositoryNotFound' || res.status === 404) return new UserError(`${id} was not found on ${new URL(conn.endpoint).host} (HTTP ${res.status}). Check the id. ${tokenHint}`);
  if (res.status === 429) return new UserError(`The Hub is rate-limiting requests (HTTP 429); try again in a few minutes${conn.token ? '' : ', or set HF_TOKEN'}.`);
  return new UserError(`${res.url}: HTTP ${res.status}${serverMessage ? ` (${serverMessage})` : ''}.`);
}

/**
 * Asks the Hub what downloading `ORG/NAME[@REV]` would fetch. Reads nothing but the repo's metadata and the
 * local cache; writes nothing.
 */
export async function planDownload(ref: string, conn: HubConnection, options: { include?: string[]; env?: Env; cacheDir?: string; signal?: AbortSignal } = {}): Promise<DownloadPlan> {
  const { id, revision: asked } = requireRepoRef(ref);
  const revision = asked ?? 'main';
  const url = `${conn.endpoint}/api/models/${id}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const res = await hubRequest(conn, url, { signal: options.signal });
  if (res.status !== 200) {
    res.body.resume();
    throw hubError(res, id, revision, conn);
  }
  let info: unknown;
  try {
    info = JSON.parse(await readBody(res));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${url}: the Hub's answer is not JSON.`);
  }
  if (!isJsonObject(info)) throw new UserError(`${url}: the Hub's answer is not a JSON object.`);
  const commit = typeof info.sha === 'string' ? info.sha.toLowerCase() : '';
  if (!isCommitHash(commit)) throw new UserError(`${url}: the Hub's answer has no commit hash.`);

  const include = options.include?.map(globToRegExp);
  const cacheDir = options.cacheDir ?? hubCacheDir(options.env);
  const repoDir = join(cacheDir, repoFolderName(id));
  const files: PlannedFile[] = [];
  const skipped: DownloadPlan['skipped'] = [];
  const siblings = siblingsOf(info, `${id}@${revision}`);
  for (const s of siblings) {
    const path = s.rfilename;
    const ext = extensionOf(path);
    if (!isSafeRepoPath(path)) skipped.push({ path, reason: 'unsafe file name (refused)' });
    else if (PICKLE_EXTENSIONS.includes(ext)) skipped.push({ path, reason: 'pickle file: never downloaded (loading it can run code)' });
    else if (include && !include.some((re) => re.test(path))) skipped.push({ path, reason: 'not matched by --include' });
    else if (!include && OTHER_WEIGHT_EXTENSIONS.includes(ext)) skipped.push({ path, reason: 'weights in another format (MechLens reads safetensors; name it with --include to fetch it anyway)' });
    else {
      const blob = s.sha256 ?? s.blobId;
      if (!isBlobName(blob)) {
        skipped.push({ path, reason: 'the Hub gave no hash to check it against (refused)' });
        continue;
      }
      const blobPath = join(repoDir, 'blobs', blob);
      const cached = existsSync(blobPath) && statSync(blobPath).size === s.size;
      files.push({ path, size: s.size, blob, hash: s.sha256 ? 'sha256' : 'git-sha1', cached });
    }
  }
  if (!include) {
    const weights = files.filter((f) => f.path.endsWith('.safetensors'));
    const pickles = skipped.filter((s) => PICKLE_EXTENSIONS.includes(extensionOf(s.path)));
    if (weights.length === 0 && pickles.length > 0) {
      throw new UserError(
        `${id}@${revision} has pickle weights only (${pickles.map((p) => p.path).slice(0, 3).join(', ')}${pickles.length > 3 ? ', …' : ''}), which MechLens never downloads: loading them can run code. ` +
          'Look for a safetensors version of the model (the Hub often has one as a pull request revision, e.g. @refs/pr/1).',
      );
    }
  }
  if (files.length === 0) throw new UserError(`Nothing to download from ${id}@${revision}${include ? ` matching ${options.include!.join(', ')}` : ''}.`);
  const totalBytes = files.reduce((a, f) => a + f.size, 0);
  const downloadBytes = files.filter((f) => !f.cached).reduce((a, f) => a + f.size, 0);
  return {
    id,
    revision,
    commit,
    files,
    skipped,
    downloadBytes,
    totalBytes,
    cacheDir,
    snapshotDir: join(repoDir, 'snapshots', commit),
    gated: info.gated !== undefined && info.gated !== false,
  };
}

/** Downloads what the plan lists (the user has agreed to it), into the cache. */
export async function downloadPlan(plan: DownloadPlan, conn: HubConnection, options: DownloadOptions = {}): Promise<DownloadResult> {
  const repoDir = join(plan.cacheDir, repoFolderName(plan.id));
  mkdirSync(join(repoDir, 'blobs'), { recursive: true });
  mkdirSync(plan.snapshotDir, { recursive: true });
  let done = plan.files.filter((f) => f.cached).reduce((a, f) => a + f.size, 0);
  let downloaded = 0;
  const complete = (blobPath: string, f: PlannedFile) => existsSync(blobPath) && statSync(blobPath).size === f.size;
  for (const f of plan.files) {
    throwIfAborted(options.signal);
    const blobPath = join(repoDir, 'blobs', f.blob);
    if (!complete(blobPath, f)) {
      const base = done;
      const lock = join(plan.cacheDir, '.locks', repoFolderName(plan.id), `${f.blob}.mechlens.lock`);
      downloaded += await withBlobLock(lock, f.path, options, async () =>
        // Another process may have finished it while this one waited for the lock.
        complete(blobPath, f)
          ? 0
          : fetchBlob(plan, f, blobPath, conn, options, (fileBytes) =>
              options.onProgress?.({ file: f.path, fileBytes, fileSize: f.size, doneBytes: base + fileBytes, totalBytes: plan.totalBytes }),
            ),
      );
    }
    done += f.size;
    options.onProgress?.({ file: f.path, fileBytes: f.size, fileSize: f.size, doneBytes: done, totalBytes: plan.totalBytes });
    linkIntoSnapshot(plan.snapshotDir, f.path, blobPath);
  }
  // Only now does ORG/NAME (or @REV) resolve to the new snapshot: a cancelled download changes nothing.
  if (plan.revision !== plan.commit) {
    const refFile = join(repoDir, 'refs', ...plan.revision.split('/'));
    mkdirSync(dirname(refFile), { recursive: true });
    // Written aside and renamed over: a reader never sees half a commit hash.
    const tmp = `${refFile}.${process.pid}.tmp`;
    writeFileSync(tmp, plan.commit);
    renameSync(tmp, refFile);
  }
  return { snapshotDir: plan.snapshotDir, downloadedBytes: downloaded, files: plan.files.length };
}

function newHash(f: PlannedFile): Hash {
  const h = createHash(f.hash === 'sha256' ? 'sha256' : 'sha1');
  if (f.hash === 'git-sha1') h.update(`blob ${f.size}\0`);
  return h;
}

/** Feeds an existing partial file into the hash (so a resumed file is still checked whole). */
async function hashExisting(path: string, hash: Hash, signal: AbortSignal | undefined): Promise<void> {
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer);
}

function isNetworkError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
  return ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'EAI_AGAIN'].includes(code) || (e instanceof Error && e.message === 'aborted');
}

/** Downloads one file into blobs/BLOB (through BLOB.incomplete); returns the bytes fetched. */
async function fetchBlob(plan: DownloadPlan, f: PlannedFile, blobPath: string, conn: HubConnection, options: DownloadOptions, onBytes: (n: number) => void): Promise<number> {
  const partial = `${blobPath}.incomplete`;
  const retries = options.retries ?? 3;
  let fetched = 0;
  for (let attempt = 0; ; attempt++) {
    let have = existsSync(partial) ? statSync(partial).size : 0;
    if (have > f.size) {
      truncateSync(partial, 0);
      have = 0;
    }
    try {
      fetched += await fetchOnce(plan, f, partial, have, conn, options, onBytes);
      break;
    } catch (e) {
      if (options.signal?.aborted || !isNetworkError(e)) throw e;
      const now = existsSync(partial) ? statSync(partial).size : 0;
      if (attempt >= retries) {
        throw new UserError(`Downloading ${plan.id}/${f.path} failed after ${attempt + 1} tries (${e instanceof Error ? e.message : String(e)}); ${now} of ${f.size} bytes are kept: run the download again to resume.`);
      }
      options.onEvent?.(`${f.path}: connection dropped at ${now} of ${f.size} bytes; resuming`);
    }
  }
  renameSync(partial, blobPath);
  return fetched;
}

async function fetchOnce(plan: DownloadPlan, f: PlannedFile, partial: string, have: number, conn: HubConnection, options: DownloadOptions, onBytes: (n: number) => void): Promise<number> {
  const encoded = f.path.split('/').map(encodeURIComponent).join('/');
  const url = `${conn.endpoint}/${plan.id}/resolve/${plan.commit}/${encoded}`;
  // A complete partial file (a run stopped between the last byte and the rename) needs no request.
  const res = have === f.size && f.size > 0 ? undefined : await hubRequest(conn, url, { signal: options.signal, headers: have > 0 ? { range: `bytes=${have}-` } : {} });
  let start = have;
  if (res) {
    if (res.status === 200) start = 0;
    else if (res.status === 206) {
      const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== have) {
        res.body.resume();
        throw new UserError(`${url}: the server resumed at the wrong offset (${String(res.headers['content-range'])}, expected ${have}).`);
      }
    } else if (res.status === 416 && have === f.size) {
      res.body.resume();
    } else {
      res.body.resume();
      throw hubError(res, plan.id, plan.revision, conn);
    }
    if (start === 0 && have > 0) options.onEvent?.(`${f.path}: the server does not resume; starting over`);
    else if (start > 0) options.onEvent?.(`${f.path}: resuming at ${start} of ${f.size} bytes`);
  }
  const hash = newHash(f);
  if (start > 0) await hashExisting(partial, hash, options.signal);
  let bytes = start;
  let fetched = 0;
  if (res && res.status !== 416) {
    const count = new Transform({
      transform(chunk: Buffer, _enc, next) {
        if (bytes + chunk.length > f.size) {
          next(new UserError(`${plan.id}/${f.path}: the server sent more than the ${f.size} bytes the Hub listed.`));
          return;
        }
        hash.update(chunk);
        bytes += chunk.length;
        fetched += chunk.length;
        onBytes(bytes);
        next(null, chunk);
      },
    });
    // pipeline: a write error (disk full) or a cancel ends the request and the file alike.
    await pipeline(res.body, count, createWriteStream(partial, { flags: start > 0 ? 'a' : 'w' }), { signal: options.signal });
  }
  if (bytes < f.size) throw Object.assign(new Error(`connection closed at ${bytes} of ${f.size} bytes`), { code: 'ECONNRESET' });
  const digest = hash.digest('hex');
  if (digest !== f.blob) {
    rmSync(partial, { force: true });
    throw new UserError(
      `${plan.id}/${f.path} is corrupt: its ${f.hash === 'sha256' ? 'sha256' : 'git blob hash'} is ${digest}, but the Hub lists ${f.blob}. The file was deleted and not used; run the download again.`,
    );
  }
  return fetched;
}

/**
 * snapshots/COMMIT/PATH → ../../blobs/BLOB (relative, as huggingface_hub links); a copy where links fail.
 * Made under a temporary name and renamed over the old entry, so two processes linking the same file at
 * once both succeed and a reader never finds the path missing.
 */
function linkIntoSnapshot(snapshotDir: string, path: string, blobPath: string): void {
  const link = join(snapshotDir, ...path.split('/'));
  mkdirSync(dirname(link), { recursive: true });
  const tmp = `${link}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  try {
    symlinkSync(relative(dirname(link), blobPath), tmp);
  } catch (e) {
    // Windows without developer mode cannot make symlinks; huggingface_hub copies then too.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    copyFileSync(blobPath, tmp);
  }
  renameSync(tmp, link);
}

/** How often a lock's holder touches it, and how old an untouched lock must be to count as abandoned. */
export const LOCK_HEARTBEAT_MS = 2_000;
export const LOCK_STALE_MS = 30_000;
const LOCK_POLL_MS = 200;

interface LockOwner {
  pid: number;
  host: string;
}

/** A process on this machine that no longer exists (EPERM: it exists, owned by another user). */
function isDead(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Runs `fn` holding the lock file `lock` (created exclusively, holding {pid, host}; touched every
 * LOCK_HEARTBEAT_MS while held; removed after). A lock whose holder is gone (its process no longer runs on
 * this machine, or the file untouched for LOCK_STALE_MS, as after a crash or on another machine sharing the
 * cache) is removed; otherwise this waits, saying so once, until the lock is free or the signal aborts.
 */
async function withBlobLock<T>(lock: string, what: string, options: DownloadOptions, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(lock), { recursive: true });
  let announced = false;
  for (;;) {
    throwIfAborted(options.signal);
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let text: string;
    let age: number;
    try {
      text = readFileSync(lock, 'utf8');
      age = Date.now() - statSync(lock).mtimeMs;
    } catch {
      continue; // released between the two calls
    }
    let owner: LockOwner | undefined;
    try {
      const o = JSON.parse(text) as Partial<LockOwner>;
      if (typeof o.pid === 'number' && typeof o.host === 'string') owner = { pid: o.pid, host: o.host };
    } catch {
      // being written, or not ours: judged by its age alone
    }
    if ((owner && isDead(owner)) || age > LOCK_STALE_MS) {
      // Removed only if it is still the lock judged abandoned (another waiter may have replaced it).
      try {
        if (readFileSync(lock, 'utf8') === text) rmSync(lock, { force: true });
      } catch {
        // already gone
      }
      options.onEvent?.(`${what}: removed an abandoned download lock${owner ? ` (process ${owner.pid} on ${owner.host})` : ''}`);
      continue;
    }
    if (!announced) {
      options.onEvent?.(`${what}: another download${owner ? ` (process ${owner.pid})` : ''} is fetching this file; waiting for it`);
      announced = true;
    }
    await sleep(LOCK_POLL_MS, options.signal);
  }
  const heartbeat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(lock, now, now);
    } catch {
      // removed under us: the download goes on, the hash check still guards the blob
    }
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    rmSync(lock, { force: true });
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(Object.assign(new Error('Cancelled'), { name: 'AbortError' }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Bytes in words for plans and progress (the CLI and the extension's dialog). */
export function formatSize(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

/** The plan in words, for the CLI and the extension's confirmation alike: a headline, then one line per file. */
export function describePlan(plan: DownloadPlan): { headline: string; lines: string[] } {
  const cached = plan.files.filter((f) => f.cached).length;
  const headline =
    `${plan.id}@${plan.revision} (commit ${plan.commit.slice(0, 12)}): ${plan.files.length} files, ${formatSize(plan.downloadBytes)} to download` +
    `${cached ? ` (${cached} already in the cache)` : ''}${plan.gated ? '; gated repo' : ''}`;
  const lines = [
    ...plan.files.map((f) => `  ${f.cached ? 'cached ' : '       '}${formatSize(f.size).padStart(10)}  ${f.path}`),
    ...plan.skipped.map((s) => `  skipped ${s.path}: ${s.reason}`),
    `into ${plan.snapshotDir}`,
  ];
  return { headline, lines };
}
