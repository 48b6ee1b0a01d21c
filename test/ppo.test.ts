import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type Config } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import {
  computeGae,
  clippedSurrogate,
  valueLoss,
  bernoulliLogProb,
  bernoulliEntropy,
  createIppo,
  createMappo,
  trainOnEnv,
  ValueNorm,
  actInputOf,
  transitionOf,
  type ActInput,
  type PpoAgent,
} from '../src/agents/index.js';
import { orthogonal, DecisionModule } from '../src/models/decision-module.js';
import { ScoreMaskEnv, TeamMaskEnv } from '../src/env/toy-envs.js';

const close = (a: number, b: number, tol = 1e-5): boolean => Math.abs(a - b) <= tol;
const closeAll = (a: ArrayLike<number>, b: number[], tol = 1e-5): void => {
  assert.is(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(close(a[i]!, b[i]!, tol), `[${i}] ${a[i]} != ${b[i]}`);
};

/** Small fast PPO settings for the toy envs (a contextual bandit: every step is a fresh crop). */
function toyConfig(ppo: Partial<Config['ppo']> = {}): Config {
  return resolveConfig({ ppo: { lr: 3e-3, hidden: 32, gamma: 0.9, ...ppo }, agent: { ratio: 0.5 } });
}

function build(
  kind: 'ippo' | 'mappo',
  env: { obsDim: number; stateDim: number; numEnvs: number; numAgents: number },
  config: Config,
  seed = 1,
): PpoAgent {
  return (kind === 'ippo' ? createIppo : createMappo)({
    obsDim: env.obsDim,
    stateDim: env.stateDim,
    numEnvs: env.numEnvs,
    numAgents: env.numAgents,
    config,
    rng: Rng.fromSeed(seed),
  });
}

/** Mean share of correct greedy decisions over `updates` evaluation rollouts. */
function evalCorrect(env: ScoreMaskEnv | TeamMaskEnv, agent: PpoAgent, seed = 99): number {
  const { history } = trainOnEnv(env, agent, { updates: 3, rolloutSteps: 8, seed, deterministic: true });
  return history.reduce((s, h) => s + (h.correct as number), 0) / history.length;
}

test.before(async () => {
  await selectBackend('wasm');
});

test('GAE matches a hand-computed 3-step rollout with a truncation and a termination', () => {
  // Row 0: step 1 truncates (bootstrap from V(final obs) = 4), step 2 terminates (V(next) ignored).
  // Row 1: no episode end; the last step bootstraps from V(next) = 2.
  const out = computeGae({
    steps: 3,
    rows: 2,
    rewards: new Float32Array([1, 0, 2, 0, 3, 1]),
    values: new Float32Array([0.5, 0, 1.0, 0, 1.5, 0]),
    nextValues: new Float32Array([1.0, 0, 4.0, 0, 9.0, 2]),
    terminations: new Uint8Array([0, 0, 0, 0, 1, 0]),
    truncations: new Uint8Array([0, 0, 1, 0, 0, 0]),
    gamma: 0.9,
    lambda: 0.8,
  });
  // row 0: A2 = 3 - 1.5 = 1.5; A1 = 2 + 0.9*4 - 1 = 4.6 (done: no recursion); A0 = 1 + 0.9 - 0.5 + 0.72*4.6 = 4.712
  // row 1: A2 = 1 + 0.9*2 = 2.8; A1 = 0.72*2.8 = 2.016; A0 = 0.72*2.016 = 1.45152
  closeAll(out.advantages, [4.712, 1.45152, 4.6, 2.016, 1.5, 2.8]);
  closeAll(out.returns, [5.212, 1.45152, 5.6, 2.016, 3.0, 2.8]);
  assert.throws(
    () =>
      computeGae({
        ...{ steps: 2, rows: 2, gamma: 1, lambda: 1 },
        rewards: new Float32Array(3),
        values: new Float32Array(4),
        nextValues: new Float32Array(4),
        terminations: new Uint8Array(4),
        truncations: new Uint8Array(4),
      }),
    /rewards has 3 values, expected 2x2=4/,
  );
});

test('clipped surrogate, KL, clip fraction and value losses match hand-computed values', () => {
  tf.tidy(() => {
    const s = clippedSurrogate(
      tf.tensor1d([Math.log(0.525), Math.log(0.3)]),
      tf.tensor1d([Math.log(0.5), Math.log(0.5)]),
      tf.tensor1d([1, -2]),
      0.1,
    );
    // ratio [1.05, 0.6]; max(-A r, -A clip(r)) = [-1.05, 1.8] -> 0.375
    assert.ok(close(s.loss.dataSync()[0]!, 0.375));
    // ((0.05 - ln 1.05) + (-0.4 - ln 0.6)) / 2
    assert.ok(close(s.approxKl.dataSync()[0]!, (0.05 - Math.log(1.05) + (-0.4 - Math.log(0.6))) / 2));
    assert.ok(close(s.clipFrac.dataSync()[0]!, 0.5));
    const v = tf.tensor1d([1.0, 2.0]);
    const old = tf.tensor1d([0.5, 2.5]);
    const ret = tf.tensor1d([2.0, 2.2]);
    // clipped preds [0.7, 2.3]: max([1, 0.04], [1.69, 0.01]) = [1.69, 0.04] -> 0.5 * 0.865
    assert.ok(close(valueLoss(v, old, ret, 0.2, true).dataSync()[0]!, 0.4325));
    assert.ok(close(valueLoss(v, old, ret, 0.2, false).dataSync()[0]!, 0.26));
    const lp = bernoulliLogProb(tf.tensor1d([0, Math.log(3)]), tf.tensor1d([1, 0], 'int32')).dataSync();
    closeAll(lp, [Math.log(0.5), Math.log(0.25)]);
    closeAll(bernoulliEntropy(tf.tensor1d([0])).dataSync(), [Math.log(2)]);
  });
});

test('orthogonal init: orthonormal columns (tall) or rows (wide), scaled by the gain, seeded', () => {
  const w = orthogonal(6, 3, 2, Rng.fromSeed(1));
  for (let a = 0; a < 3; a++)
    for (let b = 0; b < 3; b++) {
      let dot = 0;
      for (let r = 0; r < 6; r++) dot += w[r * 3 + a]! * w[r * 3 + b]!;
      assert.ok(close(dot, a === b ? 4 : 0, 1e-5));
    }
  const v = orthogonal(2, 5, 1, Rng.fromSeed(1));
  let dot = 0;
  for (let c = 0; c < 5; c++) dot += v[c]! * v[5 + c]!;
  assert.ok(close(dot, 0, 1e-6));
  assert.equal(orthogonal(4, 4, 1, Rng.fromSeed(3)), orthogonal(4, 4, 1, Rng.fromSeed(3)));
  const m = new DecisionModule({ obsDim: 5, stateDim: 3, hidden: 8, critic: 'both', rng: Rng.fromSeed(0) });
  const names = m.params.list().map((x) => x.name);
  assert.ok(names.every((n) => n.startsWith('policy/')));
  assert.ok(names.includes('policy/critic_central/out/w') && names.includes('policy/actor/head/w_self'));
  m.dispose();
});

test('value normalization: running mean/std match the pooled statistics', () => {
  const vn = new ValueNorm();
  vn.update([1, 2, 3]);
  vn.update([10, 20]);
  const all = [1, 2, 3, 10, 20];
  const mean = all.reduce((a, b) => a + b) / 5;
  const variance = all.reduce((a, b) => a + (b - mean) ** 2, 0) / 5;
  assert.ok(close(vn.mean, mean, 1e-3));
  assert.ok(close(vn.var, variance, 1e-2));
  assert.ok(close(vn.denormalize(vn.normalize(7)), 7));
});

test('the learner trains on the realized actions (budget flips) with their recomputed log-probs', () => {
  // minRatio = maxRatio = 0.5: the budget forces exactly half masks, flipping sampled actions.
  const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8, minRatio: 0.5, maxRatio: 0.5 });
  const agent = build('ippo', env, toyConfig());
  let obs = env.reset({ seed: 5 }).observations;
  let flipped = 0;
  for (let t = 0; t < 3; t++) {
    const input = actInputOf(env, obs);
    const out = agent.act(input);
    const res = env.step(out.actions, out.probs);
    agent.observe(transitionOf(input, out, res, env.state()));
    const stored = agent.rollout.steps[t]!;
    assert.equal(Array.from(stored.actions), Array.from(res.infos.realizedActions));
    for (let i = 0; i < 16; i++) {
      const p = out.probs[i]!;
      assert.ok(close(stored.logProbs[i]!, Math.log(stored.actions[i] ? p : 1 - p), 1e-6));
      if (out.actions[i] !== res.infos.realizedActions[i]) flipped++;
    }
    obs = res.observations;
  }
  assert.ok(flipped > 0, 'the budget should have flipped some sampled actions');
  const stats = agent.update(0)!;
  assert.ok(Number.isFinite(stats.policyLoss as number));
  assert.is(agent.rollout.length, 0);
  agent.dispose();
});

