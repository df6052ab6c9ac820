// Runs the mocha suites INSIDE the real extension host of code-server: the workbench is opened with
// extensionDevelopmentPath + extensionTestsPath in `?payload=` (honoured with enable-smoke-test-driver),
// and the result comes back through codeAutomationExit.
// Usage: node --import tsx test/e2e/runExtTests.ts <port> <extensionPath> <testsModule> <workspaceFolder>
import { writeFileSync } from 'node:fs';
import { format } from 'node:util';
import { devPayload, exitWith, launchChromium, workbenchUrl } from './browser';

async function main(): Promise<number> {
  const [port = '8765', extPath = process.cwd(), testsPath = `${process.cwd()}/out/e2e/suite/index`, folder = process.cwd()] = process.argv.slice(2);
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext()).newPage();
    let finish: (code: number) => void = () => undefined;
    const finished = new Promise<number>((r) => (finish = r));
    let counts = { passed: 0, failed: 0 };
    const noise = /^(Creating a socket|Resolv|\[reconnection|Updating additional|\[Service Worker|\[AgentHost|\[AccountPolicy)/;
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      const line = format(...(args ?? []));
      const m = /MECHLENS_E2E_RESULT passed=(\d+) failed=(\d+)/.exec(line);
      if (m) counts = { passed: Number(m[1]), failed: Number(m[2]) };
      if (process.env.VERBOSE || !noise.test(line)) console.log(`[${type}] ${line}`);
    });
    await page.exposeFunction('codeAutomationExit', (code: number) => finish(code));
    await page.goto(workbenchUrl(port, folder, devPayload(port, extPath, testsPath)));
    const timeout = new Promise<number>((r) => setTimeout(() => r(-1), Number(process.env.E2E_TIMEOUT_MS ?? 240_000)));
    const code = await Promise.race([finished, timeout]);
    console.log(code === -1 ? '[e2e] extension-host tests timed out' : `[e2e] extension-host tests exit code ${code}`);
    if (code !== 0 && counts.failed === 0) counts.failed = 1;
    if (process.env.E2E_RESULT_FILE) writeFileSync(process.env.E2E_RESULT_FILE, JSON.stringify(counts));
    return code === 0 ? 0 : 1;
  } finally {
    await browser.close();
  }
}

exitWith(main());
