import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/core/backend.js';
import { resolveConfig } from '../src/core/config.js';
import { ConfigError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { rootDi } from '../src/core/container.js';
import {
  BlockMaskAgent,
  EdgeMaskAgent,
  MixedMaskAgent,
  RandomMaskAgent,
  createAgent,
  registerAgent,
  registeredAgents,
  rankProbs,
  BUILTIN_AGENTS,
  type ActInput,
  type Agent,
  type AgentContext,
} from '../src/agents/index.js';
import { agentToken } from '../src/core/tokens.js';
import { OBS_FROM_END } from '../src/env/observation-layout.js';
import { ScoreMaskEnv, TeamMaskEnv } from '../src/env/toy-envs.js';
import { applyMaskBudget } from '../src/env/mask-budget.js';
import { main as customAgentMain } from '../examples/custom-agent.js';

test.before(async () => {
  await selectBackend('wasm');
});

const D = 8; // 2 embedding features + the 6-wide tail

/** One env's observation rows with the given membrane proxies and grid positions. */
function makeInput(
  proxy: number[],
  grid: [number, number, number] = [1, 1, proxy.length],
  numEnvs = 1,
): ActInput {
  const N = proxy.length;
  const obs = new Float32Array(numEnvs * N * D);
  for (let e = 0; e < numEnvs; e++)
    for (let i = 0; i < N; i++) {
      const row = (e * N + i) * D;
      const z = Math.floor(i / (grid[1] * grid[2]));
      const y = Math.floor(i / grid[2]) % grid[1];
      const x = i % grid[2];
      const norm = (v: number, g: number): number => (g > 1 ? v / (g - 1) : 0);
      obs[row + D - OBS_FROM_END.z] = norm(z, grid[0]);
      obs[row + D - OBS_FROM_END.y] = norm(y, grid[1]);
      obs[row + D - OBS_FROM_END.x] = norm(x, grid[2]);
      obs[row + D - OBS_FROM_END.membrane] = proxy[i]!;
    }
  return {
    observations: obs,
    state: new Float32Array(numEnvs),
    numEnvs,
    numAgents: N,
    obsDim: D,
    stateDim: 1,
  };
}

function masked(a: Int32Array): number[] {
  return [...a].flatMap((v, i) => (v ? [i] : []));
}

function consistentProbs(out: { actions: Int32Array; probs: Float32Array }): void {
  out.actions.forEach((a, i) => assert.ok(a ? out.probs[i]! > 0.5 : out.probs[i]! < 0.5, `row ${i}`));
}

test('edge masks the highest-proxy patches; probs are consistent with the choice', () => {
  const proxy = [0.1, 2.0, 0.3, 1.5, 0.2, 0.9, 0.05, 0.4];
  const agent = new EdgeMaskAgent(Rng.fromSeed(0), { ratio: 0.25 }); // k = 2
  const out = agent.act(makeInput(proxy));
  assert.equal(masked(out.actions), [1, 3]);
  consistentProbs(out);
  assert.ok(out.probs[1]! > out.probs[3]!, 'the stronger edge is the more confident mask');
  // power 2 keeps the ranking; strong noise changes it
  assert.equal(
    masked(new EdgeMaskAgent(Rng.fromSeed(0), { ratio: 0.25, power: 2 }).act(makeInput(proxy)).actions),
    [1, 3],
  );
  const noisy = new EdgeMaskAgent(Rng.fromSeed(0), { ratio: 0.25, noise: 100 });
  const picks = new Set<string>();
  for (let r = 0; r < 5; r++) picks.add(masked(noisy.act(makeInput(proxy)).actions).join(','));
  assert.ok(picks.size > 1);
});

test('mixed: round(edgeFraction * k) masks by edge score, the rest random among the others', () => {
  const proxy = Array.from({ length: 16 }, (_, i) => i / 16); // highest proxies: 15, 14, 13, 12
  const agent = new MixedMaskAgent(Rng.fromSeed(3), { ratio: 0.5, edgeFraction: 0.5 }); // k = 8, 4 by edge
  const seen = new Set<string>();
  for (let r = 0; r < 10; r++) {
    const out = agent.act(makeInput(proxy));
    const m = masked(out.actions);
    assert.is(m.length, 8);
    for (const i of [12, 13, 14, 15]) assert.ok(m.includes(i), `edge patch ${i} masked`);
    consistentProbs(out);
    seen.add(m.join(','));
  }
  assert.ok(seen.size > 1, 'the random half varies');
  const allEdge = new MixedMaskAgent(Rng.fromSeed(3), { ratio: 0.5, edgeFraction: 1 });
  assert.equal(masked(allEdge.act(makeInput(proxy)).actions), [8, 9, 10, 11, 12, 13, 14, 15]);
});

test('block masks contiguous cuboids of the patch grid', () => {
  // 4x4x4 grid, k = 8 with fixed 2x2x2 blocks: exactly one cuboid.
  const grid: [number, number, number] = [4, 4, 4];
  const agent = new BlockMaskAgent(Rng.fromSeed(1), { ratio: 8 / 64, blockSize: [2, 2, 2] });
  for (let r = 0; r < 5; r++) {
    const m = masked(agent.act(makeInput(new Array(64).fill(0), grid)).actions);
    assert.is(m.length, 8);
    const coords = m.map((i) => [Math.floor(i / 16), Math.floor(i / 4) % 4, i % 4]);
    for (let a = 0; a < 3; a++) {
      const vals = coords.map((c) => c[a]!);
      assert.is(Math.max(...vals) - Math.min(...vals), 1, `axis ${a} spans 2 patches`);
    }
  }
  // random blocks at ratio 0.5: exactly k masks; every masked patch has a masked face neighbour
  const rnd = new BlockMaskAgent(Rng.fromSeed(2), { ratio: 0.5 });
  const m = new Set(masked(rnd.act(makeInput(new Array(64).fill(0), grid)).actions));
  assert.is(m.size, 32);
  const idx = (z: number, y: number, x: number): number => z * 16 + y * 4 + x;
  let isolated = 0;
  for (const i of m) {
    const [z, y, x] = [Math.floor(i / 16), Math.floor(i / 4) % 4, i % 4];
    const nb = [
      [z - 1, y, x],
      [z + 1, y, x],
      [z, y - 1, x],
      [z, y + 1, x],
      [z, y, x - 1],
      [z, y, x + 1],
    ];
    if (
      !nb.some(
        ([a, b, c]) => a! >= 0 && a! < 4 && b! >= 0 && b! < 4 && c! >= 0 && c! < 4 && m.has(idx(a!, b!, c!)),
      )
    )
      isolated++;
  }
  assert.ok(isolated <= 2, `${isolated} isolated masked patches`);
  // three patches at the same position are no grid
  assert.throws(
    () =>
      new BlockMaskAgent(Rng.fromSeed(0)).act({
        ...makeInput([0, 0, 0]),
        observations: new Float32Array(3 * D),
      }),
    /positions do not form a full grid \(1x1x1 distinct z,y,x values for 3 agents\)/,
  );
});

test('random hits its ratio on average (stochastic rounding) and its probs match the choice', () => {
  const agent = new RandomMaskAgent(Rng.fromSeed(4), 0.3); // 0.3 * 16 = 4.8 masks per env
  let total = 0;
  const envs = 400;
  const out = agent.act(makeInput(new Array(16).fill(0), [1, 1, 16], envs));
  for (const a of out.actions) total += a;
  assert.ok(Math.abs(total / (envs * 16) - 0.3) < 0.01, `ratio ${total / (envs * 16)}`);
  consistentProbs(out);
  for (let e = 0; e < envs; e++) {
    const k = out.actions.subarray(e * 16, (e + 1) * 16).reduce((s, v) => s + v, 0);
    assert.ok(k === 4 || k === 5);
  }
  assert.is(agent.update(), null);
  assert.is(agent.learns, false);
});

test('heuristic save/load restores the sampling stream (exact resume)', async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = join(mkdtempSync(join(tmpdir(), 'dbmim-heur-')), 'agent');
  const a = new RandomMaskAgent(Rng.fromSeed(1), 0.5);
  a.act(makeInput(new Array(8).fill(0)));
  await a.save(dir);
  const b = new RandomMaskAgent(Rng.fromSeed(99), 0.5);
  await b.load(dir);
  const input = makeInput(new Array(8).fill(0));
  assert.equal([...b.act(input).actions], [...a.act(input).actions]);
});

