import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { selectBackend } from '../src/core/backend.js';
import { loadConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { MaskingEnv } from '../src/env/masking-env.js';
import { createMaskingEnv } from '../src/tasks/create-masking-env.js';
import { EnvServerClient } from '../src/env/protocol/client.js';
import {
  decodeFrame,
  encodeFrame,
  FrameDecoder,
  PREFIX_BYTES,
  type Frame,
} from '../src/env/protocol/frame.js';
import { serveEnv } from '../src/env/protocol/server.js';
import { FakeCrops, FakeMim } from './env-fakes.js';
import { staleBuild } from '../scripts/stale-build.js';

/*
 * `dbmim env-server` driven from Node through the binary protocol (no Python needed), the bad-input
 * cases on both sides, and (where a virtualenv with pettingzoo, gymnasium and numpy exists) the Python
 * check examples/python/check_pettingzoo.py.
 */

// A small synthetic MaskingEnv: 2 crops, 8 patch agents each, episodes of 2 updates.
const SETS = [
  ...['model.crop=4,32,32', 'model.patch=2,16,16', 'model.embedDim=16', 'model.depth=1', 'model.heads=2'],
  ...['model.decoderDim=16', 'model.decoderHeads=2', 'data.syntheticShape=8,48,48', 'env.numEnvs=2'],
  ...['env.horizon=2', 'env.heldOutCrops=1'],
];
const SERVER_ARGS = ['--synthetic', '--seed', '3', ...SETS.flatMap((s) => ['--set', s])];

/**
 * The CLI as node arguments: the built `bin/dbmim.js` when dist/ is as new as every source (as after
 * `npm ci`; it starts ~5x faster), else the sources through tsx.
 */
const CLI =
  staleBuild('.').length === 0
    ? ['bin/dbmim.js', '--backend', 'wasm']
    : ['--import', 'tsx', 'scripts/dev.ts', '--backend', 'wasm'];
const startServer = () => EnvServerClient.spawn(process.execPath, [...CLI, 'env-server', ...SERVER_ARGS]);

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err as Error,
  );
  assert.ok(e, `expected a rejection matching ${pattern}`);
  assert.match(e.message, pattern);
}

test.before(async () => {
  await selectBackend('wasm');
});

test('frames: arrays round-trip 8-aligned; split anywhere they reassemble; bad headers are per-frame errors', () => {
  const obs = Float32Array.from({ length: 6 }, (_, i) => i / 3);
  const act = Int8Array.from([1, 0, 1]);
  const bytes = encodeFrame({ op: 'step', t: 2 }, [
    { name: 'observations', data: obs, shape: [3, 2] },
    { name: 'actions', data: act },
  ]);
  const f = decodeFrame(bytes);
  assert.is(f.header.op, 'step');
  assert.is(f.header.t, 2);
  assert.equal(f.header.arrays, [
    { name: 'observations', dtype: 'float32', shape: [3, 2] },
    { name: 'actions', dtype: 'int8', shape: [3] },
  ]);
  assert.equal(Array.from(f.arrays.observations!), Array.from(obs));
  assert.equal(Array.from(f.arrays.actions!), [1, 0, 1]);
  assert.is((bytes.length - PREFIX_BYTES) % 8, 0);

  const dec = new FrameDecoder({ maxHeaderBytes: 1024, maxPayloadBytes: 1024 });
  const two = new Uint8Array([...bytes, ...encodeFrame({ op: 'state' })]);
  const got: Frame[] = [];
  for (let i = 0; i < two.length; i += 5) got.push(...(dec.push(two.subarray(i, i + 5)) as Frame[]));
  assert.equal(
    got.map((g) => g.header.op),
    ['step', 'state'],
  );
  assert.is(dec.pendingBytes, 0);

  const bad = encodeFrame({ op: 'x' });
  bad.set(new TextEncoder().encode('{op}    '), PREFIX_BYTES);
  const [err] = dec.push(bad);
  assert.instance(err, Error);
  assert.match((err as Error).message, /frame header is not UTF-8 JSON/);
  assert.throws(
    () => dec.push(new TextEncoder().encode('{"op":"step"}\n')),
    /not a dbmim env frame: it starts with/,
  );
  const v2 = encodeFrame({ op: 'reset' });
  v2[4] = 2;
  assert.throws(
    () => new FrameDecoder({ maxHeaderBytes: 64, maxPayloadBytes: 64 }).push(v2),
    /peer speaks env protocol v2; this side speaks v1/,
  );
  const big = encodeFrame({ op: 'step' }, [{ name: 'actions', data: new Int8Array(200) }]);
  assert.throws(
    () => new FrameDecoder({ maxHeaderBytes: 1024, maxPayloadBytes: 64 }).push(big),
    /payload of 200 bytes: expected a multiple of 8, at most 64/,
  );
});

