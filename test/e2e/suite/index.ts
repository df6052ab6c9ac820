// Entry point the extension host loads (extensionTestsPath): runs the mocha suites inside the real
// (remote, node) extension host of code-server. Bundled by test/e2e/build.mjs to out/e2e/suite/index.js.
import Mocha from 'mocha';
import { registerExtensionTests } from './extension.test';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'extension.test', mocha);
  registerExtensionTests();
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      console.log(`[mechlens-e2e] extension-host tests: ${failures} failed`);
      if (failures > 0) reject(new Error(`${failures} extension-host tests failed.`));
      else resolve();
    });
  });
}
