import { DbmimError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { ParallelEnv, StepInfo, StepResult } from './parallel-env.js';
import { Box, Discrete } from './spaces.js';

/*
 * checkEnv: runs any ParallelEnv through the contract (parallel-env.ts) and says what is wrong, as a table
 * of named checks (PettingZoo's api_test style): each check is a function returning its problems, run in
 * order over a shared context (what reset and the random episode returned). It resets and steps the env
 * (a MaskingEnv trains its model meanwhile), then closes it twice. Every check yields one result; a check
 * whose prerequisite threw is reported as not run.
 */

/** Outcome of one check. */
export interface CheckResult {
  check: string;
  ok: boolean;
  message: string;
}

export interface CheckEnvOptions {
  /** Seed of the determinism checks (default 0; the other seed is seed + 1). */
  seed?: number;
  /** Expect different observations for different seeds (default true; false for deterministic envs). */
  random?: boolean;
  /** Expected episode length: all rows truncated exactly at this step (default: `env.horizon` if numeric). */
  horizon?: number;
  /** Most steps run while waiting for an episode end (default 1000). */
  maxSteps?: number;
  /** Stream of the random actions (default seed 0). */
  rng?: Rng;
}

/** What the checks share: the env, the options, and what earlier checks saw. */
interface CheckContext {
  env: ParallelEnv<StepInfo>;
  seed: number;
  random: boolean;
  horizon: number | undefined;
  maxSteps: number;
  rng: Rng;
  /** numEnvs * numAgents. */
  rows: number;
  /** The first reset's observations (set by 'reset'). */
  firstObs?: Float32Array;
  /** The state after the first reset (set by 'state'). */
  firstState?: Float32Array;
  /** The episode 'step-shapes' ran (read by the checks after it). */
  episode?: EpisodeRun;
}

/** What stepping one episode with random actions found (the first problem of each kind). */
interface EpisodeRun {
  steps: number;
  /** The step at which some row ended, or -1. */
  endStep: number;
  endResult: StepResult<StepInfo> | null;
  rewardProblems: string[];
  flagProblems: string[];
}

/** A check's finding: problems (none = passed) and what a pass says. */
interface Finding {
  problems: string[];
  passed: string;
}

/** One named check. `needs`: checks that must have completed (run without throwing) before it. */
interface EnvCheck {
  name: string;
  needs: readonly string[];
  run(ctx: CheckContext): Finding;
}

// ---- helpers ------------------------------------------------------------------------------------

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  const c = (v as object).constructor?.name ?? typeof v;
  const len = (v as { length?: number }).length;
  return typeof len === 'number' ? `${c}(${len})` : c;
}

/** First row of `flat` (`[rows, dim]`) that `space` does not contain, or -1. */
function firstOutside(space: Box, flat: Float32Array, dim: number): number {
  const rows = flat.length / dim;
  for (let r = 0; r < rows; r++) if (!space.contains(flat.slice(r * dim, (r + 1) * dim))) return r;
  return -1;
}

/** Index of the first element failing `ok`, or -1 (works on any array-like, typed or not). */
function findBad(a: ArrayLike<number> | undefined, ok: (v: number) => boolean): number {
  return Array.prototype.findIndex.call(a ?? [], (v: number) => !ok(v));
}

/** Whether some element of `a` is 1. */
function anyOne(a: ArrayLike<number> | undefined): boolean {
  return Array.prototype.some.call(a ?? [], (v: number) => v === 1);
}

function anyEnded(r: StepResult<StepInfo>): boolean {
  return anyOne(r.terminations) || anyOne(r.truncations);
}

/** One step with random actions from the action spaces and random budget preferences. */
function randomStep(ctx: CheckContext): StepResult<StepInfo> {
  const { env, rng, rows } = ctx;
  const actions = new Int32Array(rows);
  for (let i = 0; i < rows; i++)
    actions[i] = env.actionSpace(env.possibleAgents[i % env.numAgents]!).sample(rng);
  const prefs = new Float32Array(rows);
  for (let i = 0; i < rows; i++) prefs[i] = rng.next();
  return env.step(actions, prefs);
}

