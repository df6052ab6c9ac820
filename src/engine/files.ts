// Bounded, non-blocking reads of the small files a model folder or a command line names (config.json,
// tokenizer.json, interventions, prompts). A path may point at anything: a FIFO would block a synchronous
// read forever (and then worker.terminate() never returns), a device or a huge file would grow memory
// without limit, a directory or a symlink loop throws a raw errno. So each read opens without blocking,
// checks on the open descriptor that it is a regular file of bounded size, then reads exactly that.
import { closeSync, constants, fstatSync, openSync, read, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Stats } from 'node:fs';
import { UserError } from './errors';

export const MiB = 2 ** 20;

/** What a path is, in words, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** An errno from opening or reading, as a short reason. */
export function fileErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'it does not exist';
    case 'ELOOP':
      return 'it is a symbolic link loop';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a folder';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Opens `path` for reading without blocking and checks that it is a regular file of at most `maxBytes`.
 * Returns the descriptor and size; the caller closes it. `what` names the file in messages.
 */
export function openRegularFile(path: string, what: string, maxBytes: number): { fd: number; size: number } {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. Absent on Windows.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new UserError(`${what}: cannot open ${path}: ${fileErrorReason(e)}.`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UserError(`${what}: ${path} is ${kindOf(st)}; expected a regular file.`);
    if (st.size > maxBytes) {
      throw new UserError(`${what}: ${path} is ${(st.size / MiB).toFixed(1)} MiB; at most ${(maxBytes / MiB).toFixed(0)} MiB is read for this file.`);
    }
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Reads `length` bytes at `position` into `target`; a short file is a UserError naming it. */
export function readExactly(fd: number, target: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < target.byteLength) {
    let n: number;
    try {
      n = readSync(fd, target, done, Math.min(target.byteLength - done, 1 << 30), position + done);
    } catch (e) {
      throw new UserError(`${what}: read failed: ${fileErrorReason(e)}.`);
    }
    if (n === 0) throw new UserError(`${what}: unexpected end of file (the file shrank or is truncated).`);
    done += n;
  }
}

/**
 * readExactly on libuv's thread pool. The read is queued before this returns, so it goes on while the calling
 * thread does synchronous work (building an onnxruntime session blocks it for a fifth of a second).
 */
export function readExactlyInBackground(fd: number, target: Uint8Array, position: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void => {
      read(fd, target, done, Math.min(target.byteLength - done, 1 << 30), position + done, (err, n) => {
        if (err) return reject(new UserError(`${what}: read failed: ${fileErrorReason(err)}.`));
        if (n === 0) return reject(new UserError(`${what}: unexpected end of file (the file shrank or is truncated).`));
        done += n;
        if (done < target.byteLength) next();
        else resolve();
      });
    };
    if (target.byteLength === 0) resolve();
    else next();
  });
}

/**
 * The longest text read whole: V8 cannot make a string longer than about 512 MiB (0x1fffffe8
 * characters), and a file past that would fail inside toString() with a raw RangeError.
 */
export const MAX_TEXT_BYTES = 500 * MiB;

/** A regular file's text (UTF-8), at most `maxBytes` (and MAX_TEXT_BYTES). */
export function readTextFile(path: string, what: string, maxBytes: number): string {
  const { fd, size } = openRegularFile(path, what, Math.min(maxBytes, MAX_TEXT_BYTES));
  try {
    const buf = Buffer.alloc(size);
    readExactly(fd, buf, 0, what);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** A regular file parsed as JSON; invalid JSON is a UserError naming the file. */
export function readJsonFile(path: string, what: string, maxBytes: number): unknown {
  const text = readTextFile(path, what, maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UserError(`${what} is not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
}

/**
 * Checks, before a long job starts, that its result can be written to `path`: the folder exists and the
 * path is not a folder or a special file (a FIFO would block the write). A UserError names the flag.
 */
export function checkOutputPath(path: string, what: string): void {
  const folder = dirname(path);
  let st: Stats;
  try {
    st = statSync(folder);
  } catch (e) {
    throw new UserError(`${what} ${path}: the folder ${folder} cannot be used: ${fileErrorReason(e)}.`);
  }
  if (!st.isDirectory()) throw new UserError(`${what} ${path}: ${folder} is not a folder.`);
  let target: Stats | undefined;
  try {
    target = statSync(path);
  } catch {
    target = undefined; // a new file
  }
  if (target && !target.isFile()) throw new UserError(`${what} ${path} is ${kindOf(target)}; expected a file to write.`);
}

/** Writes `text` to `path`; an errno (permission, a full disk) is a UserError naming the flag. */
export function writeTextFile(path: string, what: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new UserError(`${what} ${path}: cannot write: ${fileErrorReason(e)}.`);
  }
}

/** True for a plain JSON object (not null, not a list). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
