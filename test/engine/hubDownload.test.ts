// Downloads from a Hub stand-in on loopback (test/support/hubServer.ts): the plan before anything is fetched,
// the standard cache layout, a gated repo, a corrupt file, a dropped connection resumed, cancellation, pickle
// and unsafe names refused, the CLI's --yes. HF_ENDPOINT points at the stand-in: nothing reaches the network.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModelRef } from '../../src/engine/hub/cache';
import { downloadPlan, globToRegExp, planDownload } from '../../src/engine/hub/download';
import type { DownloadPlan } from '../../src/engine/hub/download';
import { connectionFromSettings } from '../../src/engine/hub/http';
import type { HubConnection } from '../../src/engine/hub/http';
import { validateCheckpoint } from '../../src/engine/checkpoint/load';
import { cliWith } from '../support/cli';
import { fixture } from '../support/fixtures';
import { TOKEN, startFakeHub } from '../support/hubServer';
import type { FakeHub, FakeRepo } from '../support/hubServer';

const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const LLAMA_FILES = ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
const llama = Object.fromEntries(LLAMA_FILES.map((f) => [f, readFileSync(join(fixture('llama'), f))]));
const SHARD = 'model-00001-of-00002.safetensors';

function repo(id: string, extra: Partial<FakeRepo> = {}): FakeRepo {
  return { id, commit: COMMIT, files: { ...llama, 'README.md': Buffer.from('# tiny llama\n') }, ...extra };
}

