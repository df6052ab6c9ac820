// `mechlens models` and `mechlens download`: the Hugging Face cache and the Hub from a shell. Registered in
// main.ts's HUB_COMMANDS (commands that need no --model), with the flags `include` and `yes` in FLAGS.
// `download` never fetches weights without --yes: without it, it prints what would come and exits 0.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../engine/errors';
import { bundledModels, packageModelsRoot } from '../engine/bundledModels';
import type { BundledModel } from '../engine/bundledModels';
import { cachedHubFile, listModels } from '../engine/hub/cache';
import type { ExtraFolder } from '../engine/hub/cache';
import { describePlan, downloadPlan, formatSize, planDownload } from '../engine/hub/download';
import type { DownloadOptions } from '../engine/hub/download';
import { describeTranscoderPlan, downloadTranscoderPlan, hubFilesOfSet, planTranscoderDownload } from '../engine/hub/transcoderFiles';
import { connectionFromEnv } from '../engine/hub/http';
import type { HubConnection } from '../engine/hub/http';

export const HUB_USAGE = `  mechlens models   [--json]            models in the Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else
                    ~/.cache/huggingface/hub) and the bundled models, whether each is supported and why not, and the
                    transcoder sets found there with the models they fit
  mechlens download ORG/NAME[@REV] [--include GLOB]... [--yes] [--json]
                    lists the files and total size to fetch from the Hub (HF_ENDPOINT) into the cache; downloads only
                    with --yes (safetensors and configs; pickle files never); HF_TOKEN or the token file for gated repos
  mechlens download --transcoders DIR|ORG/NAME[@REV] [--yes] [--json]
                    the hf:// files a transcoder set's config.yaml lists, into the cache, the same way (plan first,
                    --yes to download); the set then loads with --transcoders as usual
`;

export interface HubCommandOptions {
  include?: string[];
  yes?: boolean;
  json?: boolean;
  /** `download --transcoders REF`: a transcoder set's hf:// files instead of a repo. */
  transcoders?: string;
}

/** The bundled models beside the built CLI (dist/cli.js → models/), or beside src/cli when run from source. */
export function cliBundledModels(): BundledModel[] {
  const root = packageModelsRoot(__dirname);
  return root ? bundledModels(root) : [];
}

export function modelsCommand(args: string[], opts: HubCommandOptions): void {
  if (args.length > 0) throw new UserError(`mechlens models takes no arguments (got "${args[0]}").`);
  const listing = listModels({ extra: cliBundledModels().map((m): ExtraFolder => ({ path: m.dir, source: 'bundled' })) });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(listing)}\n`);
    return;
  }
  const out: string[] = [`Hugging Face cache: ${listing.cache_dir}`];
  if (!listing.models.some((m) => m.source === 'hub-cache')) out.push('  (no models)');
  for (const m of listing.models) {
    const where = m.source === 'hub-cache' ? `${m.id}${m.refs.length ? `@${m.refs.join(',')}` : ''} (${(m.revision ?? '').slice(0, 12)})` : `${m.id} (${m.source})`;
    const status = m.supported ? `${m.architecture}` : `not supported: ${(m.reason ?? '').split('\n')[0]}`;
    out.push(`  ${where}  ${m.model_type ?? '?'}  ${formatSize(m.size_bytes)}  ${status}`);
  }
  if (listing.transcoders.length) out.push('Transcoder sets:');
  for (const t of listing.transcoders) {
    const fits = t.fits.length ? `fits ${t.fits.join(', ')}` : 'no listed model fits';
    const remote = t.remote_files ? `; ${t.remote_files} files are on the Hub, not local` : '';
    out.push(`  ${t.id}  for ${t.model_name ?? '?'} (${t.feature_input_hook ?? '?'} → ${t.feature_output_hook ?? '?'}); ${fits}${remote}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