test('rankProbs orders preferences so the budget flips the weakest choice first', () => {
  const p = rankProbs({ chosen: new Uint8Array([1, 1, 0, 0]), priority: new Float64Array([5, 9, 1, 3]) });
  assert.ok(p[1]! > p[0]! && p[0]! > 0.5 && 0.5 > p[3]! && p[3]! > p[2]!);
  // the env's budget (max 1 mask) unmasks the weaker chosen one (row 0)
  const budget = (minRatio: number, maxRatio: number): number[] => [
    ...applyMaskBudget(new Int32Array([1, 1, 0, 0]), {
      numEnvs: 1,
      numAgents: 4,
      minRatio,
      maxRatio,
      preferences: p,
      rng: Rng.fromSeed(0),
    }),
  ];
  assert.equal(budget(0, 0.25), [0, 1, 0, 0]);
  // min 3 masks: masks the strongest unchosen one (row 3)
  assert.equal(budget(0.75, 1), [1, 1, 0, 1]);
});

test('registry: built-ins by name; an outside agent by name; unknown names list the registered ones', () => {
  for (const n of BUILTIN_AGENTS) assert.ok(registeredAgents().includes(n), n);
  const config = resolveConfig({ agent: { ratio: 0.5 } });
  const ctx: AgentContext = {
    obsDim: D,
    stateDim: 1,
    numAgents: 4,
    numEnvs: 1,
    config,
    rng: Rng.fromSeed(0),
  };
  for (const n of ['random', 'edge', 'mixed', 'block']) assert.is(createAgent(n, ctx).name, n);
  const ppo = createAgent('mappo', { ...ctx, stateDim: 3 });
  assert.is(ppo.name, 'mappo');
  ppo.dispose();
  let built: AgentContext | null = null;
  const mine: Agent = {
    name: 'outside',
    learns: false,
    act: (i) => ({
      actions: new Int32Array(i.numEnvs * i.numAgents),
      probs: new Float32Array(i.numEnvs * i.numAgents),
      logProbs: new Float32Array(i.numEnvs * i.numAgents),
      values: new Float32Array(i.numEnvs * i.numAgents),
    }),
    observe: () => undefined,
    update: () => null,
    save: async () => undefined,
    load: async () => undefined,
    dispose: () => undefined,
  };
  registerAgent('outside-agent', (c) => ((built = c), mine));
  assert.is(createAgent('outside-agent', ctx), mine);
  assert.is(built, ctx);
  assert.ok(rootDi.isRegistered(agentToken('outside-agent')));
  try {
    createAgent('nope', ctx);
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.match((e as Error).message, /unknown agent 'nope'.*registered agents: .*ippo.*outside-agent/);
  }
  assert.throws(() => registerAgent('bad name!', () => mine), /invalid agent name/);
});

