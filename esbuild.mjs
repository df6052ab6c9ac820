// Builds every runtime's bundle: extension host, engine worker and CLI (node, CommonJS),
// and the webviews (browser ES modules sharing chunks). onnxruntime-node stays external: it is a native addon
// loaded from node_modules at run time.
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const nodeCommon = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  logLevel: 'warning',
};

/**
 * The extension host needs `yaml` only to read a transcoder set's config.yaml (Models view, downloads), never at
 * activation: for its bundle, `parse` is a wrapper that requires yaml (about 45% of the bundle's bytes) on first
 * use, so its modules are evaluated then rather than while VS Code activates the extension (issue #13).
 * @type {import('esbuild').Plugin}
 */
const lazyYaml = {
  name: 'lazy-yaml',
  setup(build) {
    build.onResolve({ filter: /^yaml$/ }, (args) => (args.namespace === 'lazy-yaml' ? undefined : { path: 'yaml', namespace: 'lazy-yaml' }));
    build.onLoad({ filter: /.*/, namespace: 'lazy-yaml' }, () => ({
      contents: "let yaml; export function parse(...args) { yaml ??= require('yaml'); return yaml.parse(...args); }",
      resolveDir: process.cwd(),
      loader: 'js',
    }));
  },
};

/** @type {import('esbuild').BuildOptions[]} */
const builds = [
  { ...nodeCommon, entryPoints: { worker: 'src/worker/main.ts' }, outdir: 'dist' },
  { ...nodeCommon, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
  // The banner and footer mark when the bundle starts and ends evaluating (src/host/startupTimes.ts: its
  // code-loading time); the banner's own "use strict" keeps the bundle strict, as esbuild's directive below it
  // no longer opens the file.
  {
    ...nodeCommon,
    entryPoints: { extension: 'src/extension.ts' },
    outdir: 'dist',
    banner: { js: '"use strict";\nvar __mechlensLoadStart = performance.now();' },
    footer: { js: 'var __mechlensLoadEnd = performance.now();' },
    plugins: [lazyYaml],
  },
];
// The webviews: one ES-module entry per view folder under webview/ (webview/common is shared code, not a
// view), built together with code splitting, so what several views import (plotly, the VS Code elements,
// webview/common) is one shared chunk under dist/webview/chunks/ that VS Code loads and caches once, rather
// than a copy inside every view's bundle.
const views = readdirSync('webview', { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'common');
builds.push({
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  format: 'esm',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: !production,
  minify: production,
  entryPoints: Object.fromEntries(views.map((v) => [v.name, `webview/${v.name}/main.ts`])),
  outdir: 'dist/webview',
  loader: { '.css': 'css', '.ttf': 'file' },
  logLevel: 'warning',
});

// Chunk names carry a content hash: a previous build's chunks (a dev build before `npm run package`) would
// otherwise stay beside the new ones and be packaged too.
rmSync('dist/webview/chunks', { recursive: true, force: true });

if (watch) {
  const contexts = await Promise.all(builds.map((b) => esbuild.context(b)));
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