export async function downloadCommand(args: string[], opts: HubCommandOptions): Promise<void> {
  if (opts.transcoders !== undefined) {
    if (args.length > 0 || opts.include) throw new UserError('mechlens download --transcoders REF takes no repo id and no --include: it fetches the files the set\'s config.yaml lists.');
    return downloadTranscodersCommand(opts.transcoders, opts);
  }
  const ref = args[0];
  if (!ref) throw new UserError('Missing the repo id: mechlens download ORG/NAME[@REVISION] (or --transcoders DIR for a transcoder set\'s hf:// files).');
  if (args.length > 1) throw new UserError(`mechlens download takes one repo id (got also "${args[1]}").`);
  await planThenDownload(opts, {
    plan: (conn, signal) => planDownload(ref, conn, { include: opts.include, signal }),
    describe: (plan) => ({
      ...describePlan(plan),
      json: {
        id: plan.id,
        revision: plan.revision,
        commit: plan.commit,
        files: plan.files.map((f) => ({ path: f.path, size: f.size, cached: f.cached })),
        skipped: plan.skipped,
        download_bytes: plan.downloadBytes,
        total_bytes: plan.totalBytes,
        snapshot: plan.snapshotDir,
      },
    }),
    download: (plan, conn, options) => downloadPlan(plan, conn, options),
    done: (plan, bytes) => {
      const ref = `${plan.id}${plan.revision === 'main' ? '' : `@${plan.revision}`}`;
      const remote = remoteTranscoderFiles(plan.snapshotDir);
      return (
        `${plan.snapshotDir}\nDownloaded ${plan.id}@${plan.revision} (${formatSize(bytes)} fetched). ` +
        (remote > 0 ? `It is a transcoder set whose config.yaml names ${remote} files on the Hub: fetch them with mechlens download --transcoders ${ref}.` : `Use it with --model ${ref}.`)
      );
    },
  });
}

/**
 * A download command's steps: the plan (printed, or JSON), and only with --yes the download, with progress
 * on stderr. Ctrl-C cancels: partial files stay in the cache and the next run resumes them.
 */
async function planThenDownload<P>(
  opts: HubCommandOptions,
  steps: {
    plan: (conn: HubConnection, signal: AbortSignal) => Promise<P>;
    describe: (plan: P) => { headline: string; lines: string[]; json: Record<string, unknown> };
    download: (plan: P, conn: HubConnection, options: DownloadOptions) => Promise<{ downloadedBytes: number }>;
    done: (plan: P, downloadedBytes: number) => string;
  },
): Promise<void> {
  const conn = connectionFromEnv();
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const plan = await steps.plan(conn, controller.signal);
    const { headline, lines, json } = steps.describe(plan);
    if (!opts.yes) {
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...json, downloaded: false })}\n`);
      else process.stdout.write(`${headline}\n${lines.join('\n')}\nNothing was downloaded: run again with --yes to download.\n`);
      return;
    }
    process.stderr.write(`${headline}\n`);
    const result = await steps.download(plan, conn, { signal: controller.signal, ...stderrProgress() });
    if (opts.json) process.stdout.write(`${JSON.stringify({ ...json, downloaded: true, downloaded_bytes: result.downloadedBytes })}\n`);
    else process.stdout.write(`${steps.done(plan, result.downloadedBytes)}\n`);
  } catch (e) {
    if (controller.signal.aborted) throw new UserError('Download cancelled; partial files are kept in the cache and the next run resumes them.');
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** How many hf:// files a downloaded transcoder set's config.yaml names that are not in the cache (0: none, or not a set). */
function remoteTranscoderFiles(dir: string): number {
  try {
    return existsSync(join(dir, 'config.yaml')) ? hubFilesOfSet(dir).filter((f) => cachedHubFile(f) === undefined).length : 0;
  } catch {
    return 0;
  }
}

/** Progress and events on stderr, a line per file at most once a second. */
function stderrProgress(): Pick<DownloadOptions, 'onEvent' | 'onProgress'> {
  let lastReport = 0;
  let lastFile = '';
  return {
    onEvent: (m) => process.stderr.write(`${m}\n`),
    onProgress: (p) => {
      const now = Date.now();
      if (p.file === lastFile && now - lastReport < 1000 && p.fileBytes < p.fileSize) return;
      lastReport = now;
      lastFile = p.file;
      const pct = p.totalBytes ? ((100 * p.doneBytes) / p.totalBytes).toFixed(1) : '100.0';
      process.stderr.write(`${pct.padStart(5)}%  ${p.file} ${formatSize(p.fileBytes)} / ${formatSize(p.fileSize)}\n`);
    },
  };
}

/** `mechlens download --transcoders REF`: the set's hf:// files, plan first, --yes to download. */
async function downloadTranscodersCommand(ref: string, opts: HubCommandOptions): Promise<void> {
  await planThenDownload(opts, {
    plan: (conn, signal) => planTranscoderDownload(ref, conn, { signal }),
    describe: (plan) => ({
      ...describeTranscoderPlan(plan),
      json: {
        transcoders: plan.dir,
        repos: plan.plans.map((p) => ({ id: p.id, revision: p.revision, commit: p.commit, files: p.files.map((f) => ({ path: f.path, size: f.size, cached: f.cached })) })),
        download_bytes: plan.downloadBytes,
        total_bytes: plan.totalBytes,
      },
    }),
    download: (plan, conn, options) => downloadTranscoderPlan(plan, conn, options),
    done: (plan, bytes) => `Downloaded the set's ${plan.files.length} Hub files (${formatSize(bytes)} fetched). Use it with --transcoders ${ref}.`,
  });
}
