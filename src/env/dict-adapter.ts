import { InputError } from '../core/errors.js';
import type { ParallelEnv, ResetOptions, StepInfo } from './parallel-env.js';

/*
 * A PettingZoo-style dict view of a batched parallel env, for familiarity and small scripts (the batched
 * struct-of-arrays interface is the fast path). Keys: with one env the agent id itself (`patch_z_y_x`);
 * with numEnvs > 1 `env<e>/<agent id>` (e.g. `env1/patch_0_2_3`), flat so one dict covers the vector.
 */

/** Per-agent info of a dict step. */
export interface AgentInfo {
  /** The action the env applied (after e.g. the mask budget). */
  realizedAction: number;
  /** This agent's value of every reward term. */
  rewardTerms: Record<string, number>;
}

export interface DictResetResult {
  observations: Record<string, Float32Array>;
  infos: Record<string, Record<string, unknown>>;
}

export interface DictStepResult {
  observations: Record<string, Float32Array>;
  rewards: Record<string, number>;
  terminations: Record<string, boolean>;
  truncations: Record<string, boolean>;
  infos: Record<string, AgentInfo>;
}

/**
 * A dict-keyed view of a ParallelEnv (PettingZoo style: values by agent id), a thin adapter over the
 * struct-of-arrays hot path.
 */
export class DictParallelEnv<I extends StepInfo = StepInfo> {
  /** Key of every row, in row order (env-major). */
  readonly keys: readonly string[];
  private readonly index: Map<string, number>;
  /** The batched info of the last step (per-env fields such as maskRatio, mimLoss). */
  lastInfo: I | null = null;

  constructor(readonly env: ParallelEnv<I>) {
    const ids = env.possibleAgents;
    if (ids.length !== env.numAgents)
      throw new InputError(
        `DictParallelEnv: env has ${ids.length} possible agents but numAgents ${env.numAgents}`,
      );
    const keys: string[] = [];
    for (let e = 0; e < env.numEnvs; e++)
      for (const id of ids) keys.push(env.numEnvs === 1 ? id : `env${e}/${id}`);
    this.keys = keys;
    this.index = new Map(keys.map((k, i) => [k, i]));
  }

  /** Keys of the agents alive now (all envs). */
  get agents(): string[] {
    const alive = new Set(this.env.agents);
    return this.keys.filter((k) => alive.has(k.slice(k.indexOf('/') + 1)));
  }

  /** Key of row `row` (env-major). */
  keyOf(row: number): string {
    return this.keys[row]!;
  }

  reset(opts?: ResetOptions): DictResetResult {
    const r = this.env.reset(opts);
    const infos: Record<string, Record<string, unknown>> = {};
    for (const k of this.keys) infos[k] = {};
    return { observations: this.split(r.observations), infos };
  }

  /**
   * @param actions one action per agent key (every key required)
   * @param preferences optional mask preference per agent key (all keys, or none)
   */
  step(actions: Record<string, number>, preferences?: Record<string, number>): DictStepResult {
    const a = new Int32Array(this.keys.length);
    this.fill(actions, a, 'actions');
    let p: Float32Array | undefined;
    if (preferences) {
      p = new Float32Array(this.keys.length);
      this.fill(preferences, p, 'preferences');
    }
    const r = this.env.step(a, p);
    this.lastInfo = r.infos;
    const rewards: Record<string, number> = {};
    const terminations: Record<string, boolean> = {};
    const truncations: Record<string, boolean> = {};
    const infos: Record<string, AgentInfo> = {};
    this.keys.forEach((k, i) => {
      rewards[k] = r.rewards[i]!;
      terminations[k] = r.terminations[i] === 1;
      truncations[k] = r.truncations[i] === 1;
      const terms: Record<string, number> = {};
      for (const [name, v] of Object.entries(r.infos.rewardTerms)) terms[name] = v[i]!;
      infos[k] = { realizedAction: r.infos.realizedActions[i]!, rewardTerms: terms };
    });
    return { observations: this.split(r.observations), rewards, terminations, truncations, infos };
  }

  /** Global state per env: key `env<e>` (or `state` with one env) -> `[stateDim]`. */
  state(): Record<string, Float32Array> {
    const s = this.env.state();
    const d = this.env.stateDim;
    const out: Record<string, Float32Array> = {};
    for (let e = 0; e < this.env.numEnvs; e++)
      out[this.env.numEnvs === 1 ? 'state' : `env${e}`] = s.slice(e * d, (e + 1) * d);
    return out;
  }

  close(): void {
    this.env.close();
  }

  private split(obs: Float32Array): Record<string, Float32Array> {
    const d = this.env.obsDim;
    const out: Record<string, Float32Array> = {};
    this.keys.forEach((k, i) => (out[k] = obs.slice(i * d, (i + 1) * d)));
    return out;
  }

  private fill(src: Record<string, number>, dst: Int32Array | Float32Array, what: string): void {
    for (const k of Object.keys(src))
      if (!this.index.has(k))
        throw new InputError(
          `DictParallelEnv.step: unknown agent '${k}' in ${what} (keys look like '${this.keys[0]}')`,
        );
    this.keys.forEach((k, i) => {
      const v = src[k];
      if (typeof v !== 'number')
        throw new InputError(`DictParallelEnv.step: ${what} has no value for agent '${k}'`);
      dst[i] = v;
    });
  }
}
