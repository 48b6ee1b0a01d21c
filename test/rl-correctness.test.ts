import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { firstValueFrom, toArray } from 'rxjs';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig, type Config } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import {
  actInputOf,
  createIppo,
  createMappo,
  trainOnEnv,
  transitionOf,
  type Agent,
  type PpoAgent,
  type Transition,
} from '../src/agents/index.js';
import { bernoulliKl, klReward } from '../src/env/rewards/kl.js';
import type { RewardContext } from '../src/env/rewards/types.js';
import { ScoreMaskEnv } from '../src/env/toy-envs.js';
import type { StepInfo, StepResult } from '../src/env/parallel-env.js';
import { ParallelEnvWrapper } from '../src/env/wrappers/wrapper.js';
import { PretrainTrainer } from '../src/tasks/pretrain/trainer.js';

/*
 * The RL correctness checks of issue 13: exact old log-probs (ratio 1 at saturation), bootstrap and value
 * normalization wiring inside the learner, the decentralized actor (no context variables), MAPPO's
 * agent-specific critic, forced-reset truncation flags, learning-rate annealing, the phase-1 leftover
 * update, and a kl term whose policy gradient is the KL's.
 */

const close = (a: number, b: number, tol = 1e-5): boolean => Math.abs(a - b) <= tol;

function config(ppo: Partial<Config['ppo']> = {}): Config {
  return resolveConfig({ ppo: { lr: 3e-3, hidden: 16, gamma: 0.9, ...ppo } });
}

function build(kind: 'ippo' | 'mappo', env: ScoreMaskEnv, c: Config, seed = 1): PpoAgent {
  return (kind === 'ippo' ? createIppo : createMappo)({
    obsDim: env.obsDim,
    stateDim: env.stateDim,
    numEnvs: env.numEnvs,
    numAgents: env.numAgents,
    config: c,
    rng: Rng.fromSeed(seed),
  });
}

/** Collect `steps` transitions into the agent's buffer, resetting when the episode ends. */
function collect(env: ScoreMaskEnv, agent: PpoAgent, steps: number, seed: number): StepResult[] {
  let obs = env.reset({ seed }).observations;
  const out: StepResult[] = [];
  for (let t = 0; t < steps; t++) {
    const input = actInputOf(env, obs);
    const o = agent.act(input);
    const res = env.step(o.actions, o.probs);
    agent.observe(transitionOf(input, o, res, env.state()));
    out.push(res);
    obs = res.truncations[0] ? env.reset().observations : res.observations;
  }
  return out;
}

function setVariable(agent: PpoAgent, name: string, value: number): void {
  const v = agent.module.params.list().find((x) => x.name === name)!.variable;
  v.assign(tf.fill(v.shape, value));
}

test.before(async () => {
  await selectBackend('wasm');
});

test('first epoch, first minibatch: ratio 1 (approx KL 0) even at saturation where the budget flips', () => {
  // One epoch of one minibatch: the update's stats are those of the first minibatch, before any step.
  for (const logit of [0, 16, 20, 25, 40]) {
    for (const kind of ['ippo', 'mappo'] as const) {
      // minRatio = maxRatio = 0.5: a policy that wants to mask everything has half its masks flipped.
      const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8, minRatio: 0.5, maxRatio: 0.5 });
      const agent = build(kind, env, config({ epochs: 1, minibatches: 1 }));
      setVariable(agent, 'policy/actor/head/b', logit);
      collect(env, agent, 3, 4);
      const flipped = agent.rollout.steps.reduce(
        (s, st) => s + st.actions.reduce((a, x) => a + (x === 0 ? 1 : 0), 0),
        0,
      );
      if (logit >= 16) assert.ok(flipped >= 24, `${kind} logit ${logit}: the budget forced keeps`);
      const stats = agent.update(0)!;
      assert.ok((stats.approxKl as number) < 1e-6, `${kind} logit ${logit}: approx KL ${stats.approxKl}`);
      assert.is(stats.clipFrac, 0, `${kind} logit ${logit}: nothing clipped`);
      agent.dispose();
    }
  }
});

