// Regenerates the README's headline benchmark table from the runs `npm run bench` recorded
// (bench/out/engine-runs.jsonl, one JSON object per run, newest last).
//
//   npm run bench:readme               the last 4 runs
//   npm run bench:readme -- --runs 1   the last run only
//   npm run bench:readme -- --print    print the table, leave README.md alone
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { engineTable, replaceTable, type EngineRun } from './engineTable';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '4' }, print: { type: 'boolean', default: false } } });
const root = join(__dirname, '..');
const history = join(root, 'bench', 'out', 'engine-runs.jsonl');
if (!existsSync(history)) {
  process.stderr.write(`${history} does not exist: run \`npm run bench\` first (each run adds a line).\n`);
  process.exit(2);
}
const n = Number(values.runs);
if (!Number.isInteger(n) || n < 1) {
  process.stderr.write(`--runs must be a positive integer, not "${values.runs}".\n`);
  process.exit(2);
}
const runs = readFileSync(history, 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line) as EngineRun)
  .slice(-n);
const table = engineTable(runs);
process.stdout.write(`${table}\n`);
if (!values.print) {
  const readme = join(root, 'README.md');
  writeFileSync(readme, replaceTable(readFileSync(readme, 'utf8'), table));
  process.stdout.write(`README.md updated from the last ${runs.length} run(s).\n`);
}