/** serveEnv in-process on a fake-model MaskingEnv, fed through streams (fast framing edge cases). */
function inProcessServer(frameTimeoutMs = 60_000) {
  const env = new MaskingEnv({
    model: new FakeMim(),
    cropSource: new FakeCrops([4, 8, 8], 'train'),
    config: { env: { numEnvs: 1, horizon: 2, heldOutCrops: 1 } },
    rng: Rng.fromSeed(1),
  });
  const input = new PassThrough();
  const output = new PassThrough();
  const frames: Frame[] = [];
  const dec = new FrameDecoder({ maxHeaderBytes: 1 << 20, maxPayloadBytes: 1 << 20 });
  output.on('data', (c: Buffer) => frames.push(...(dec.push(c) as Frame[])));
  const log: string[] = [];
  const done = serveEnv(env, input, output, { frameTimeoutMs, log: (l) => log.push(l) });
  return { input, frames, done, log };
}

test('server: a stalled frame, EOF inside a frame and a bad prefix are fatal at once; EOF between frames ends cleanly', async () => {
  const stalled = inProcessServer(50);
  stalled.input.write(encodeFrame({ op: 'state' }).subarray(0, 10));
  assert.is(await stalled.done, 1);
  assert.match(
    stalled.log[0]!,
    /^error: a frame was begun but not finished within 50 ms \(got 10 of at least 16/,
  );
  const last = stalled.frames.at(-1)!.header;
  assert.equal([last.op, last.fatal, last.code], ['error', true, 'stalled-frame']);

  const cut = inProcessServer();
  cut.input.end(encodeFrame({ op: 'reset', seed: 1 }).subarray(0, 20));
  assert.is(await cut.done, 1);
  assert.match(cut.log[0]!, /input ended inside a frame \(got 20 of \d+ bytes\)/);

  const junk = inProcessServer();
  junk.input.write('{"op":"reset"}\n');
  assert.is(await junk.done, 1);
  assert.match(
    junk.frames.at(-1)!.header.message as string,
    /not a dbmim env frame: it starts with "\{\\"op\\":\\"r"/,
  );

  const eof = inProcessServer();
  eof.input.end(encodeFrame({ op: 'reset' }));
  assert.is(await eof.done, 0);
  assert.equal(
    eof.frames.map((f) => f.header.op),
    ['hello', 'reset'],
  );
});

test('env-server CLI: hello, exact same numbers as in-process, bad requests answered, close, kill', async () => {
  // Three servers start at once (startup dominates): the main one, one to kill, one to feed junk.
  const [c, victim, junk] = await Promise.all([startServer(), startServer(), startServer()]);
  try {
    const h = c.hello;
    assert.equal([h.protocol, h.numEnvs, h.numAgents, h.obsDim, h.stateDim], [1, 2, 8, 22, 19]);
    assert.is(h.possibleAgents[7], 'patch_1_1_1');
    assert.equal(h.actionSpace, { kind: 'discrete', n: 2, dtype: 'int64' });
    assert.equal(h.observationSpace, {
      kind: 'box',
      low: '-inf',
      high: 'inf',
      shape: [22],
      dtype: 'float32',
    });
    assert.is(h.horizon, 2);

    // The same config in-process, on the same backend: the protocol must carry the very same numbers.
    const config = loadConfig(undefined, SETS, { seed: 3, data: { path: null } });
    const local = await createMaskingEnv(config);
    const n = 16;
    const actions = Int8Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 0 : 1));
    const r = await c.reset({ seed: 9 });
    const lr = local.reset({ seed: 9 });
    assert.equal(Array.from(r.observations), Array.from(lr.observations));
    assert.equal(r.infos, { seed: 9, reseeded: true });
    const s = await c.step(actions);
    const ls = local.step(Int32Array.from(actions));
    assert.equal(Array.from(s.observations), Array.from(ls.observations));
    assert.equal(Array.from(s.rewards), Array.from(ls.rewards));
    assert.equal(Array.from(s.realizedActions), Array.from(ls.infos.realizedActions));
    assert.equal(Array.from(s.rewardTerms.budget!), Array.from(ls.infos.rewardTerms.budget!));
    assert.equal(Array.from(s.infos.maskRatio as Float32Array), Array.from(ls.infos.maskRatio));
    assert.is(s.infos.mimLoss, ls.infos.mimLoss);
    assert.is(s.infos.t, 1);
    assert.equal(Array.from(await c.state()), Array.from(local.state()));
    local.close();

    // Bad requests: one clear error each, and the server goes on.
    await rejects(
      c.step(new Int8Array(3)),
      /actions' of dtype int8 and length numEnvs \* numAgents = 16, got Int8Array\(3\)/,
    );
    await rejects(
      c.step(Int8Array.from({ length: n }, (_, i) => (i === 5 ? 2 : 0))),
      /action of row 5 \(env 0, agent patch_1_0_1\) is 2; expected an integer in \[0, 2\)/,
    );
    await rejects(
      c.request('step', { op: 'step' }, [{ name: 'actions', data: new Int32Array(n) }]),
      /dtype int8 .* got Int32Array\(16\)/,
    );
    await rejects(
      c.step(new Int8Array(n), new Float32Array(3)),
      /array 'preferences' must be float32 of length 16, got Float32Array\(3\)/,
    );
    await rejects(
      c.request('jump', { op: 'jump' }),
      /unknown op "jump"; expected one of reset, step, state, close/,
    );
    await rejects(
      c.request('reset', { op: 'reset', seed: -1 }),
      /seed must be a non-negative integer or null, got -1/,
    );
    const s2 = await c.step(new Int8Array(n).fill(1));
    assert.ok(
      s2.truncations.every((t) => t === 1),
      'truncated at horizon 2',
    );
    await rejects(
      c.step(new Int8Array(n)),
      /the episode ended \(truncated at horizon 2\); call reset\(\) first/,
    );

    assert.is(await c.close(), 0, 'the server exits 0 after close');
    await rejects(
      c.step(new Int8Array(n)),
      /EnvServerClient.step: the env is closed \(close\(\) was called\)/,
    );

    // A server that dies: pending and later requests reject with its exit status, never hang.
    await victim.reset();
    victim.kill();
    await rejects(victim.step(new Int8Array(n)), /dbmim env-server exited \(signal SIGKILL\)/);
    await rejects(victim.state(), /dbmim env-server exited/);

    // A client not speaking the protocol: one fatal error frame, an error line on stderr, exit 1.
    await rejects(
      junk.sendBytes('raw', new TextEncoder().encode('{"op":"step"}\n')),
      /not a dbmim env frame/,
    );
    await rejects(junk.state(), /dbmim env-server exited \(code 1\): error: not a dbmim env frame/);
  } finally {
    for (const x of [c, victim, junk]) if (x.code === null) x.kill();
  }
});

