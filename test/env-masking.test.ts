import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/core/backend.js';
import { ConfigError, DbmimError, InputError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { patchStats, patchMembraneProxy } from '../src/data/membrane.js';
import { DictParallelEnv } from '../src/env/dict-adapter.js';
import { MaskingEnv, type MaskingEnvConfig } from '../src/env/masking-env.js';
import { crossFittedProbeMse, ridgeFit } from '../src/env/membrane-probe.js';
import { OBS_FROM_END, obsFeature } from '../src/env/observation-layout.js';
import { probeTargets } from '../src/env/rewards/membrane-proxy.js';
import { registerReward } from '../src/env/rewards/registry.js';
import { FakeCrops, FakeMim } from './env-fakes.js';

const close = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol;
const KL_HALF = 0.5 * Math.log(4 / 3); // KL(Bern(0.5) || Bern(0.75))
// kl term at p = 0.5, prior 0.75: minus the realized action's log-ratio
const KL_MASKED = -Math.log(0.5 / 0.75);
const KL_KEPT = -Math.log(0.5 / 0.25);

function makeEnv(config: MaskingEnvConfig = {}, model = new FakeMim(), extra: Record<string, number> = {}) {
  const env = new MaskingEnv({
    model,
    cropSource: new FakeCrops([4, 8, 8], 'train'),
    config: {
      env: { numEnvs: 2, horizon: 2, heldOutCrops: 2, ...config.env },
      reward: { reconstruction: 1, relativeReconstruction: 0, ...config.reward },
    },
    rng: Rng.fromSeed(7),
    rewardTerms: extra,
  });
  return { env, model };
}

// env 0 masks patches 0..5 (ratio 0.75), env 1 masks 4..7 (ratio 0.5)
const ACTIONS = Int32Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
const HALF = new Float32Array(16).fill(0.5);

test.before(async () => {
  await selectBackend('wasm');
});

test('masking env: ids, spaces, dims', () => {
  const { env } = makeEnv();
  assert.is(env.numAgents, 8);
  assert.is(env.obsDim, 3 + 6);
  assert.is(env.stateDim, 3 + 3);
  assert.equal(env.possibleAgents.slice(0, 3), ['patch_0_0_0', 'patch_0_0_1', 'patch_0_1_0']);
  assert.is(env.possibleAgents[7], 'patch_1_1_1');
  assert.equal(env.agents, [], 'no agents before reset');
  assert.equal(env.observationSpace('patch_1_0_1').shape, [9]);
  assert.is(env.actionSpace('patch_0_0_0').n, 2);
  assert.throws(
    () => env.observationSpace('patch_9_9_9'),
    (e: unknown) => e instanceof InputError,
  );
  assert.throws(
    () => env.step(ACTIONS),
    (e: unknown) => e instanceof DbmimError && /reset\(\)/.test((e as Error).message),
  );
});

test('masking env: observation rows follow the layout (embedding | z, y, x | mean | std | membrane)', () => {
  const { env, model } = makeEnv();
  const probe = new FakeCrops([4, 8, 8], 'train');
  probe.sample(2); // held-out crops come first from the same source
  const crops = probe.sample(2);
  const obs = env.reset().observations;
  assert.equal(env.agents, env.possibleAgents);
  const { mean, std } = patchStats(crops.raw, 2, [4, 8, 8], [2, 4, 4]);
  const memb = patchMembraneProxy(crops.raw, 2, [4, 8, 8], [2, 4, 4]);
  const means = model.patchMeans(crops.raw, 2);
  const od = env.obsDim;
  for (let row = 0; row < 16; row++) {
    assert.ok(close(obs[row * od]!, means[row]!), 'embedding from model.embedPatches');
    assert.ok(close(obs[row * od + 1]!, (row % 8) / 8));
    assert.ok(close(obsFeature(obs, od, row, 'mean'), mean[row]!));
    assert.ok(close(obsFeature(obs, od, row, 'std'), std[row]!));
    assert.ok(close(obsFeature(obs, od, row, 'membrane'), memb[row]!));
  }
  // patch 5 = (z 1, y 0, x 1) on grid [2, 2, 2]
  const r5 = 5 * od + od;
  assert.equal([obs[r5 - OBS_FROM_END.z], obs[r5 - OBS_FROM_END.y], obs[r5 - OBS_FROM_END.x]], [1, 0, 1]);
  // state of env 1: mean embedding, mean membrane proxy, last ratio 0, last loss 0 (no episode time)
  const s = env.state();
  assert.is(s.length, 2 * 6);
  let m1 = 0;
  for (let p = 8; p < 16; p++) m1 += means[p]! / 8;
  let mm = 0;
  for (let p = 8; p < 16; p++) mm += memb[p]! / 8;
  assert.ok(close(s[6]!, m1));
  assert.ok(close(s[6 + 3]!, mm));
  assert.equal(Array.from(s.slice(6 + 4, 6 + 6)), [0, 0]);
});

test('masking env: reward terms match hand-computed values; weighted sum; info fields', () => {
  const { env, model } = makeEnv({
    reward: {
      reconstruction: 1,
      relativeReconstruction: 0,
      budget: 0.5,
      kl: 2,
      learningProgress: 3,
      membraneProxy: 0,
    },
  });
  env.reset({ seed: 1 });
  const r = env.step(ACTIONS, HALF);
  const t = r.infos.rewardTerms;
  assert.equal(Object.keys(t).sort(), [
    'budget',
    'kl',
    'learning-progress',
    'reconstruction',
    'relative-reconstruction',
  ]);
  const rec = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0, 0, 0, 0, 0, 0, 0.5, 0.6, 0.7, 0.8];
  rec.forEach((v, i) => assert.ok(close(t.reconstruction![i]!, v), `reconstruction[${i}]`));
  // relative: a masked patch's loss minus its env's mean masked loss (env 0: mean 0.35; env 1: mean 0.65)
  const rel = [-0.25, -0.15, -0.05, 0.05, 0.15, 0.25, 0, 0, 0, 0, 0, 0, -0.15, -0.05, 0.05, 0.15];
  rel.forEach((v, i) =>
    assert.ok(close(t['relative-reconstruction']![i]!, v), `relative-reconstruction[${i}]`),
  );
  for (let i = 0; i < 16; i++) {
    const budget = i < 8 ? 0 : -0.25;
    assert.ok(close(t.budget![i]!, budget));
    const kl = ACTIONS[i] ? KL_MASKED : KL_KEPT;
    assert.ok(close(t.kl![i]!, kl), `kl[${i}]`);
    assert.ok(close(t['learning-progress']![i]!, 1 - 0.5), 'held-out loss 1/(1+step): 1 -> 0.5');
    assert.ok(close(r.rewards[i]!, rec[i]! + 0.5 * budget + 2 * kl + 3 * 0.5), `reward[${i}]`);
  }
  assert.equal(Array.from(r.infos.realizedActions), Array.from(ACTIONS));
  assert.equal(Array.from(model.masks[0]!), Array.from(ACTIONS), 'the update used the realized mask');
  // its mean over the actions is -KL(p || prior)
  assert.ok(close(0.5 * KL_MASKED + 0.5 * KL_KEPT, -KL_HALF));
  assert.ok(close(r.infos.mimLoss, 4.7 / 10));
  assert.equal(Array.from(r.infos.maskRatio), [0.75, 0.5]);
  assert.ok(close(r.infos.envLoss[0]!, 0.35) && close(r.infos.envLoss[1]!, 0.65));
  assert.is(r.infos.globalStep, 1);
  assert.equal(Array.from(r.truncations), new Array(16).fill(0));
  // state now carries the last ratio and loss of env 1 (and no episode time)
  const s = env.state();
  assert.ok(close(s[6 + 4]!, 0.5) && close(s[6 + 5]!, 0.65));
  // second step: learning progress 1/2 - 1/3, the held-out loss after step 1 is reused (3 evaluations in all)
  const r2 = env.step(ACTIONS);
  assert.ok(close(r2.infos.rewardTerms['learning-progress']![0]!, 0.5 - 1 / 3));
  assert.is(model.evaluateCalls, 3);
  assert.equal(Array.from(r2.infos.rewardTerms.kl!), new Array(16).fill(0), 'kl is 0 without preferences');
  // horizon 2: every agent truncated, agents emptied, stepping again needs a reset
  assert.equal(Array.from(r2.truncations), new Array(16).fill(1));
  assert.equal(Array.from(r2.terminations), new Array(16).fill(0));
  assert.equal(env.agents, []);
  assert.throws(() => env.step(ACTIONS), /episode ended/);
  env.reset();
  assert.is(env.agents.length, 8);
  assert.is(env.state()[6 + 4], 0);
});