test('examples/custom-agent.ts: REINFORCE registered from outside, selected by name, learns', async () => {
  const r = await customAgentMain(15);
  assert.is(r.agent, 'reinforce');
  assert.ok(r.learns);
  assert.ok(registeredAgents().includes('reinforce'));
  const early = r.correct.slice(0, 3).reduce((a, b) => a + b) / 3;
  const late = r.correct.slice(-3).reduce((a, b) => a + b) / 3;
  assert.ok(late > early + 0.1, `correct ${early} -> ${late}`);
});

test('toy envs: shapes, budget, rewards, truncation at the horizon, seeded', () => {
  const env = new ScoreMaskEnv({ numEnvs: 2, numAgents: 8, horizon: 2 });
  assert.is(env.obsDim, 8);
  const r0 = env.reset({ seed: 1 });
  assert.equal(
    r0.observations,
    new ScoreMaskEnv({ numEnvs: 2, numAgents: 8 }).reset({ seed: 1 }).observations,
  );
  const score = (row: number): number => r0.observations[row * 8 + 8 - OBS_FROM_END.membrane]!;
  // mask exactly the high scores: all correct, reward +1 everywhere
  const oracle = Int32Array.from({ length: 16 }, (_, i) => (score(i) >= 0.5 ? 1 : 0));
  const s1 = env.step(oracle);
  assert.equal([...s1.rewards], new Array(16).fill(1));
  assert.equal([...s1.infos.correct], [1, 1]);
  assert.equal([...s1.truncations], new Array(16).fill(0));
  // mask everything: the budget (max 0.6 -> 4 of 8) unmasks 4 per env
  const s2 = env.step(new Int32Array(16).fill(1));
  assert.equal([...s2.infos.maskRatio], [0.5, 0.5]);
  assert.equal([...s2.truncations], new Array(16).fill(1));
  assert.throws(() => env.step(oracle), /before reset/);
  assert.throws(() => env.reset() && env.step(new Int32Array(3)), /actions have 3 values, expected 2 x 8/);
  const team = new TeamMaskEnv({ numEnvs: 1, numAgents: 4, difficultyStd: 0 });
  const o = team.reset({ seed: 2 }).observations;
  const imp = Int32Array.from({ length: 4 }, (_, i) => (o[i * 8 + 8 - OBS_FROM_END.membrane]! > 0.5 ? 1 : 0));
  const k = imp.reduce((a, b) => a + b, 0);
  const res = team.step(imp);
  assert.equal(
    [...res.rewards],
    new Array(4).fill(k / 4).map((x) => Math.fround(x)),
  );
  assert.is(team.state().length, 2);
});

test('a fresh learned policy starts at the prior mask ratio (env.targetRatio), not 0.5', async () => {
  await selectBackend('wasm');
  for (const target of [0.75, 0.3]) {
    const config = resolveConfig({ env: { targetRatio: target } });
    const agent = createAgent('ippo', {
      obsDim: 8,
      stateDim: 4,
      numAgents: 16,
      numEnvs: 2,
      config,
      rng: Rng.fromSeed(1),
    });
    const obs = new Float32Array(32 * 8).map((_, i) => Math.sin(i));
    const out = agent.act({
      observations: obs,
      state: new Float32Array(8),
      numEnvs: 2,
      numAgents: 16,
      obsDim: 8,
      stateDim: 4,
    });
    const meanP = out.probs.reduce((a, b) => a + b, 0) / out.probs.length;
    assert.ok(Math.abs(meanP - target) < 0.02, `mean mask probability ${meanP} vs target ${target}`);
    agent.dispose();
  }
});

test.run();