/** The venv holding pettingzoo, gymnasium, numpy: $DBMIM_PYTHON, else .venv/bin/python of the repo. */
function findPython(): { python: string } | { skip: string } {
  const python = process.env.DBMIM_PYTHON ?? '.venv/bin/python';
  if (!existsSync(python)) return { skip: `no Python venv at ${python} (set DBMIM_PYTHON, or see README)` };
  const r = spawnSync(python, ['-c', 'import pettingzoo, gymnasium, numpy'], { encoding: 'utf8' });
  if (r.status !== 0)
    return { skip: `${python} lacks pettingzoo/gymnasium/numpy: ${r.stderr.trim().split('\n').at(-1)}` };
  return { python };
}

test('Python: PettingZoo parallel_api_test, seed test, bad input, 200 timed steps (skipped without the venv)', () => {
  const found = findPython();
  if ('skip' in found) {
    console.log(`skipped: ${found.skip}`);
    return;
  }
  const command = [process.execPath, ...CLI, 'env-server'].join(' ');
  const r = spawnSync(
    found.python,
    ['examples/python/check_pettingzoo.py', '--command', command, '--steps', '200'],
    {
      encoding: 'utf8',
    },
  );
  assert.is(r.status, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  assert.is(line.parallel_api_test, 'passed');
  assert.is(line.seed_test, 'passed');
  assert.is(line.state_test, 'passed');
  assert.is(line.bad_input, 'passed');
  assert.ok((line.steps_per_s as number) > 0 && (line.in_process_steps_per_s as number) > 0);
  console.log(`python check: ${JSON.stringify(line)}`);
});

test.run();
