import { actInputOf, stepEnded, transitionOf } from './env-io.js';
import type { ParallelEnv, StepInfo } from '../env/parallel-env.js';
import type { Agent, UpdateStats } from './agent.js';
import { mean } from '../core/stats.js';

/*
 * A minimal on-policy loop (act -> step -> observe, update every `rolloutSteps` steps, reset on episode
 * end), for toy envs, examples and benchmarks. The pretraining trainer (src/tasks/pretrain) is the full
 * version with phases, events and checkpoints.
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
  let obs = env.reset({ seed: opts.seed }).observations;
  const history: UpdateStats[] = [];
  let steps = 0;
  for (let u = 0; u < opts.updates; u++) {
    let reward = 0;
    let correct = 0;
    let hasCorrect = false;
    for (let t = 0; t < T; t++) {
      const input = actInputOf(env, obs, opts.deterministic);
      const out = agent.act(input);
      const res = env.step(out.actions, out.probs);
      steps++;
      const ended = stepEnded(res); // then every env is reset: rows still running count as truncated
      if (learn) agent.observe(transitionOf(input, out, res, env.state(), ended));
      reward += mean(res.rewards) / T;
      const c = res.infos.correct;
      if (c instanceof Float32Array) {
        correct += mean(c) / T;
        hasCorrect = true;
      }
      obs = ended ? env.reset().observations : res.observations;
    }
    // Progress before this update (as CleanRL): the first update runs at the full rate, none at 0.
    const stats = (learn ? agent.update(u / opts.updates) : null) ?? {};
    history.push({ ...stats, meanReward: reward, ...(hasCorrect ? { correct } : {}) });
  }
  return { history, steps };
}