test('masking env: the budget is applied before the update and reported', () => {
  const { env, model } = makeEnv();
  env.reset({ seed: 3 });
  const all = new Int32Array(16).fill(1);
  const prefs = Float32Array.from({ length: 16 }, (_, i) => (i % 8) / 8); // agent 0 of each env is weakest
  const r = env.step(all, prefs);
  const exp = [0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1]; // 7 of 8 allowed at maxRatio 0.9
  assert.equal(Array.from(r.infos.realizedActions), exp);
  assert.equal(Array.from(model.masks[0]!), exp);
  assert.ok(close(r.infos.maskRatio[0]!, 0.875));
  assert.ok(close(r.infos.rewardTerms.budget![0]!, -0.125));
});

test('masking env: costly terms run only with a non-zero weight; membrane-proxy equals the probe error', () => {
  const a = makeEnv({ reward: { learningProgress: 0, membraneProxy: 0 } });
  a.env.reset({ seed: 0 });
  a.env.step(ACTIONS);
  assert.is(a.model.evaluateCalls, 0);
  assert.is(a.model.encodeCalls, 0);
  assert.not.ok('membrane-proxy' in a.env.step(ACTIONS).infos.rewardTerms);

  const b = makeEnv({ reward: { membraneProxy: 1 } });
  b.env.reset({ seed: 0 });
  const r = b.env.step(ACTIONS);
  const h = b.env.heldOut;
  const tok = b.model.encode(h.raw, h.n);
  const x = tok.dataSync() as Float32Array;
  tok.dispose();
  const want = -crossFittedProbeMse(x, probeTargets(h, [2, 4, 4], [2, 2, 2]), 2, 8, 3, 1e-2);
  assert.ok(Number.isFinite(want) && want < 0);
  for (const v of r.infos.rewardTerms['membrane-proxy']!) assert.ok(close(v, want), `${v} vs ${want}`);
});