describe('hub downloads (loopback Hub)', function () {
  let hub: FakeHub;
  let cache: string;
  let conn: HubConnection;

  before(async function () {
    hub = await startFakeHub([
      repo('test-org/tiny-llama', {
        files: {
          ...llama,
          'pytorch_model.bin': Buffer.from('pickle bytes'),
          'tf_model.h5': Buffer.from('h5 bytes'),
          '../../escape.json': Buffer.from('{}'),
          'original/params.json': Buffer.from('{"dim": 32}'),
        },
        refs: { v1: COMMIT },
      }),
      repo('test-org/gated', { gated: true }),
      repo('test-org/corrupt', { corrupt: [SHARD] }),
      repo('test-org/flaky', { dropAfter: { [SHARD]: { bytes: 20_000, times: 1 } } }),
      repo('test-org/very-flaky', { dropAfter: { [SHARD]: { bytes: 20_000, times: 1 } } }),
      repo('test-org/slow', { pauseAfter: { [SHARD]: 16_000 } }),
      repo('test-org/pickle-only', { files: { 'config.json': llama['config.json']!, 'pytorch_model.bin': Buffer.from('x') } }),
    ]);
    conn = { endpoint: hub.url };
  });
  after(async () => hub.close());
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), 'mechlens-hubdl-'));
    hub.requests.length = 0;
  });
  afterEach(() => rmSync(cache, { recursive: true, force: true }));

  const repoDir = (id: string) => join(cache, `models--${id.replace('/', '--')}`);

  it('plans first: files, sizes and what is skipped (pickle, other formats, unsafe names), writing nothing', async function () {
    const plan = await planDownload('test-org/tiny-llama', conn, { cacheDir: cache });
    assert.equal(plan.commit, COMMIT);
    assert.equal(plan.revision, 'main');
    assert.deepEqual(plan.files.map((f) => f.path).sort(), [...LLAMA_FILES, 'original/params.json'].sort());
    const shard = plan.files.find((f) => f.path === SHARD)!;
    assert.equal(shard.size, llama[SHARD]!.length);
    assert.equal(shard.hash, 'sha256');
    assert.equal(shard.blob, createHash('sha256').update(llama[SHARD]!).digest('hex'));
    assert.equal(plan.files.find((f) => f.path === 'config.json')!.hash, 'git-sha1');
    const skipped = Object.fromEntries(plan.skipped.map((s) => [s.path, s.reason]));
    assert.match(skipped['pytorch_model.bin']!, /pickle/);
    assert.match(skipped['tf_model.h5']!, /another format/);
    assert.match(skipped['../../escape.json']!, /unsafe/);
    assert.equal(plan.totalBytes, plan.files.reduce((a, f) => a + f.size, 0));
    assert.equal(plan.downloadBytes, plan.totalBytes);
    assert.equal(readdirSync(cache).length, 0, 'planning writes nothing');
    assert.ok(hub.requests.every((r) => r.url.startsWith('/api/')), 'planning fetches no file');
  });

  it('--include narrows the plan (fnmatch patterns), and never admits a pickle file', async function () {
    const plan = await planDownload('test-org/tiny-llama', conn, { cacheDir: cache, include: ['*.json', '*.bin'] });
    assert.deepEqual(plan.files.map((f) => f.path).sort(), ['config.json', 'model.safetensors.index.json', 'original/params.json']);
    assert.match(plan.skipped.find((s) => s.path === 'pytorch_model.bin')!.reason, /pickle/);
    assert.ok(globToRegExp('original/').test('original/params.json'));
    assert.ok(globToRegExp('model-0000[12]-of-*.safetensors').test(SHARD));
    assert.ok(!globToRegExp('*.json').test('config.json.bak'));
  });

  it('downloads into the standard cache layout (blobs, relative snapshot links, refs) and the model loads by repo id', async function () {
    const plan = await planDownload('test-org/tiny-llama@v1', conn, { cacheDir: cache });
    const seen: number[] = [];
    const r = await downloadPlan(plan, conn, { onProgress: (p) => seen.push(p.doneBytes) });
    assert.equal(r.snapshotDir, join(repoDir('test-org/tiny-llama'), 'snapshots', COMMIT));
    assert.equal(r.downloadedBytes, plan.totalBytes);
    assert.equal(seen.at(-1), plan.totalBytes);
    assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]!), 'progress never goes back');
    const link = join(r.snapshotDir, SHARD);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), join('..', '..', 'blobs', plan.files.find((f) => f.path === SHARD)!.blob));
    assert.equal(readlinkSync(join(r.snapshotDir, 'original', 'params.json')).split(/[\\/]/).slice(0, 3).join('/'), '../../..');
    assert.deepEqual(readFileSync(link), llama[SHARD]);
    assert.equal(readFileSync(join(repoDir('test-org/tiny-llama'), 'refs', 'v1'), 'utf8'), COMMIT);
    assert.ok(!readdirSync(join(repoDir('test-org/tiny-llama'), 'blobs')).some((f) => f.endsWith('.incomplete')));
    assert.equal(resolveModelRef('test-org/tiny-llama@v1', { cacheDir: cache }), r.snapshotDir);
    assert.equal(validateCheckpoint(r.snapshotDir).name, 'test-org/tiny-llama');
    // LFS files came from the CDN (another origin) through the redirect, and the token never went there.
    assert.ok(hub.requests.some((q) => q.server === 'cdn'));

    // A second run finds everything cached and fetches no file.
    hub.requests.length = 0;
    const again = await planDownload('test-org/tiny-llama@v1', conn, { cacheDir: cache });
    assert.ok(again.files.every((f) => f.cached));
    assert.equal(again.downloadBytes, 0);
    assert.equal((await downloadPlan(again, conn)).downloadedBytes, 0);
    assert.ok(hub.requests.every((q) => q.url.startsWith('/api/')));
  });

  it('a gated repo is refused without a token (401, with what to do) and downloads with it; the token never reaches the CDN', async function () {
    await assert.rejects(planDownload('test-org/gated', conn, { cacheDir: cache }), /test-org\/gated is a gated repo \(HTTP 401\).*HF_TOKEN/);
    await assert.rejects(planDownload('test-org/gated', { ...conn, token: 'hf_wrong' }, { cacheDir: cache }), /token in use .* does not give access/);
    const withToken = { ...conn, token: TOKEN };
    hub.requests.length = 0;
    const plan = await planDownload('test-org/gated', withToken, { cacheDir: cache });
    assert.equal(plan.gated, true);
    await downloadPlan(plan, withToken);
    assert.ok(hub.requests.filter((q) => q.server === 'hub').every((q) => q.authorization === `Bearer ${TOKEN}`));
    assert.ok(hub.requests.filter((q) => q.server === 'cdn').length > 0);
    assert.ok(hub.requests.filter((q) => q.server === 'cdn').every((q) => q.authorization === undefined), 'no token to another origin');
  });

  it('an unknown repo or revision gets a clear message', async function () {
    await assert.rejects(planDownload('test-org/absent', conn, { cacheDir: cache }), /test-org\/absent was not found on 127\.0\.0\.1.*Check the id/);
    await assert.rejects(planDownload('test-org/tiny-llama@nope', conn, { cacheDir: cache }), /has no revision "nope"/);
    await assert.rejects(planDownload('../etc/passwd', conn, { cacheDir: cache }), /not a Hugging Face repo id/);
    await assert.rejects(planDownload('test-org/pickle-only', conn, { cacheDir: cache }), /pickle weights only .* never downloads/);
  });

  it('a corrupt file (hash mismatch) is deleted and reported, never linked into the snapshot', async function () {
    const plan = await planDownload('test-org/corrupt', conn, { cacheDir: cache });
    const blob = plan.files.find((f) => f.path === SHARD)!.blob;
    await assert.rejects(downloadPlan(plan, conn), new RegExp(`test-org/corrupt/${SHARD} is corrupt: its sha256 is [0-9a-f]{64}, but the Hub lists ${blob}. The file was deleted`));
    const blobs = readdirSync(join(repoDir('test-org/corrupt'), 'blobs'));
    assert.ok(!blobs.some((f) => f.startsWith(blob)), 'neither the blob nor a partial file is left');
    assert.ok(!existsSync(join(plan.snapshotDir, SHARD)));
    assert.ok(!existsSync(join(repoDir('test-org/corrupt'), 'refs', 'main')), 'refs/main is not written');
  });

  it('a dropped connection resumes with a Range request: in the same run, or in the next one', async function () {
    // Same run: retried from where it stopped.
    const events: string[] = [];
    const plan = await planDownload('test-org/flaky', conn, { cacheDir: cache });
    await downloadPlan(plan, conn, { onEvent: (m) => events.push(m) });
    assert.ok(events.some((m) => /connection dropped at 20000/.test(m)), events.join('\n'));
    assert.ok(hub.requests.some((q) => q.server === 'cdn' && q.range === 'bytes=20000-'));
    assert.deepEqual(readFileSync(join(plan.snapshotDir, SHARD)), llama[SHARD]);

    // No retries: the partial file stays and the next run resumes it (hashing the kept bytes too).
    const plan2 = await planDownload('test-org/very-flaky', conn, { cacheDir: cache });
    const blob = plan2.files.find((f) => f.path === SHARD)!.blob;
    await assert.rejects(downloadPlan(plan2, conn, { retries: 0 }), /failed after 1 tries .* 20000 of \d+ bytes are kept: run the download again to resume/);
    const partial = join(repoDir('test-org/very-flaky'), 'blobs', `${blob}.incomplete`);
    assert.equal(statSync(partial).size, 20_000);
    hub.requests.length = 0;
    await downloadPlan(await planDownload('test-org/very-flaky', conn, { cacheDir: cache }), conn);
    assert.ok(hub.requests.some((q) => q.server === 'cdn' && q.range === 'bytes=20000-'));
    assert.ok(!existsSync(partial));
    assert.deepEqual(readFileSync(join(plan2.snapshotDir, SHARD)), llama[SHARD]);
  });

  it('cancel stops mid-file, keeps the partial file and writes no ref; the next run resumes', async function () {
    const plan = await planDownload('test-org/slow', conn, { cacheDir: cache });
    const controller = new AbortController();
    const p = downloadPlan(plan, conn, {
      signal: controller.signal,
      onProgress: (pr) => {
        // The server pauses after 16,000 bytes: cancel while it waits, as a user would.
        if (pr.file === SHARD && pr.fileBytes >= 16_000 && pr.fileBytes < pr.fileSize) setTimeout(() => controller.abort(), 200);
      },
    });
    await assert.rejects(p, (e: Error) => e.name === 'AbortError');
    const blob = plan.files.find((f) => f.path === SHARD)!.blob;
    const partial = join(repoDir('test-org/slow'), 'blobs', `${blob}.incomplete`);
    assert.equal(statSync(partial).size, 16_000);
    assert.ok(!existsSync(join(repoDir('test-org/slow'), 'refs', 'main')));
    hub.release();
    hub.requests.length = 0;
    await downloadPlan(await planDownload('test-org/slow', conn, { cacheDir: cache }), conn);
    assert.ok(hub.requests.some((q) => q.range === 'bytes=16000-'));
    assert.equal(resolveModelRef('test-org/slow', { cacheDir: cache }), plan.snapshotDir);
  });

  it('a stalled connection fails after the idle limit, keeping what arrived', async function () {
    const stalling = { ...conn, idleTimeoutMs: 300 };
    const plan = await planDownload('test-org/slow', stalling, { cacheDir: cache });
    hub.requests.length = 0;
    const started = Date.now();
    await assert.rejects(downloadPlan(plan, stalling, { retries: 0 }), /failed after 1 tries \(no data from 127\.0\.0\.1:\d+ for 0\.3 s\); 16000 of \d+ bytes are kept/);
    assert.ok(Date.now() - started < 5000);
    hub.release();
    // The next run resumes (the stand-in pauses fresh responses only).
    await downloadPlan(plan, stalling);
    assert.ok(hub.requests.some((q) => q.range === 'bytes=16000-'));
    assert.deepEqual(readFileSync(join(plan.snapshotDir, SHARD)), llama[SHARD]);
  });

  it('a partial file longer than the listed size is started over, not trusted', async function () {
    const plan: DownloadPlan = await planDownload('test-org/tiny-llama', conn, { cacheDir: cache, include: ['config.json'] });
    const f = plan.files[0]!;
    const dir = join(repoDir('test-org/tiny-llama'), 'blobs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${f.blob}.incomplete`), Buffer.alloc(f.size + 10, 1));
    await downloadPlan(plan, conn);
    assert.deepEqual(readFileSync(join(plan.snapshotDir, 'config.json')), llama['config.json']);
  });

  it('goes through an http proxy when one is set (HTTPS_PROXY / VS Code http.proxy), loopback excepted', async function () {
    // A forward proxy that serves absolute-URI requests for the host "hub.test" from the fake Hub.
    const via: string[] = [];
    const target = new URL(hub.url);
    const proxy = http.createServer((req, res) => {
      via.push(req.url ?? '');
      const u = new URL(req.url ?? '');
      const fwd = http.request({ host: target.hostname, port: target.port, path: `${u.pathname}${u.search}`, method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(fwd);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const viaProxy: HubConnection = { endpoint: 'http://hub.test', proxy: { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` } };
      const plan = await planDownload('test-org/tiny-llama', viaProxy, { cacheDir: cache });
      await downloadPlan(plan, viaProxy);
      assert.ok(via.some((u) => u.startsWith('http://hub.test/api/models/test-org/tiny-llama/revision/main')));
      assert.ok(via.some((u) => u === 'http://hub.test/test-org/tiny-llama/resolve/' + COMMIT + '/config.json'));
      // The CDN (127.0.0.1) is loopback: reached directly.
      assert.ok(!via.some((u) => u.includes('/blobs/')));
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('the extension takes VS Code proxy settings over the environment, and HF_ENDPOINT / HF_TOKEN from the environment', function () {
    const env = { HF_ENDPOINT: 'http://127.0.0.1:1', HF_TOKEN: 'hf_x', HTTPS_PROXY: 'http://env-proxy:3128', NO_PROXY: 'internal' };
    assert.deepEqual(connectionFromSettings({}, env).proxy, { url: 'http://env-proxy:3128', noProxy: ['internal'] });
    const c = connectionFromSettings({ proxy: 'http://vscode-proxy:8080', proxyAuthorization: 'Basic abc', proxyStrictSSL: false }, env);
    assert.equal(c.endpoint, 'http://127.0.0.1:1');
    assert.equal(c.token, 'hf_x');
    assert.equal(c.strictSSL, false);
    assert.deepEqual(c.proxy, { url: 'http://vscode-proxy:8080', noProxy: ['internal'], authorization: 'Basic abc' });
  });

  it('mechlens download prints the plan and downloads nothing without --yes; with --yes it downloads', async function () {
    const env = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_TOKEN: '', HF_HOME: cache };
    const dry = await cliWith({ env }, 'download', 'test-org/tiny-llama');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /test-org\/tiny-llama@main \(commit 0123456789ab\): 5 files, .* to download/);
    assert.match(dry.stdout, /skipped pytorch_model\.bin: pickle file/);
    assert.match(dry.stdout, /Nothing was downloaded: run again with --yes/);
    assert.equal(readdirSync(cache).length, 0);

    const json = await cliWith({ env }, 'download', 'test-org/tiny-llama', '--include', '*.json', '--include', '*.safetensors', '--yes', '--json');
    assert.equal(json.code, 0, json.stderr);
    const out = JSON.parse(json.stdout) as { downloaded: boolean; commit: string; files: Array<{ path: string }>; snapshot: string };
    assert.equal(out.downloaded, true);
    assert.equal(out.files.length, 5);
    assert.match(json.stderr, /100\.0%/);
    const info = await cliWith({ env }, 'info', '--model', 'test-org/tiny-llama', '--json');
    assert.equal(info.code, 0, info.stderr);

    const gated = await cliWith({ env }, 'download', 'test-org/gated', '--yes');
    assert.equal(gated.code, 2);
    assert.match(gated.stderr, /^mechlens: test-org\/gated is a gated repo/);
    const withToken = await cliWith({ env: { ...env, HF_TOKEN: TOKEN } }, 'download', 'test-org/gated', '--yes');
    assert.equal(withToken.code, 0, withToken.stderr);
    const bad = await cliWith({ env }, 'download', 'test-org/tiny-llama', '--top', '3');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /does not use --top/);
  });
});