test('bootstrap: a truncation inside the rollout bootstraps from V(final observation), else from V(next step)', () => {
  const run = (horizon: number) => {
    const env = new ScoreMaskEnv({ numEnvs: 1, numAgents: 4, horizon });
    const agent = build('ippo', env, config({ gamma: 0.9, gaeLambda: 0.95 }));
    const res = collect(env, agent, 2, 3);
    const est = agent.estimate();
    const R = 4;
    // V of the observation step 0 returned, from the same critic (act's values are the critic's).
    const finalValues = agent.act(actInputOf(env, res[0]!.observations)).values;
    const nextStepValues = agent.rollout.steps[1]!.values;
    const r0 = agent.rollout.steps[0]!.rewards;
    agent.dispose();
    return { est, R, finalValues, nextStepValues, r0 };
  };
  // horizon 1: step 0 is truncated; the next step starts a new episode with other observations.
  const a = run(1);
  let differs = 0;
  for (let i = 0; i < a.R; i++) {
    assert.ok(close(a.est.nextValues[i]!, a.finalValues[i]!), `row ${i}: bootstrapped from the final obs`);
    differs += close(a.finalValues[i]!, a.nextStepValues[i]!, 1e-4) ? 0 : 1;
    // done: no recursion, A = r + gamma V(final) - V(s), so the return is r + gamma V(final)
    assert.ok(close(a.est.returns[i]!, a.r0[i]! + 0.9 * a.finalValues[i]!, 1e-4), `row ${i}: return`);
  }
  assert.ok(differs > 0, 'the final observation and the next episode start differ');
  // horizon 4: no episode end between the steps; V(s_1) is the stored value of step 1.
  const b = run(4);
  for (let i = 0; i < b.R; i++) assert.ok(close(b.est.nextValues[i]!, b.nextStepValues[i]!), `row ${i}`);
});

test('value normalization inside MAPPO: statistics of the returns; act denormalizes the critic', () => {
  const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 });
  const agent = build('mappo', env, config({ epochs: 1 }));
  collect(env, agent, 4, 2);
  const { returns } = agent.estimate();
  const m = returns.reduce((s, x) => s + x, 0) / returns.length;
  const v = returns.reduce((s, x) => s + (x - m) ** 2, 0) / returns.length;
  const stats = agent.update(0)!;
  assert.ok(close(stats.valueNormMean as number, m, 1e-3), `mean ${stats.valueNormMean} vs ${m}`);
  assert.ok(close(stats.valueNormStd as number, Math.sqrt(v), 1e-3), `std ${stats.valueNormStd}`);
  // act's values = raw critic output * std + mean
  const obs = env.reset({ seed: 9 }).observations;
  const input = actInputOf(env, obs);
  const values = agent.act(input).values;
  const raw = tf.tidy(() =>
    agent.module.centralValue(
      tf.tensor2d(input.state, [2, env.stateDim]),
      tf.tensor2d(obs, [16, env.obsDim]),
      8,
    ),
  );
  const r = raw.dataSync();
  raw.dispose();
  for (let i = 0; i < 16; i++)
    assert.ok(
      close(values[i]!, r[i]! * (stats.valueNormStd as number) + (stats.valueNormMean as number), 1e-4),
    );
  // IPPO has none by default
  const ippo = build('ippo', env, config());
  collect(env, ippo, 2, 2);
  assert.is(ippo.update(0)!.valueNormMean, undefined);
  agent.dispose();
  ippo.dispose();
});

test('decentralized actor by default: no context variables, own-observation logits, updates run', () => {
  const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 });
  for (const [useContext, kind] of [
    [false, 'ippo'],
    [false, 'mappo'],
    [true, 'ippo'],
  ] as const) {
    const c = useContext ? config({ useContext: true }) : config(); // the default is false
    const agent = build(kind, env, c);
    const names = agent.module.params.list().map((v) => v.name);
    assert.is(
      names.some((n) => n.includes('context')),
      useContext,
      `${kind} useContext ${useContext}: ${names.join(',')}`,
    );
    // Changing agent 1's observation moves agent 0's logit only through the pooled context.
    const obs = env.reset({ seed: 1 }).observations;
    const other = Float32Array.from(obs);
    for (let j = 0; j < env.obsDim; j++) other[env.obsDim + j]! += 3;
    const logit0 = (o: Float32Array): number =>
      tf.tidy(() => agent.module.logits(tf.tensor2d(o, [16, env.obsDim]), 2, 8).dataSync()[0]!);
    const moved = Math.abs(logit0(obs) - logit0(other)) > 1e-7;
    assert.is(moved, useContext, `${kind} useContext ${useContext}`);
    collect(env, agent, 2, 3);
    const stats = agent.update(0)!;
    assert.ok(Number.isFinite(stats.policyLoss as number) && Number.isFinite(stats.gradNorm as number));
    agent.dispose();
  }
});

