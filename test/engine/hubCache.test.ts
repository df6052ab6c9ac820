// The local Hugging Face cache: where it is, what it lists (supported or why not, transcoder sets with the
// models they fit), and repo ids resolving to snapshots for --model. A cache is built in a temp folder in
// huggingface_hub's layout (blobs/, snapshots/COMMIT symlinks, refs/main) from test fixtures.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { hubCacheDir, listModels, resolveModelRef } from '../../src/engine/hub/cache';
import { hubEndpoint, hubToken } from '../../src/engine/hub/http';
import { isSafeRepoPath, modelNameForDir, parseRepoRef, repoFolderName, repoIdFromFolder } from '../../src/engine/hub/repoId';
import { validateCheckpoint } from '../../src/engine/checkpoint/load';
import { cliWith } from '../support/cli';
import { fixture } from '../support/fixtures';

const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);

/** Writes files as huggingface_hub does: content in blobs/SHA, linked from snapshots/COMMIT/PATH. */
function addSnapshot(cache: string, id: string, commit: string, files: Record<string, Buffer>, refs: string[] = ['main']): string {
  const repo = join(cache, repoFolderName(id));
  const snap = join(repo, 'snapshots', commit);
  for (const [path, data] of Object.entries(files)) {
    const blob = join(repo, 'blobs', createHash('sha256').update(data).digest('hex'));
    mkdirSync(dirname(blob), { recursive: true });
    writeFileSync(blob, data);
    const link = join(snap, path);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), blob), link);
  }
  for (const r of refs) {
    mkdirSync(dirname(join(repo, 'refs', r)), { recursive: true });
    writeFileSync(join(repo, 'refs', r), commit);
  }
  return snap;
}

function folderFiles(dir: string, names?: string[]): Record<string, Buffer> {
  return Object.fromEntries((names ?? readdirSync(dir)).map((n) => [n, readFileSync(join(dir, n))]));
}

