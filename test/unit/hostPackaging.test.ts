// What the VSIX would contain (`vsce ls` with the same options as `npm run package`): the bundles, the
// bundled models and the linux-x64 onnxruntime binary; no sources, tests or other platforms' binaries.
// Needs `npm run build` first (npm test builds before it runs the unit tests).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

describe('host packaging', function () {
  this.timeout(120_000);
  let files: string[] = [];

  before(() => {
    const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
    const out = execFileSync(process.execPath, [vsce, 'ls'], { cwd: ROOT, encoding: 'utf8' });
    files = out.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  });

  it('ships the bundles, the webviews, both bundled models and the onnxruntime addon', () => {
    for (const f of ['package.json', 'dist/extension.js', 'dist/worker.js', 'dist/webview/prompt.js', 'dist/webview/inspector.js', 'media/webview.css', 'models/mechlens-tiny/config.json', 'models/mechlens-tiny/model.safetensors', 'models/mechlens-tiny/tokenizer.json', 'models/stories260K/config.json', 'models/stories260K/model.safetensors', 'models/stories260K/tokenizer.json', 'models/stories260K/transcoders/layer_0.safetensors', 'models/stories260K/features/index.json', 'models/stories260K/eval/head_probe.json', 'node_modules/onnxruntime-node/dist/index.js', 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', 'node_modules/onnxruntime-common/dist/cjs/index.js', 'node_modules/onnxruntime-common/dist/cjs/package.json']) {
      assert.ok(files.includes(f), `${f} is packaged`);
    }
  });

  it('leaves out sources, tests, tools and other platforms', () => {
    const bad = files.filter((f) => /^(src|test|tools|bench|webview|scripts|\.tools|\.e2e|out)\//.test(f) || /napi-v6\/(darwin|win32|linux\/arm64)\//.test(f) || f.endsWith('.map') || (/^models\/[^/]+\/eval\//.test(f) && f !== 'models/stories260K/eval/head_probe.json'));
    assert.deepEqual(bad, []);
    assert.ok(!files.some((f) => f.startsWith('node_modules/') && !/^node_modules\/onnxruntime-(node|common)\//.test(f)), 'only onnxruntime from node_modules');
  });
});
