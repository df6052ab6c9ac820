// A transcoder set's files on the Hub: circuit-tracer's config.yaml may list its per-layer files as
// `hf://ORG/NAME/PATH[?revision=REV]` (design/attribution-graphs.md). They are read from the Hugging Face
// cache (models--ORG--NAME/snapshots/COMMIT/PATH, where huggingface_hub's hf_hub_download puts them too), and
// downloaded only when asked, with the same plan-then-consent steps, hash checks and locks as a model
// (download.ts): `mechlens download --transcoders DIR|ORG/NAME` and MechLens: Download Transcoder Files….
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors';
import { MiB, isJsonObject, readTextFile } from '../files';
import { isRemoteEntry, parseHfUri, resolveModelRef } from './cache';
import type { Env, HfFile } from './cache';
import { describePlan, downloadPlan, formatSize, planDownload } from './download';
import type { DownloadOptions, DownloadPlan } from './download';
import type { HubConnection } from './http';
import { modelNameForDir } from './repoId';

/** config.yaml's `transcoders` entries that are Hub files (strings, or {filepath} as older configs). */
export function hubFilesOfSet(dir: string): HfFile[] {
  const file = join(dir, 'config.yaml');
  if (!existsSync(file)) throw new UserError(`${dir} has no config.yaml: it is not a circuit-tracer transcoder set.`);
  let cfg: unknown;
  try {
    cfg = parseYaml(readTextFile(file, `config.yaml in ${dir}`, MiB));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`config.yaml in ${dir} is not valid YAML (${e instanceof Error ? e.message : String(e)}).`);
  }
  const list = isJsonObject(cfg) && Array.isArray(cfg.transcoders) ? cfg.transcoders : [];
  const out: HfFile[] = [];
  for (const item of list) {
    const p = typeof item === 'string' ? item : isJsonObject(item) ? item.filepath : undefined;
    if (typeof p !== 'string' || !isRemoteEntry(p)) continue;
    if (!p.startsWith('hf://')) throw new UserError(`config.yaml in ${dir} lists ${p}: only hf:// files are fetched (download it yourself and list its local path).`);
    out.push(parseHfUri(p));
  }
  return out;
}

export interface TranscoderDownloadPlan {
  /** The set's folder (where config.yaml is). */
  dir: string;
  /** One plan per repo and revision the set's files come from. */
  plans: DownloadPlan[];
  /** Every hf:// file of the set. */
  files: HfFile[];
  downloadBytes: number;
  totalBytes: number;
}

/** Glob-escaped, so a path is matched exactly by planDownload's include patterns. */
const exactly = (path: string) => path.replace(/[*?[]/g, (c) => `[${c}]`);

/**
 * What fetching a set's hf:// files would download: asks the Hub about each repo they come from (metadata
 * only), narrowed to the listed files. `ref` is a set's folder, or a repo id whose cached snapshot holds it.
 */
export async function planTranscoderDownload(ref: string, conn: HubConnection, options: { env?: Env; cacheDir?: string; signal?: AbortSignal } = {}): Promise<TranscoderDownloadPlan> {
  const dir = resolveModelRef(ref, options);
  const files = hubFilesOfSet(dir);
  if (files.length === 0) throw new UserError(`config.yaml in ${dir} lists no hf:// files: the set is local already.`);
  const groups = new Map<string, HfFile[]>();
  for (const f of files) groups.set(`${f.id}@${f.revision}`, [...(groups.get(`${f.id}@${f.revision}`) ?? []), f]);
  const plans: DownloadPlan[] = [];
  for (const [repo, wanted] of groups) {
    const plan = await planDownload(repo, conn, { include: wanted.map((f) => exactly(f.path)), cacheDir: options.cacheDir, env: options.env, signal: options.signal });
    const missing = wanted.filter((f) => !plan.files.some((p) => p.path === f.path));
    if (missing.length) {
      const why = plan.skipped.find((s) => s.path === missing[0]!.path)?.reason;
      throw new UserError(`${missing[0]!.uri}, listed in config.yaml in ${dir}, is not a file of ${repo} MechLens can fetch${why ? ` (${why})` : ''}.`);
    }
    // Only the listed files: the rest of a large transcoder repo is not news to the user.
    plans.push({ ...plan, skipped: [] });
  }
  return {
    dir,
    plans,
    files,
    downloadBytes: plans.reduce((a, p) => a + p.downloadBytes, 0),
    totalBytes: plans.reduce((a, p) => a + p.totalBytes, 0),
  };
}

/** The plan in words (CLI and the extension's dialog): a headline, then the repos and files. */
export function describeTranscoderPlan(plan: TranscoderDownloadPlan): { headline: string; lines: string[] } {
  const cached = plan.plans.reduce((a, p) => a + p.files.filter((f) => f.cached).length, 0);
  const headline =
    `the transcoder set ${modelNameForDir(plan.dir)}: ${plan.files.length} files from ${plan.plans.length} Hub repo${plan.plans.length > 1 ? 's' : ''}, ` +
    `${formatSize(plan.downloadBytes)} to download${cached ? ` (${cached} already in the cache)` : ''}`;
  return { headline, lines: [`config.yaml in ${plan.dir}`, ...plan.plans.flatMap((p) => { const d = describePlan(p); return [d.headline, ...d.lines]; })] };
}

/** Downloads every repo's part of the plan (the user has agreed to it); progress counts the whole set. */
export async function downloadTranscoderPlan(plan: TranscoderDownloadPlan, conn: HubConnection, options: DownloadOptions = {}): Promise<{ downloadedBytes: number }> {
  let before = 0;
  let downloadedBytes = 0;
  for (const p of plan.plans) {
    const base = before;
    const r = await downloadPlan(p, conn, {
      ...options,
      onProgress: (pr) => options.onProgress?.({ ...pr, doneBytes: base + pr.doneBytes, totalBytes: plan.totalBytes }),
    });
    downloadedBytes += r.downloadedBytes;
    before += p.totalBytes;
  }
  return { downloadedBytes };
}