test('IPPO and MAPPO reach >= 90% correct decisions on ScoreMaskEnv; random stays near 50%', () => {
  for (const kind of ['ippo', 'mappo'] as const) {
    const env = new ScoreMaskEnv({ numEnvs: 4, numAgents: 16 });
    const agent = build(kind, env, toyConfig());
    const { history } = trainOnEnv(env, agent, { updates: 20, rolloutSteps: 8, seed: 3 });
    const first = history[0]!.correct as number;
    const acc = evalCorrect(env, agent);
    assert.ok(first < 0.75, `${kind} starts near chance (${first})`);
    assert.ok(acc >= 0.9, `${kind} greedy accuracy ${acc} after 20 updates`);
    agent.dispose();
  }
});

test("MAPPO's centralized critic solves the shared-reward TeamMaskEnv that IPPO cannot in 25 updates", () => {
  // Team reward = crop difficulty (in the state only, std 1) + (TP - FP) / 16; gamma = 0 (a bandit).
  // Criterion: over updates 16-25, MAPPO's sampled decisions are >= 90 % correct and at least 20 points
  // above IPPO's, and MAPPO's greedy policy is >= 95 % correct.
  const late: Record<string, number> = {};
  const greedy: Record<string, number> = {};
  for (const kind of ['ippo', 'mappo'] as const) {
    const env = new TeamMaskEnv({ numEnvs: 4, numAgents: 16 });
    const agent = build(kind, env, toyConfig({ gamma: 0 }));
    const { history } = trainOnEnv(env, agent, { updates: 25, rolloutSteps: 8, seed: 3 });
    late[kind] = history.slice(15).reduce((s, h) => s + (h.correct as number), 0) / 10;
    greedy[kind] = evalCorrect(env, agent);
    agent.dispose();
  }
  assert.ok(late.mappo! >= 0.9, `mappo late accuracy ${late.mappo}`);
  assert.ok(late.mappo! - late.ippo! >= 0.2, `mappo ${late.mappo} vs ippo ${late.ippo}`);
  assert.ok(greedy.mappo! >= 0.95, `mappo greedy accuracy ${greedy.mappo}`);
});

