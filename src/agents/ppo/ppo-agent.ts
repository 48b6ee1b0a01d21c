import * as tf from '@tensorflow/tfjs';
import type { PpoConfig } from '../../core/config.js';
import { CheckpointError, InputError } from '../../core/errors.js';
import { Rng, type RngState } from '../../core/rng.js';
import {
  assignVariables,
  loadCheckpoint,
  saveCheckpoint,
  toCheckpointTensors,
} from '../../models/checkpoint.js';
import {
  DecisionModule,
  type CentralCriticInput,
  type DecisionActivation,
} from '../../models/decision-module.js';
import type { ActInput, ActOutput, Agent, Transition, UpdateStats } from '../agent.js';
import { Adam } from './adam.js';
import { RolloutBuffer } from './buffer.js';
import { computeGae } from './gae.js';
import {
  bernoulliEntropy,
  bernoulliLogProb,
  clipByGlobalNorm,
  clippedSurrogate,
  logProbOfAction,
  normalizeAdvantages,
  valueLoss,
} from './losses.js';
import { ValueNorm, type ValueNormState } from './value-norm.js';

/*
 * PPO for the patch agents, one learner for all of them (parameter sharing), CleanRL's ppo.py top to
 * bottom: collect a rollout (act/observe), bootstrap, GAE, then `epochs` passes of shuffled minibatches
 * of the clipped objective with global grad-norm clipping, linear LR annealing and an optional KL stop.
 * IPPO (critic 'agent': V(o_i)) and MAPPO (critic 'central': V(s_env, o_i), value normalization) differ
 * in the critic; both actors see the agent's own observation unless the pooled context is on (see
 * ippo.ts, mappo.ts and decision-module.ts).
 *
 * The old log-probability of a realized action is computed from the stored logit (exact), so the first
 * epoch's ratio is 1 even for saturated policies whose unlikely actions the mask budget forced.
 * Minibatches are made of (step, env) groups with all of the env's agents, because the optional pooled
 * context spans an env's patches (see decision-module.ts).
 */

export interface PpoAgentOptions {
  /** Registry name, saved in checkpoints. */
  name: string;
  /** 'agent': per-agent value from its own observation (IPPO); 'central': value of env.state() (MAPPO). */
  critic: 'agent' | 'central';
  /** Input of the central critic (default 'agent-specific': env state + the agent's observation). */
  centralInput?: CentralCriticInput;
  obsDim: number;
  stateDim: number;
  numEnvs: number;
  numAgents: number;
  /** PPO hyper-parameters (config.ppo). */
  ppo: PpoConfig;
  /** Parent stream: split into 'init', 'act' and 'minibatch'. */
  rng: Rng;
  /** Normalize value targets with running statistics (default: on for the central critic). */
  valueNorm?: boolean;
  /** Hidden activation of the decision module (default tanh). */
  activation?: DecisionActivation;
  /** Pooled env context in the policy (default false: each agent's actor sees its own observation). */
  useContext?: boolean;
  /** Initial mask probability of the policy (default 0.5; the built-ins pass env.targetRatio). */
  initMaskProb?: number;
}

interface AgentMeta {
  agent: string;
  critic: string;
  centralInput: string | null;
  useContext: boolean;
  obsDim: number;
  stateDim: number;
  hidden: number;
  updates: number;
  adamT: number;
  valueNorm: ValueNormState | null;
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return a.length ? s / a.length : 0;
}

function variance(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - m) ** 2;
  return a.length ? s / a.length : 0;
}

/** A PPO learner implementing {@link Agent}. */
export class PpoAgent implements Agent {
  readonly name: string;
  readonly learns = true;
  readonly critic: 'agent' | 'central';
  readonly module: DecisionModule;
  readonly ppo: PpoConfig;
  /** Policy updates done so far. */
  updates = 0;
  private readonly optimizer: Adam;
  private readonly buffer: RolloutBuffer;
  private readonly vnorm: ValueNorm | null;
  private actRng: Rng;
  private minibatchRng: Rng;