/** Shapes, dtypes and spaces of a step's arrays, infos and the state after it. */
function shapeProblems(ctx: CheckContext, r: StepResult<StepInfo>): string[] {
  const { env, rows: N } = ctx;
  const od = env.obsDim;
  const sd = env.stateDim;
  const p: string[] = [];
  if (!(r.observations instanceof Float32Array) || r.observations.length !== N * od)
    p.push(`observations are ${typeName(r.observations)}; expected Float32Array(${N * od})`);
  else {
    const row = firstOutside(env.observationSpace(env.possibleAgents[0]!), r.observations, od);
    if (row >= 0) p.push(`observation of row ${row} is outside the observation space`);
  }
  if (!(r.rewards instanceof Float32Array) || r.rewards.length !== N)
    p.push(`rewards are ${typeName(r.rewards)}; expected Float32Array(${N})`);
  if (!(r.terminations instanceof Uint8Array) || r.terminations.length !== N)
    p.push(`terminations are ${typeName(r.terminations)}; expected Uint8Array(${N})`);
  if (!(r.truncations instanceof Uint8Array) || r.truncations.length !== N)
    p.push(`truncations are ${typeName(r.truncations)}; expected Uint8Array(${N})`);
  const inf = r.infos;
  if (!inf || typeof inf !== 'object') p.push('infos is not an object');
  else {
    if (!(inf.realizedActions instanceof Int32Array) || inf.realizedActions.length !== N)
      p.push(`infos.realizedActions is ${typeName(inf.realizedActions)}; expected Int32Array(${N})`);
    else {
      const sp = env.actionSpace(env.possibleAgents[0]!);
      const bad = findBad(inf.realizedActions, (a) => sp.contains(a));
      if (bad >= 0)
        p.push(`infos.realizedActions[${bad}] = ${inf.realizedActions[bad]} is outside the action space`);
    }
    if (!inf.rewardTerms || typeof inf.rewardTerms !== 'object') p.push('infos.rewardTerms is not an object');
    else
      for (const [k, v] of Object.entries(inf.rewardTerms))
        if (!(v instanceof Float32Array) || v.length !== N)
          p.push(`infos.rewardTerms.${k} is ${typeName(v)}; expected Float32Array(${N})`);
  }
  const s = env.state();
  if (!(s instanceof Float32Array) || s.length !== env.numEnvs * sd)
    p.push(`state() after step is ${typeName(s)}; expected Float32Array(${env.numEnvs * sd})`);
  else if (firstOutside(env.stateSpace(), s, sd) >= 0) p.push('state after step is outside the state space');
  return p;
}

function rewardProblems(r: StepResult<StepInfo>, step: number): string[] {
  const p: string[] = [];
  const bad = findBad(r.rewards, Number.isFinite);
  if (bad >= 0) p.push(`step ${step}: rewards[${bad}] = ${r.rewards[bad]}`);
  for (const [k, v] of Object.entries(r.infos?.rewardTerms ?? {})) {
    const b = findBad(v, Number.isFinite);
    if (b >= 0) p.push(`step ${step}: rewardTerms.${k}[${b}] = ${v[b]}`);
  }
  return p;
}

function flagProblems(r: StepResult<StepInfo>, step: number): string[] {
  const p: string[] = [];
  for (const [name, f] of [
    ['terminations', r.terminations],
    ['truncations', r.truncations],
  ] as const) {
    const bad = findBad(f, (v) => v === 0 || v === 1);
    if (bad >= 0) p.push(`step ${step}: ${name}[${bad}] = ${f[bad]}; expected 0 or 1`);
  }
  return p;
}

// ---- the checks, in the order they run ------------------------------------------------------------

