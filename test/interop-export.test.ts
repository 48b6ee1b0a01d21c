import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { InputError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { readArray, readRaw, writeCremi } from '../src/data/hdf5.js';
import { AffinityNet } from '../src/models/affinity-net.js';
import { loadCheckpoint } from '../src/models/checkpoint.js';
import { MimModel } from '../src/models/mim-model.js';
import { decodeSafetensors, encodeSafetensors } from '../src/models/safetensors.js';
import { sincosPosEmbed3d } from '../src/models/pos-embed.js';
import { runCli } from './cli-harness.js';

/*
 * Interop: `dbmim export` (safetensors in a PyTorch module layout), `dbmim embed`, and, where python3 has
 * torch, examples/python/dbmim_encoder.py reproducing dbmim's tokens from the exported file.
 */

const dir = mkdtempSync(join(tmpdir(), 'dbmim-interop-'));
const ISBI = 'data/isbi2012_train.h5';

function tinyConfig(posEmbed: 'sincos' | 'learned') {
  return resolveConfig({
    model: {
      crop: [8, 32, 32],
      patch: [4, 8, 8],
      embedDim: 48,
      depth: 2,
      heads: 2,
      decoderDim: 32,
      decoderDepth: 1,
      decoderHeads: 2,
      posEmbed,
    },
    optim: { lr: 2e-3, warmupSteps: 1 },
    finetune: { steps: 2, batchSize: 1 },
  });
}

/** A MIM checkpoint after a few updates (weights away from their init, biases non-zero). */
async function trainedCheckpoint(name: string, posEmbed: 'sincos' | 'learned'): Promise<string> {
  const cfg = tinyConfig(posEmbed);
  const m = new MimModel(cfg.model, cfg.optim, Rng.fromSeed(7));
  const raw = Float32Array.from({ length: 2 * 8 * 32 * 32 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
  const mask = Uint8Array.from({ length: 2 * m.numPatches }, (_, i) => (i % 3 === 0 ? 1 : 0));
  for (let s = 0; s < 3; s++) m.trainStep(raw, 2, mask);
  const out = join(dir, name);
  await m.save(out);
  m.dispose();
  return out;
}

/** The header of a safetensors file, parsed by hand (8-byte little-endian length, then JSON). */
function parseByHand(file: string): {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  meta: Record<string, string>;
  tensor: (name: string) => Float32Array;
} {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const json = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const meta = json.__metadata__ as Record<string, string>;
  delete json.__metadata__;
  const header = json as ReturnType<typeof parseByHand>['header'];
  const tensor = (name: string): Float32Array => {
    const [b, e] = header[name]!.data_offsets;
    const out = new Float32Array((e - b) / 4);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(8 + n + b + 4 * i);
    return out;
  };
  return { header, meta, tensor };
}

/** `[r, c]` -> `[c, r]`, written out independently of the exporter. */
function t2(a: Float32Array, r: number, c: number): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = a[i * c + j]!;
  return o;
}

function assertSame(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++)
    if (a[i] !== b[i]) assert.unreachable(`${what}[${i}]: ${a[i]} != ${b[i]}`);
}

test.before(async () => {
  await selectBackend();
});

test('safetensors: encode/decode round trip (F32, I32, metadata) and one clear error per corruption', () => {
  const tensors = [
    {
      name: 'a.weight',
      shape: [2, 3],
      dtype: 'F32' as const,
      data: Float32Array.from([1, -2, 3.5, 4, 5, 6e-8]),
    },
    { name: 'b', shape: [3], dtype: 'I32' as const, data: Int32Array.from([7, -8, 9]) },
    { name: 'empty', shape: [0, 4], dtype: 'F32' as const, data: new Float32Array(0) },
  ];
  const bytes = encodeSafetensors(tensors, { k: 'v' });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is((8 + n) % 8, 0, 'data section 8-byte aligned');
  const back = decodeSafetensors(bytes);
  assert.equal(back.metadata, { k: 'v' });
  for (const t of tensors) {
    const b = back.tensors.get(t.name)!;
    assert.equal([b.shape, b.dtype, [...b.data]], [t.shape, t.dtype, [...t.data]]);
  }
  const bad = (b: Uint8Array, re: RegExp): void => {
    try {
      decodeSafetensors(b, 'x.safetensors');
    } catch (e) {
      assert.instance(e, InputError);
      assert.not.match((e as Error).message, /\n/);
      assert.match((e as Error).message, re);
      return;
    }
    assert.unreachable(`expected ${re}`);
  };
  bad(bytes.subarray(0, 5), /too short/);
  bad(bytes.subarray(0, bytes.length - 4), /past the data \(.*truncated/);
  const extra = new Uint8Array(bytes.length + 4);
  extra.set(bytes);
  bad(extra, /4 bytes after the last tensor/);
  const withHeader = (h: object): Uint8Array => {
    const j = Buffer.from(JSON.stringify(h));
    const o = new Uint8Array(8 + j.length + 8);
    new DataView(o.buffer).setBigUint64(0, BigInt(j.length), true);
    o.set(j, 8);
    return o;
  };
  bad(withHeader({ t: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }), /dtype "F16"/);
  bad(withHeader({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), /needs 12/);
  bad(
    withHeader({
      t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      u: { dtype: 'F32', shape: [1], data_offsets: [2, 6] },
    }),
    /overlap or gap/,
  );
});

test('export: every encoder tensor in the PyTorch layout, compared with the checkpoint; config in metadata', async () => {
  for (const pos of ['sincos', 'learned'] as const) {
    const ckptDir = await trainedCheckpoint(`mim-${pos}`, pos);
    const file = join(dir, `enc-${pos}.safetensors`);
    const r = await runCli('export', '--model', ckptDir, '--out', file);
    assert.is(r.code, 0, r.err.join('\n'));
    const { header, meta, tensor } = parseByHand(file);
    const cfg = JSON.parse(meta['dbmim.config']!) as Record<string, unknown>;
    assert.equal(
      [cfg.layout, cfg.embedDim, cfg.depth, cfg.heads, cfg.patch, cfg.crop],
      ['dbmim-vit3d-v1', 48, 2, 2, [4, 8, 8], [8, 32, 32]],
    );
    assert.equal([cfg.inputMean, cfg.inputStd, cfg.mlpHidden], [0.5, 0.2, 192]);
    const ck = loadCheckpoint(ckptDir).tensors;
    const src = (n: string): Float32Array => ck.get(n)!.data as Float32Array;
    // expected: dbmim name -> (torch name, shape, values)
    const expected = new Map<string, [number[], Float32Array]>();
    expected.set('patch_embed.proj.weight', [[48, 1, 4, 8, 8], t2(src('encoder/patch_embed/w'), 256, 48)]);
    expected.set('patch_embed.proj.bias', [[48], src('encoder/patch_embed/b')]);
    expected.set('pos_embed', [
      [1, 32, 48],
      pos === 'learned' ? src('encoder/pos_embed') : sincosPosEmbed3d([2, 4, 4], 48),
    ]);
    for (let i = 0; i < 2; i++) {
      const lin = (a: string, b: string, inD: number, outD: number): void => {
        expected.set(`blocks.${i}.${b}.weight`, [
          [outD, inD],
          t2(src(`encoder/blocks/${i}/${a}/w`), inD, outD),
        ]);
        expected.set(`blocks.${i}.${b}.bias`, [[outD], src(`encoder/blocks/${i}/${a}/b`)]);
      };
      for (const nrm of ['norm1', 'norm2']) {
        expected.set(`blocks.${i}.${nrm}.weight`, [[48], src(`encoder/blocks/${i}/${nrm}/g`)]);
        expected.set(`blocks.${i}.${nrm}.bias`, [[48], src(`encoder/blocks/${i}/${nrm}/b`)]);
      }
      lin('attn/qkv', 'attn.qkv', 48, 144);
      lin('attn/proj', 'attn.proj', 48, 48);
      lin('mlp/fc1', 'mlp.fc1', 48, 192);
      lin('mlp/fc2', 'mlp.fc2', 192, 48);
    }
    expected.set('norm.weight', [[48], src('encoder/norm/g')]);
    expected.set('norm.bias', [[48], src('encoder/norm/b')]);
    assert.equal(Object.keys(header).sort(), [...expected.keys()].sort());
    for (const [name, [shape, values]] of expected) {
      assert.equal([header[name]!.dtype, header[name]!.shape], ['F32', shape], name);
      assertSame(tensor(name), values, `${pos} ${name}`);
    }
  }
});

test('export --what affinity: decoder tensors in PyTorch conventions (conv [out, in, k, k, k])', async () => {
  const cfg = tinyConfig('sincos');
  const net = new AffinityNet(cfg.model, cfg.finetune, Rng.fromSeed(3));
  const ckptDir = join(dir, 'affinity');
  await net.save(ckptDir);
  net.dispose();
  const file = join(dir, 'aff.safetensors');
  const r = await runCli('export', '--model', ckptDir, '--what', 'affinity', '--out', file);
  assert.is(r.code, 0, r.err.join('\n'));
  const { header, tensor } = parseByHand(file);
  const w = loadCheckpoint(ckptDir).tensors.get('seg/raw/w')!; // [3, 3, 3, 1, 8]
  assert.equal(header['seg.raw.weight']!.shape, [8, 1, 3, 3, 3]);
  const tw = tensor('seg.raw.weight');
  const src = w.data as Float32Array;
  for (let o = 0; o < 8; o++)
    for (let k = 0; k < 27; k++) assert.is(tw[o * 27 + k], src[k * 8 + o], `seg.raw.weight[${o}, 0, ${k}]`);
  assert.ok(header['patch_embed.proj.weight'] && header['seg.head.weight'] && header['seg.head.bias']);
  for (const [flag, value, re] of [
    ['--format', 'onnx', /--format: only 'safetensors' is supported, got 'onnx'/],
    ['--what', 'decoder', /--what: expected encoder or affinity, got 'decoder'/],
  ] as const) {
    const r2 = await runCli('export', '--model', ckptDir, flag, value, '--out', file);
    assert.is(r2.code, 1);
    assert.match(r2.err.join('\n'), re);
  }
  const missing = await runCli('export', '--model', join(dir, 'nowhere'), '--out', file);
  assert.is(missing.code, 1);
  assert.match(missing.err.join('\n'), /checkpoint .*nowhere: directory not found/);
  const mim = await runCli('export', '--model', join(dir, 'mim-sincos'), '--what', 'affinity', '--out', file);
  assert.is(mim.code, 1);
  assert.match(mim.err.join('\n'), /--what affinity needs a finetuned network/);
});

test('embed: tokens of a crop equal the MIM model encode() of the same crop; region errors are one line', async () => {
  const ckptDir = join(dir, 'mim-learned');
  const vol = join(dir, 'vol.h5');
  const shape: [number, number, number] = [12, 40, 48];
  const raw = Uint8Array.from(
    { length: shape[0] * shape[1] * shape[2] },
    (_, i) => (i * 97 + (i >> 7)) % 256,
  );
  await writeCremi(vol, { raw: { data: raw, shape, resolution: [40, 4, 4] }, resolution: [40, 4, 4] });
  const out = join(dir, 'tokens.h5');
  const before = tf.memory().numTensors;
  const r = await runCli('embed', '--model', ckptDir, '--data', vol, '--region', '3,5,9', '--out', out);
  assert.is(r.code, 0, r.err.join('\n'));
  assert.is(tf.memory().numTensors, before, 'embed leaks no tensors');
  const tokens = await readArray(out, 'tokens');
  assert.equal(tokens.shape, [32, 48]);
  const model = await MimModel.load(ckptDir);
  const crop = await readRaw(vol, 'volumes/raw', { offset: [3, 5, 9], size: [8, 32, 32] });
  const ref = model.encode(crop.data, 1);
  const want = ref.dataSync();
  ref.dispose();
  model.dispose();
  let max = 0;
  for (let i = 0; i < want.length; i++)
    max = Math.max(max, Math.abs(want[i]! - (tokens.data as Float32Array)[i]!));
  assert.ok(max < 1e-5, `max abs diff ${max}`);
  const bad = await runCli('embed', '--model', ckptDir, '--data', vol, '--region', '6,0,0', '--out', out);
  assert.is(bad.code, 1);
  assert.match(bad.err.join('\n'), /crop \[8,32,32\] at \[6,0,0\] is outside volume \[12,40,48\]/);
});

/** A python3 with torch, numpy and h5py, or the reason there is none. */
function findPython(): { python: string } | { reason: string } {
  const candidates = [process.env.DBMIM_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (p): p is string => !!p,
  );
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch, numpy, h5py'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py };
  }
  return { reason: `no python3 with torch, numpy and h5py (tried ${candidates.join(', ')})` };
}

/** A little-endian float32 .npy file (numpy.save of a 2-D float32 array). */
function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const b = readFileSync(file);
  const major = b[6]!;
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = b.subarray(start, start + hlen).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  assert.match(header, /'fortran_order': False/);
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .filter((s) => s.trim())
    .map(Number);
  const body = b.subarray(start + hlen);
  const data = new Float32Array(body.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = body.readFloatLE(4 * i);
  return { shape, data };
}

test('PyTorch: examples/python/dbmim_encoder.py reproduces dbmim embed on a shipped-stack crop (1e-4)', async () => {
  const py = findPython();
  if ('reason' in py) {
    console.log(`skipped: ${py.reason}`);
    return;
  }
  const file = join(dir, 'enc-sincos.safetensors');
  const tokensH5 = join(dir, 'isbi-tokens.h5');
  const r = await runCli(
    'embed',
    '--model',
    join(dir, 'mim-sincos'),
    '--data',
    ISBI,
    '--region',
    '4,200,300',
    '--out',
    tokensH5,
  );
  assert.is(r.code, 0, r.err.join('\n'));
  const npy = join(dir, 'isbi-tokens.npy');
  const p = spawnSync(
    py.python,
    ['examples/python/dbmim_encoder.py', file, ISBI, '4,200,300', '--out', npy],
    {
      encoding: 'utf8',
    },
  );
  assert.is(p.status, 0, p.stderr);
  const printed = JSON.parse(p.stdout.trim().split('\n').pop()!) as { shape: number[]; sum: number };
  assert.equal(printed.shape, [32, 48]);
  const torchTokens = readNpy(npy);
  const ours = (await readArray(tokensH5, 'tokens')).data as Float32Array;
  assert.equal(torchTokens.shape, [32, 48]);
  let max = 0;
  for (let i = 0; i < ours.length; i++) max = Math.max(max, Math.abs(ours[i]! - torchTokens.data[i]!));
  console.log(`PyTorch vs dbmim embed: max abs diff ${max.toExponential(2)} over ${ours.length} values`);
  assert.ok(max <= 1e-4, `max abs diff ${max}`);
  writeFileSync(join(dir, 'max-abs-diff.txt'), String(max));
});

test.run();