  constructor(opts: PpoAgentOptions) {
    this.name = opts.name;
    this.critic = opts.critic;
    this.ppo = opts.ppo;
    this.module = new DecisionModule({
      obsDim: opts.obsDim,
      stateDim: opts.stateDim,
      hidden: opts.ppo.hidden,
      activation: opts.activation,
      critic: opts.critic,
      useContext: opts.useContext,
      centralInput: opts.centralInput,
      ...(opts.initMaskProb === undefined ? {} : { initMaskProb: opts.initMaskProb }),
      rng: opts.rng.split('init'),
    });
    this.actRng = opts.rng.split('act');
    this.minibatchRng = opts.rng.split('minibatch');
    this.optimizer = new Adam(this.module.namedVariables(), opts.ppo.lr);
    this.buffer = new RolloutBuffer(opts.numEnvs, opts.numAgents, opts.obsDim, opts.stateDim);
    this.vnorm = (opts.valueNorm ?? opts.critic === 'central') ? new ValueNorm() : null;
  }

  /** The rollout collected since the last update (read-only use: diagnostics and tests). */
  get rollout(): RolloutBuffer {
    return this.buffer;
  }

  private checkInput(input: ActInput): void {
    const R = input.numEnvs * input.numAgents;
    const fail = (what: string): never => {
      throw new InputError(`${this.name}.act: ${what}`);
    };
    if (input.obsDim !== this.module.obsDim)
      fail(`obsDim is ${input.obsDim}, the policy was built for ${this.module.obsDim}`);
    if (input.observations.length !== R * input.obsDim)
      fail(
        `observations have ${input.observations.length} values, expected [${input.numEnvs} x ${input.numAgents}, ${input.obsDim}]`,
      );
    if (this.critic === 'central') {
      if (input.stateDim !== this.module.stateDim)
        fail(`stateDim is ${input.stateDim}, the critic was built for ${this.module.stateDim}`);
      if (input.state.length !== input.numEnvs * input.stateDim)
        fail(`state has ${input.state.length} values, expected [${input.numEnvs}, ${input.stateDim}]`);
    }
  }

  /** Critic outputs per row `[rows]` (raw network units; normalized when value normalization is on). */
  private rawValues(
    obs: tf.Tensor2D,
    state: tf.Tensor2D | null,
    numEnvs: number,
    numAgents: number,
  ): tf.Tensor1D {
    return tf.tidy(() => {
      if (this.critic === 'agent') return this.module.agentValue(obs);
      if (state!.shape[0] !== numEnvs) throw new InputError(`${this.name}: state rows != numEnvs`);
      return this.module.centralValue(state!, obs, numAgents); // [rows]
    });
  }

  /** Values in return units for host arrays (used at act time and for bootstrapping). */
  private valuesOf(obs: Float32Array, state: Float32Array, numEnvs: number, numAgents: number): Float32Array {
    const raw = tf.tidy(() => {
      const o = tf.tensor2d(obs, [numEnvs * numAgents, this.module.obsDim]);
      const s = this.critic === 'central' ? tf.tensor2d(state, [numEnvs, this.module.stateDim]) : null;
      return this.rawValues(o, s, numEnvs, numAgents);
    });
    const v = raw.dataSync() as Float32Array;
    raw.dispose();
    if (this.vnorm) for (let i = 0; i < v.length; i++) v[i] = this.vnorm.denormalize(v[i]!);
    return v;
  }

  act(input: ActInput): ActOutput {
    this.checkInput(input);
    const { numEnvs: E, numAgents: N } = input;
    const R = E * N;
    const [logitT, valueT] = tf.tidy(() => {
      const obs = tf.tensor2d(input.observations, [R, this.module.obsDim]); // [rows, obsDim]
      const state = this.critic === 'central' ? tf.tensor2d(input.state, [E, this.module.stateDim]) : null;
      return [this.module.logits(obs, E, N), this.rawValues(obs, state, E, N)];
    });
    const logits = logitT.dataSync() as Float32Array;
    const values = valueT.dataSync() as Float32Array;
    logitT.dispose();
    valueT.dispose();
    const actions = new Int32Array(R);
    const probs = new Float32Array(R);
    const logProbs = new Float32Array(R);
    for (let i = 0; i < R; i++) {
      const p = 1 / (1 + Math.exp(-logits[i]!));
      probs[i] = p;
      const a = input.deterministic ? (p > 0.5 ? 1 : 0) : this.actRng.next() < p ? 1 : 0;
      actions[i] = a;
      logProbs[i] = logProbOfAction(logits[i]!, a);
      if (this.vnorm) values[i] = this.vnorm.denormalize(values[i]!);
    }
    return { actions, probs, logProbs, values, logits };
  }

