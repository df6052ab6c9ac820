// Issue #15's corpus of bad input, table-driven through the built CLI: every case must end with exit code 2
// and one line on stderr that names the problem: never a stack trace ("internal error"), never a hang,
// never a silent answer. Each case breaks a copy of a good fixture (or a flag) in a temporary folder.
// Also here: no telemetry file under $HOME, prompts longer than a command line through --prompt-file and
// standard input, and the same rules through the worker (bad input arrives as `bad-input`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { readSafetensorsHeader, readTensorF32 } from '../../src/engine/checkpoint/safetensors';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensorsWriter';
import type { TensorToWrite } from '../../src/engine/checkpoint/safetensorsWriter';
import { RpcEndpoint, RpcError } from '../../src/shared/rpc';
import type { RpcMessage } from '../../src/shared/rpc';
import type { EngineNotifications, EngineProtocol } from '../../src/shared/protocol';
import { cli, cliWith } from '../support/cli';
import { writeSaeLens } from '../support/transcoderFixtures';
import { encodeGguf } from '../support/ggufWriter';
import { DEFAULT_MODEL, fixture } from '../support/fixtures';

let work: string;

/** A copy of a fixture (or of the bundled model's loadable files) to break. */
function copyOf(name: string): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  if (name === 'tiny') {
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) cpSync(join(DEFAULT_MODEL, f), join(dir, f));
  } else cpSync(fixture(name), dir, { recursive: true });
  return dir;
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const file = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(file, JSON.stringify(c));
}

/** Rewrites a safetensors file through `edit` on its tensors (float32). */
function rewriteTensors(file: string, edit: (t: Record<string, TensorToWrite>) => void): void {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, e] of readSafetensorsHeader(file).tensors) tensors[name] = { dtype: 'F32', shape: e.shape, data: readTensorF32(e) };
  edit(tensors);
  writeSafetensors(file, tensors);
}

/** Rewrites model.safetensors' JSON header in place (same length), keeping the data. */
type Header = Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
function editHeader(dir: string, edit: (h: Header) => void): void {
  const file = join(dir, 'model.safetensors');
  const buf = readFileSync(file);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString()) as Header;
  edit(header);
  const json = JSON.stringify(header).padEnd(len, ' ');
  assert.equal(json.length, len, 'the edited header keeps its length');
  writeFileSync(file, Buffer.concat([buf.subarray(0, 8), Buffer.from(json), buf.subarray(8 + len)]));
}

function mkfifo(path: string): void {
  rmSync(path, { force: true });
  execFileSync('mkfifo', [path]);
}

function loop(path: string): void {
  rmSync(path, { force: true, recursive: true });
  symlinkSync(`${path}.loop`, path);
  symlinkSync(path, `${path}.loop`);
}

interface Case {
  name: string;
  /** Prepares files in a fresh work folder and returns the CLI arguments. */
  args: () => string[];
  expect: RegExp;
  stdin?: string;
  /** Environment variables added for the run. */
  env?: () => Record<string, string>;
}

const info = (dir: string) => ['info', '--model', dir];
const run = (dir: string, ...more: string[]) => ['run', '--model', dir, '--tokens', '1,2,3', ...more];
const config = (name: string, edit: (c: Record<string, unknown>) => void) => () => {
  const dir = copyOf(name);
  editConfig(dir, edit);
  return info(dir);
};
/** A file in the work folder with `text`. */
const file = (name: string, text: string) => {
  const p = join(mkdtempSync(join(work, 'f-')), name);
  writeFileSync(p, text);
  return p;
};
const tiny = DEFAULT_MODEL;
/** The bundled model's width and context, read from its config (a retrain may change them). */
const TINY = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as { n_embd: number; n_positions: number };
const gpt2 = fixture('gpt2');