test("MAPPO's critic: agent-specific input by default (a value per agent), 'global' one value per env", () => {
  const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 });
  const spread = (c: Config): number => {
    const agent = build('mappo', env, c);
    const v = agent.act(actInputOf(env, env.reset({ seed: 2 }).observations)).values;
    agent.dispose();
    let s = 0;
    for (let e = 0; e < 2; e++) for (let a = 1; a < 8; a++) s += Math.abs(v[e * 8 + a]! - v[e * 8]!);
    return s;
  };
  assert.ok(spread(config()) > 1e-3, 'agent-specific values differ within an env');
  assert.is(spread(config({ criticInput: 'global' })), 0, 'global: one value per env');
});

/** Rows 0 of every env terminate at the first step; the other rows keep running (custom env). */
class UnevenEnds extends ParallelEnvWrapper {
  private t = 0;
  override reset(opts?: Parameters<ScoreMaskEnv['reset']>[0]) {
    this.t = 0;
    return this.env.reset(opts);
  }
  override step(actions: Int32Array, preferences?: Float32Array): StepResult<StepInfo> {
    const r = this.env.step(actions, preferences);
    this.t++;
    const terminations = new Uint8Array(r.terminations.length);
    if (this.t === 1) for (let e = 0; e < this.numEnvs; e++) terminations[e * this.numAgents] = 1;
    return { ...r, terminations };
  }
}

/** Records what it observes; acts like a fixed policy. */
class Recorder implements Agent {
  readonly name = 'recorder';
  readonly learns = true;
  seen: Transition[] = [];
  lrProgress: number[] = [];
  act(i: Parameters<Agent['act']>[0]) {
    const R = i.numEnvs * i.numAgents;
    return {
      actions: new Int32Array(R).fill(1),
      probs: new Float32Array(R).fill(0.5),
      logProbs: new Float32Array(R).fill(Math.log(0.5)),
      values: new Float32Array(R),
    };
  }
  observe(t: Transition): void {
    this.seen.push(t);
  }
  update(progress?: number) {
    this.lrProgress.push(progress ?? -1);
    return { n: this.seen.length };
  }
  async save(): Promise<void> {}
  async load(): Promise<void> {}
  dispose(): void {}
}

test('forced resets flag the rows that were still running as truncated (train loop and trainer)', async () => {
  const check = (t: Transition, what: string): void => {
    for (let i = 0; i < t.terminations.length; i++) {
      const ended = t.terminations[i] === 1 || t.truncations[i] === 1;
      assert.ok(ended, `${what}: row ${i} is reset, so it must be flagged`);
      assert.is(t.terminations[i] === 1 && t.truncations[i] === 1, false, `${what}: row ${i} not both`);
    }
  };
  const env = new UnevenEnds(new ScoreMaskEnv({ numEnvs: 2, numAgents: 4, horizon: 4 }));
  const agent = new Recorder();
  trainOnEnv(env, agent, { updates: 1, rolloutSteps: 2, seed: 1 });
  check(agent.seen[0]!, 'train loop step 1');
  assert.equal([...agent.seen[0]!.terminations], [1, 0, 0, 0, 1, 0, 0, 0]);
  // the transition helper alone: without a forced reset the flags pass through
  const res = env.step(new Int32Array(8), undefined);
  const plain = transitionOf(
    actInputOf(env, res.observations),
    agent.act(actInputOf(env, res.observations)),
    res,
    env.state(),
  );
  assert.equal([...plain.truncations], [...res.truncations]);

  const trainerAgent = new Recorder();
  const c = resolveConfig({
    env: { horizon: 4 },
    ppo: { rolloutSteps: 4 },
    train: { phase1Steps: 2, phase2Steps: 0, checkpointEvery: 0 },
  });
  const model = { save: async () => undefined, load: async () => undefined };
  const trainer = new PretrainTrainer(c, env, trainerAgent, model, {
    outDir: mkdtempSync(join(tmpdir(), 'dbmim-rl-')),
  });
  await trainer.run();
  check(trainerAgent.seen[0]!, 'trainer step 1');
});

