// Runs the built mechlens CLI (dist/cli.js) as scripts do, capturing stdout, stderr and the exit code.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', 'dist', 'cli.js');

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
  /** The signal that killed the process (a crash: SIGSEGV), if any. */
  signal?: string | null;
}

export async function cli(...args: string[]): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { maxBuffer: 1 << 28 });
    return { ...r, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number; signal?: string | null };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code, signal: err.signal };
  }
}

/** The CLI with a chosen environment and standard input (the whole of `input`, then end of file). */
export function cliWith(options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1, signal });
    });
    child.stdin.on('error', () => undefined); // the CLI may exit before reading all of it
    child.stdin.end(options.input ?? '');
  });
}
