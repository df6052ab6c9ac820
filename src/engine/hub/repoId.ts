// Names that come from a user or a server and become paths or URLs: repo ids (`ORG/NAME`), revisions
// (`main`, `refs/pr/3`, a commit) and file names inside a repo. Each is checked before it touches the
// file system: a repo id or a server-provided file name must never reach outside the cache folder.
import { UserError } from '../errors';

export interface RepoRef {
  /** `ORG/NAME`, or a bare `NAME` for the Hub's older canonical repos (gpt2). */
  id: string;
  /** Branch, tag or commit; undefined when none was given (the caller picks `main`). */
  revision?: string;
}

// The Hub's own rule for each part of a repo id: letters, digits, '-', '_', '.', at most 96, not starting
// or ending with '-' or '.', no '--' (the cache folder uses it as the separator) and no '..'.
const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;

function validPart(s: string): boolean {
  return PART.test(s) && !s.includes('--') && !s.includes('..');
}

/** True when `s` is a well-formed repo id (`ORG/NAME` or `NAME`). */
export function isRepoId(s: string): boolean {
  const parts = s.split('/');
  return (parts.length === 1 || parts.length === 2) && parts.every(validPart);
}

const COMMIT = /^[0-9a-f]{40}$/;

export function isCommitHash(s: string): boolean {
  return COMMIT.test(s);
}

/**
 * A revision as a branch or tag name may be (`main`, `v1.0`, `refs/pr/3`): segments of letters, digits,
 * '-', '_', '.', none of them '.' or '..'. It becomes a file under refs/, so the check is what keeps it there.
 */
export function isRevision(s: string): boolean {
  if (s.length === 0 || s.length > 256) return false;
  return s.split('/').every((seg) => /^[A-Za-z0-9_.-]+$/.test(seg) && seg !== '.' && seg !== '..');
}

/** `ORG/NAME[@REV]` → its parts, or undefined when `s` is not of that shape. */
export function parseRepoRef(s: string): RepoRef | undefined {
  const at = s.indexOf('@');
  const id = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? undefined : s.slice(at + 1);
  if (!isRepoId(id)) return undefined;
  if (revision !== undefined && !isRevision(revision)) return undefined;
  return { id, revision };
}

/** Like parseRepoRef, but a malformed reference is a UserError saying what the shape is. */
export function requireRepoRef(s: string): RepoRef {
  const ref = parseRepoRef(s);
  if (!ref) {
    throw new UserError(
      `"${s}" is not a Hugging Face repo id: expected ORG/NAME or ORG/NAME@REVISION (letters, digits, "-", "_" and "." in each part; a revision is a branch, tag or commit).`,
    );
  }
  return ref;
}

/** The cache's folder for a model repo: `models--ORG--NAME` (the layout huggingface_hub writes). */
export function repoFolderName(id: string): string {
  return `models--${id.split('/').join('--')}`;
}

/** `models--ORG--NAME` → `ORG/NAME`; undefined for other folders (datasets, spaces, stray files). */
export function repoIdFromFolder(folder: string): string | undefined {
  if (!folder.startsWith('models--')) return undefined;
  const id = folder.slice('models--'.length).split('--').join('/');
  return isRepoId(id) ? id : undefined;
}

/**
 * A file name inside a repo, as a server lists it (`model.safetensors`, `original/params.json`): relative,
 * '/'-separated, no empty, '.' or '..' segment, no backslash, drive letter, control character or colon
 * (an NTFS stream). Anything else is refused: it would be written under the snapshot folder as given.
 */
export function isSafeRepoPath(p: string): boolean {
  if (p.length === 0 || p.length > 1024 || p.startsWith('/')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\\:\u0000-\u001f\u007f]/.test(p)) return false;
  return p.split('/').every((seg) => seg.length > 0 && seg !== '.' && seg !== '..' && seg.length <= 255);
}

/** A blob's name in the cache: the sha256 of an LFS file or the git blob id of a small one. */
export function isBlobName(s: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(s);
}

/**
 * A model's display name from its folder: `ORG/NAME` for a hub-cache snapshot
 * (…/models--ORG--NAME/snapshots/COMMIT, whose own name is a commit hash), else the folder's name.
 */
export function modelNameForDir(dir: string): string {
  const parts = dir.split(/[\\/]+/).filter(Boolean);
  const n = parts.length;
  if (n >= 3 && parts[n - 2] === 'snapshots' && isCommitHash(parts[n - 1]!)) {
    const id = repoIdFromFolder(parts[n - 3]!);
    if (id) return id;
  }
  return parts[n - 1] ?? dir;
}
