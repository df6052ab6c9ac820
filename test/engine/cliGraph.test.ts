// `mechlens graph` as a script uses it (the built dist/cli.js) on the bundled model and its transcoders:
// the file is valid Neuronpedia graph JSON, `graph-info` reads back what `graph` reported, the logit nodes
// carry the model's own probabilities (from `mechlens run` on the same tokens), the BOS rule, custom
// targets, the feature cap, and bad options refused with one clear line and exit code 2.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { cli } from '../support/cli';
import { DEFAULT_MODEL } from '../support/fixtures';
import { writeSaeLens } from '../support/transcoderFixtures';

const IOI = 'When Mary and John went to the store, John gave a drink to';
const SCHEMA = join(__dirname, '..', '..', '..', 'shared', 'reference', 'graphs', 'neuronpedia-graph-schema.json');

interface FileNode {
  node_id: string;
  feature_type: string;
  feature: number;
  ctx_idx: number;
  token_prob: number;
  influence: number | null;
  activation: number | null;
}
interface GraphJson {
  metadata: { prompt: string; prompt_tokens: string[]; schema_version: number; scan: string };
  nodes: FileNode[];
  links: Array<{ source: string; target: string; weight: number }>;
}

describe('mechlens graph', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'mechlens-graph-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes Neuronpedia graph JSON that graph-info reads back, with the model\'s own probabilities on its logits', async () => {
    const out = join(dir, 'ioi.json');
    const r = await cli('graph', '--model', DEFAULT_MODEL, '--prompt', IOI, '--out', out, '--max-logits', '3', '--logit-prob', '0.99', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Feature rows: \d+ \/ \d+/); // progress on stderr
    const summary = JSON.parse(r.stdout) as { nodes: Record<string, number>; links: number; replacement_score: number; completeness_score: number; stats: { activeFeatures: number; featureNodes: number } };
    const file = JSON.parse(readFileSync(out, 'utf8')) as GraphJson;
    const schema = JSON.parse(readFileSync(SCHEMA, 'utf8')) as object;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    assert.ok(validate(file), JSON.stringify(validate.errors?.slice(0, 3)));
    assert.equal(file.metadata.schema_version, 1);

    // BOS rule: the bundled tokenizer adds none, so circuit-tracer's rule prepends its BOS.
    assert.equal(file.metadata.prompt_tokens[0], '<|endoftext|>');
    assert.equal(file.metadata.prompt, `<|endoftext|>${IOI}`);
    const features = file.nodes.filter((n) => n.feature_type === 'cross layer transcoder');
    assert.ok(features.length > 0 && features.every((n) => n.ctx_idx > 0), 'no feature nodes at the BOS position');
    assert.equal(summary.stats.featureNodes, summary.stats.activeFeatures, 'no cap: every active feature attributed');

    const info = await cli('graph-info', out, '--json');
    assert.equal(info.code, 0, info.stderr);
    const read = JSON.parse(info.stdout) as { prompt: string; nodes: Record<string, number>; links: number };
    assert.deepEqual(read.nodes, summary.nodes);
    assert.equal(read.links, summary.links);
    assert.equal(read.nodes.embedding, file.metadata.prompt_tokens.length, 'every embedding node is kept');

    // Logit nodes: the model's top tokens with its probabilities, on the same tokens.
    const logits = file.nodes.filter((n) => n.feature_type === 'logit');
    assert.ok(logits.length >= 1 && logits.length <= 3);
    const embeddings = file.nodes.filter((n) => n.feature_type === 'embedding').sort((a, b) => a.ctx_idx - b.ctx_idx);
    const ids = embeddings.map((n) => Number(n.node_id.split('_')[1]));
    const run = await cli('run', '--model', DEFAULT_MODEL, '--tokens', ids.join(','), '--top', '3', '--json');
    const top = (JSON.parse(run.stdout) as { top: Array<{ id: number; prob: number }> }).top;
    logits.forEach((n, i) => {
      assert.equal(n.feature, top[i]!.id);
      assert.ok(Math.abs(n.token_prob - top[i]!.prob) < 1e-4, `p(${n.feature}) ${n.token_prob} vs ${top[i]!.prob}`);
    });
    // Links run from sources to targets, with the raw adjacency weight.
    const ids2 = new Set(file.nodes.map((n) => n.node_id));
    assert.ok(file.links.length > 0 && file.links.every((l) => ids2.has(l.source) && ids2.has(l.target) && Number.isFinite(l.weight)));
  });

  it('custom targets (a token, a logit difference) and the feature cap', async () => {
    const out = join(dir, 'diff.json');
    const r = await cli('graph', '--model', DEFAULT_MODEL, '--prompt', IOI, '--out', out, '--target-diff', ' Mary, John', '--max-feature-nodes', '40', '--json');
    assert.equal(r.code, 0, r.stderr);
    const file = JSON.parse(readFileSync(out, 'utf8')) as GraphJson;
    const logits = file.nodes.filter((n) => n.feature_type === 'logit');
    assert.equal(logits.length, 1);
    const summary = JSON.parse(r.stdout) as { stats: { featureNodes: number; activeFeatures: number } };
    assert.equal(summary.stats.featureNodes, 40);
    assert.ok(summary.stats.activeFeatures > 40);
    assert.ok(file.nodes.filter((n) => n.feature_type === 'cross layer transcoder').length <= 40);

    const one = await cli('graph', '--model', DEFAULT_MODEL, '--prompt', IOI, '--out', join(dir, 'mary.json'), '--target', ' Mary', '--json');
    assert.equal(one.code, 0, one.stderr);
    const f2 = JSON.parse(readFileSync(join(dir, 'mary.json'), 'utf8')) as GraphJson;
    const mary = f2.nodes.filter((n) => n.feature_type === 'logit');
    assert.equal(mary.length, 1);
    assert.ok(mary[0]!.token_prob > 0 && mary[0]!.token_prob < 1);
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['no --out', ['--prompt', IOI], /--out FILE/],
    ['a node threshold above 1', ['--prompt', IOI, '--out', 'x.json', '--node-threshold', '1.5'], /--node-threshold must be a number from 0 to 1/],
    ['zero feature nodes', ['--prompt', IOI, '--out', 'x.json', '--max-feature-nodes', '0'], /--max-feature-nodes must be at least 1/],
    ['a missing transcoder folder', ['--prompt', IOI, '--out', 'x.json', '--transcoders', '/nonexistent/tc'], /not a folder/],
    ['a target difference of one token', ['--prompt', IOI, '--out', 'x.json', '--target-diff', ' Mary'], /TOKEN,TOKEN/],
    ['a flag graph does not use', ['--prompt', IOI, '--out', 'x.json', '--stream', 'pre'], /does not use --stream/],
    ['an empty prompt', ['--prompt', '', '--out', 'x.json'], /empty/],
  ];
  for (const [what, args, message] of bad) {
    it(`refuses ${what} (exit 2, one line)`, async () => {
      const r = await cli('graph', '--model', DEFAULT_MODEL, ...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('sae-features: an SAELens SAE\'s active features per position, largest first', async () => {
    const sae = join(dir, 'sae');
    writeSaeLens(sae, (JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as { n_embd: number }).n_embd, 3, { hook: 'blocks.1.hook_resid_pre', architecture: 'topk', k: 4 });
    const r = await cli('sae-features', '--model', DEFAULT_MODEL, '--sae', sae, '--prompt', IOI, '--top', '3', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { hook: string; tokens: number[]; positions: Array<{ features: number[]; values: number[] }> };
    assert.equal(out.hook, 'blocks.1.hook_resid_pre');
    assert.equal(out.positions.length, out.tokens.length);
    for (const p of out.positions) {
      assert.ok(p.features.length <= 3);
      for (let i = 1; i < p.values.length; i++) assert.ok(p.values[i - 1]! >= p.values[i]!);
    }
    const missing = await cli('sae-features', '--model', DEFAULT_MODEL, '--prompt', IOI);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--sae DIR/);
  });
});