const CASES: Case[] = [
  // config.json sizes: positive integers within bounds, before anything is allocated
  { name: 'n_layer 1e9 (allocation bomb)', args: config('gpt2', (c) => (c.n_layer = 1e9)), expect: /"n_layer" must be a positive integer of at most 1024/ },
  { name: 'n_layer 1.5', args: config('gpt2', (c) => (c.n_layer = 1.5)), expect: /"n_layer" must be a positive integer/ },
  { name: 'n_layer -2', args: config('gpt2', (c) => (c.n_layer = -2)), expect: /"n_layer" must be a positive integer/ },
  { name: 'n_layer as a string', args: config('gpt2', (c) => (c.n_layer = '2')), expect: /"n_layer" must be a positive integer/ },
  { name: 'n_layer smaller than the checkpoint', args: config('gpt2', (c) => (c.n_layer = 1)), expect: /says 1 layers but the checkpoint .* has weights for layer 1/ },
  { name: 'llama num_hidden_layers smaller than the checkpoint', args: config('llama', (c) => (c.num_hidden_layers = 1)), expect: /says 1 layers but the checkpoint/ },
  { name: 'n_embd 0', args: config('gpt2', (c) => (c.n_embd = 0)), expect: /"n_embd" must be a positive integer/ },
  { name: 'n_head that does not divide the width', args: config('gpt2', (c) => (c.n_head = 5)), expect: /5 heads do not divide the width 32/ },
  { name: 'n_head 1e6', args: config('gpt2', (c) => (c.n_head = 1e6)), expect: /"n_head" must be a positive integer of at most 1024/ },
  { name: 'vocab_size 1e12', args: config('gpt2', (c) => (c.vocab_size = 1e12)), expect: /"vocab_size" must be a positive integer/ },
  { name: 'vocab_size null', args: config('gpt2', (c) => (c.vocab_size = null)), expect: /missing or invalid "vocab_size"/ },
  { name: 'n_positions 0', args: config('gpt2', (c) => (c.n_positions = 0)), expect: /"n_positions" must be a positive integer/ },
  { name: 'n_inner 1e9', args: config('gpt2', (c) => (c.n_inner = 1e9)), expect: /"n_inner" must be a positive integer/ },
  { name: 'negative layer_norm_epsilon', args: config('gpt2', (c) => (c.layer_norm_epsilon = -1e-5)), expect: /"layer_norm_epsilon" must be a finite number > 0/ },
  { name: 'zero rms_norm_eps', args: config('llama', (c) => (c.rms_norm_eps = 0)), expect: /"rms_norm_eps" must be a finite number > 0/ },
  { name: 'key/value heads that do not divide the heads', args: config('llama', (c) => (c.num_key_value_heads = 3)), expect: /3 key\/value heads do not divide 4 attention heads/ },
  { name: 'head_dim 0', args: config('llama', (c) => (c.head_dim = 0)), expect: /"head_dim" must be a positive integer/ },
  { name: 'rope_theta 0', args: config('llama', (c) => (c.rope_theta = 0)), expect: /"rope_theta" must be a finite number > 0/ },
  { name: 'negative rotary_pct', args: config('neox', (c) => (c.rotary_pct = -0.25)), expect: /"rotary_pct" must be a finite number > 0/ },
  { name: 'rotary_pct above 1', args: config('neox', (c) => (c.rotary_pct = 4)), expect: /rotary part of each head .* must be an even number/ },
  { name: 'negative soft cap', args: config('gemma2', (c) => (c.final_logit_softcapping = -3)), expect: /"final_logit_softcapping" must be a finite number > 0/ },
  { name: 'sliding_window 0', args: config('gemma2', (c) => (c.sliding_window = 0)), expect: /"sliding_window" must be a positive integer/ },
  { name: 'rope_scaling yarn', args: config('llama', (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 })), expect: /rope_scaling type "yarn" is not supported \(supported: default, linear, llama3;/ },
  { name: 'rope_scaling without a type', args: config('llama', (c) => (c.rope_scaling = { factor: 4 })), expect: /rope_scaling type null is not supported \(supported: default, linear, llama3;/ },
  { name: 'llama3 rope_scaling without low_freq_factor', args: config('llama3', (c) => delete (c.rope_scaling as Record<string, unknown>).low_freq_factor), expect: /rope_scaling "low_freq_factor" must be a finite number > 0 \(got undefined\)/ },
  { name: 'linear rope_scaling factor 0', args: config('llama-linear', (c) => ((c.rope_scaling as Record<string, unknown>).factor = 0)), expect: /rope_scaling "factor" must be a finite number > 0 \(got 0\)/ },
  { name: 'gemma3 layer_types of the wrong length', args: config('gemma3', (c) => (c.layer_types = ['sliding_attention'])), expect: /"layer_types" must list 3 entries, each "sliding_attention" or "full_attention"/ },
  { name: 'gemma3 multimodal config without text_config', args: config('gemma3', (c) => (c.model_type = 'gemma3')), expect: /missing "text_config" \(a Gemma-3 multimodal config holds its language model's settings there\)/ },
  { name: 'gemma3 sliding_window_pattern 0', args: config('gemma3', (c) => (c.sliding_window_pattern = 0)), expect: /"sliding_window_pattern" must be a positive integer/ },
  // config.json as a value and as a file
  { name: 'config.json is null', args: () => { const d = copyOf('gpt2'); writeFileSync(join(d, 'config.json'), 'null'); return info(d); }, expect: /config\.json .* must be a JSON object \(got null\)/ },
  { name: 'config.json is a list', args: () => { const d = copyOf('gpt2'); writeFileSync(join(d, 'config.json'), '[]'); return info(d); }, expect: /must be a JSON object \(got a list\)/ },
  { name: 'config.json is not JSON', args: () => { const d = copyOf('gpt2'); writeFileSync(join(d, 'config.json'), '{"model_type": gpt2'); return info(d); }, expect: /config\.json .* is not valid JSON/ },
  { name: 'config.json is a folder', args: () => { const d = copyOf('gpt2'); rmSync(join(d, 'config.json')); mkdirSync(join(d, 'config.json')); return info(d); }, expect: /is a folder; expected a regular file/ },
  { name: 'config.json is a FIFO (must not block)', args: () => { const d = copyOf('gpt2'); mkfifo(join(d, 'config.json')); return info(d); }, expect: /is a named pipe \(FIFO\); expected a regular file/ },
  { name: 'config.json is a symlink loop', args: () => { const d = copyOf('gpt2'); loop(join(d, 'config.json')); return info(d); }, expect: /cannot open .*config\.json: it is a symbolic link loop/ },
  { name: 'config.json points at a device', args: () => { const d = copyOf('gpt2'); rmSync(join(d, 'config.json')); symlinkSync('/dev/zero', join(d, 'config.json')); return info(d); }, expect: /is a device; expected a regular file/ },
  { name: 'config.json is huge', args: () => { const d = copyOf('gpt2'); truncateSync(join(d, 'config.json'), 64 * 2 ** 20); return info(d); }, expect: /is 64\.0 MiB; at most 16 MiB is read/ },
  { name: 'model folder is a file', args: () => info(file('not-a-folder', 'x')), expect: /is not a folder/ },
  // weights files
  { name: 'model.safetensors is a folder', args: () => { const d = copyOf('gpt2'); rmSync(join(d, 'model.safetensors')); mkdirSync(join(d, 'model.safetensors')); return info(d); }, expect: /model\.safetensors: .* is a folder; expected a regular file/ },
  { name: 'model.safetensors is a symlink loop', args: () => { const d = copyOf('gpt2'); loop(join(d, 'model.safetensors')); return info(d); }, expect: /model\.safetensors: cannot open .* symbolic link loop/ },
  { name: 'model.safetensors is a FIFO', args: () => { const d = copyOf('gpt2'); mkfifo(join(d, 'model.safetensors')); return info(d); }, expect: /named pipe \(FIFO\)/ },
  {
    name: 'overlapping byte ranges in safetensors',
    args: () => {
      const d = copyOf('gpt2');
      editHeader(d, (h) => {
        h['transformer.h.0.ln_1.bias']!.data_offsets = [...h['transformer.h.0.ln_1.weight']!.data_offsets];
      });
      return info(d);
    },
    expect: /tensors transformer\.h\.0\.ln_1\.(weight|bias) and transformer\.h\.0\.ln_1\.(weight|bias) overlap/,
  },
  {
    name: 'NaN in the final norm bias (once skipped by the scan)',
    args: () => {
      const d = copyOf('gpt2');
      rewriteTensors(join(d, 'model.safetensors'), (t) => (t['transformer.ln_f.bias']!.data[0] = NaN));
      return run(d);
    },
    expect: /NaN or Inf values in: lnFinal\.b/,
  },
  {
    name: 'Inf in an attention bias',
    args: () => {
      const d = copyOf('gpt2');
      rewriteTensors(join(d, 'model.safetensors'), (t) => (t['transformer.h.1.attn.c_attn.bias']!.data[5] = Infinity));
      return run(d);
    },
    expect: /NaN or Inf values in: blocks\.1\.b_Q/,
  },
  // sharded checkpoints
  { name: 'index is null', args: () => { const d = copyOf('llama'); writeFileSync(join(d, 'model.safetensors.index.json'), 'null'); return info(d); }, expect: /index\.json must be a JSON object with a "weight_map" object/ },
  { name: 'index weight_map is a list', args: () => { const d = copyOf('llama'); writeFileSync(join(d, 'model.safetensors.index.json'), '{"weight_map": []}'); return info(d); }, expect: /"weight_map" object/ },
  { name: 'index names a shard by number', args: () => { const d = copyOf('llama'); writeFileSync(join(d, 'model.safetensors.index.json'), '{"weight_map": {"a": 1}}'); return info(d); }, expect: /every weight_map value must be a shard file name/ },
  {
    name: 'a tensor present in two shards',
    args: () => {
      const d = copyOf('llama');
      const first = join(d, 'model-00001-of-00002.safetensors');
      const name = [...readSafetensorsHeader(first).tensors.keys()][0]!;
      const e = readSafetensorsHeader(first).tensors.get(name)!;
      rewriteTensors(join(d, 'model-00002-of-00002.safetensors'), (t) => (t[name] = { dtype: 'F32', shape: e.shape, data: readTensorF32(e) }));
      return info(d);
    },
    expect: /Tensor .* is in two weight files \(model-00001-of-00002\.safetensors and model-00002-of-00002\.safetensors\)/,
  },
  // tokenizer files
  { name: 'tokenizer.json is a FIFO', args: () => { const d = copyOf('tiny'); mkfifo(join(d, 'tokenizer.json')); return ['run', '--model', d, '--prompt', 'hi']; }, expect: /tokenizer\.json: .* named pipe/ },
  { name: 'tokenizer.json is null', args: () => { const d = copyOf('tiny'); writeFileSync(join(d, 'tokenizer.json'), 'null'); return ['run', '--model', d, '--prompt', 'hi']; }, expect: /tokenizer\.json: must be a JSON object/ },
  // interventions
  { name: 'intervention of the wrong shape (empty vector)', args: () => run(gpt2, '--interventions', file('iv.json', '[{"kind":"add","hook":"blocks.0.hook_resid_pre","vector":[]}]')), expect: /intervention 1: add needs a vector of finite numbers/ },
  { name: 'intervention kind unknown', args: () => run(gpt2, '--interventions', file('iv.json', '[{"kind":"explode","hook":"x"}]')), expect: /kind must be one of/ },
  { name: 'intervention list is null', args: () => run(gpt2, '--interventions', file('iv.json', 'null')), expect: /expected a JSON list of interventions/ },
  { name: 'intervention vector of the wrong length', args: () => run(gpt2, '--interventions', file('iv.json', '[{"kind":"add","hook":"blocks.0.hook_resid_pre","vector":[1,2]}]')), expect: /the vector has 2 entries but .* has 32/ },
  { name: 'intervention position beyond the prompt', args: () => run(gpt2, '--interventions', file('iv.json', '[{"kind":"zero","hook":"blocks.0.hook_resid_pre","positions":[5]}]')), expect: /position 5 is beyond the prompt \(positions 0\.\.2\)/ },
  { name: 'intervention head out of range', args: () => run(gpt2, '--interventions', file('iv.json', '[{"kind":"zero","hook":"blocks.0.attn.hook_z","heads":[9]}]')), expect: /head 9 is out of range/ },
  { name: 'interventions file is a folder', args: () => run(gpt2, '--interventions', work), expect: /--interventions: .* is a folder/ },
  { name: '--interventions given to lens (which ignores them)', args: () => ['lens', '--model', gpt2, '--tokens', '1,2', '--interventions', file('iv.json', '[]')], expect: /mechlens lens does not use --interventions/ },
  { name: '--interventions given to patch', args: () => ['patch', '--model', gpt2, '--clean', 'a', '--corrupted', 'b', '--target', '#1', '--baseline', '#2', '--interventions', file('iv.json', '[]')], expect: /does not use --interventions/ },
  { name: '--top given to dla', args: () => ['dla', '--model', gpt2, '--tokens', '1,2', '--target', '#1', '--top', '3'], expect: /mechlens dla does not use --top/ },
  // tokens and hooks
  { name: 'out-of-vocabulary target in patch', args: () => ['patch', '--model', tiny, '--clean', 'a b', '--corrupted', 'a c', '--target', '#100000', '--baseline', '#1'], expect: /Token 100000 is outside the vocabulary .*: check the correct/ },
  { name: 'out-of-vocabulary target in dla', args: () => ['dla', '--model', gpt2, '--tokens', '1,2', '--target', '#101'], expect: /Token 101 is outside the vocabulary \(0\.\.100\): check the target/ },
  { name: 'out-of-vocabulary baseline in grad', args: () => ['grad', '--model', gpt2, '--tokens', '1,2', '--target', '#1', '--baseline', '#5000', '--hooks', 'hook_embed'], expect: /Token 5000 is outside the vocabulary .*: check the baseline/ },
  { name: 'empty hook list', args: () => ['cache', '--model', gpt2, '--tokens', '1,2', '--hooks', ' , '], expect: /--hooks: give at least one hook name/ },
  { name: 'hook name with a leading zero', args: () => ['cache', '--model', gpt2, '--tokens', '1,2', '--hooks', 'blocks.01.hook_resid_pre'], expect: /Unknown hook "blocks\.01\.hook_resid_pre"/ },
  { name: 'token id beyond the vocabulary', args: () => ['run', '--model', gpt2, '--tokens', '1,101'], expect: /Token id 101 is outside the vocabulary/ },
  { name: 'negative token id', args: () => ['run', '--model', gpt2, '--tokens', '1,-3'], expect: /--tokens: "-3" is not a non-negative integer/ },
  // flags
  { name: 'unknown option', args: () => ['run', '--model', gpt2, '--tokens', '1', '--bogus'], expect: /Unknown option '--bogus'/ },
  { name: '--prompt and --prompt-file together', args: () => ['run', '--model', tiny, '--prompt', 'a', '--prompt-file', file('p.txt', 'b')], expect: /either --prompt or --prompt-file, not both/ },
  { name: '--prompt-file that does not exist', args: () => ['run', '--model', tiny, '--prompt-file', join(work, 'nope.txt')], expect: /--prompt-file: cannot open .*nope\.txt: it does not exist/ },
  { name: '--prompt-file that is a FIFO', args: () => { const p = join(mkdtempSync(join(work, 'fifo-')), 'p'); mkfifo(p); return ['run', '--model', tiny, '--prompt-file', p]; }, expect: /--prompt-file: .* named pipe/ },
  { name: 'empty --prompt-file', args: () => ['run', '--model', tiny, '--prompt-file', file('p.txt', '')], expect: /The prompt is empty/ },
  { name: 'empty standard input', args: () => ['run', '--model', tiny, '--prompt-file', '-'], stdin: '', expect: /The prompt is empty/ },
  { name: '--threads not a number', args: () => ['run', '--model', gpt2, '--tokens', '1', '--threads', 'many'], expect: /--threads: "many" is not a non-negative integer/ },
  { name: 'negative temperature', args: () => ['generate', '--model', gpt2, '--tokens', '1', '--max-new-tokens', '2', '--temperature=-1'], expect: /--temperature must be a number >= 0/ },
  { name: '--steps 0', args: () => ['saliency', '--model', gpt2, '--tokens', '1,2', '--target', '#1', '--method', 'integrated_gradients', '--steps', '0'], expect: /--steps must be an integer from 1 to 4096/ },
  { name: 'generation past the context', args: () => ['generate', '--model', gpt2, '--tokens', '1,2', '--max-new-tokens', '40'], expect: /exceeds the context of 32/ },  // --tokens-file (wherever --tokens is)
  { name: '--tokens-file that does not exist', args: () => ['run', '--model', gpt2, '--tokens-file', join(work, 'nope.txt')], expect: /--tokens-file: cannot open .*nope\.txt: it does not exist/ },
  { name: '--tokens-file that is a FIFO', args: () => { const p = join(mkdtempSync(join(work, 'fifo-')), 't'); mkfifo(p); return ['run', '--model', gpt2, '--tokens-file', p]; }, expect: /--tokens-file: .* named pipe/ },
  { name: '--tokens-file with a word in it', args: () => ['run', '--model', gpt2, '--tokens-file', file('t.txt', '1 2\nthree')], expect: /--tokens-file .*t\.txt: "three" is not a non-negative integer/ },
  { name: '--tokens and --tokens-file together', args: () => ['run', '--model', gpt2, '--tokens', '1', '--tokens-file', file('t.txt', '2')], expect: /either --tokens or --tokens-file, not both/ },
  { name: '--tokens-file to patch (which takes no ids)', args: () => ['patch', '--model', gpt2, '--clean', 'a', '--corrupted', 'b', '--target', '#1', '--baseline', '#2', '--tokens-file', file('t.txt', '1')], expect: /mechlens patch does not use --tokens-file/ },
  { name: 'empty --tokens-file from standard input', args: () => ['lens', '--model', gpt2, '--tokens-file', '-'], stdin: ' \n', expect: /empty|at least one token/i },
  // transcoder folders (mechlens graph --transcoders)
  { name: 'transcoder folder that does not exist', args: () => graph('--transcoders', join(work, 'no-transcoders')), expect: /Transcoders: .*no-transcoders is not a folder/ },
  { name: 'transcoder folder without config.yaml', args: () => graph('--transcoders', transcoders((d) => rmSync(join(d, 'config.yaml')))), expect: /has no config\.yaml/ },
  { name: 'transcoder config.yaml is a FIFO (must not block)', args: () => graph('--transcoders', transcoders((d) => mkfifo(join(d, 'config.yaml')))), expect: /config\.yaml in .*: .* named pipe \(FIFO\)/ },
  { name: 'transcoder config.yaml is huge', args: () => graph('--transcoders', transcoders((d) => truncateSync(join(d, 'config.yaml'), 64 * 2 ** 20))), expect: /config\.yaml in .* is 64\.0 MiB; at most 1 MiB/ },
  { name: 'transcoder config.yaml points at a device', args: () => graph('--transcoders', transcoders((d) => { rmSync(join(d, 'config.yaml')); symlinkSync('/dev/zero', join(d, 'config.yaml')); })), expect: /config\.yaml in .* is a device/ },
  { name: 'transcoder config.yaml is not YAML', args: () => graph('--transcoders', transcoders((d) => writeFileSync(join(d, 'config.yaml'), 'a: [1, 2\nb: {'))), expect: /config\.yaml in .* is not valid YAML/ },
  { name: 'transcoder config.yaml alias bomb', args: () => graph('--transcoders', transcoders((d) => writeFileSync(join(d, 'config.yaml'), yamlBomb()))), expect: /config\.yaml in .* is not valid YAML/ },
  { name: 'transcoder config.yaml with the wrong d_model', args: () => graph('--transcoders', transcoders((d) => editYaml(d, (t) => t.replace(`d_model: ${TINY.n_embd}`, 'd_model: 64')))), expect: new RegExp(`config\\.yaml says d_model 64 but the model's d_model is ${TINY.n_embd}`) },
  { name: 'transcoder config.yaml with an unknown hook', args: () => graph('--transcoders', transcoders((d) => editYaml(d, (t) => t.replace('mlp.hook_in', 'mlp.hook_nope')))), expect: /feature_input_hook "mlp\.hook_nope" is not supported/ },
  { name: 'a transcoder layer file missing', args: () => graph('--transcoders', transcoders((d) => rmSync(join(d, 'layer_2.safetensors')))), expect: /layer_2\.safetensors.* is missing/ },
  { name: 'a transcoder layer file is a FIFO', args: () => graph('--transcoders', transcoders((d) => mkfifo(join(d, 'layer_1.safetensors')))), expect: /layer_1\.safetensors.*named pipe \(FIFO\)/ },
  { name: 'a transcoder layer file is a pickle', args: () => graph('--transcoders', transcoders((d) => { rmSync(join(d, 'layer_0.safetensors')); writeFileSync(join(d, 'layer_0.pt'), 'x'); editYaml(d, (t) => t.replace('- layer_0.safetensors', '- layer_0.pt')); })), expect: /layer_0\.pt is a pickle file .* never reads it/ },
  { name: 'a transcoder encoder of the wrong width', args: () => graph('--transcoders', transcoders((d) => rewriteTensors(join(d, 'layer_1.safetensors'), (t) => (t.W_enc = { dtype: 'F32', shape: [1024, 64], data: new Float32Array(1024 * 64) })))), expect: /layer_1\.safetensors.*W_enc/ },
  { name: 'a transcoder decoder with fewer features than the encoder', args: () => graph('--transcoders', transcoders((d) => rewriteTensors(join(d, 'layer_3.safetensors'), (t) => { const half = t.W_dec!.shape[0]! / 2; t.W_dec = { dtype: 'F32', shape: [half, TINY.n_embd], data: new Float32Array(half * TINY.n_embd) }; }))), expect: /layer_3\.safetensors.*W_dec/ },
  { name: 'NaN in a transcoder encoder bias', args: () => graph('--transcoders', transcoders((d) => rewriteTensors(join(d, 'layer_0.safetensors'), (t) => (t.b_enc!.data[7] = NaN)))), expect: /layer_0\.safetensors.*b_enc.*(NaN|non-finite)/i },
  { name: 'Inf in a transcoder decoder', args: () => graph('--transcoders', transcoders((d) => rewriteTensors(join(d, 'layer_2.safetensors'), (t) => (t.W_dec!.data[99] = Infinity)))), expect: /layer_2\.safetensors.*W_dec.*(NaN|Inf|non-finite)/i },
  { name: 'a truncated transcoder file', args: () => graph('--transcoders', transcoders((d) => truncateSync(join(d, 'layer_1.safetensors'), 4000))), expect: /layer_1\.safetensors.*truncated/ },
  // mechlens graph options
  { name: 'graph --max-feature-nodes 0', args: () => graph('--max-feature-nodes', '0'), expect: /max-feature-nodes/ },
  { name: 'graph --logit-prob 0', args: () => graph('--logit-prob', '0'), expect: /logit-prob|desiredLogitProb/ },
  { name: 'graph --logit-prob 2', args: () => graph('--logit-prob', '2'), expect: /logit-prob|desiredLogitProb/ },
  { name: 'graph --node-threshold 1.5', args: () => graph('--node-threshold', '1.5'), expect: /node-threshold|nodeThreshold/ },
  { name: 'graph --edge-threshold NaN', args: () => graph('--edge-threshold', 'NaN'), expect: /edge-threshold|edgeThreshold/ },
  { name: 'graph --batch-size 0', args: () => graph('--batch-size', '0'), expect: /batch-size|batchSize/ },
  { name: 'graph --target-diff without a baseline', args: () => graph('--target-diff', ' Mary'), expect: /target-diff/ },
  { name: 'graph --target out of the vocabulary', args: () => graph('--target', '#100000'), expect: /100000 is outside the vocabulary/ },
  { name: 'graph --out in a folder that does not exist', args: () => ['graph', '--model', tiny, '--prompt', 'Once upon a time', '--out', join(work, 'no-such-dir', 'g.json')], expect: /--out .*g\.json: the folder .*no-such-dir cannot be used: it does not exist/ },
  { name: 'graph --out is a folder', args: () => ['graph', '--model', tiny, '--prompt', 'Once upon a time', '--out', work], expect: /--out .* is a folder; expected a file to write/ },
  { name: 'graph without --out', args: () => ['graph', '--model', tiny, '--prompt', 'Once upon a time'], expect: /Missing --out FILE/ },
  // graph files (mechlens graph-info)
  { name: 'graph file that is not JSON', args: () => ['graph-info', file('g.json', '{"metadata": ')], expect: /g\.json/ },
  { name: 'graph file that is null', args: () => ['graph-info', file('g.json', 'null')], expect: /g\.json/ },
  { name: 'graph file without metadata', args: () => ['graph-info', file('g.json', '{"nodes": [], "links": []}')], expect: /is not an attribution graph file: it has no "metadata"/ },
  { name: 'graph file without nodes', args: () => ['graph-info', graphFile({ nodes: undefined })], expect: /is not an attribution graph file: .*nodes/ },
  { name: 'graph file whose nodes are not a list', args: () => ['graph-info', graphFile({ nodes: {} })], expect: /is not an attribution graph file: .*nodes/ },
  { name: 'graph file whose links are a number', args: () => ['graph-info', graphFile({ links: 5 })], expect: /is not an attribution graph file: .*links/ },
  { name: 'graph file with a link to an unknown node', args: () => ['graph-info', graphFile()], expect: /link|node/ },
  { name: 'graph file that is a FIFO', args: () => { const p = join(mkdtempSync(join(work, 'fifo-')), 'g.json'); mkfifo(p); return ['graph-info', p]; }, expect: /named pipe \(FIFO\)/ },
  { name: 'graph file that is a folder', args: () => ['graph-info', work], expect: /is a folder; expected a regular file/ },
  { name: 'graph file too large to read as text', args: () => { const p = join(mkdtempSync(join(work, 'big-')), 'g.json'); writeFileSync(p, ''); truncateSync(p, 600 * 2 ** 20); return ['graph-info', p]; }, expect: /is 600\.0 MiB; at most 500 MiB is read/ },
  { name: 'graph-info without a file', args: () => ['graph-info'], expect: /Missing the graph FILE/ },
  // SAE folders (mechlens sae-features --sae)
  { name: 'SAE folder without cfg.json', args: () => saeFeatures(sae((d) => rmSync(join(d, 'cfg.json')))), expect: /has no cfg\.json/ },
  { name: 'SAE cfg.json is a FIFO (must not block)', args: () => saeFeatures(sae((d) => mkfifo(join(d, 'cfg.json')))), expect: /cfg\.json in .*: .* named pipe \(FIFO\)/ },
  { name: 'SAE cfg.json is huge', args: () => saeFeatures(sae((d) => truncateSync(join(d, 'cfg.json'), 32 * 2 ** 20))), expect: /cfg\.json in .* is 32\.0 MiB; at most 1 MiB/ },
  { name: 'SAE cfg.json is null', args: () => saeFeatures(sae((d) => writeFileSync(join(d, 'cfg.json'), 'null'))), expect: /cfg\.json in .* is not a JSON object/ },
  { name: 'SAE cfg.json is not JSON', args: () => saeFeatures(sae((d) => writeFileSync(join(d, 'cfg.json'), '{"hook_name": '))), expect: /cfg\.json in .* is not valid JSON/ },
  { name: 'SAE on a hook the model does not have', args: () => saeFeatures(sae((d) => editJson(join(d, 'cfg.json'), (c) => (c.hook_name = 'blocks.9.hook_resid_post')))), expect: /does not fit the model/ },
  { name: 'SAE whose d_in does not match the hook', args: () => saeFeatures(sae(() => undefined, { dIn: 64 })), expect: new RegExp(`d_in is 64 but .* has ${TINY.n_embd}`) },
  { name: 'SAE weights as a pickle', args: () => saeFeatures(sae((d) => { rmSync(join(d, 'sae_weights.safetensors')); writeFileSync(join(d, 'sae_weights.pt'), 'x'); })), expect: /sae_weights\.pt is a pickle file/ },
  { name: 'SAE weights file missing', args: () => saeFeatures(sae((d) => rmSync(join(d, 'sae_weights.safetensors')))), expect: /has no sae_weights\.safetensors/ },
  { name: 'SAE weights file is a FIFO', args: () => saeFeatures(sae((d) => mkfifo(join(d, 'sae_weights.safetensors')))), expect: /sae_weights\.safetensors.*named pipe \(FIFO\)/ },
  { name: 'NaN in an SAE encoder', args: () => saeFeatures(sae((d) => rewriteTensors(join(d, 'sae_weights.safetensors'), (t) => (t.W_enc!.data[3] = NaN)))), expect: /W_enc.*(NaN|Inf|non-finite)/i },
  { name: 'SAE architecture not supported', args: () => saeFeatures(sae((d) => editJson(join(d, 'cfg.json'), (c) => (c.architecture = 'gated')))), expect: /architecture "gated" is not supported/ },
  // ---- issue #15 held-out classes: the commands and formats the other issues added ----
  // mechlens iia (causal abstraction)
  { name: 'iia: hypothesis file is null', args: () => iia(file('h.json', 'null')), expect: /h\.json must be an object/ },
  { name: 'iia: hypothesis file is not JSON', args: () => iia(file('h.json', '{"templates": ')), expect: /--hypothesis .*h\.json is not valid JSON/ },
  { name: 'iia: hypothesis file that does not exist', args: () => iia(join(work, 'no-hypothesis.json')), expect: /--hypothesis .*no-hypothesis\.json: cannot open .* it does not exist/ },
  { name: 'iia: output template naming an undefined slot', args: () => iia(hypothesis({ output: ' {B}' })), expect: /output: the template names the slot \{B\}, which the hypothesis does not define/ },
  { name: 'iia: a label of several tokens', args: () => iia(hypothesis({ slots: { IO: ['Xqzvwkj', 'Qxzwvjk'], S: NAMES } })), expect: /the label .* is \d+ tokens; a hypothesis' output must be a single token/ },
  { name: 'iia: a site on a hook the model does not have', args: () => iia(hypothesis({ variables: [{ name: 'IO', site: { hook: 'blocks.99.hook_resid_post' } }] })), expect: /Unknown hook "blocks\.99\.hook_resid_post"/ },
  { name: 'iia: an unknown --variable', args: () => iia(hypothesis(), '--variable', 'NOPE'), expect: /Unknown variable "NOPE" \(the hypothesis has IO\)/ },
  { name: 'iia: --sweep without {l}', args: () => iia(hypothesis(), '--sweep', 'blocks.hook_resid_post'), expect: /sweep: hook must be a hook name with \{l\}/ },
  { name: 'iia: --sweep on an unknown hook (refused before any run)', args: () => iia(hypothesis(), '--sweep', 'blocks.{l}.hook_nope'), expect: /Unknown hook "blocks\.0\.hook_nope"/ },
  { name: 'iia: --subspace that does not exist', args: () => iia(hypothesis(), '--subspace', join(work, 'no-subspace.safetensors')), expect: /no-subspace\.safetensors: cannot open .* it does not exist/ },
  { name: 'iia: --subspace that is not safetensors', args: () => iia(hypothesis(), '--subspace', file('s.safetensors', 'garbage!')), expect: /s\.safetensors: header length \d+ is beyond the end of the file .* not safetensors/ },
  { name: 'iia: site position beyond the prompt', args: () => iia(hypothesis({ variables: [{ name: 'IO', site: { hook: 'blocks.0.hook_resid_post', positions: [999] } }] })), expect: /variable IO's site: position 999 is outside the prompt/ },
  { name: 'iia: site head out of range', args: () => iia(hypothesis({ variables: [{ name: 'IO', site: { hook: 'blocks.0.attn.hook_z', heads: [99] } }] })), expect: /variable IO's site: head 99 is out of range/ },
  { name: 'iia --pairs: a file that does not exist', args: () => ['iia', '--model', tiny, '--pairs', join(work, 'no-pairs.json'), '--site', 'blocks.0.hook_resid_post'], expect: /--pairs .*no-pairs\.json: cannot open .* it does not exist/ },
  { name: 'iia --pairs: neither a JSON list nor JSON lines', args: () => ['iia', '--model', tiny, '--pairs', file('p.txt', 'a b\ta c\n'), '--site', 'blocks.0.hook_resid_post'], expect: /--pairs .*p\.txt: not a JSON list or JSON lines/ },
  { name: 'iia --pairs: a pair without a label', args: () => ['iia', '--model', tiny, '--pairs', file('p.json', '[{"base": "a b", "source": "a c"}]'), '--site', 'blocks.0.hook_resid_post'], expect: /--pairs .*p\.json: pairs\[0\]: label must be a string/ },
  { name: 'iia --pairs: base and source of different lengths', args: () => ['iia', '--model', tiny, '--pairs', file('p.json', `[{"base": "a b", "source": "a b a b a b", "label": " ${NAMES[0]}"}]`), '--site', 'blocks.0.hook_resid_post'], expect: /Pair 1: the base .* has \d+ tokens but the source for X .* has \d+/ },
  { name: 'iia --pairs: no --site', args: () => ['iia', '--model', tiny, '--pairs', file('p.json', `[{"base": "a b", "source": "a c", "label": " ${NAMES[0]}"}]`)], expect: /No variable has a site to interchange/ },
  { name: 'das --pairs: a single pair', args: () => ['das', '--model', tiny, '--pairs', file('p.json', `[{"base": "a b", "source": "a c", "label": " ${NAMES[0]}"}]`), '--site', 'blocks.0.hook_resid_post', '--rank', '2'], expect: /DAS needs at least 2 pairs/ },
  // mechlens das
  { name: 'das: --rank 0', args: () => das('--rank', '0'), expect: /--rank must be an integer >= 1 \(got "0"\)/ },
  { name: 'das: --rank larger than the site', args: () => das('--rank', '100000', '--no-controls'), expect: /Rank 100000 is larger than the site: .* choose a rank from 1 to \d+/ },
  { name: 'das: no --rank', args: () => das(), expect: /Missing --rank K/ },
  { name: 'das: --epochs 0', args: () => das('--rank', '2', '--epochs', '0'), expect: /--epochs must be an integer >= 1/ },
  { name: 'das: --batch-size 0', args: () => das('--rank', '2', '--batch-size', '0'), expect: /--batch-size must be an integer >= 1/ },
  { name: 'das: --lr -1 (a value starting with a dash)', args: () => das('--rank', '2', '--lr', '-1'), expect: /Option '--lr' argument is ambiguous.*'--lr=-XYZ'/ },
  { name: 'das: --out in a folder that does not exist', args: () => das('--rank', '2', '--no-controls', '--out', join(work, 'no-such-dir', 'x')), expect: /--out .*x\.json: the folder .*no-such-dir cannot be used: it does not exist/ },
  // mechlens probe
  { name: 'probe: --prompts that does not exist', args: () => probe('--prompts', join(work, 'no-prompts.json')), expect: /--prompts .*no-prompts\.json: cannot open .* it does not exist/ },
  { name: 'probe: --prompts that is null', args: () => probe('--prompts', file('p.json', 'null')), expect: /--prompts .*p\.json: expected a JSON list of \{"text"/ },
  { name: 'probe: too few prompts', args: () => probe('--prompts', file('p.json', '[{"text": "a b", "label": "x"}]')), expect: /A probe needs at least 4 labelled prompts \(got 1\)/ },
  { name: 'probe: an empty prompt in --prompts', args: () => probe('--prompts', file('p.json', '[{"text": "a b", "label": "x"}, {"text": "", "label": "y"}]')), expect: /Prompt 2 \(label "y"\) is empty/ },
  { name: 'probe: --label-slot that is not a slot', args: () => probe('--hypothesis', hypothesis(), '--label-slot', 'NOPE'), expect: /labelSlot "NOPE" is not a slot of the hypothesis' templates/ },
  { name: 'probe: --layers beyond the model', args: () => probe('--hypothesis', hypothesis(), '--label-slot', 'IO', '--layers', '99'), expect: /Layer 99 is outside the model/ },
  { name: 'probe: --positions beyond the prompts', args: () => probe('--hypothesis', hypothesis(), '--label-slot', 'IO', '--positions', '999'), expect: /Position 999 is outside the shortest prompt/ },
  { name: 'probe: --hook without {l}', args: () => probe('--hypothesis', hypothesis(), '--label-slot', 'IO', '--hook', 'blocks.0.hook_resid_post'), expect: /hook must be a hook name with \{l\}/ },
  { name: 'probe: --hook on an unknown hook', args: () => probe('--hypothesis', hypothesis(), '--label-slot', 'IO', '--hook', 'blocks.{l}.nope'), expect: /Unknown hook "blocks\.0\.nope"/ },
  { name: 'probe: --method unknown', args: () => probe('--hypothesis', hypothesis(), '--label-slot', 'IO', '--method', 'nope'), expect: /--method must be least_squares or logistic/ },
  // mechlens patch --sweep
  { name: 'patch --sweep of an unknown kind', args: () => sweep('--sweep', 'nope'), expect: /--sweep must be one of resid_pre, .* \(got "nope"\)/ },
  { name: 'patch --sweep --direction unknown', args: () => sweep('--sweep', 'z', '--direction', 'up'), expect: /--direction must be one of denoise, noise/ },
  { name: 'patch --sweep --metric unknown', args: () => sweep('--sweep', 'z', '--metric', 'nope'), expect: /--metric must be one of logit_diff_norm, logit_diff, prob, kl/ },
  { name: 'patch --sweep --method unknown', args: () => sweep('--sweep', 'z', '--method', 'nope'), expect: /--method must be one of exact, attribution, both/ },
  { name: 'patch --sweep logit difference without a baseline', args: () => sweep('--sweep', 'resid_pre'), expect: /--metric logit_diff_norm needs --baseline TOKEN/ },
  { name: 'patch --sweep target out of the vocabulary', args: () => sweep('--sweep', 'resid_pre', '--baseline', '#1', '--target', '#10000000'), expect: /outside the vocabulary/ },
  // experiment files (*.mlexp.json)
  { name: 'experiment file that is null', args: () => ['experiment', file('a.mlexp.json', 'null')], expect: /a\.mlexp\.json is not an experiment file \(expected a JSON object\)/ },
  { name: 'experiment file that is not JSON', args: () => ['experiment', file('a.mlexp.json', '{')], expect: /a\.mlexp\.json is not valid JSON/ },
  { name: 'experiment file without a version', args: () => ['experiment', file('a.mlexp.json', '{"analysis": "run", "params": {}}')], expect: /a\.mlexp\.json is not an experiment file: it has no "mechlens_experiment" version field/ },
  { name: 'experiment file from a newer MechLens', args: () => experiment({ mechlens_experiment: 99 }), expect: /written by a newer MechLens \(experiment schema version 99/ },
  { name: 'experiment file with an unknown field', args: () => experiment({ extra: 1 }), expect: /a\.mlexp\.json: unknown field "extra"/ },
  { name: 'experiment file whose model is a number', args: () => experiment({ model: 5 }), expect: /a\.mlexp\.json: "model" must be \{"dir": "\.\.\.", "sha256": "\.\.\."\}/ },
  { name: 'experiment file of an unknown analysis', args: () => experiment({ analysis: 'nope' }), expect: /a\.mlexp\.json: analysis "nope" is not one this MechLens knows/ },
  { name: 'experiment file whose params do not fit the analysis', args: () => experiment({ analysis: 'iia', params: { hypothesis: 5 } }), expect: /a\.mlexp\.json: params: hypothesis must be an object/ },
  { name: 'experiment file with a stale param', args: () => experiment({ params: { prompt: { text: 'hi' }, topk: 3 } }), expect: /a\.mlexp\.json: params: unknown field "topk"/ },
  { name: 'experiment file whose model folder is gone', args: () => experiment({ model: { dir: join(work, 'gone'), sha256: '00' } }), expect: /a\.mlexp\.json: the model folder .*gone does not exist .* Edit "model\.dir"/ },
  { name: 'experiment file with a negative random_init', args: () => experiment({ random_init: -1 }), expect: /"random_init" must be a non-negative integer seed/ },
  { name: 'experiment file that is a folder', args: () => ['experiment', work], expect: /Experiment file .*: .* is a folder; expected a regular file/ },
  { name: 'experiment without a file', args: () => ['experiment'], expect: /Missing the experiment FILE/ },
  // mechlens download, models, and transcoder sets with hf:// entries (no network here: nothing reachable)
  { name: 'download: not a repo id', args: () => ['download', 'not a repo'], expect: /"not a repo" is not a Hugging Face repo id/ },
  { name: 'download: an empty revision', args: () => ['download', 'org/name@'], expect: /"org\/name@" is not a Hugging Face repo id/ },
  { name: 'download: HF_ENDPOINT that is not a URL', args: () => ['download', 'org/name'], env: () => ({ HF_ENDPOINT: 'not a url' }), expect: /HF_ENDPOINT "not a url" is not a URL/ },
  { name: 'download: HF_ENDPOINT with credentials', args: () => ['download', 'org/name'], env: () => ({ HF_ENDPOINT: 'https://u:p@example.org' }), expect: /HF_ENDPOINT must not hold credentials/ },
  { name: 'download: the Hub unreachable', args: () => ['download', 'org/name'], env: () => ({ HF_ENDPOINT: 'http://127.0.0.1:9' }), expect: /Cannot reach 127\.0\.0\.1:9 \(ECONNREFUSED/ },
  { name: 'download --transcoders: the Hub unreachable', args: () => ['download', '--transcoders', transcoders((d) => hfEntry(d, 'hf://org/repo/layer_0.safetensors'))], env: () => ({ HF_ENDPOINT: 'http://127.0.0.1:9' }), expect: /Cannot reach 127\.0\.0\.1:9 \(ECONNREFUSED/ },
  { name: 'download --transcoders: an https:// entry', args: () => ['download', '--transcoders', transcoders((d) => hfEntry(d, 'https://example.org/x.safetensors'))], expect: /lists https:\/\/example\.org\/x\.safetensors: only hf:\/\/ files are fetched/ },
  { name: 'download --transcoders: an hf:// entry without a path', args: () => ['download', '--transcoders', transcoders((d) => hfEntry(d, 'hf://org'))], expect: /hf:\/\/org is not a Hub file MechLens can fetch/ },
  { name: 'download --transcoders: an hf:// entry climbing out with ..', args: () => ['download', '--transcoders', transcoders((d) => hfEntry(d, 'hf://org/repo/../../x.safetensors'))], expect: /hf:\/\/org\/repo\/\.\.\/\.\.\/x\.safetensors is not a Hub file MechLens can fetch/ },
  { name: 'download --transcoders: a folder without config.yaml', args: () => ['download', '--transcoders', mkdtempSync(join(work, 'empty-'))], expect: /has no config\.yaml: it is not a circuit-tracer transcoder set/ },
  { name: 'graph with an hf:// transcoder not in the cache', args: () => graph('--transcoders', transcoders((d) => hfEntry(d, 'hf://org/repo/layer_0.safetensors'))), env: emptyHubCache, expect: /lists hf:\/\/org\/repo\/layer_0\.safetensors, which is not in the Hugging Face cache yet\. Download the set's files with `mechlens download --transcoders/ },
  { name: 'graph with an https:// transcoder entry', args: () => graph('--transcoders', transcoders((d) => hfEntry(d, 'https://example.org/x.safetensors'))), expect: /MechLens reads local files and hf:\/\/ files in the Hugging Face cache only/ },
  { name: 'models with an unknown option', args: () => ['models', '--bogus'], expect: /Unknown option '--bogus'/ },
  // --model NAME
  { name: '--model with an unknown bundled name', args: () => ['run', '--model', 'mechlens-tinyy', '--tokens', '1'], expect: /mechlens-tinyy is not a folder \(it does not exist\) nor a bundled model's name \(mechlens-tiny/ },
  { name: '--model ORG/NAME not in the cache', args: () => ['run', '--model', 'org/no-such-model', '--tokens', '1'], env: emptyHubCache, expect: /org\/no-such-model is neither a folder nor a model in the Hugging Face cache .*`mechlens download org\/no-such-model`/ },
  // GGUF quantised files
  { name: 'GGUF Q4_0 rows that are not whole blocks', args: () => info(gguf(2, [4, 16])), expect: /token_embd\.weight is Q4_0 but its rows of 16 values are not whole blocks of 32/ },
  { name: 'GGUF Q6_K rows that are not whole blocks', args: () => info(gguf(14, [4, 32])), expect: /token_embd\.weight is Q6_K but its rows of 32 values are not whole blocks of 256/ },
  { name: 'GGUF Q6_K blocks cut short', args: () => info(gguf(14, [4, 256])), expect: /token_embd\.weight .*beyond the end of the file .*truncated/ },
  { name: 'GGUF Q4_K blocks cut short', args: () => info(gguf(12, [8, 256])), expect: /token_embd\.weight .*beyond the end of the file .*truncated/ },
  { name: 'GGUF Q4_K model cut at the end', args: () => info(cut(join(fixture('gguf-quants'), 'llama-q4k.gguf'), -100)), expect: /ends at byte \d+, beyond the end of the file \(\d+ bytes\): the file is truncated/ },
  { name: 'GGUF Q4_K model cut in half (run)', args: () => ['run', '--model', cut(join(fixture('gguf-quants'), 'llama-q4k.gguf'), 0.5), '--tokens', '1'], expect: /beyond the end of the file .*the file is truncated/ },
  // rope_scaling of the newer families
  { name: 'qwen3 rope_scaling of type dynamic', args: config('qwen3', (c) => (c.rope_scaling = { rope_type: 'dynamic', factor: 2 })), expect: /config\.json \(qwen3\): rope_scaling type "dynamic" is not supported/ },
  { name: 'qwen3 rope_scaling as a string', args: config('qwen3', (c) => (c.rope_scaling = 'linear')), expect: /"rope_scaling" must be an object or null \(got "linear"\)/ },
  { name: 'qwen3 rope_scaling longrope', args: config('qwen3', (c) => (c.rope_scaling = { type: 'longrope', factor: 2 })), expect: /rope_scaling type "longrope" is not supported/ },
  { name: 'gemma3 linear rope_scaling without a factor', args: config('gemma3', (c) => (c.rope_scaling = { rope_type: 'linear' })), expect: /config\.json \(gemma3_text\): rope_scaling "factor" must be a finite number > 0 \(got undefined\)/ },
  { name: 'gemma3 rope_scaling factor of 1e300', args: config('gemma3', (c) => (c.rope_scaling = { rope_type: 'linear', factor: 1e300 })), expect: /rope_scaling "factor" is 1e\+300; at most 10000 is accepted/ },
  { name: 'llama3 rope_scaling factor of 1e300', args: config('llama3', (c) => ((c.rope_scaling as Record<string, unknown>).factor = 1e300)), expect: /config\.json \(llama\): rope_scaling "factor" is 1e\+300; at most 10000 is accepted/ },
  { name: 'llama3 original_max_position_embeddings 1e12', args: config('llama3', (c) => ((c.rope_scaling as Record<string, unknown>).original_max_position_embeddings = 1e12)), expect: /rope_scaling "original_max_position_embeddings" is 1000000000000; at most \d+ is accepted/ },
  { name: 'llama3 high_freq_factor below low_freq_factor', args: config('llama3', (c) => ((c.rope_scaling as Record<string, unknown>).high_freq_factor = 0.5)), expect: /rope_scaling "high_freq_factor" \(0\.5\) must be greater than "low_freq_factor"/ },
  { name: 'llama3 rope_scaling of type yarn', args: config('llama3', (c) => ((c.rope_scaling as Record<string, unknown>).rope_type = 'yarn')), expect: /rope_scaling type "yarn" is not supported/ },
];

/** mechlens graph on the bundled model, with `more` flags. */
function graph(...more: string[]): string[] {
  return ['graph', '--model', tiny, '--prompt', 'Once upon a time', '--out', join(mkdtempSync(join(work, 'g-')), 'g.json'), ...more];
}

/** A copy of the bundled model's transcoders, broken by `edit`. */
function transcoders(edit: (dir: string) => void): string {
  const dir = join(mkdtempSync(join(work, 'tc-')), 'transcoders');
  cpSync(join(tiny, 'transcoders'), dir, { recursive: true });
  edit(dir);
  return dir;
}

function editYaml(dir: string, edit: (text: string) => string): void {
  const p = join(dir, 'config.yaml');
  writeFileSync(p, edit(readFileSync(p, 'utf8')));
}

function editJson(path: string, edit: (c: Record<string, unknown>) => void): void {
  const c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(path, JSON.stringify(c));
}

/** "Billion laughs" in YAML: aliases that expand exponentially. */
function yamlBomb(): string {
  const lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\nfeature_input_hook: mlp.hook_in\nfeature_output_hook: hook_mlp_out\n`;
}

/** A graph file: one embedding node and a link from it to a node that is not in the file, with `change` applied. */
function graphFile(change: Record<string, unknown> = {}): string {
  return file(
    'g.json',
    JSON.stringify({
      metadata: { slug: 'x', scan: 'x', prompt_tokens: ['a'], prompt: 'a', schema_version: 1 },
      qParams: {},
      nodes: [{ node_id: 'E_0_0', feature: null, layer: 'E', ctx_idx: 0, feature_type: 'embedding', jsNodeId: 'E_0-0', clerp: '', influence: null, activation: null, is_target_logit: false, token_prob: 0 }],
      links: [{ source: 'E_0_0', target: '27_5_0', weight: 1 }],
      ...change,
    }),
  );
}

/** An SAELens SAE at blocks.1.hook_resid_post of the bundled model, broken by `edit`. */
function sae(edit: (dir: string) => void, options: { dIn?: number } = {}): string {
  const dir = mkdtempSync(join(work, 'sae-'));
  writeSaeLens(dir, options.dIn ?? TINY.n_embd, 5, { hook: 'blocks.1.hook_resid_post', architecture: 'standard', dSae: 256 });
  edit(dir);
  return dir;
}


/** Capitalised words the bundled model's tokenizer holds as one token with a leading space (names, for hypotheses). */
const NAMES = (() => {
  const tok = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  return Object.keys(tok.model.vocab)
    .filter((k) => /^\u0120[A-Z][a-z]{3,}$/.test(k))
    .slice(0, 2)
    .map((k) => k.slice(1));
})();

/** A hypothesis file (two names in an IOI template, a site at layer 0's last position), with `change` applied. */
function hypothesis(change: Record<string, unknown> = {}): string {
  const h = {
    templates: ['When {IO} and {S} went to the park, {S} gave a ball to'],
    slots: { IO: NAMES, S: NAMES },
    output: ' {IO}',
    n: 12,
    seed: 1,
    variables: [{ name: 'IO', site: { hook: 'blocks.0.hook_resid_post', positions: [-1] } }],
    ...change,
  };
  return file('h.json', JSON.stringify(h));
}

const iia = (h: string, ...more: string[]) => ['iia', '--model', tiny, '--hypothesis', h, ...more];
const das = (...more: string[]) => ['das', '--model', tiny, '--hypothesis', hypothesis(), ...more];
const probe = (...more: string[]) => ['probe', '--model', tiny, ...more];
const sweep = (...more: string[]) => ['patch', '--model', tiny, '--clean', 'Once upon a time', '--corrupted', 'Once upon a time', '--target', '#1', ...more];

/** An experiment file re-running `run` on the bundled model, with `change` applied. */
function experiment(change: Record<string, unknown>): string[] {
  const e = { mechlens_experiment: 1, model: { dir: tiny, sha256: '00' }, analysis: 'run', params: { prompt: { text: 'Once upon a time' } }, ...change };
  return ['experiment', file('a.mlexp.json', JSON.stringify(e))];
}

/** A transcoder set's config.yaml with its first file replaced by `entry` (an hf:// or other URL). */
function hfEntry(dir: string, entry: string): void {
  editYaml(dir, (t) => t.replace('- layer_0.safetensors', `- ${entry}`));
}

/** An empty Hugging Face cache for the run. */
function emptyHubCache(): Record<string, string> {
  return { HF_HUB_CACHE: mkdtempSync(join(work, 'hub-')) };
}

/** A one-tensor llama GGUF whose token embedding claims ggml type `typeId` over `shape` with 128 floats of data. */
function gguf(typeId: number, shape: number[]): string {
  const p = join(mkdtempSync(join(work, 'gguf-')), 'm.gguf');
  writeFileSync(p, encodeGguf([['general.architecture', { str: 'llama' }]], [{ name: 'token_embd.weight', shape, data: new Float32Array(128), type: 'F32', rawTypeId: typeId }]));
  return p;
}

/** A copy of `src` cut to a fraction of its size (0 < at < 1) or by -at bytes (at < 0). */
function cut(src: string, at: number): string {
  const b = readFileSync(src);
  const p = join(mkdtempSync(join(work, 'cut-')), 'm.gguf');
  writeFileSync(p, b.subarray(0, at < 0 ? b.length + at : Math.floor(b.length * at)));
  return p;
}
const saeFeatures = (dir: string) => ['sae-features', '--model', tiny, '--prompt', 'Once upon a time', '--sae', dir];

const PROGRESS_LINE = /^\s*(\d+% )?(Encoding the prompt|Logit rows|Feature rows): \d+ \/ \d+$/;

describe('hardening (issue #15): bad input through the CLI', function () {
  this.timeout(60_000);
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'mechlens-hardening-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it(`the corpus has more than 40 cases (${CASES.length})`, function () {
    assert.ok(CASES.length > 40);
  });

  for (const c of CASES) {
    it(`${c.name}: exit 2, one line`, async function () {
      const r = await cliWith({ input: c.stdin, timeoutMs: 30_000, env: c.env ? { ...process.env, ...c.env() } : undefined }, ...c.args());
      // mechlens graph reports progress on stderr as it goes ("Encoding the prompt: 1 / 1"): not error lines.
      const lines = r.stderr.split('\n').filter((l) => l.length > 0 && !l.startsWith('warning: ') && !PROGRESS_LINE.test(l));
      assert.equal(r.signal, null, `killed by ${r.signal} (a hang or a crash): ${r.stderr}`);
      assert.equal(r.code, 2, `exit code ${r.code}: ${r.stderr}`);
      assert.equal(r.stdout, '', 'no answer on stdout');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.doesNotMatch(lines[0]!, /internal error/);
      assert.match(lines[0]!, /^mechlens: /);
      assert.match(lines[0]!, c.expect);
    });
  }
});

describe('hardening (issue #15): privacy and long prompts', function () {
  this.timeout(60_000);
  let home: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'mechlens-hardening-'));
    home = mkdtempSync(join(tmpdir(), 'mechlens-home-'));
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  /** Every file under `dir`, relative. */
  function filesUnder(dir: string): string[] {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
  }

  it('the CLI writes nothing under $HOME (onnxruntime telemetry is off)', async function () {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    delete env.ORT_DISABLE_TELEMETRY;
    const r = await cliWith({ env }, 'run', '--model', DEFAULT_MODEL, '--prompt', 'Once upon a time', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(filesUnder(home), []);
  });

  it('the extension host\'s engine worker writes nothing under $HOME', async function () {
    // EngineClient (host code, no vscode) in a child process with an empty HOME: it must switch telemetry
    // off in its real environment before the worker loads onnxruntime.
    const script = join(work, 'host.ts');
    writeFileSync(
      script,
      `import { EngineClient } from ${JSON.stringify(join(__dirname, '..', '..', 'src', 'host', 'engineClient'))};\n` +
        `const c = new EngineClient({ workerPath: ${JSON.stringify(join(__dirname, '..', '..', 'dist', 'worker.js'))}, log: () => undefined });\n` +
        `c.setModel({ dir: ${JSON.stringify(DEFAULT_MODEL)} });\n` +
        `c.call('analysis/run', { prompt: { text: 'Once upon a time' } }).then(async (r) => { console.log(r.top.length); await c.dispose(); });\n`,
    );
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    delete env.ORT_DISABLE_TELEMETRY;
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { env, encoding: 'utf8' });
    assert.match(out, /^10\n?$/);
    assert.deepEqual(filesUnder(home), []);
  });

  it('--tokens-file (a file, a JSON list, standard input) gives what --tokens gives', async function () {
    const want = await cli('run', '--model', DEFAULT_MODEL, '--tokens', '5,17,42', '--json');
    assert.equal(want.code, 0, want.stderr);
    const f = join(work, 'ids.txt');
    const j = join(work, 'ids.json');
    writeFileSync(f, '5 17\n42\n');
    writeFileSync(j, '[5, 17, 42]');
    for (const [how, args, input] of [
      ['file', ['--tokens-file', f], undefined],
      ['JSON list', ['--tokens-file', j], undefined],
      ['stdin', ['--tokens-file', '-'], '5,17,42'],
    ] as const) {
      const r = await cliWith({ input }, 'run', '--model', DEFAULT_MODEL, ...args, '--json');
      assert.equal(r.code, 0, `${how}: ${r.stderr}`);
      assert.equal(r.stdout, want.stdout, how);
    }
  });

  const long = 'Once upon a time there was a little dragon who loved books. '.repeat(600); // 36 KB
  const limitMessage = new RegExp(`The prompt has ${long.length} characters, more than ${TINY.n_positions} tokens can hold`);

  it(`a ${(long.length / 1024).toFixed(1)} KB prompt reaches the engine whole through --prompt, --prompt-file and stdin (no crash)`, async function () {
    assert.ok(long.length > 29 * 1024);
    const p = join(work, 'long.txt');
    writeFileSync(p, long);
    for (const [how, args, input] of [
      ['--prompt', ['--prompt', long], undefined],
      ['--prompt-file', ['--prompt-file', p], undefined],
      ['--prompt-file -', ['--prompt-file', '-'], long],
    ] as const) {
      const r = await cliWith({ input }, 'run', '--model', DEFAULT_MODEL, ...args);
      assert.equal(r.signal, null, `${how}: killed by ${r.signal}`);
      assert.equal(r.code, 2, `${how}: ${r.stderr}`);
      assert.match(r.stderr, limitMessage, how);
    }
  });

  it('--prompt-file and stdin give the same answer as --prompt', async function () {
    const text = 'The little dragon opened the book and';
    const want = await cli('run', '--model', DEFAULT_MODEL, '--prompt', text, '--json');
    assert.equal(want.code, 0, want.stderr);
    const fromFile = await cli('run', '--model', DEFAULT_MODEL, '--prompt-file', file('p.txt', text), '--json');
    const fromStdin = await cliWith({ input: text }, 'run', '--model', DEFAULT_MODEL, '--prompt-file', '-', '--json');
    assert.equal(fromFile.stdout, want.stdout);
    assert.equal(fromStdin.stdout, want.stdout);
    const patch = await cliWith({ input: 'When Mary and John went to the store, John gave a drink to' }, 'patch', '--model', DEFAULT_MODEL, '--clean-file', '-', '--corrupted', 'When Mary and John went to the store, Mary gave a drink to', '--target', ' Mary', '--baseline', ' John', '--json');
    assert.equal(patch.code, 0, patch.stderr);
  });
});

describe('hardening (issue #15): bad input through the worker is bad-input', function () {
  this.timeout(60_000);
  let worker: Worker;
  let rpc: RpcEndpoint<Record<string, never>, EngineProtocol, Record<string, never>, EngineNotifications>;
  before(async () => {
    worker = new Worker(join(__dirname, '..', '..', 'dist', 'worker.js'));
    rpc = new RpcEndpoint((m: RpcMessage, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer ?? []), {});
    worker.on('message', (m: unknown) => rpc.handle(m));
    await rpc.call('model/load', { dir: DEFAULT_MODEL });
  });
  after(() => worker.terminate());

  const badInput = (pattern: RegExp) => (e: unknown) => {
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.code, 'bad-input', `${e.code}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  };

  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['an intervention of the wrong shape', () => rpc.call('analysis/run', { prompt: { tokens: [1, 2] }, interventions: [{ kind: 'scale', hook: 'blocks.0.hook_resid_pre' } as never] }), /factor must be a finite number/],
    ['an intervention vector of the wrong length', () => rpc.call('analysis/run', { prompt: { tokens: [1, 2] }, interventions: [{ kind: 'add', hook: 'blocks.0.hook_resid_pre', vector: [1] }] }), /the vector has 1 entries/],
    ['an intervention position beyond the prompt', () => rpc.call('analysis/cache', { prompt: { tokens: [1, 2] }, hooks: ['hook_embed'], interventions: [{ kind: 'zero', hook: 'hook_embed', positions: [2] }] }), /position 2 is beyond the prompt/],
    ['an out-of-vocabulary patch target', () => rpc.call('analysis/patch', { clean: { tokens: [1, 2] }, corrupted: { tokens: [1, 3] }, correct: 5000, incorrect: 1 }), /Token 5000 is outside the vocabulary .*: check the correct/],
    ['an empty hook list', () => rpc.call('analysis/cache', { prompt: { tokens: [1, 2] }, hooks: [] }), /at least one hook/],
    ['a hook name with a leading zero', () => rpc.call('analysis/grad', { prompt: { tokens: [1, 2] }, target: 1, hooks: ['blocks.00.hook_resid_pre'] }), /Unknown hook "blocks\.00\.hook_resid_pre"/],
    ['a model folder that is a FIFO-backed config', () => {
      const d = copyOf('gpt2');
      mkfifo(join(d, 'config.json'));
      return rpc.call('model/validate', { dir: d });
    }, /named pipe/],
    ['a text too long for the context, refused before tokenizing', () => rpc.call('analysis/inspect', { prompt: { text: '東'.repeat(200_000) }, maxTokens: 64 }), /more than 64 tokens can hold/],
  ];
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'mechlens-hardening-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));
  for (const [name, call, pattern] of cases) {
    it(name, async function () {
      await assert.rejects(call(), badInput(pattern));
    });
  }

  it('a request cancelled while it waits never runs', async function () {
    // A long request, then one cancelled before the worker reaches it, then a short one: the second must
    // be refused as cancelled without running (the third's answer comes right after the first's).
    const first = rpc.call('analysis/run', { prompt: { tokens: [1, 2, 3] } });
    const controller = new AbortController();
    const second = rpc.call('analysis/heads', { samples: 2000 }, { signal: controller.signal });
    controller.abort();
    const outcome = second.then(
      () => 'ran',
      (e: unknown) => (e instanceof RpcError ? e.code : String(e)),
    );
    const started = performance.now();
    await first;
    assert.equal(await outcome, 'cancelled');
    const third = await rpc.call('analysis/run', { prompt: { tokens: [4, 5] } });
    const ms = performance.now() - started;
    assert.equal(third.tokens.ids.length, 2);
    assert.ok(ms < 1000, `the cancelled heads sweep must not have run (${ms.toFixed(0)} ms)`);
  });
});

describe('hardening (issue #15): thread clamp', function () {
  it('threads are 0 (onnxruntime default) or at most the cores', async function () {
    const { clampThreads } = await import('../../src/engine/model');
    assert.equal(clampThreads(0, 8), 0);
    assert.equal(clampThreads(-5, 8), 0);
    assert.equal(clampThreads(Number.NaN, 8), 0);
    assert.equal(clampThreads(3.7, 8), 3);
    assert.equal(clampThreads(256, 8), 8);
  });
});
