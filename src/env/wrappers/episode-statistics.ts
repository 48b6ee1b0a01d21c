import type { ParallelEnv, ResetOptions, ResetResult, StepInfo, StepResult } from '../parallel-env.js';
import { ParallelEnvWrapper } from './wrapper.js';

/** Statistics of the episodes that ended at a step. */
export interface EpisodeStats {
  /** 1 for the envs whose episode ended at this step `[numEnvs]`. */
  ended: Uint8Array;
  /** Per env: sum over the episode's steps of the mean reward of its agents `[numEnvs]`. */
  returns: Float32Array;
  /** Per env: steps in the episode `[numEnvs]`. */
  lengths: Int32Array;
  /** Per agent row: undiscounted return `[numEnvs * numAgents]`. */
  agentReturns: Float32Array;
}

/**
 * Episode statistics (Gym RecordEpisodeStatistics): accumulates returns and lengths per env; on a step
 * where an env's episode ends (any of its rows terminated or truncated) the step's info gets `episode`
 * ({@link EpisodeStats}; values of envs that did not end are 0) and the env's counters restart.
 */
export class RecordEpisodeStatistics<I extends StepInfo = StepInfo> extends ParallelEnvWrapper<I> {
  private envReturn: Float64Array;
  private agentReturn: Float64Array;
  private length: Int32Array;
  /** Every finished episode so far: {env, return, length}. */
  readonly history: { env: number; return: number; length: number }[] = [];

  constructor(env: ParallelEnv<I>) {
    super(env);
    this.envReturn = new Float64Array(env.numEnvs);
    this.agentReturn = new Float64Array(env.numEnvs * env.numAgents);
    this.length = new Int32Array(env.numEnvs);
  }

  override reset(opts?: ResetOptions): ResetResult {
    this.envReturn.fill(0);
    this.agentReturn.fill(0);
    this.length.fill(0);
    return this.env.reset(opts);
  }

  override step(actions: Int32Array, preferences?: Float32Array): StepResult<I> {
    const r = this.env.step(actions, preferences);
    const ne = this.numEnvs;
    const na = this.numAgents;
    const ended = new Uint8Array(ne);
    for (let e = 0; e < ne; e++) {
      let s = 0;
      for (let a = 0; a < na; a++) {
        const i = e * na + a;
        s += r.rewards[i]!;
        this.agentReturn[i]! += r.rewards[i]!;
        if (r.terminations[i] || r.truncations[i]) ended[e] = 1;
      }
      this.envReturn[e]! += s / na;
      this.length[e]!++;
    }
    if (!ended.some((x) => x === 1)) return r;
    const stats: EpisodeStats = {
      ended,
      returns: new Float32Array(ne),
      lengths: new Int32Array(ne),
      agentReturns: new Float32Array(ne * na),
    };
    for (let e = 0; e < ne; e++) {
      if (!ended[e]) continue;
      stats.returns[e] = this.envReturn[e]!;
      stats.lengths[e] = this.length[e]!;
      for (let a = 0; a < na; a++) stats.agentReturns[e * na + a] = this.agentReturn[e * na + a]!;
      this.history.push({ env: e, return: this.envReturn[e]!, length: this.length[e]! });
      this.envReturn[e] = 0;
      this.length[e] = 0;
      this.agentReturn.fill(0, e * na, (e + 1) * na);
    }
    return { ...r, infos: { ...r.infos, episode: stats } };
  }
}
