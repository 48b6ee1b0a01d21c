import type { ParallelEnv, StepInfo, StepResult } from '../env/parallel-env.js';
import type { ActInput, ActOutput, Agent } from './agent.js';
import { actInputOf, stepEnded, transitionOf } from './env-io.js';
import { mean } from '../core/stats.js';

/*
 * The one stepping loop: act -> step -> observe -> (caller: update, log, checkpoint) -> reset on episode
 * end. trainOnEnv, runPolicy (train-loop.ts) and the pretraining trainer (tasks/pretrain/trainer.ts)
 * consume it and differ only in what they do between steps. It is a generator so a caller can await
 * (checkpoints) between steps; the reset after an episode end runs when the caller asks for the next step,
 * i.e. after its update and checkpoint.
 */

/** One env step as the loops see it. */
export interface EnvStep {
  /** Steps done so far, this one included (1 for the first step of the loop). */
  step: number;
  /** Episode this step belongs to (counted from `firstEpisode`). */
  episode: number;
  input: ActInput;
  output: ActOutput;
  result: StepResult<StepInfo>;
  /** Some row terminated or was truncated: every env is reset before the next step. */
  ended: boolean;
}

export interface StepLoopOptions {
  /** Steps done before this loop (a resumed run); `EnvStep.step` continues from it (default 0). */
  firstStep?: number;
  /** Episode index of the first reset (default 0). */
  firstEpisode?: number;
  /**
   * Seed of the reset that starts episode `k`. Undefined (or a function returning undefined): the first
   * reset is unseeded and later resets continue the env's streams.
   */
  resetSeed?: (episode: number) => number | undefined;
  /** Act greedily (evaluation). */
  deterministic?: boolean;
  /** Whether the agent records the transition of step `step` (default: `agent.learns`). */
  learnAt?: (step: number) => boolean;
}

/** Step `env` with `agent` forever (the caller breaks out); yields every step after the agent observed it. */
export function* envSteps(
  env: ParallelEnv<StepInfo>,
  agent: Agent,
  opts: StepLoopOptions = {},
): Generator<EnvStep, never, void> {
  const learnAt = opts.learnAt ?? (() => agent.learns);
  let step = opts.firstStep ?? 0;
  let episode = opts.firstEpisode ?? 0;
  const reset = (): Float32Array => {
    const seed = opts.resetSeed?.(episode);
    return env.reset(seed === undefined ? {} : { seed }).observations;
  };
  let obs = reset();
  for (;;) {
    const input = actInputOf(env, obs, opts.deterministic);
    const output = agent.act(input);
    const result = env.step(output.actions, output.probs);
    step++;
    const ended = stepEnded(result); // then every env is reset: rows still running count as truncated
    if (learnAt(step)) agent.observe(transitionOf(input, output, result, env.state(), ended));
    yield { step, episode, input, output, result, ended };
    if (ended) {
      episode++;
      obs = reset();
    } else obs = result.observations;
  }
}

/** What a step did, averaged over all agent rows (the loops' logs and records). */
export interface StepSummary {
  /** Mean realized mask ratio (the env's `maskRatio` info when it reports one, else from the actions). */
  maskRatio: number;
  /** The env's `info.mimLoss` when it reports one, else null. */
  mimLoss: number | null;
  /** Mean reward. */
  reward: number;
  /** Mean of every reward term. */
  rewardTerms: Record<string, number>;
}

/** Summarize one step's result (see {@link StepSummary}). */
export function summarizeStep(res: StepResult<StepInfo>): StepSummary {
  const infos = res.infos as StepInfo & { mimLoss?: unknown; maskRatio?: unknown };
  const rewardTerms: Record<string, number> = {};
  for (const [k, v] of Object.entries(infos.rewardTerms)) rewardTerms[k] = mean(v);
  const ratio = infos.maskRatio;
  return {
    maskRatio:
      typeof ratio === 'number'
        ? ratio
        : ratio instanceof Float32Array || Array.isArray(ratio)
          ? mean(ratio as ArrayLike<number>)
          : mean(infos.realizedActions),
    mimLoss: typeof infos.mimLoss === 'number' ? infos.mimLoss : null,
    reward: mean(res.rewards),
    rewardTerms,
  };
}
