import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { MaskingEnv } from '../src/env/masking-env.js';
import type { ParallelEnv, ResetOptions, ResetResult, StepResult } from '../src/env/parallel-env.js';
import { Box, Discrete } from '../src/env/spaces.js';
import { VectorEnv } from '../src/env/vector-env.js';
import { RecordEpisodeStatistics, type EpisodeStats } from '../src/env/wrappers/episode-statistics.js';
import { RandomMaskAgent, runPolicy } from '../src/agents/index.js';
import { NormalizeReward, RunningMeanStd } from '../src/env/wrappers/normalize-reward.js';
import { FakeCrops, FakeMim } from './env-fakes.js';

const close = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol;

/** 1 env x 2 agents; the rewards of every step are fixed per agent; truncates at `horizon`. */
class ScriptEnv implements ParallelEnv {
  readonly possibleAgents = ['p', 'q'];
  agents: readonly string[] = [];
  readonly numEnvs = 1;
  readonly numAgents = 2;
  readonly obsDim = 1;
  readonly stateDim = 1;
  private t = 0;
  constructor(
    readonly rewards: number[],
    readonly horizon: number,
  ) {}
  observationSpace(): Box {
    return new Box(-Infinity, Infinity, [1]);
  }
  actionSpace(): Discrete {
    return new Discrete(2);
  }
  stateSpace(): Box {
    return new Box(-Infinity, Infinity, [1]);
  }
  reset(_o?: ResetOptions): ResetResult {
    this.t = 0;
    return { observations: new Float32Array(2), infos: {} };
  }
  step(a: Int32Array): StepResult {
    this.t++;
    const end = this.t >= this.horizon ? 1 : 0;
    return {
      observations: new Float32Array(2),
      rewards: Float32Array.from(this.rewards),
      terminations: new Uint8Array(2),
      truncations: new Uint8Array(2).fill(end),
      infos: { realizedActions: Int32Array.from(a), rewardTerms: {} },
    };
  }
  state(): Float32Array {
    return new Float32Array(1);
  }
  close(): void {}
}

test.before(async () => {
  await selectBackend('wasm');
});

test('RunningMeanStd: batched updates give the population mean and variance', () => {
  const r = new RunningMeanStd(1e-12);
  r.update([1, 2]);
  r.update([3]);
  assert.ok(close(r.mean, 2) && close(r.var, 2 / 3));
});

test('NormalizeReward: rewards divided by the running std of the discounted return; reset at episode end', () => {
  const env = new NormalizeReward(new ScriptEnv([1, 3], 2), { gamma: 0.5 });
  env.reset();
  const a = new Int32Array(2);
  // step 1: G = [1, 3] -> var 1 (the prior count 1e-4 barely matters)
  const r1 = env.step(a);
  assert.ok(close(r1.rewards[0]!, 1, 1e-3) && close(r1.rewards[1]!, 3, 1e-3));
  assert.equal(Array.from(r1.infos.rawRewards as Float32Array), [1, 3]);
  // step 2: G = [1.5, 4.5]; all G seen {1, 3, 1.5, 4.5}: mean 2.5, variance 1.875
  const r2 = env.step(a);
  const s = Math.sqrt(1.875);
  assert.ok(close(r2.rewards[0]!, 1 / s, 1e-3) && close(r2.rewards[1]!, 3 / s, 1e-3));
  // the episode ended (horizon 2): returns restart from 0, so G = [1, 3] again
  env.reset();
  env.step(a);
  assert.ok(close(env.rms.mean, (1 + 3 + 1.5 + 4.5 + 1 + 3) / 6, 1e-3));
});

test('RecordEpisodeStatistics: return and length per env on the step where the episode ends', () => {
  const env = new RecordEpisodeStatistics(new ScriptEnv([0.5, 1.5], 3));
  env.reset();
  const a = new Int32Array(2);
  assert.not.ok('episode' in env.step(a).infos);
  env.step(a);
  const ep = env.step(a).infos.episode as EpisodeStats;
  assert.equal(Array.from(ep.ended), [1]);
  assert.ok(close(ep.returns[0]!, 3 * 1)); // mean agent reward 1 per step
  assert.equal(Array.from(ep.lengths), [3]);
  assert.equal(Array.from(ep.agentReturns), [1.5, 4.5]);
  assert.equal(env.history, [{ env: 0, return: 3, length: 3 }]);
});

function fakeEnv(numEnvs = 2, seedName = 'w') {
  return new MaskingEnv({
    model: new FakeMim(),
    cropSource: new FakeCrops([4, 8, 8], seedName),
    config: {
      env: { numEnvs, horizon: 2, heldOutCrops: 1 },
      reward: { reconstruction: 1, relativeReconstruction: 0 },
    },
    rng: Rng.fromSeed(0),
  });
}

test('runPolicy: per-step records; all-keep is lifted to the budget minimum; resets at the horizon', () => {
  const allKeep = (): RandomMaskAgent => new RandomMaskAgent(Rng.fromSeed(2), 0);
  const env = fakeEnv();
  const recs = runPolicy(env, allKeep(), 5, { seed: 1 });
  assert.is(recs.length, 5);
  assert.equal(
    recs.map((r) => r.ended),
    [false, true, false, true, false],
  );
  for (const r of recs) {
    assert.ok(close(r.maskRatio, 3 / 8), 'ceil(0.35 * 8) = 3 masks');
    assert.ok(r.mimLoss !== null && r.mimLoss > 0);
    assert.ok(close(r.reward, r.rewardTerms.reconstruction! + 0.5 * r.rewardTerms.budget!));
    assert.ok(close(r.rewardTerms.budget!, -(0.75 - 0.375)));
  }
  const again = runPolicy(fakeEnv(), allKeep(), 5, { seed: 1 });
  assert.equal(again, recs);
});

test('VectorEnv: stacks copies env-major, concatenates per-env info, averages numbers, seeds copy i with seed + i', () => {
  const vec = VectorEnv.of((i) => fakeEnv(1, `copy${i}`), 2);
  assert.is(vec.numEnvs, 2);
  const obs = vec.reset({ seed: 4 }).observations;
  const single = fakeEnv(1, 'other');
  const o1 = single.reset({ seed: 5 }).observations;
  assert.equal(Array.from(obs.slice(single.obsDim * 8)), Array.from(o1), 'copy 1 reset with seed 5');
  const acts = Int32Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  const r = vec.step(acts);
  assert.equal(Array.from(r.infos.realizedActions), Array.from(acts));
  assert.equal(Array.from(r.infos.maskRatio as Float32Array), [0.75, 0.5]);
  assert.ok(close(r.infos.mimLoss as number, (2.1 / 6 + 2.6 / 4) / 2));
  assert.is(r.infos.rewardTerms.reconstruction!.length, 16);
  assert.ok(close(r.infos.rewardTerms.reconstruction![15]!, 0.8));
  assert.is(vec.state().length, 2 * vec.stateDim);
  vec.close();
  vec.close();
});

test.run();
