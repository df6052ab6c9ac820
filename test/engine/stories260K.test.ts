// The second bundled model, models/stories260K (Karpathy's TinyStories Llama), through the engine, not through
// Python: its greedy story and head scores are the card's (computed by tools/train/stories260k with torch), its
// shipped transcoders load and reconstruct the MLP outputs with the card's FVU and L0, the replacement model agrees
// as the card says, its dashboards are valid Neuronpedia feature details, and the CLI takes it by name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { Model, argmax } from '../../src/engine/model';
import { loadTranscoders } from '../../src/engine/attribution/transcoders';
import type { TranscoderSet } from '../../src/engine/attribution/transcoders';
import { readDashboardIndex, readLayerDetails } from '../../src/engine/attribution/dashboards';
import { detectHeads, HEAD_KINDS } from '../../src/engine/analysis/attention';
import { BUNDLED_MODEL_NAMES, bundledModels, resolveModelName } from '../../src/engine/bundledModels';
import { cli } from '../support/cli';
import { replacementAgreement, transcoderFvuL0 } from '../support/transcoderChecks';

const MODELS = join(__dirname, '..', '..', 'models');
const STORIES = join(MODELS, 'stories260K');
const SCHEMA = join(__dirname, '..', '..', '..', 'shared', 'reference', 'graphs', 'neuronpedia-feature-details-schema.json');
const SUBSET_ROWS = 64;

interface Card {
  samples: { row_len: number; heldout_rows: number };
  greedy: { tokens: number[]; text: string };
  transcoders: Array<{ layer: number; subset_fvu: number; subset_l0: number; d_transcoder: number }>;
  replacement_subset_top1_agreement: number;
  head_scores: Record<string, Record<string, number>>;
}