const spaces: EnvCheck = {
  name: 'spaces',
  needs: [],
  run({ env }) {
    const od = env.obsDim;
    const sd = env.stateDim;
    const p: string[] = [];
    if (!(env.numEnvs >= 1 && Number.isInteger(env.numEnvs)))
      p.push(`numEnvs is ${env.numEnvs}; expected an integer >= 1`);
    for (const a of env.possibleAgents) {
      const os = env.observationSpace(a);
      if (!(os instanceof Box) || os.shape.length !== 1 || os.shape[0] !== od) {
        p.push(
          `observationSpace('${a}') has shape [${os?.shape?.join(',')}]; expected a Box of shape [obsDim = ${od}]`,
        );
        break;
      }
      const as = env.actionSpace(a);
      if (!(as instanceof Discrete)) {
        p.push(`actionSpace('${a}') is ${typeName(as)}; expected Discrete`);
        break;
      }
    }
    const ss = env.stateSpace();
    if (!(ss instanceof Box) || ss.shape.length !== 1 || ss.shape[0] !== sd)
      p.push(`stateSpace() has shape [${ss?.shape?.join(',')}]; expected a Box of shape [stateDim = ${sd}]`);
    return { problems: p, passed: `obsDim ${od}, stateDim ${sd}, ${env.possibleAgents.length} agents` };
  },
};

const reset: EnvCheck = {
  name: 'reset',
  needs: [],
  run(ctx) {
    const { env, rows: N } = ctx;
    const od = env.obsDim;
    const r = env.reset({ seed: ctx.seed });
    const obs = r.observations;
    ctx.firstObs = obs;
    const p: string[] = [];
    if (!(obs instanceof Float32Array) || obs.length !== N * od)
      p.push(
        `reset observations are ${typeName(obs)}; expected Float32Array(${N * od}) = numEnvs * numAgents * obsDim`,
      );
    else {
      const row = firstOutside(env.observationSpace(env.possibleAgents[0]!), obs, od);
      if (row >= 0) p.push(`reset observation of row ${row} is outside the observation space`);
    }
    if (typeof r.infos !== 'object' || r.infos === null) p.push('reset infos is not an object');
    return { problems: p, passed: `observations [${N}, ${od}]` };
  },
};

const agents: EnvCheck = {
  name: 'agents',
  needs: [],
  run(ctx) {
    const { env } = ctx;
    const p: string[] = [];
    const pa = env.possibleAgents;
    if (pa.length !== env.numAgents)
      p.push(`possibleAgents has ${pa.length} ids but numAgents is ${env.numAgents}`);
    if (new Set(pa).size !== pa.length) p.push('possibleAgents has duplicate ids');
    const alive = env.agents;
    const bad = alive.filter((a) => !pa.includes(a));
    if (bad.length) p.push(`agents not in possibleAgents: ${bad.slice(0, 3).join(', ')}`);
    if (ctx.firstObs && alive.length !== pa.length)
      p.push(`after reset ${alive.length} agents are alive; expected all ${pa.length} possible agents`);
    return { problems: p, passed: `${pa.length} agents` };
  },
};

const state: EnvCheck = {
  name: 'state',
  needs: [],
  run(ctx) {
    const { env } = ctx;
    const sd = env.stateDim;
    const s = env.state();
    ctx.firstState = s;
    const p: string[] = [];
    if (!(s instanceof Float32Array) || s.length !== env.numEnvs * sd)
      p.push(`state() is ${typeName(s)}; expected Float32Array(${env.numEnvs * sd}) = numEnvs * stateDim`);
    else {
      const row = firstOutside(env.stateSpace(), s, sd);
      if (row >= 0) p.push(`state of env ${row} is outside the state space`);
    }
    return { problems: p, passed: `state [${env.numEnvs}, ${sd}]` };
  },
};