  observe(t: Transition): void {
    const R = t.input.numEnvs * t.input.numAgents;
    if (t.realizedActions.length !== R)
      throw new InputError(
        `${this.name}.observe: realizedActions has ${t.realizedActions.length} values, expected ${R}`,
      );
    const logits = t.output.logits;
    if (!logits || logits.length !== R)
      throw new InputError(
        `${this.name}.observe: the transition's output has no logits of length ${R} (pass the output of this agent's act)`,
      );
    // Train on the realized actions; their old log-prob comes from the stored logit (exact when saturated).
    const actions = Int32Array.from(t.realizedActions);
    const logProbs = new Float32Array(R);
    for (let i = 0; i < R; i++) logProbs[i] = logProbOfAction(logits[i]!, actions[i]!);
    const values = Float32Array.from(t.output.values);
    const valuePreds = this.vnorm ? values.map((v) => this.vnorm!.normalize(v)) : Float32Array.from(values);
    const stateOrEmpty = (s: Float32Array): Float32Array =>
      this.critic === 'central' || s.length === this.buffer.numEnvs * this.buffer.stateDim
        ? Float32Array.from(s)
        : new Float32Array(this.buffer.numEnvs * this.buffer.stateDim);
    this.buffer.add({
      obs: Float32Array.from(t.input.observations),
      state: stateOrEmpty(t.input.state),
      actions,
      logProbs,
      values,
      valuePreds,
      rewards: Float32Array.from(t.rewards),
      terminations: Uint8Array.from(t.terminations),
      truncations: Uint8Array.from(t.truncations),
      nextObs: Float32Array.from(t.nextObservations),
      nextState: stateOrEmpty(t.nextState),
    });
  }

  /**
   * Advantages and value targets of the rollout collected so far (what `update` learns from), with the
   * bootstrap values V(s_{t+1}) they used. All `[T * rows]`, step-major. Exposed for diagnostics and tests.
   */
  estimate(): { advantages: Float32Array; returns: Float32Array; nextValues: Float32Array } {
    const buf = this.buffer;
    const T = buf.length;
    const { numEnvs: E, numAgents: N } = buf;
    const R = E * N;
    const p = this.ppo;
    // 1. Bootstrap: V(s_{t+1}) is the next step's value unless the episode ended (or the rollout did).
    const nextValues = new Float32Array(T * R);
    for (let t = 0; t < T; t++) {
      const s = buf.steps[t]!;
      const v =
        t === T - 1 || buf.stepEnded(t)
          ? this.valuesOf(s.nextObs, s.nextState, E, N)
          : buf.steps[t + 1]!.values;
      nextValues.set(v, t * R);
    }

    // 2. GAE(lambda) on the realized rewards.
    const { advantages, returns } = computeGae({
      steps: T,
      rows: R,
      rewards: buf.flat('rewards'),
      values: buf.flat('values'),
      nextValues,
      terminations: buf.flat('terminations'),
      truncations: buf.flat('truncations'),
      gamma: p.gamma,
      lambda: p.gaeLambda,
    });
    return { advantages, returns, nextValues };
  }