test('same seed, same run: identical stats and actions', () => {
  const run = (): { stats: unknown[]; actions: number[] } => {
    const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 });
    const agent = build('mappo', env, toyConfig({ minibatches: 2, epochs: 2 }), 7);
    const { history } = trainOnEnv(env, agent, { updates: 3, rolloutSteps: 4, seed: 11 });
    const obs = env.reset({ seed: 1 }).observations;
    const out = agent.act({
      observations: obs,
      state: env.state(),
      numEnvs: 2,
      numAgents: 8,
      obsDim: env.obsDim,
      stateDim: env.stateDim,
    });
    agent.dispose();
    return { stats: history, actions: Array.from(out.actions) };
  };
  assert.equal(run(), run());
});

test('tensor count is flat over 20 updates (IPPO and MAPPO)', () => {
  for (const kind of ['ippo', 'mappo'] as const) {
    const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 });
    const agent = build(kind, env, toyConfig({ epochs: 2, minibatches: 2, targetKl: 0.5 }));
    trainOnEnv(env, agent, { updates: 1, rolloutSteps: 4, seed: 1 });
    const before = tf.memory().numTensors;
    trainOnEnv(env, agent, { updates: 20, rolloutSteps: 4, seed: 2 });
    assert.is(tf.memory().numTensors, before, kind);
    agent.dispose();
  }
});