const resetDeterminism: EnvCheck = {
  name: 'reset-determinism',
  needs: ['reset'],
  run(ctx) {
    const { env, seed } = ctx;
    const r = env.reset({ seed });
    const p: string[] = [];
    if (!same(r.observations, ctx.firstObs!))
      p.push(`reset({seed: ${seed}}) twice gave different observations`);
    if (ctx.firstState && !same(env.state(), ctx.firstState))
      p.push(`reset({seed: ${seed}}) twice gave different states`);
    return { problems: p, passed: 'same seed, same observations and state' };
  },
};

const resetSeed: EnvCheck = {
  name: 'reset-seed',
  needs: ['reset'],
  run(ctx) {
    const { env, seed } = ctx;
    const differs = !same(env.reset({ seed: seed + 1 }).observations, ctx.firstObs!);
    const p: string[] = [];
    if (!differs && ctx.random)
      p.push(
        `reset with seeds ${seed} and ${seed + 1} gave identical observations (the seed is ignored? pass {random: false} for a deterministic env)`,
      );
    const passed = differs
      ? 'different seeds, different observations'
      : 'deterministic env: seeds give the same observations';
    return { problems: p, passed };
  },
};

/** Step one episode with random actions (up to maxSteps; a few steps when no end is expected). */
const stepShapes: EnvCheck = {
  name: 'step-shapes',
  needs: ['reset'],
  run(ctx) {
    ctx.env.reset({ seed: ctx.seed });
    const run: EpisodeRun = { steps: 0, endStep: -1, endResult: null, rewardProblems: [], flagProblems: [] };
    const shapes: string[] = [];
    while (run.steps < ctx.maxSteps) {
      const r = randomStep(ctx);
      const step = ++run.steps;
      // Keep the first step's problems of each kind (later steps would repeat them).
      if (!shapes.length) shapes.push(...shapeProblems(ctx, r).map((m) => `step ${step}: ${m}`));
      if (!run.rewardProblems.length) run.rewardProblems.push(...rewardProblems(r, step));
      if (!run.flagProblems.length) run.flagProblems.push(...flagProblems(r, step));
      if (anyEnded(r)) {
        run.endStep = step;
        run.endResult = r;
        break;
      }
      if (ctx.horizon === undefined && step >= 3) break; // no end expected: a few steps suffice
    }
    ctx.episode = run;
    return { problems: shapes, passed: `${run.steps} steps: arrays of the right length and dtype` };
  },
};

const rewardsFinite: EnvCheck = {
  name: 'rewards-finite',
  needs: ['step-shapes'],
  run({ episode }) {
    return { problems: episode!.rewardProblems, passed: `${episode!.steps} steps of finite rewards` };
  },
};

const doneFlags: EnvCheck = {
  name: 'done-flags',
  needs: ['step-shapes'],
  run({ env, episode }) {
    const run = episode!;
    const p = [...run.flagProblems];
    if (env.agents.some((a) => !env.possibleAgents.includes(a)))
      p.push('agents after the last step are not possible agents');
    const passed =
      run.endStep >= 0 ? `episode ended at step ${run.endStep}` : `no episode end within ${run.steps} steps`;
    return { problems: p, passed };
  },
};

/** A time limit: every row truncated (not terminated) exactly at the horizon. */
const horizonCheck: EnvCheck = {
  name: 'horizon',
  needs: ['step-shapes'],
  run({ horizon, rows, episode }) {
    if (horizon === undefined) return { problems: [], passed: 'no horizon given: skipped' };
    const { steps, endStep, endResult: r } = episode!;
    const p: string[] = [];
    if (!r) p.push(`no truncation within ${steps} steps; expected all rows truncated at step ${horizon}`);
    else if (endStep !== horizon)
      p.push(`the episode ended at step ${endStep}; expected truncation at horizon ${horizon}`);
    else {
      const notTrunc = findBad(r.truncations, (v) => v === 1);
      if (notTrunc >= 0) p.push(`at the horizon truncations[${notTrunc}] is 0; expected every row truncated`);
      if (anyOne(r.terminations))
        p.push('at the horizon some rows are terminated; a time limit is a truncation');
    }
    return { problems: p, passed: `all ${rows} rows truncated at step ${horizon}` };
  },
};