test('membrane probe: ridge fit by hand, boundary-fraction targets by hand', () => {
  const p0 = ridgeFit([1, 2, 3], [2, 4, 7], 3, 1, 0);
  assert.ok(close(p0.w[0]!, 2.5) && close(p0.b, 13 / 3 - 5));
  const p1 = ridgeFit([1, 2, 3], [2, 4, 7], 3, 1, 1); // w = 5 / (2 + 1)
  assert.ok(close(p1.w[0]!, 5 / 3) && close(p1.b, 1));
  // Exactly linear targets: the cross-fitted error is ~0.
  const xs = Float32Array.from({ length: 4 * 8 }, (_, i) => Math.sin(i));
  const ys = Float32Array.from(xs, (v) => 2 * v + 1);
  assert.ok(crossFittedProbeMse(xs, ys, 4, 8, 1, 0) < 1e-8);
  // Labels: id 1 for x < 2, id 2 for x >= 2 -> boundary voxels at x = 1, 2 (in-plane neighbours differ):
  // patches of the first x block (x 0..3) have 2 of 4 columns on the boundary, the others none.
  const shape: [number, number, number] = [4, 8, 8];
  const labels = new Uint32Array(256);
  for (let i = 0; i < 256; i++) labels[i] = i % 8 < 2 ? 1 : 2;
  const tg = probeTargets({ n: 1, shape, raw: new Float32Array(256), labels }, [2, 4, 4], [2, 2, 2]);
  assert.equal(Array.from(tg), [0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0]);
});

test('masking env: user reward terms via registerReward; non-finite terms throw naming the term', () => {
  registerReward('test-const', (ctx) => new Float32Array(ctx.numEnvs * ctx.numAgents).fill(1));
  registerReward('test-nan', (ctx) => new Float32Array(ctx.numEnvs * ctx.numAgents).fill(NaN));
  const base = makeEnv({ reward: { reconstruction: 0, budget: 0 } });
  base.env.reset({ seed: 0 });
  const r0 = base.env.step(ACTIONS);
  const withConst = makeEnv({ reward: { reconstruction: 0, budget: 0 } }, new FakeMim(), { 'test-const': 2 });
  withConst.env.reset({ seed: 0 });
  const r1 = withConst.env.step(ACTIONS);
  for (let i = 0; i < 16; i++) assert.ok(close(r1.rewards[i]!, r0.rewards[i]! + 2));
  assert.equal(Array.from(r1.infos.rewardTerms['test-const']!), new Array(16).fill(1));
  const bad = makeEnv({}, new FakeMim(), { 'test-nan': 1 });
  bad.env.reset();
  assert.throws(() => bad.env.step(ACTIONS), /reward term 'test-nan' is NaN for env 0, agent 0/);
  assert.throws(
    () => makeEnv({}, new FakeMim(), { nope: 1 }),
    (e: unknown) => e instanceof ConfigError && /unknown reward term 'nope'/.test((e as Error).message),
  );
});

