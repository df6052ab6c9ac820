// A transcoder set whose config.yaml lists hf:// files (as circuit-tracer's GemmaScope configs do) fetched from
// the loopback Hub into the cache with the same plan-then-consent steps as a model, then loaded from there;
// and the cross-process lock: two `mechlens download` processes on one repo take turns on each file (one
// request for it, a valid blob, no lock left), and a lock left by a dead process is removed.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { Model } from '../../src/engine/model';
import { loadTranscoders } from '../../src/engine/attribution/transcoders';
import { downloadPlan, planDownload } from '../../src/engine/hub/download';
import { listModels } from '../../src/engine/hub/cache';
import { cliWith } from '../support/cli';
import type { CliResult } from '../support/cli';
import { fixture } from '../support/fixtures';
import { startFakeHub } from '../support/hubServer';
import type { FakeHub } from '../support/hubServer';
import { writeGemmaScopeNpz } from '../support/transcoderFixtures';

const COMMIT = '89abcdef0123456789abcdef0123456789abcdef';
const CLI = join(__dirname, '..', '..', 'dist', 'cli.js');
const SHARD = 'model-00001-of-00002.safetensors';
const LLAMA_FILES = ['config.json', 'model.safetensors.index.json', SHARD, 'model-00002-of-00002.safetensors'];