test('save/load round trip: identical actions, probabilities and values', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'dbmim-ppo-')), 'agent');
  const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 });
  const a = build('mappo', env, toyConfig());
  trainOnEnv(env, a, { updates: 2, rolloutSteps: 4, seed: 1 });
  await a.save(dir);
  const b = build('mappo', env, toyConfig(), 12345);
  await b.load(dir);
  const obs = env.reset({ seed: 8 }).observations;
  const input: ActInput = {
    observations: obs,
    state: env.state(),
    numEnvs: 2,
    numAgents: 8,
    obsDim: env.obsDim,
    stateDim: env.stateDim,
  };
  const oa = a.act(input);
  const ob = b.act(input);
  assert.equal(Array.from(ob.actions), Array.from(oa.actions)); // sampling stream restored too
  assert.equal(Array.from(ob.probs), Array.from(oa.probs));
  assert.equal(Array.from(ob.values), Array.from(oa.values));
  assert.is(b.updates, 2);
  const c = build('ippo', env, toyConfig());
  try {
    await c.load(dir);
    assert.unreachable('loading a mappo checkpoint into ippo must fail');
  } catch (e) {
    assert.match((e as Error).message, /critic "central", this ippo agent has "agent"/);
  }
  for (const x of [a, b, c]) x.dispose();
});

test('learning-rate annealing is linear in progress; a tiny KL target stops after the first epoch', () => {
  const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 });
  const agent = build('ippo', env, toyConfig({ lr: 1e-2, epochs: 4, targetKl: 1e-9 }));
  const collect = (): void => {
    trainOnEnv(env, agent, { updates: 1, rolloutSteps: 2, seed: 1, deterministic: true }); // no learning
  };
  collect();
  assert.is(agent.rollout.length, 0, 'deterministic evaluation records nothing');
  let obs = env.reset({ seed: 2 }).observations;
  for (let t = 0; t < 2; t++) {
    const input = actInputOf(env, obs);
    const out = agent.act(input);
    const res = env.step(out.actions, out.probs);
    agent.observe(transitionOf(input, out, res, env.state()));
    obs = res.observations;
  }
  const stats = agent.update(0.75)!;
  assert.ok(close(stats.lr as number, 2.5e-3, 1e-9));
  assert.is(stats.epochs, 1);
  assert.is(stats.earlyStop, 1);
  assert.is(agent.update(0.8), null, 'nothing to learn from');
  agent.dispose();
});

test('act validates the observation shape', () => {
  const env = new ScoreMaskEnv({ numEnvs: 1, numAgents: 4 });
  const agent = build('ippo', env, toyConfig());
  assert.throws(
    () =>
      agent.act({
        observations: new Float32Array(5),
        state: new Float32Array(3),
        numEnvs: 1,
        numAgents: 4,
        obsDim: env.obsDim,
        stateDim: 3,
      }),
    /ippo\.act: observations have 5 values, expected \[1 x 4, 8\]/,
  );
  agent.dispose();
});

test.run();