test('masking env: bad actions, preferences, crops and configs are clear errors', () => {
  const { env } = makeEnv();
  env.reset();
  assert.throws(() => env.step(new Int32Array(3)), /length numEnvs \* numAgents = 16, got Int32Array\(3\)/);
  const two = Int32Array.from(ACTIONS);
  two[4] = 2;
  assert.throws(() => env.step(two), /action of row 4 is 2/);
  const p = Float32Array.from(HALF);
  p[9] = 1.5;
  assert.throws(() => env.step(ACTIONS, p), /preference of row 9 is 1.5/);
  assert.throws(
    () =>
      new MaskingEnv({ model: new FakeMim(), cropSource: new FakeCrops([4, 8, 16]), rng: Rng.fromSeed(0) }),
    /crop source returned n 4 crops of shape \[4,8,16\].*model's crop shape \[4,8,8\]/,
  );
  assert.throws(
    () => makeEnv({ env: { minRatio: 0.9, maxRatio: 0.95 } }),
    (e: unknown) => e instanceof ConfigError,
  );
  assert.throws(() => makeEnv({ env: { horizon: 0 } }), /env\.horizon/);
});

test('masking env: same seed, bit-identical first 3 steps; another seed differs; close is idempotent', () => {
  const run = (seed: number) => {
    const { env, model } = makeEnv({
      env: { horizon: 4 },
      reward: { learningProgress: 1, membraneProxy: 1, kl: 1 },
    });
    const rng = Rng.fromSeed(99);
    const out: number[][] = [Array.from(env.reset({ seed }).observations)];
    for (let s = 0; s < 3; s++) {
      const a = Int32Array.from({ length: 16 }, () => (rng.bernoulli(0.75) ? 1 : 0));
      const r = env.step(a); // no preferences: the budget's seeded order decides flips
      out.push(Array.from(r.observations), Array.from(r.rewards), Array.from(r.infos.realizedActions));
    }
    env.close();
    env.close();
    assert.not.ok(model.disposed, 'a model passed in is not disposed by close');
    return out;
  };
  const a = run(5);
  assert.equal(a, run(5));
  assert.not.equal(a[0], run(6)[0]);
});

test('dict adapter: keys env<e>/patch_z_y_x, dict step equals the batched step', () => {
  const { env } = makeEnv();
  const d = new DictParallelEnv(env);
  assert.is(d.keys.length, 16);
  assert.is(d.keys[0], 'env0/patch_0_0_0');
  assert.is(d.keys[13], 'env1/patch_1_0_1');
  const r = d.reset({ seed: 2 });
  assert.is(Object.keys(r.observations).length, 16);
  assert.is(r.observations['env1/patch_0_0_0']!.length, env.obsDim);
  const acts: Record<string, number> = {};
  d.keys.forEach((k, i) => (acts[k] = ACTIONS[i]!));
  const s = d.step(acts);
  assert.ok(close(s.rewards['env0/patch_0_0_1']!, d.lastInfo!.rewardTerms.reconstruction![1]! + 0.5 * 0));
  assert.is(s.infos['env1/patch_1_1_1']!.realizedAction, 1);
  assert.ok(close(s.infos['env1/patch_1_1_1']!.rewardTerms.budget!, -0.25));
  assert.is(s.truncations['env0/patch_0_0_0'], false);
  assert.is(Object.keys(d.state()).join(','), 'env0,env1');
  delete acts['env1/patch_1_1_1'];
  assert.throws(() => d.step(acts), /no value for agent 'env1\/patch_1_1_1'/);
  assert.throws(() => d.step({ ...acts, 'env1/patch_1_1_1': 1, bogus: 0 }), /unknown agent 'bogus'/);
  // One env: plain agent ids.
  const single = new DictParallelEnv(makeEnv({ env: { numEnvs: 1 } }).env);
  assert.is(single.keys[0], 'patch_0_0_0');
});

test.run();
