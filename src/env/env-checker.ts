import { DbmimError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { ParallelEnv, StepInfo, StepResult } from './parallel-env.js';
import { Box, Discrete } from './spaces.js';

/*
 * checkEnv: runs any ParallelEnv through the contract (parallel-env.ts) and says what is wrong. It resets
 * and steps the env (a MaskingEnv trains its model meanwhile), then closes it twice. Every check yields
 * one result; a check that cannot run because an earlier call threw fails with the error.
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

/** Names of the checks, in the order they run. */
export const ENV_CHECKS = [
  'spaces',
  'agents',
  'reset',
  'state',
  'reset-determinism',
  'reset-seed',
  'step-shapes',
  'rewards-finite',
  'done-flags',
  'horizon',
  'reset-after-end',
  'close',
] as const;

export type EnvCheckName = (typeof ENV_CHECKS)[number];

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

/** Run every check on `env`; never throws (failures are results). */
export function checkEnv(env: ParallelEnv<StepInfo>, opts: CheckEnvOptions = {}): CheckResult[] {
  const results: CheckResult[] = [];
  const seed = opts.seed ?? 0;
  const rng = opts.rng ?? Rng.fromSeed(0);
  const maxSteps = opts.maxSteps ?? 1000;
  const envHorizon = (env as unknown as { horizon?: unknown }).horizon;
  const horizon = opts.horizon ?? (typeof envHorizon === 'number' ? envHorizon : undefined);
  const done = new Set<string>();
  const record = (check: EnvCheckName, problems: string[], okMessage: string): void => {
    done.add(check);
    results.push({
      check,
      ok: problems.length === 0,
      message: problems.length ? problems.join('; ') : okMessage,
    });
  };
  const attempt = (check: EnvCheckName, fn: () => void): boolean => {
    try {
      fn();
      return true;
    } catch (e) {
      done.add(check);
      results.push({ check, ok: false, message: `threw: ${e instanceof Error ? e.message : String(e)}` });
      return false;
    }
  };
  const N = env.numEnvs * env.numAgents;
  const od = env.obsDim;
  const sd = env.stateDim;

  // spaces
  attempt('spaces', () => {
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
    record('spaces', p, `obsDim ${od}, stateDim ${sd}, ${env.possibleAgents.length} agents`);
  });

  // reset (+ agents, state)
  let obs0: Float32Array | null = null;
  let state0: Float32Array | null = null;
  const resetOk = attempt('reset', () => {
    const r = env.reset({ seed });
    obs0 = r.observations;
    const p: string[] = [];
    if (!(obs0 instanceof Float32Array) || obs0.length !== N * od)
      p.push(
        `reset observations are ${typeName(obs0)}; expected Float32Array(${N * od}) = numEnvs * numAgents * obsDim`,
      );
    else {
      const row = firstOutside(env.observationSpace(env.possibleAgents[0]!), obs0, od);
      if (row >= 0) p.push(`reset observation of row ${row} is outside the observation space`);
    }
    if (typeof r.infos !== 'object' || r.infos === null) p.push('reset infos is not an object');
    record('reset', p, `observations [${N}, ${od}]`);
  });
  attempt('agents', () => {
    const p: string[] = [];
    const pa = env.possibleAgents;
    if (pa.length !== env.numAgents)
      p.push(`possibleAgents has ${pa.length} ids but numAgents is ${env.numAgents}`);
    if (new Set(pa).size !== pa.length) p.push('possibleAgents has duplicate ids');
    const alive = env.agents;
    const bad = alive.filter((a) => !pa.includes(a));
    if (bad.length) p.push(`agents not in possibleAgents: ${bad.slice(0, 3).join(', ')}`);
    if (resetOk && alive.length !== pa.length)
      p.push(`after reset ${alive.length} agents are alive; expected all ${pa.length} possible agents`);
    record('agents', p, `${pa.length} agents`);
  });
  attempt('state', () => {
    const s = env.state();
    state0 = s;
    const p: string[] = [];
    if (!(s instanceof Float32Array) || s.length !== env.numEnvs * sd)
      p.push(`state() is ${typeName(s)}; expected Float32Array(${env.numEnvs * sd}) = numEnvs * stateDim`);
    else {
      const row = firstOutside(env.stateSpace(), s, sd);
      if (row >= 0) p.push(`state of env ${row} is outside the state space`);
    }
    record('state', p, `state [${env.numEnvs}, ${sd}]`);
  });

  // determinism of reset
  if (resetOk)
    attempt('reset-determinism', () => {
      const r = env.reset({ seed });
      const p: string[] = [];
      if (!same(r.observations, obs0!)) p.push(`reset({seed: ${seed}}) twice gave different observations`);
      if (state0 && !same(env.state(), state0)) p.push(`reset({seed: ${seed}}) twice gave different states`);
      record('reset-determinism', p, `same seed, same observations and state`);
    });
  if (resetOk)
    attempt('reset-seed', () => {
      const r = env.reset({ seed: seed + 1 });
      const differs = !same(r.observations, obs0!);
      const p: string[] = [];
      if (!differs && opts.random !== false)
        p.push(
          `reset with seeds ${seed} and ${seed + 1} gave identical observations (the seed is ignored? pass {random: false} for a deterministic env)`,
        );
      record(
        'reset-seed',
        p,
        differs
          ? 'different seeds, different observations'
          : 'deterministic env: seeds give the same observations',
      );
    });

  // stepping
  const stepOnce = (): StepResult<StepInfo> => {
    const actions = new Int32Array(N);
    for (let i = 0; i < N; i++)
      actions[i] = env.actionSpace(env.possibleAgents[i % env.numAgents]!).sample(rng);
    const prefs = new Float32Array(N);
    for (let i = 0; i < N; i++) prefs[i] = rng.next();
    return env.step(actions, prefs);
  };
  const shapeProblems = (r: StepResult<StepInfo>): string[] => {
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
        const bad = inf.realizedActions.findIndex((a) => !sp.contains(a));
        if (bad >= 0)
          p.push(`infos.realizedActions[${bad}] = ${inf.realizedActions[bad]} is outside the action space`);
      }
      if (!inf.rewardTerms || typeof inf.rewardTerms !== 'object')
        p.push('infos.rewardTerms is not an object');
      else
        for (const [k, v] of Object.entries(inf.rewardTerms))
          if (!(v instanceof Float32Array) || v.length !== N)
            p.push(`infos.rewardTerms.${k} is ${typeName(v)}; expected Float32Array(${N})`);
    }
    const s = env.state();
    if (!(s instanceof Float32Array) || s.length !== env.numEnvs * sd)
      p.push(`state() after step is ${typeName(s)}; expected Float32Array(${env.numEnvs * sd})`);
    else if (firstOutside(env.stateSpace(), s, sd) >= 0)
      p.push('state after step is outside the state space');
    return p;
  };
  const flagProblems = (r: StepResult<StepInfo>): string[] => {
    const p: string[] = [];
    for (const [name, f] of [
      ['terminations', r.terminations],
      ['truncations', r.truncations],
    ] as const) {
      const bad = Array.prototype.findIndex.call(f, (v: number) => v !== 0 && v !== 1);
      if (bad >= 0) p.push(`${name}[${bad}] = ${f[bad]}; expected 0 or 1`);
    }
    return p;
  };
  const rewardProblems = (r: StepResult<StepInfo>, t: number): string[] => {
    const p: string[] = [];
    const bad = Array.prototype.findIndex.call(r.rewards, (v: number) => !Number.isFinite(v));
    if (bad >= 0) p.push(`step ${t}: rewards[${bad}] = ${r.rewards[bad]}`);
    for (const [k, v] of Object.entries(r.infos?.rewardTerms ?? {})) {
      const b = Array.prototype.findIndex.call(v, (x: number) => !Number.isFinite(x));
      if (b >= 0) p.push(`step ${t}: rewardTerms.${k}[${b}] = ${v[b]}`);
    }
    return p;
  };

  let ended = false;
  let endStep = -1;
  let endResult: StepResult<StepInfo> | null = null;
  if (resetOk) {
    const shapes: string[] = [];
    const rewards: string[] = [];
    const flags: string[] = [];
    let steps = 0;
    attempt('step-shapes', () => {
      env.reset({ seed });
      while (steps < maxSteps) {
        const r = stepOnce();
        steps++;
        if (!shapes.length) shapes.push(...shapeProblems(r).map((m) => `step ${steps}: ${m}`));
        if (!rewards.length) rewards.push(...rewardProblems(r, steps));
        if (!flags.length) flags.push(...flagProblems(r).map((m) => `step ${steps}: ${m}`));
        const anyEnd =
          Array.prototype.some.call(r.terminations ?? [], (v: number) => v === 1) ||
          Array.prototype.some.call(r.truncations ?? [], (v: number) => v === 1);
        if (anyEnd) {
          ended = true;
          endStep = steps;
          endResult = r;
          break;
        }
        if (horizon === undefined && steps >= 3) break; // no end expected: a few steps suffice
      }
      record('step-shapes', shapes, `${steps} steps: arrays of the right length and dtype`);
    });
    if (steps > 0 && !results.some((r) => r.check === 'step-shapes' && r.message.startsWith('threw'))) {
      record('rewards-finite', rewards, `${steps} steps of finite rewards`);
      const fp = [...flags];
      if (env.agents.some((a) => !env.possibleAgents.includes(a)))
        fp.push('agents after the last step are not possible agents');
      record(
        'done-flags',
        fp,
        ended ? `episode ended at step ${endStep}` : `no episode end within ${steps} steps`,
      );
    }
    // horizon
    if (!done.has('done-flags')) {
      // stepping threw: the later checks cannot run (reported as not run below)
    } else if (horizon !== undefined) {
      const p: string[] = [];
      if (!ended)
        p.push(`no truncation within ${steps} steps; expected all rows truncated at step ${horizon}`);
      else {
        const r = endResult! as StepResult<StepInfo>;
        if (endStep !== horizon)
          p.push(`the episode ended at step ${endStep}; expected truncation at horizon ${horizon}`);
        const notTrunc = Array.prototype.findIndex.call(r.truncations, (v: number) => v !== 1);
        if (notTrunc >= 0 && endStep === horizon)
          p.push(`at the horizon truncations[${notTrunc}] is 0; expected every row truncated`);
        if (Array.prototype.some.call(r.terminations, (v: number) => v === 1) && endStep === horizon)
          p.push('at the horizon some rows are terminated; a time limit is a truncation');
      }
      record('horizon', p, `all ${N} rows truncated at step ${horizon}`);
    } else record('horizon', [], 'no horizon given: skipped');
    // reset after the end
    if (done.has('done-flags'))
      attempt('reset-after-end', () => {
        const r = env.reset({ seed });
        const p: string[] = [];
        if (!(r.observations instanceof Float32Array) || r.observations.length !== N * od)
          p.push(
            `reset after the end returned ${typeName(r.observations)}; expected Float32Array(${N * od})`,
          );
        if (env.agents.length !== env.possibleAgents.length)
          p.push(`after reset ${env.agents.length} agents are alive; expected ${env.possibleAgents.length}`);
        const s = stepOnce();
        p.push(...shapeProblems(s).map((m) => `first step after reset: ${m}`));
        if (
          horizon !== undefined &&
          horizon > 1 &&
          (s.truncations.some((v) => v === 1) || s.terminations.some((v) => v === 1))
        )
          p.push('the first step after reset already ended the episode (the step counter is not reset?)');
        record('reset-after-end', p, 'reset and step work after an episode end');
      });
  }
  for (const c of ENV_CHECKS)
    if (!done.has(c) && c !== 'close')
      results.push({ check: c, ok: false, message: 'not run: reset or step threw' });

  attempt('close', () => {
    env.close();
    env.close();
    record('close', [], 'close() twice is harmless');
  });
  // Report in the documented order.
  return results.sort(
    (a, b) => ENV_CHECKS.indexOf(a.check as EnvCheckName) - ENV_CHECKS.indexOf(b.check as EnvCheckName),
  );
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
