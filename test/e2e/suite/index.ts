// Entry point the extension host loads (extensionTestsPath): runs the mocha suites inside the real
// (remote, node) extension host of code-server. Bundled by test/e2e/build.mjs to out/e2e/suite/index.js.
import Mocha from 'mocha';
import { registerExtensionTests } from './extension.test';
import { registerViewTests } from './views.test';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'extension.test', mocha);
  registerExtensionTests();
  registerViewTests();
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      // runExtTests.ts reads this line to count results.
      console.log(`MECHLENS_E2E_RESULT passed=${runner.stats?.passes ?? 0} failed=${failures}`);
      if (failures > 0) reject(new Error(`${failures} extension-host tests failed.`));
      else resolve();
    });
  });
}