const resetAfterEnd: EnvCheck = {
  name: 'reset-after-end',
  needs: ['step-shapes'],
  run(ctx) {
    const { env, rows: N, horizon } = ctx;
    const r = env.reset({ seed: ctx.seed });
    const p: string[] = [];
    if (!(r.observations instanceof Float32Array) || r.observations.length !== N * env.obsDim)
      p.push(
        `reset after the end returned ${typeName(r.observations)}; expected Float32Array(${N * env.obsDim})`,
      );
    if (env.agents.length !== env.possibleAgents.length)
      p.push(`after reset ${env.agents.length} agents are alive; expected ${env.possibleAgents.length}`);
    const s = randomStep(ctx);
    p.push(...shapeProblems(ctx, s).map((m) => `first step after reset: ${m}`));
    if (horizon !== undefined && horizon > 1 && anyEnded(s))
      p.push('the first step after reset already ended the episode (the step counter is not reset?)');
    return { problems: p, passed: 'reset and step work after an episode end' };
  },
};

const close: EnvCheck = {
  name: 'close',
  needs: [],
  run({ env }) {
    env.close();
    env.close();
    return { problems: [], passed: 'close() twice is harmless' };
  },
};

/** The checks in the order they run (and are reported). */
const CHECKS = [
  spaces,
  reset,
  agents,
  state,
  resetDeterminism,
  resetSeed,
  stepShapes,
  rewardsFinite,
  doneFlags,
  horizonCheck,
  resetAfterEnd,
  close,
] as const satisfies readonly EnvCheck[];

/** Names of the checks, in the order they run and are reported. */
export const ENV_CHECKS = CHECKS.map((c) => c.name) as readonly string[];

/**
 * Run every check on `env` in order; never throws (failures are results). A check that throws fails with
 * the error; a check whose `needs` did not complete fails as not run. The env is closed at the end.
 */
export function checkEnv(env: ParallelEnv<StepInfo>, opts: CheckEnvOptions = {}): CheckResult[] {
  const envHorizon = (env as unknown as { horizon?: unknown }).horizon;
  const ctx: CheckContext = {
    env,
    seed: opts.seed ?? 0,
    random: opts.random !== false,
    horizon: opts.horizon ?? (typeof envHorizon === 'number' ? envHorizon : undefined),
    maxSteps: opts.maxSteps ?? 1000,
    rng: opts.rng ?? Rng.fromSeed(0),
    rows: env.numEnvs * env.numAgents,
  };
  const completed = new Set<string>();
  return CHECKS.map((c): CheckResult => {
    const missing = c.needs.find((n) => !completed.has(n));
    if (missing !== undefined)
      return { check: c.name, ok: false, message: `not run: '${missing}' threw or did not run` };
    try {
      const { problems, passed } = c.run(ctx);
      completed.add(c.name);
      return { check: c.name, ok: !problems.length, message: problems.length ? problems.join('; ') : passed };
    } catch (e) {
      return { check: c.name, ok: false, message: `threw: ${e instanceof Error ? e.message : String(e)}` };
    }
  });
}

/** {@link checkEnv}, throwing a DbmimError that lists every failed check. */
export function assertEnv(env: ParallelEnv<StepInfo>, opts: CheckEnvOptions = {}): CheckResult[] {
  const res = checkEnv(env, opts);
  const bad = res.filter((r) => !r.ok);
  if (bad.length)
    throw new DbmimError(
      `env check failed: ${bad.map((r) => `${r.check}: ${r.message}`).join(' | ')}`,
      'env-check',
    );
  return res;
}