  update(progress?: number): UpdateStats | null {
    const buf = this.buffer;
    const T = buf.length;
    if (T === 0) return null;
    const { numEnvs: E, numAgents: N, obsDim, stateDim } = buf;
    const p = this.ppo;

    // Learning-rate annealing: linear in training progress (1 at the start, 0 at the end).
    this.optimizer.lr =
      p.annealLr && progress !== undefined ? p.lr * Math.max(0, 1 - Math.min(1, progress)) : p.lr;

    // 1-2. Bootstrap values and GAE(lambda) on the realized rewards.
    const { advantages, returns } = this.estimate();
    const values = buf.flat('values');
    const explainedVariance = (() => {
      const vy = variance(returns);
      const diff = returns.map((r, i) => r - values[i]!);
      return vy === 0 ? NaN : 1 - variance(diff) / vy;
    })();

    // 3. Value targets in the critic's units (MAPPO: normalized by running statistics of the returns).
    let targets = returns;
    if (this.vnorm) {
      this.vnorm.update(returns);
      targets = returns.map((r) => this.vnorm!.normalize(r));
    }

    // 4. Epochs of shuffled minibatches of (step, env) groups.
    const G = T * E;
    const numMb = Math.min(p.minibatches, G);
    const mbGroups = Math.ceil(G / numMb);
    // Whole-rollout tensors (plain creations, no intermediates); disposed after the epochs.
    const all = {
      obs: tf.tensor2d(buf.flat('obs'), [T * E * N, obsDim]),
      state: this.critic === 'central' ? tf.tensor2d(buf.flat('state'), [G, stateDim]) : null,
      actions: tf.tensor1d(buf.flat('actions'), 'int32'),
      logProbs: tf.tensor1d(buf.flat('logProbs')),
      advantages: tf.tensor1d(advantages),
      targets: tf.tensor1d(targets),
      valuePreds: tf.tensor1d(buf.flat('valuePreds')),
    };
    const vars = this.module.variables();
    const sums = { policyLoss: 0, valueLoss: 0, entropy: 0, approxKl: 0, clipFrac: 0, gradNorm: 0 };
    let nMb = 0;
    let epochsDone = 0;
    let stoppedEarly = false;
    const order = Int32Array.from({ length: G }, (_, g) => g);
    for (let epoch = 0; epoch < p.epochs && !stoppedEarly; epoch++) {
      this.minibatchRng.shuffle(order);
      let epochKl = 0;
      let epochMb = 0;
      for (let start = 0; start < G; start += mbGroups) {
        const groups = order.subarray(start, Math.min(G, start + mbGroups));
        const nG = groups.length;
        const rowIdx = new Int32Array(nG * N);
        groups.forEach((g, k) => {
          for (let a = 0; a < N; a++) rowIdx[k * N + a] = g * N + a; // group g = t*E + e -> rows g*N..g*N+N-1
        });
        const stats = this.minibatchStep(all, rowIdx, Int32Array.from(groups), nG, N, vars);
        sums.policyLoss += stats[0]!;
        sums.valueLoss += stats[1]!;
        sums.entropy += stats[2]!;
        sums.approxKl += stats[3]!;
        sums.clipFrac += stats[4]!;
        sums.gradNorm += stats[5]!;
        epochKl += stats[3]!;
        epochMb++;
        nMb++;
      }
      epochsDone++;
      if (p.targetKl !== null && epochKl / epochMb > p.targetKl) stoppedEarly = true;
    }
    for (const t of Object.values(all)) t?.dispose();
    buf.clear();
    this.updates++;

    const out: UpdateStats = {
      policyLoss: sums.policyLoss / nMb,
      valueLoss: sums.valueLoss / nMb,
      entropy: sums.entropy / nMb,
      approxKl: sums.approxKl / nMb,
      clipFrac: sums.clipFrac / nMb,
      gradNorm: sums.gradNorm / nMb,
      explainedVariance,
      lr: this.optimizer.lr,
      epochs: epochsDone,
      earlyStop: stoppedEarly ? 1 : 0,
      meanReturn: mean(returns),
      meanAdvantage: mean(advantages),
      updates: this.updates,
    };
    if (this.vnorm) {
      out.valueNormMean = this.vnorm.mean;
      out.valueNormStd = this.vnorm.std;
    }
    return out;
  }

