// Bundles the extension-host test suite (TypeScript) to out/e2e/suite/index.js; mocha and vscode stay
// external (mocha resolves from the repository's node_modules, vscode is the host's module).
import * as esbuild from 'esbuild';

await esbuild.build({
  entryPoints: { index: 'test/e2e/suite/index.ts' },
  outdir: 'out/e2e/suite',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'inline',
  external: ['vscode', 'mocha'],
  logLevel: 'warning',
});