test('train loop anneals from the progress before each update (a one-update run learns at full rate)', () => {
  const env = new ScoreMaskEnv({ numEnvs: 1, numAgents: 4 });
  const agent = new Recorder();
  trainOnEnv(env, agent, { updates: 4, rolloutSteps: 1, seed: 1 });
  assert.equal(agent.lrProgress, [0, 0.25, 0.5, 0.75]);
  const ppo = build('ippo', env, config({ lr: 1e-2 }));
  const { history } = trainOnEnv(env, ppo, { updates: 1, rolloutSteps: 2, seed: 1 });
  assert.ok(close(history[0]!.lr as number, 1e-2, 1e-12), `lr of the only update ${history[0]!.lr}`);
  ppo.dispose();
});

test('trainer: the steps left at the end of phase 1 feed a last, shorter update', async () => {
  const env = new ScoreMaskEnv({ numEnvs: 1, numAgents: 4, horizon: 2 });
  const agent = new Recorder();
  const c = resolveConfig({
    env: { horizon: 2 },
    ppo: { rolloutSteps: 4 },
    train: { phase1Steps: 10, phase2Steps: 2, checkpointEvery: 0 },
  });
  const model = { save: async () => undefined, load: async () => undefined };
  const trainer = new PretrainTrainer(c, env, agent, model, {
    outDir: mkdtempSync(join(tmpdir(), 'dbmim-rl-')),
  });
  const events = firstValueFrom(trainer.events$.pipe(toArray()));
  await trainer.run();
  const updates = (await events).filter((e) => e.type === 'update');
  assert.equal(
    updates.map((u) => u.step),
    [4, 8, 10],
  );
  assert.equal(
    updates.map((u) => (u as { stats: Record<string, unknown> }).stats.n),
    [4, 8, 10],
    'every phase-1 step was observed before an update',
  );
  assert.is(agent.seen.length, 10, 'phase 2 observes nothing');
  // progress before each rollout: 0, 4/10, 8/10
  assert.equal(agent.lrProgress, [0, 0.4, 0.8]);
});

test("kl term: pays the realized action's log-ratio; its policy gradient is minus the KL's gradient", () => {
  const term = klReward({} as never);
  const q = 0.75;
  const ctxOf = (realized: number, p: number): RewardContext =>
    ({
      numEnvs: 1,
      numAgents: 1,
      targetRatio: q,
      realized: Int32Array.of(realized),
      preferences: Float32Array.of(p),
    }) as unknown as RewardContext;
  for (const logit of [-2, 0, 0.5, 3]) {
    const p = Math.fround(1 / (1 + Math.exp(-logit)));
    const r1 = term.compute(ctxOf(1, p))[0]!;
    const r0 = term.compute(ctxOf(0, p))[0]!;
    // expectation over a ~ Bernoulli(p) is -KL(p || q)
    assert.ok(close(p * r1 + (1 - p) * r0, -bernoulliKl(p, q), 1e-5), `mean at logit ${logit}`);
    // score-function gradient wrt the logit: sum_a pi(a) dlog pi(a)/dl r(a) = p (1 - p) (r1 - r0)
    const pg = p * (1 - p) * (r1 - r0);
    const h = 1e-4;
    const kl = (l: number): number => bernoulliKl(1 / (1 + Math.exp(-l)), q);
    const dKl = (kl(logit + h) - kl(logit - h)) / (2 * h);
    assert.ok(close(pg, -dKl, 1e-4), `logit ${logit}: policy gradient ${pg} vs -dKL ${-dKl}`);
    if (Math.abs(p - q) > 0.05) assert.ok(Math.abs(pg) > 1e-3, 'a real pull toward the prior');
  }
});

test.run();
