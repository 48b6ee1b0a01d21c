import type { ParallelEnv, StepInfo } from '../parallel-env.js';
import { mean } from '../../core/stats.js';

/** What a fixed policy sees. */
export interface PolicyInput {
  /** `[numEnvs * numAgents, obsDim]` */
  observations: Float32Array;
  /** `[numEnvs, stateDim]` */
  state: Float32Array;
  numEnvs: number;
  numAgents: number;
  obsDim: number;
  /** Steps taken so far by the runner. */
  step: number;
}

/** A policy: actions `[numEnvs * numAgents]`, optionally with mask preferences for the budget. */
export type PolicyFn = (
  input: PolicyInput,
) => Int32Array | { actions: Int32Array; preferences?: Float32Array };

/** One step of a fixed-policy run. */
export interface StepRecord {
  step: number;
  /** Mean realized mask ratio over the envs (when the env reports `maskRatio`, else from the actions). */
  maskRatio: number;
  /** The env's `info.mimLoss` when it reports one, else null. */
  mimLoss: number | null;
  /** Mean reward over all agent rows. */
  rewardMean: number;
  /** Mean of every reward term over all agent rows. */
  rewardTerms: Record<string, number>;
  /** 1 when the episode ended at this step (the runner then resets). */
  ended: boolean;
}

/**
 * Run `policy` for `steps` env steps from `reset({seed})`, resetting (without a seed: the env's streams
 * continue) whenever an episode ends. Returns one record per step.
 */
export function runFixedPolicy(
  env: ParallelEnv<StepInfo>,
  policy: PolicyFn,
  steps: number,
  opts: { seed?: number; onStep?: (r: StepRecord) => void } = {},
): StepRecord[] {
  let obs = env.reset(opts.seed !== undefined ? { seed: opts.seed } : {}).observations;
  const records: StepRecord[] = [];
  for (let s = 0; s < steps; s++) {
    const out = policy({
      observations: obs,
      state: env.state(),
      numEnvs: env.numEnvs,
      numAgents: env.numAgents,
      obsDim: env.obsDim,
      step: s,
    });
    const { actions, preferences } =
      out instanceof Int32Array ? { actions: out, preferences: undefined } : out;
    const r = env.step(actions, preferences);
    const ratio = r.infos.maskRatio;
    const terms: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.infos.rewardTerms)) terms[k] = mean(v);
    const ended = r.terminations.some((x) => x === 1) || r.truncations.some((x) => x === 1);
    const rec: StepRecord = {
      step: s,
      maskRatio:
        ratio instanceof Float32Array || Array.isArray(ratio) ? mean(ratio) : mean(r.infos.realizedActions),
      mimLoss: typeof r.infos.mimLoss === 'number' ? r.infos.mimLoss : null,
      rewardMean: mean(r.rewards),
      rewardTerms: terms,
      ended,
    };
    records.push(rec);
    opts.onStep?.(rec);
    obs = ended ? env.reset().observations : r.observations;
  }
  return records;
}
