// Lint: the recommended JS and TypeScript rules, plus the project's boundary rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const VSCODE = { name: 'vscode', message: 'Only the extension host (src/extension.ts, src/host/) imports vscode.' };
const WEBVIEW = { regex: '(^|/)webview/', message: 'src/ never imports webview code: shared types and helpers live in src/shared/.' };
/** Relative imports into another part of src/ (e.g. '../host/log' or '../../worker/main'). */
const layer = (name) => ({ regex: `^(\\.\\.?/)+(src/)?${name}(/|$)`, message: `This layer must not import src/${name}/.` });

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.tools/**', '.e2e/**', 'models/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Import direction: the engine is a library (worker and CLI drive it), the host drives the worker,
  // webviews are browser pages. Shared code (src/shared) is what every side may import, and imports none
  // of them. Later blocks replace earlier ones for the same rule, so each lists everything it forbids.
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [WEBVIEW] }] },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [VSCODE], patterns: [WEBVIEW, layer('host'), layer('worker'), layer('cli')] }] },
  },
  {
    files: ['src/worker/**/*.ts', 'src/cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [VSCODE], patterns: [WEBVIEW, layer('host')] }] },
  },
  {
    // Runs in node, in the worker and in the browser: no vscode, node or DOM-only modules.
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [VSCODE], patterns: [WEBVIEW, layer('engine'), layer('host'), layer('worker'), layer('cli'), { regex: '^node:', message: 'src/shared runs in the browser too.' }] },
      ],
    },
  },
  {
    // Webviews are browser bundles: webview/** and src/shared/** only.
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [VSCODE], patterns: [{ regex: '(^|/)src/(?!shared/)', message: 'A webview imports only webview/** and src/shared/**.' }, { regex: '^node:', message: 'A webview runs in the browser.' }] },
      ],
    },
  },
);
