import { InputError } from '../core/errors.js';
import type { ParallelEnv, ResetOptions, ResetResult, StepInfo, StepResult } from './parallel-env.js';
import type { Box, Discrete } from './spaces.js';

type TypedArray = Float32Array | Int32Array | Uint8Array | Uint32Array | Float64Array;

function isTyped(v: unknown): v is TypedArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function concat<T extends TypedArray>(parts: T[]): T {
  const C = parts[0]!.constructor as { new (n: number): T };
  const out = new C(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p as never, o);
    o += p.length;
  }
  return out;
}

/**
 * N copies of any parallel env stacked into one (rows env-major: copy 0's rows first). Use it to
 * vectorize a hand-written single env; MaskingEnv batches its own crops (`env.numEnvs`).
 *
 * - `reset({seed})` resets copy i with seed + i (without a seed every copy continues its own stream).
 * - `step` slices actions and preferences per copy and concatenates the results. Info fields: typed
 *   arrays present in every copy are concatenated (`realizedActions`, `maskRatio`, ...), each reward term
 *   is concatenated (zeros for a copy that lacks it), numbers become the mean over copies (e.g.
 *   `mimLoss`), and `copies` holds every copy's own info.
 * - Copies step in lockstep: when any row ends, the caller resets the whole vector.
 */
export class VectorEnv<I extends StepInfo = StepInfo> implements ParallelEnv<StepInfo> {
  readonly numEnvs: number;
  readonly numAgents: number;
  readonly obsDim: number;
  readonly stateDim: number;
  private closed = false;

  constructor(readonly envs: ParallelEnv<I>[]) {
    if (!envs.length) throw new InputError('VectorEnv: needs at least one env');
    const e0 = envs[0]!;
    envs.forEach((e, i) => {
      if (e.numAgents !== e0.numAgents || e.obsDim !== e0.obsDim || e.stateDim !== e0.stateDim)
        throw new InputError(
          `VectorEnv: env ${i} has numAgents ${e.numAgents}, obsDim ${e.obsDim}, stateDim ${e.stateDim}; ` +
            `env 0 has ${e0.numAgents}, ${e0.obsDim}, ${e0.stateDim}`,
        );
      if (e.possibleAgents.some((a, k) => a !== e0.possibleAgents[k]))
        throw new InputError(`VectorEnv: env ${i} has other agent ids than env 0`);
    });
    this.numEnvs = envs.reduce((s, e) => s + e.numEnvs, 0);
    this.numAgents = e0.numAgents;
    this.obsDim = e0.obsDim;
    this.stateDim = e0.stateDim;
  }

  /** `count` copies made by `make(i)`. */
  static of<I extends StepInfo>(make: (i: number) => ParallelEnv<I>, count: number): VectorEnv<I> {
    return new VectorEnv(Array.from({ length: count }, (_, i) => make(i)));
  }

  get possibleAgents(): readonly string[] {
    return this.envs[0]!.possibleAgents;
  }
  get agents(): readonly string[] {
    return this.envs[0]!.agents;
  }
  observationSpace(agent: string): Box {
    return this.envs[0]!.observationSpace(agent);
  }
  actionSpace(agent: string): Discrete {
    return this.envs[0]!.actionSpace(agent);
  }
  stateSpace(): Box {
    return this.envs[0]!.stateSpace();
  }

  reset(opts: ResetOptions = {}): ResetResult {
    const rs = this.envs.map((e, i) =>
      e.reset({ ...opts, ...(opts.seed !== undefined ? { seed: opts.seed + i } : {}) }),
    );
    return { observations: concat(rs.map((r) => r.observations)), infos: { copies: rs.map((r) => r.infos) } };
  }

  step(actions: Int32Array, preferences?: Float32Array): StepResult<StepInfo> {
    const n = this.numEnvs * this.numAgents;
    if (actions.length !== n)
      throw new InputError(`VectorEnv.step: actions have length ${actions.length}, expected ${n}`);
    if (preferences && preferences.length !== n)
      throw new InputError(`VectorEnv.step: preferences have length ${preferences.length}, expected ${n}`);
    let o = 0;
    const rs = this.envs.map((e) => {
      const k = e.numEnvs * e.numAgents;
      const r = e.step(actions.subarray(o, o + k), preferences?.subarray(o, o + k));
      o += k;
      return r;
    });
    return {
      observations: concat(rs.map((r) => r.observations)),
      rewards: concat(rs.map((r) => r.rewards)),
      terminations: concat(rs.map((r) => r.terminations)),
      truncations: concat(rs.map((r) => r.truncations)),
      infos: this.mergeInfos(rs.map((r) => r.infos)),
    };
  }

  private mergeInfos(infos: I[]): StepInfo {
    const termNames = new Set(infos.flatMap((i) => Object.keys(i.rewardTerms)));
    const rewardTerms: Record<string, Float32Array> = {};
    for (const t of termNames)
      rewardTerms[t] = concat(
        infos.map((inf, c) => inf.rewardTerms[t] ?? new Float32Array(this.envs[c]!.numEnvs * this.numAgents)),
      );
    const out: StepInfo = { realizedActions: concat(infos.map((i) => i.realizedActions)), rewardTerms };
    for (const key of Object.keys(infos[0]!)) {
      if (key === 'realizedActions' || key === 'rewardTerms') continue;
      const vals = infos.map((i) => i[key]);
      if (vals.every(isTyped) && vals.every((v) => v.constructor === vals[0]!.constructor))
        out[key] = concat(vals as TypedArray[]);
      else if (vals.every((v) => typeof v === 'number'))
        out[key] = (vals as number[]).reduce((a, b) => a + b, 0) / vals.length;
    }
    out.copies = infos;
    return out;
  }

  state(): Float32Array {
    return concat(this.envs.map((e) => e.state()));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.envs) e.close();
  }
}