describe('hub cache', function () {
  let cache: string;
  const gpt2 = folderFiles(fixture('gpt2'), ['config.json', 'model.safetensors']);

  before(function () {
    cache = mkdtempSync(join(tmpdir(), 'mechlens-hubcache-'));
    addSnapshot(cache, 'test-org/tiny-gpt2', C1, gpt2);
    addSnapshot(cache, 'test-org/tiny-gpt2', C2, gpt2, ['v2']);
    addSnapshot(cache, 'test-org/tiny-llama', C1, folderFiles(fixture('llama'), ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']));
    const bert = { ...gpt2, 'config.json': Buffer.from(JSON.stringify({ model_type: 'bert', hidden_size: 32 })) };
    addSnapshot(cache, 'test-org/tiny-bert', C1, bert);
    addSnapshot(cache, 'test-org/pickled', C1, { 'config.json': gpt2['config.json']!, 'pytorch_model.bin': Buffer.from('not really a pickle') });
    addSnapshot(cache, 'test-org/no-weights', C1, { 'config.json': gpt2['config.json']! });
    const yaml = ['model_name: test-org/tiny-gpt2', 'model_kind: transcoder_set', 'feature_input_hook: mlp.hook_in', 'feature_output_hook: hook_mlp_out', 'transcoders:', '  - hf://test-org/tc-files/layer_0.safetensors', '  - hf://test-org/tc-files/layer_1.safetensors', ''].join('\n');
    addSnapshot(cache, 'test-org/tiny-gpt2-transcoders', C1, { 'config.yaml': Buffer.from(yaml) });
    // Not models: a dataset, and a stray file.
    mkdirSync(join(cache, 'datasets--x--y', 'snapshots', C1), { recursive: true });
    writeFileSync(join(cache, 'version.txt'), '1');
  });
  after(() => rmSync(cache, { recursive: true, force: true }));

  it('finds the cache folder as huggingface_hub does: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME, else ~/.cache', function () {
    assert.equal(hubCacheDir({ HF_HUB_CACHE: '/a/hub', HF_HOME: '/b' }), '/a/hub');
    assert.equal(hubCacheDir({ HUGGINGFACE_HUB_CACHE: '/old' }), '/old');
    assert.equal(hubCacheDir({ HF_HOME: '/b' }), '/b/hub');
    assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
    assert.match(hubCacheDir({}), /\.cache[\\/]huggingface[\\/]hub$/);
  });

  it('lists every snapshot with id, revision, refs, model_type, support and the reason when unsupported', function () {
    const { models, cache_dir } = listModels({ cacheDir: cache });
    assert.equal(cache_dir, cache);
    const byKey = new Map(models.map((m) => [`${m.id}@${m.revision}`, m]));
    assert.equal(models.length, 6);
    const main = byKey.get(`test-org/tiny-gpt2@${C1}`)!;
    assert.deepEqual({ ...main, size_bytes: undefined }, {
      id: 'test-org/tiny-gpt2',
      revision: C1,
      refs: ['main'],
      path: join(cache, 'models--test-org--tiny-gpt2', 'snapshots', C1),
      model_type: 'gpt2',
      architecture: 'gpt2',
      supported: true,
      reason: null,
      size_bytes: undefined,
      source: 'hub-cache',
    });
    assert.equal(main.size_bytes, gpt2['config.json']!.length + gpt2['model.safetensors']!.length);
    assert.deepEqual(byKey.get(`test-org/tiny-gpt2@${C2}`)!.refs, ['v2']);
    assert.equal(byKey.get(`test-org/tiny-llama@${C1}`)!.supported, true);
    const bert = byKey.get(`test-org/tiny-bert@${C1}`)!;
    assert.equal(bert.supported, false);
    assert.equal(bert.model_type, 'bert');
    assert.match(bert.reason!, /model_type "bert" is not supported/);
    assert.match(byKey.get(`test-org/pickled@${C1}`)!.reason!, /pickle/);
    assert.match(byKey.get(`test-org/no-weights@${C1}`)!.reason!, /no \*\.safetensors/);
  });

  it('lists transcoder sets with the models they fit and the files still on the Hub', function () {
    const { transcoders, models } = listModels({ cacheDir: cache, extra: [{ path: join(__dirname, '..', '..', 'models', 'mechlens-tiny'), source: 'bundled' }] });
    const set = transcoders.find((t) => t.id === 'test-org/tiny-gpt2-transcoders')!;
    assert.equal(set.model_name, 'test-org/tiny-gpt2');
    assert.deepEqual(set.fits, ['test-org/tiny-gpt2']);
    assert.equal(set.remote_files, 2);
    assert.equal(set.feature_input_hook, 'mlp.hook_in');
    // A transcoder-only repo is not listed as a model.
    assert.equal(models.some((m) => m.id === 'test-org/tiny-gpt2-transcoders'), false);
    const bundled = transcoders.find((t) => t.source === 'bundled')!;
    assert.deepEqual(bundled.fits, ['mechlens-tiny']);
    assert.equal(models.find((m) => m.source === 'bundled')!.supported, true);
  });

  it('resolves ORG/NAME[@REV] to a snapshot: main by default, a branch or tag, a commit; paths stay paths', function () {
    const snap = (c: string) => join(cache, 'models--test-org--tiny-gpt2', 'snapshots', c);
    assert.equal(resolveModelRef('test-org/tiny-gpt2', { cacheDir: cache }), snap(C1));
    assert.equal(resolveModelRef('test-org/tiny-gpt2@v2', { cacheDir: cache }), snap(C2));
    assert.equal(resolveModelRef(`test-org/tiny-gpt2@${C2}`, { cacheDir: cache }), snap(C2));
    assert.equal(resolveModelRef(fixture('gpt2'), { cacheDir: cache }), fixture('gpt2'));
    // A relative folder that looks like ORG/NAME is a folder when it exists.
    assert.equal(resolveModelRef('test/fixtures', { cacheDir: cache }), 'test/fixtures');
    // A bare word that is neither: left for the loader's "not a folder" message.
    assert.equal(resolveModelRef('nonexistent-folder', { cacheDir: cache }), 'nonexistent-folder');
    assert.equal(validateCheckpoint(resolveModelRef('test-org/tiny-gpt2', { cacheDir: cache })).name, 'test-org/tiny-gpt2');
  });

  it('refuses an unknown repo or revision with what to do', function () {
    assert.throws(() => resolveModelRef('test-org/absent', { cacheDir: cache }), /neither a folder nor a model in the Hugging Face cache.*mechlens download test-org\/absent/);
    assert.throws(() => resolveModelRef('test-org/tiny-gpt2@v9', { cacheDir: cache }), /revision "v9" is not \(cached refs: main, v2/);
  });

  it('checks repo ids, revisions and repo file names before they become paths', function () {
    assert.deepEqual(parseRepoRef('google/gemma-2-2b@refs/pr/3'), { id: 'google/gemma-2-2b', revision: 'refs/pr/3' });
    assert.deepEqual(parseRepoRef('gpt2'), { id: 'gpt2', revision: undefined });
    for (const bad of ['../x', 'a/../b', 'a/b/c', 'a--b/c', '/abs/path', 'a/b@../../x', 'a/b@', 'a/.b', 'a/b.', '']) assert.equal(parseRepoRef(bad), undefined, bad);
    for (const bad of ['../x', 'a/../b', '/etc/passwd', 'a\\b', 'C:x', 'a//b', './a', 'a\u0000b']) assert.equal(isSafeRepoPath(bad), false, bad);
    assert.equal(isSafeRepoPath('original/params.json'), true);
    assert.equal(repoIdFromFolder('models--google--gemma-2-2b'), 'google/gemma-2-2b');
    assert.equal(repoIdFromFolder('datasets--x--y'), undefined);
    assert.equal(modelNameForDir(`/c/models--google--gemma-2-2b/snapshots/${C1}`), 'google/gemma-2-2b');
    assert.equal(modelNameForDir('/m/mechlens-tiny'), 'mechlens-tiny');
  });

  it('reads the endpoint from HF_ENDPOINT and the token from HF_TOKEN or HF_HOME/token', function () {
    assert.equal(hubEndpoint({}), 'https://huggingface.co');
    assert.equal(hubEndpoint({ HF_ENDPOINT: 'http://127.0.0.1:9/' }), 'http://127.0.0.1:9');
    assert.throws(() => hubEndpoint({ HF_ENDPOINT: 'file:///etc' }), /http or https/);
    const home = mkdtempSync(join(tmpdir(), 'mechlens-hfhome-'));
    try {
      assert.equal(hubToken({ HF_HOME: home }), undefined);
      writeFileSync(join(home, 'token'), 'hf_from_file\n');
      assert.equal(hubToken({ HF_HOME: home }), 'hf_from_file');
      assert.equal(hubToken({ HF_HOME: home, HF_TOKEN: 'hf_env' }), 'hf_env');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('mechlens models --json lists the cache and the bundled model; --model takes a repo id', async function () {
    const env = { ...process.env, HF_HUB_CACHE: cache };
    const r = await cliWith({ env }, 'models', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { models: Array<{ id: string; revision: string | null; path: string; model_type: string | null; supported: boolean; reason: string | null; source: string }>; transcoders: Array<{ id: string; fits: string[] }> };
    for (const m of out.models) for (const k of ['id', 'revision', 'path', 'model_type', 'supported', 'reason']) assert.ok(k in m, k);
    assert.ok(out.models.some((m) => m.id === 'test-org/tiny-gpt2' && m.supported));
    assert.ok(out.models.some((m) => m.source === 'bundled' && m.supported));
    assert.deepEqual(out.transcoders.find((t) => t.id === 'test-org/tiny-gpt2-transcoders')!.fits, ['test-org/tiny-gpt2']);
    const text = await cliWith({ env }, 'models');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /test-org\/tiny-bert@main .* not supported: config\.json: model_type "bert"/);

    const info = await cliWith({ env }, 'info', '--model', 'test-org/tiny-llama', '--json');
    assert.equal(info.code, 0, info.stderr);
    assert.equal((JSON.parse(info.stdout) as { name: string }).name, 'test-org/tiny-llama');
    const run = await cliWith({ env }, 'run', '--model', 'test-org/tiny-gpt2@v2', '--tokens', '1,2,3', '--json');
    assert.equal(run.code, 0, run.stderr);
    const missing = await cliWith({ env }, 'info', '--model', 'test-org/absent');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^mechlens: test-org\/absent is neither a folder nor a model in the Hugging Face cache/);
  });
});
