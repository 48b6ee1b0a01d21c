import type { ParallelEnv, StepInfo } from '../env/parallel-env.js';
import type { Agent, UpdateStats } from './agent.js';
import { mean } from '../core/stats.js';
import { envSteps, summarizeStep, type StepSummary } from './step-loop.js';

/*
 * Two small consumers of the stepping loop (step-loop.ts) for toy envs, examples, benchmarks and the CLI:
 * trainOnEnv (on-policy training: update every `rolloutSteps` steps) and runPolicy (run any agent without
 * learning, one record per step). The pretraining trainer (src/tasks/pretrain) is the full version with
 * phases, events and checkpoints.
 */

/** Options of {@link trainOnEnv}. */
export interface TrainLoopOptions {
  /** Policy updates to run. */
  updates: number;
  /** Env steps per update (default 8). */
  rolloutSteps?: number;
  /** Seed of the first reset (later resets continue the env's stream). */
  seed?: number;
  /** Act greedily (evaluation; no learning happens when true). */
  deterministic?: boolean;
}

/** What {@link trainOnEnv} returns. */
export interface TrainLoopResult {
  /** Per update: the learner's stats plus `meanReward` and, when the env reports it, `correct`. */
  history: UpdateStats[];
  steps: number;
}

/** Run `updates` rollouts of `rolloutSteps` steps, updating the agent after each. */
export function trainOnEnv(
  env: ParallelEnv<StepInfo>,
  agent: Agent,
  opts: TrainLoopOptions,
): TrainLoopResult {
  const T = opts.rolloutSteps ?? 8;
  const learn = agent.learns && !opts.deterministic;
  const steps = envSteps(env, agent, {
    resetSeed: (episode) => (episode === 0 ? opts.seed : undefined),
    deterministic: opts.deterministic,
    learnAt: () => learn,
  });
  const history: UpdateStats[] = [];
  for (let u = 0; u < opts.updates; u++) {
    let reward = 0;
    let correct = 0;
    let hasCorrect = false;
    for (let t = 0; t < T; t++) {
      const { result } = steps.next().value;
      reward += mean(result.rewards) / T;
      const c = result.infos.correct;
      if (c instanceof Float32Array) {
        correct += mean(c) / T;
        hasCorrect = true;
      }
    }
    // Progress before this update (as CleanRL): the first update runs at the full rate, none at 0.
    const stats = (learn ? agent.update(u / opts.updates) : null) ?? {};
    history.push({ ...stats, meanReward: reward, ...(hasCorrect ? { correct } : {}) });
  }
  return { history, steps: opts.updates * T };
}

/** One step of {@link runPolicy}. */
export interface PolicyStepRecord extends StepSummary {
  /** Index of the step (0-based). */
  step: number;
  /** The episode ended at this step (the runner then resets). */
  ended: boolean;
}

/**
 * Run `agent` (any policy: a heuristic, a plug-in, an untrained or loaded learner; it never learns here)
 * for `steps` env steps from `reset({seed})`, resetting without a seed (the env's streams continue)
 * whenever an episode ends. Returns one record per step.
 */
export function runPolicy(
  env: ParallelEnv<StepInfo>,
  agent: Agent,
  steps: number,
  opts: { seed?: number; onStep?: (r: PolicyStepRecord) => void } = {},
): PolicyStepRecord[] {
  const loop = envSteps(env, agent, {
    resetSeed: (episode) => (episode === 0 ? opts.seed : undefined),
    learnAt: () => false,
  });
  const records: PolicyStepRecord[] = [];
  for (let i = 0; i < steps; i++) {
    const s = loop.next().value;
    const rec: PolicyStepRecord = { step: i, ...summarizeStep(s.result), ended: s.ended };
    records.push(rec);
    opts.onStep?.(rec);
  }
  return records;
}