describe('transcoder sets from the Hub, and download locks', function () {
  let hub: FakeHub;
  let work: string;
  let cache: string;
  let env: NodeJS.ProcessEnv;
  let model: Model;
  let local: string;
  let remoteSet: string;

  before(async function () {
    work = mkdtempSync(join(tmpdir(), 'mechlens-hubtc-'));
    model = await Model.load(fixture('llama'));
    // A GemmaScope-style set (layer_{i}/width_N/params.npz), served by the Hub; its config.yaml rewritten to
    // name the files as hf:// URIs, layer 1 at a tag.
    local = join(work, 'local-set');
    writeGemmaScopeNpz(local, model.config, 5);
    const cfg = parseYaml(readFileSync(join(local, 'config.yaml'), 'utf8')) as { transcoders: string[] };
    const files = Object.fromEntries(cfg.transcoders.map((f) => [f, readFileSync(join(local, f))]));
    remoteSet = join(work, 'remote-set');
    mkdirSync(remoteSet);
    const uris = cfg.transcoders.map((f, l) => `hf://test-org/scope-tc/${f}${l === 1 ? '?revision=v1' : ''}`);
    const setYaml = stringifyYaml({ ...cfg, model_name: 'test-org/tiny-llama', transcoders: uris });
    writeFileSync(join(remoteSet, 'config.yaml'), setYaml);
    const llama = Object.fromEntries(LLAMA_FILES.map((f) => [f, readFileSync(join(fixture('llama'), f))]));
    hub = await startFakeHub([
      { id: 'test-org/scope-tc', commit: COMMIT, refs: { v1: COMMIT }, files: { ...files, 'README.md': Buffer.from('# transcoders\n'), 'other/unlisted.npz': Buffer.alloc(4096) } },
      { id: 'test-org/slow', commit: COMMIT, files: llama, pauseAfter: { [SHARD]: 16_000 } },
      { id: 'test-org/set-config', commit: COMMIT, files: { 'config.yaml': Buffer.from(setYaml) } },
    ]);
  });
  after(async () => {
    await model.dispose();
    await hub.close();
    rmSync(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    cache = mkdtempSync(join(work, 'cache-'));
    env = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_HOME: cache, HF_TOKEN: '' };
    hub.requests.length = 0;
  });

  it('hf:// files: refused with the command that fetches them, planned without --yes, downloaded with it, then the set loads from the cache', async function () {
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    try {
      assert.throws(() => loadTranscoders(remoteSet, model.config), /lists hf:\/\/test-org\/scope-tc\/layer_0\/.*params\.npz, which is not in the Hugging Face cache yet\. Download the set's files with `mechlens download --transcoders /);
      assert.equal(listModels({ cacheDir: cache, extra: [{ path: remoteSet, source: 'folder' }] }).transcoders[0]!.remote_files, 2);

      const dry = await cliWith({ env }, 'download', '--transcoders', remoteSet);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /the transcoder set remote-set: 2 files from 2 Hub repos, .* to download\nconfig\.yaml in .*remote-set\n/);
      assert.match(dry.stdout, /test-org\/scope-tc@v1 \(commit 89abcdef0123\): 1 files/);
      assert.match(dry.stdout, /Nothing was downloaded: run again with --yes/);
      assert.doesNotMatch(dry.stdout, /unlisted|README/, 'only the listed files are planned');
      assert.ok(!hub.requests.some((r) => r.url.includes('/resolve/')), 'no file fetched without --yes');

      const got = await cliWith({ env }, 'download', '--transcoders', remoteSet, '--yes', '--json');
      assert.equal(got.code, 0, got.stderr);
      const out = JSON.parse(got.stdout) as { downloaded: boolean; repos: Array<{ id: string; revision: string; files: Array<{ path: string }> }> };
      assert.equal(out.downloaded, true);
      assert.deepEqual(out.repos.map((r) => `${r.id}@${r.revision}:${r.files.map((f) => f.path).join(',')}`).sort(), [
        'test-org/scope-tc@main:layer_0/width_128/params.npz',
        'test-org/scope-tc@v1:layer_1/width_128/params.npz',
      ]);
      assert.ok(!hub.requests.some((r) => r.url.includes('unlisted')));

      const fromHub = loadTranscoders(remoteSet, model.config);
      const fromDisk = loadTranscoders(local, model.config);
      assert.equal(fromHub.layers.length, 2);
      for (let l = 0; l < 2; l++) assert.deepEqual(fromHub.layers[l]!.W_enc, fromDisk.layers[l]!.W_enc, `layer ${l} encoder`);
      assert.ok(existsSync(join(cache, 'models--test-org--scope-tc', 'snapshots', COMMIT, 'layer_1', 'width_128', 'params.npz')), 'in the standard cache layout');
      assert.equal(listModels({ cacheDir: cache, extra: [{ path: remoteSet, source: 'folder' }] }).transcoders[0]!.remote_files, 0);

      const again = await cliWith({ env }, 'download', '--transcoders', remoteSet);
      assert.match(again.stdout, /0 B to download \(2 already in the cache\)/);
      const bad = await cliWith({ env }, 'download', '--transcoders', remoteSet, 'test-org/x');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--transcoders REF takes no repo id/);
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved;
    }
  });

  it('a downloaded repo holding such a set says so; --transcoders ORG/NAME then fetches its files through the cache', async function () {
    const repo = await cliWith({ env }, 'download', 'test-org/set-config', '--yes');
    assert.equal(repo.code, 0, repo.stderr);
    assert.match(repo.stdout, /It is a transcoder set whose config\.yaml names 2 files on the Hub: fetch them with mechlens download --transcoders test-org\/set-config\./);
    const files = await cliWith({ env }, 'download', '--transcoders', 'test-org/set-config', '--yes');
    assert.equal(files.code, 0, files.stderr);
    assert.match(files.stdout, /Downloaded the set's 2 Hub files .* Use it with --transcoders test-org\/set-config\./);
  });

  it('a config.yaml naming another scheme, or a file the repo lacks, gets a clear message', async function () {
    const dir = join(work, 'bad-set');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders:\n  - s3://bucket/layer_0.safetensors\n  - hf://test-org/scope-tc/layer_9.npz\n');
    const r1 = await cliWith({ env }, 'download', '--transcoders', dir);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /lists s3:\/\/bucket\/layer_0\.safetensors: only hf:\/\/ files are fetched/);
    writeFileSync(join(dir, 'config.yaml'), 'feature_input_hook: mlp.hook_in\nfeature_output_hook: mlp.hook_out\ntranscoders:\n  - hf://test-org/scope-tc/layer_9.npz\n');
    const r2 = await cliWith({ env }, 'download', '--transcoders', dir);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /hf:\/\/test-org\/scope-tc\/layer_9\.npz, listed in config\.yaml in .*, is not a file of test-org\/scope-tc@main MechLens can fetch|Nothing to download from test-org\/scope-tc@main matching layer_9\.npz/);
  });

  it('two mechlens download processes on one repo take turns: one request per file, a valid blob, no lock left', async function () {
    const a = startCli(env, 'download', 'test-org/slow', '--yes');
    const b = startCli(env, 'download', 'test-org/slow', '--yes');
    // The Hub pauses the shard after 16,000 bytes; one process holds its lock, the other says it waits.
    await until(() => /another download \(process \d+\) is fetching this file; waiting for it/.test(a.stderr() + b.stderr()), 30_000, 'a process waiting for the lock');
    // The holder may reach the pause only now: keep releasing until both are done.
    const release = setInterval(() => hub.release(), 100);
    const [ra, rb] = await Promise.all([a.done, b.done]).finally(() => clearInterval(release));
    assert.equal(ra.code, 0, `${ra.signal ?? ''} ${ra.stderr}`);
    assert.equal(rb.code, 0, `${rb.signal ?? ''} ${rb.stderr}`);
    const shardGets = hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET');
    const shard = readFileSync(join(fixture('llama'), SHARD));
    const sha = createHash('sha256').update(shard).digest('hex');
    assert.equal(shardGets.filter((r) => r.url.includes(sha)).length, 1, 'the shard is fetched once');
    const blobs = join(cache, 'models--test-org--slow', 'blobs');
    assert.deepEqual(readFileSync(join(blobs, sha)), shard);
    assert.deepEqual(readdirSync(blobs).filter((f) => f.endsWith('.incomplete')), []);
    assert.deepEqual(readdirSync(join(cache, '.locks', 'models--test-org--slow')), [], 'every lock released');
    const info = await cliWith({ env }, 'info', '--model', 'test-org/slow', '--json');
    assert.equal(info.code, 0, info.stderr);
  });

  it('a lock left by a process that no longer runs is removed, and the download goes on', async function () {
    hub.release();
    const plan = await planDownload('test-org/slow', { endpoint: hub.url }, { cacheDir: cache });
    const shard = plan.files.find((f) => f.path === SHARD)!;
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const lockDir = join(cache, '.locks', 'models--test-org--slow');
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(join(lockDir, `${shard.blob}.mechlens.lock`), JSON.stringify({ pid: dead, host: hostname() }));
    const events: string[] = [];
    const release = setInterval(() => hub.release(), 50);
    try {
      await downloadPlan(plan, { endpoint: hub.url }, { onEvent: (m) => events.push(m) });
    } finally {
      clearInterval(release);
    }
    assert.ok(events.some((e) => e.includes(`removed an abandoned download lock (process ${dead} on ${hostname()})`)), events.join('\n'));
    assert.ok(existsSync(join(cache, 'models--test-org--slow', 'blobs', shard.blob)));
    assert.deepEqual(readdirSync(lockDir), []);
  });
});

function startCli(env: NodeJS.ProcessEnv, ...args: string[]): { stderr: () => string; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1, signal });
    }),
  );
  return { stderr: () => stderr, done };
}

async function until(test: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