describe('bundled model stories260K', function () {
  this.timeout(300_000);
  const card = JSON.parse(readFileSync(join(STORIES, 'card.json'), 'utf8')) as Card;
  const T = card.samples.row_len;
  let model: Model;
  let transcoders: TranscoderSet;
  let rows: number[][];
  before(async () => {
    model = await Model.load(STORIES);
    transcoders = loadTranscoders(join(STORIES, 'transcoders'), model.config);
    const raw = readFileSync(join(STORIES, 'eval', 'heldout_tokens.u16'));
    const ids = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
    assert.equal(ids.length, card.samples.heldout_rows * T);
    rows = Array.from({ length: SUBSET_ROWS }, (_, r) => Array.from(ids.subarray(r * T, (r + 1) * T)));
  });
  after(async () => model.dispose());

  it('loads as a Llama with its SentencePiece tokenizer and no warnings', () => {
    assert.equal(model.info.architecture, 'llama');
    assert.ok(model.info.hasTokenizer);
    assert.deepEqual(model.info.warnings, []);
    assert.equal(model.config.nLayers, 5);
    assert.deepEqual(model.tokenize('Once upon a time').ids.slice(0, 1), [1], 'its tokenizer prepends <s>');
  });

  it('a token\'s text keeps its SentencePiece leading space (▁Once reads " Once", not "Once")', () => {
    const ids = model.tokenize('Once upon a time').ids;
    assert.deepEqual(ids.slice(1).map((id) => model.tokenText(id)), [' Once', ' upon', ' a', ' time']);
    assert.equal(model.tokenText(1), '<s>');
  });

  it('greedy decoding from <s> gives the card\'s story (first 48 tokens)', async () => {
    const ids = [1];
    while (ids.length < 48) ids.push(argmax((await model.run(ids, { lastOnly: true })).data));
    assert.deepEqual(ids, card.greedy.tokens.slice(0, 48));
    assert.match(model.decode(ids.slice(1)), /^Once upon a time, there was a little girl named Lily\./);
  });

  it('head scores on the shipped probe equal the card\'s (torch)', async () => {
    const scores = await detectHeads(model);
    let worst = 0;
    for (const kind of HEAD_KINDS) {
      scores[kind].forEach((row, l) => row.forEach((v, h) => (worst = Math.max(worst, Math.abs(v - card.head_scores[`L${l}H${h}`]![kind]!)))));
    }
    assert.ok(worst <= 1e-3, `worst head score difference ${worst}`);
  });

  it('transcoders reconstruct the MLP outputs with the card\'s FVU and L0 (first 64 held-out rows)', async () => {
    assert.equal(transcoders.layers.length, model.config.nLayers);
    (await transcoderFvuL0(model, transcoders, rows)).forEach(({ fvu, l0 }, l) => {
      const want = card.transcoders[l]!;
      assert.ok(Math.abs(fvu - want.subset_fvu) <= 2e-3 + 0.01 * want.subset_fvu, `layer ${l} FVU ${fvu} vs card ${want.subset_fvu}`);
      assert.ok(Math.abs(l0 - want.subset_l0) <= 0.05 + 0.01 * want.subset_l0, `layer ${l} L0 ${l0} vs card ${want.subset_l0}`);
    });
  });

  it('the replacement model (every MLP a transcoder, no error terms) agrees with the model as the card says', async () => {
    const agree = await replacementAgreement(model, transcoders, rows);
    assert.ok(Math.abs(agree - card.replacement_subset_top1_agreement) <= 0.01, `agreement ${agree} vs card ${card.replacement_subset_top1_agreement}`);
  });

  it('ships dashboards for every feature, valid Neuronpedia feature details over the held-out tokens', () => {
    const validate = new Ajv({ strict: false, allErrors: true }).compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    const dir = join(STORIES, 'features');
    const idx = readDashboardIndex(dir)!;
    assert.equal(idx.layers.length, model.config.nLayers);
    for (let l = 0; l < model.config.nLayers; l++) {
      const details = [...readLayerDetails(dir, idx, l)];
      assert.equal(details.length, card.transcoders[l]!.d_transcoder);
      for (const d of details) {
        assert.ok(validate(d), JSON.stringify(validate.errors?.slice(0, 2)));
        assert.equal(d.layer, l);
        assert.equal(d.n_tokens, card.samples.heldout_rows * T);
      }
    }
    // Contexts read as text: the words of a story keep their spaces.
    const first = [...readLayerDetails(dir, idx, 0)].flatMap((d) => d.examples_quantiles[0]?.examples ?? []).map((e) => e.tokens.join(''));
    assert.ok(first.some((t) => t.includes(' upon a time')), `contexts run words together: ${first[0]}`);
  });
});

describe('bundled models by name', function () {
  this.timeout(120_000);
  it('lists every bundled model, default first, and resolves names case-insensitively; a path wins over a name', () => {
    assert.deepEqual(bundledModels(MODELS).map((m) => m.name), [...BUNDLED_MODEL_NAMES]);
    const models = bundledModels(MODELS);
    assert.equal(resolveModelName('stories260K', models), STORIES);
    assert.equal(resolveModelName('STORIES260k', models), STORIES);
    assert.equal(resolveModelName(MODELS, models), MODELS);
    // An unknown bare word is most likely a mistyped name: refused with the bundled models listed.
    assert.throws(() => resolveModelName('no-such-model', models), (e: Error) => e.name === 'UserError' && /no-such-model is not a folder.*mechlens-tiny, stories260K/.test(e.message));
    assert.equal(resolveModelName('./no-such-folder/model', models), './no-such-folder/model', 'a path is left for the loader\'s message');
  });

  it('mechlens --model stories260K; mechlens models lists both bundled models', async () => {
    const info = await cli('info', '--model', 'stories260K', '--json');
    assert.equal(info.code, 0, info.stderr);
    assert.equal((JSON.parse(info.stdout) as { name: string; architecture: string }).architecture, 'llama');
    const listing = await cli('models', '--json');
    assert.equal(listing.code, 0, listing.stderr);
    const bundled = (JSON.parse(listing.stdout) as { models: Array<{ source: string; path: string }> }).models.filter((m) => m.source === 'bundled');
    assert.deepEqual(bundled.map((m) => m.path), bundledModels(MODELS).map((m) => m.dir));
  });
});