  /** One gradient step on a minibatch; returns [pg loss, v loss, entropy, approx KL, clip frac, grad norm]. */
  private minibatchStep(
    all: {
      obs: tf.Tensor2D;
      state: tf.Tensor2D | null;
      actions: tf.Tensor1D;
      logProbs: tf.Tensor1D;
      advantages: tf.Tensor1D;
      targets: tf.Tensor1D;
      valuePreds: tf.Tensor1D;
    },
    rowIdx: Int32Array,
    groupIdx: Int32Array,
    nG: number,
    N: number,
    vars: tf.Variable[],
  ): Float32Array {
    const p = this.ppo;
    let stash: tf.Tensor | null = null;
    const { grads } = tf.tidy(() => {
      const rows = tf.tensor1d(rowIdx, 'int32');
      const obs = tf.gather(all.obs, rows); // [nG * N, obsDim]
      const state = all.state ? tf.gather(all.state, tf.tensor1d(groupIdx, 'int32')) : null; // [nG, stateDim]
      const actions = tf.gather(all.actions, rows);
      const oldLogProbs = tf.gather(all.logProbs, rows);
      let adv = tf.gather(all.advantages, rows) as tf.Tensor1D;
      if (p.normAdv) adv = normalizeAdvantages(adv);
      const targets = tf.gather(all.targets, rows) as tf.Tensor1D;
      const oldValues = tf.gather(all.valuePreds, rows) as tf.Tensor1D;
      const r = tf.variableGrads(() => {
        const logits = this.module.logits(obs, nG, N);
        const newLogProbs = bernoulliLogProb(logits, actions as tf.Tensor1D);
        const entropy = tf.mean(bernoulliEntropy(logits));
        const pg = clippedSurrogate(newLogProbs, oldLogProbs as tf.Tensor1D, adv, p.clipCoef);
        const newValues = this.rawValues(obs, state, nG, N);
        const vLoss = valueLoss(newValues, oldValues, targets, p.clipCoef, p.clipVloss);
        const loss = tf.add(
          tf.sub(pg.loss, tf.mul(p.entCoef, entropy)),
          tf.mul(p.vfCoef, vLoss),
        ) as tf.Scalar;
        stash = tf.keep(tf.stack([pg.loss, vLoss, entropy, pg.approxKl, pg.clipFrac]));
        return loss;
      }, vars);
      const clipped = clipByGlobalNorm(
        vars.map((v) => r.grads[v.name]!),
        p.maxGradNorm,
      );
      this.optimizer.apply(clipped.grads);
      return { grads: tf.keep(tf.concat([stash!, clipped.norm.reshape([1])])) };
    });
    const out = grads.dataSync() as Float32Array;
    grads.dispose();
    (stash as tf.Tensor | null)?.dispose();
    return out;
  }

  async save(dir: string): Promise<void> {
    const meta: AgentMeta = {
      agent: this.name,
      critic: this.critic,
      centralInput: this.critic === 'central' ? this.module.centralInput : null,
      useContext: this.module.useContext,
      obsDim: this.module.obsDim,
      stateDim: this.module.stateDim,
      hidden: this.module.hidden,
      updates: this.updates,
      adamT: this.optimizer.t,
      valueNorm: this.vnorm?.getState() ?? null,
    };
    await saveCheckpoint(
      dir,
      [
        ...toCheckpointTensors(
          this.module.namedVariables().map(({ name, variable }) => ({ name, tensor: variable })),
        ),
        ...this.optimizer.checkpointTensors(),
      ],
      {
        step: this.updates,
        meta: meta as unknown as Record<string, unknown>,
        rng: { act: this.actRng.getState(), minibatch: this.minibatchRng.getState() },
      },
    );
  }

  async load(dir: string): Promise<void> {
    const ck = loadCheckpoint(dir);
    const m = ck.manifest.meta as unknown as Partial<AgentMeta>;
    const want = {
      critic: this.critic,
      centralInput: this.critic === 'central' ? this.module.centralInput : null,
      useContext: this.module.useContext,
      obsDim: this.module.obsDim,
      stateDim: this.module.stateDim,
      hidden: this.module.hidden,
    };
    for (const [k, v] of Object.entries(want))
      if (m[k as keyof AgentMeta] !== v)
        throw new CheckpointError(
          `checkpoint ${dir}: agent '${m.agent ?? '?'}' has ${k} ${JSON.stringify(m[k as keyof AgentMeta])}, ` +
            `this ${this.name} agent has ${JSON.stringify(v)}`,
        );
    assignVariables(ck, [...this.module.namedVariables(), ...this.optimizer.namedMoments()], { dir });
    this.optimizer.t = m.adamT ?? 0;
    this.updates = m.updates ?? 0;
    if (this.vnorm && m.valueNorm) this.vnorm.setState(m.valueNorm);
    const rng = ck.manifest.rng as Record<string, RngState | undefined>;
    if (rng.act) this.actRng = Rng.restore(rng.act);
    if (rng.minibatch) this.minibatchRng = Rng.restore(rng.minibatch);
    this.buffer.clear();
  }

  dispose(): void {
    this.module.dispose();
    this.optimizer.dispose();
    this.buffer.clear();
  }
}
