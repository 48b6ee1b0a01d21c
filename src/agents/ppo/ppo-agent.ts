import * as tf from '@tensorflow/tfjs';
import type { PpoConfig } from '../../core/config.js';
import { CheckpointError, InputError } from '../../core/errors.js';
import { Rng, type RngState } from '../../core/rng.js';
import { mean } from '../../core/stats.js';
import {
  assignVariables,
  loadCheckpoint,
  saveCheckpoint,
  toCheckpointTensors,
} from '../../models/checkpoint.js';
import { AdamW } from '../../models/adamw.js';
import { DecisionModule } from '../../models/decision-module.js';
import type { ActInput, ActOutput, Agent, Transition, UpdateStats } from '../agent.js';
import type { AgentContext } from '../registry.js';
import { RolloutBuffer } from './buffer.js';
import { computeGae } from './gae.js';
import {
  bernoulliEntropy,
  bernoulliLogProb,
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

/**
 * What a PPO learner is built from: the registry's {@link AgentContext} (sizes, the run config, a stream)
 * plus its name and critic. Every knob comes from the one config: `config.ppo` (hyper-parameters,
 * `activation`, `valueNorm`, `useContext`, `criticInput`) and `config.env.targetRatio` (initial mask
 * probability). To change a knob, change the config.
 */
export interface PpoAgentOptions extends AgentContext {
  /** Registry name, saved in checkpoints. */
  name: string;
  /** 'agent': per-agent value from its own observation (IPPO); 'central': value of env.state() (MAPPO). */
  critic: 'agent' | 'central';
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

function variance(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - m) ** 2;
  return a.length ? s / a.length : 0;
}

/** 1 - Var(returns - values) / Var(returns): how much of the return the critic predicts (NaN if constant). */
function explainedVarianceOf(values: Float32Array, returns: Float32Array): number {
  const vy = variance(returns);
  return vy === 0 ? NaN : 1 - variance(returns.map((r, i) => r - values[i]!)) / vy;
}

/** The whole rollout as tensors for the epochs (rows: (step, env, agent); state rows: (step, env)). */
interface RolloutBatch {
  obs: tf.Tensor2D;
  /** Only for the central critic. */
  state: tf.Tensor2D | null;
  /** Realized actions. */
  actions: tf.Tensor1D;
  /** log pi_old(realized action). */
  oldLogProbs: tf.Tensor1D;
  advantages: tf.Tensor1D;
  /** Value targets in the critic's units. */
  targets: tf.Tensor1D;
  /** The critic's outputs at act time (for the clipped value loss). */
  oldValues: tf.Tensor1D;
}

function disposeBatch(b: RolloutBatch): void {
  for (const t of Object.values(b)) (t as tf.Tensor | null)?.dispose();
}

/** What one minibatch step measured; `update` reports their means over all minibatches. */
const MINIBATCH_STAT_NAMES = [
  'policyLoss',
  'valueLoss',
  'entropy',
  'approxKl',
  'clipFrac',
  'gradNorm',
] as const;
type MinibatchStats = Record<(typeof MINIBATCH_STAT_NAMES)[number], number>;

function zeroMinibatchStats(): MinibatchStats {
  return { policyLoss: 0, valueLoss: 0, entropy: 0, approxKl: 0, clipFrac: 0, gradNorm: 0 };
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
  private readonly optimizer: AdamW;
  /** Learning rate of the current update (annealed by `update`; the optimizer reads it). */
  private lr: number;
  private readonly buffer: RolloutBuffer;
  private readonly vnorm: ValueNorm | null;
  private actRng: Rng;
  private minibatchRng: Rng;

  constructor(opts: PpoAgentOptions) {
    const ppo = opts.config.ppo;
    this.name = opts.name;
    this.critic = opts.critic;
    this.ppo = ppo;
    this.module = new DecisionModule({
      obsDim: opts.obsDim,
      stateDim: opts.stateDim,
      hidden: ppo.hidden,
      activation: ppo.activation,
      critic: opts.critic,
      useContext: ppo.useContext,
      centralInput: ppo.criticInput,
      initMaskProb: opts.config.env.targetRatio, // a fresh policy starts at the prior ratio
      rng: opts.rng.split('init'),
    });
    this.actRng = opts.rng.split('act');
    this.minibatchRng = opts.rng.split('minibatch');
    this.lr = ppo.lr;
    // Adam with global grad-norm clipping, no weight decay; eps 1e-5 as CleanRL's PPO (not torch's 1e-8).
    this.optimizer = new AdamW(
      [{ name: 'policy', params: this.module.params.list(), lrScale: 1 }],
      { beta1: 0.9, beta2: 0.999, eps: 1e-5, weightDecay: 0, clipNorm: ppo.maxGradNorm },
      () => this.lr,
    );
    this.buffer = new RolloutBuffer(opts.numEnvs, opts.numAgents, opts.obsDim, opts.stateDim);
    // Value normalization: on for the central critic (MAPPO) unless ppo.valueNorm says otherwise.
    this.vnorm = (ppo.valueNorm ?? opts.critic === 'central') ? new ValueNorm() : null;
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
    if (buf.length === 0) return null;
    const p = this.ppo;

    // 1. Learning-rate annealing: linear in training progress (1 at the start, 0 at the end).
    this.lr = p.annealLr && progress !== undefined ? p.lr * Math.max(0, 1 - Math.min(1, progress)) : p.lr;

    // 2. Bootstrap values and GAE(lambda) on the realized rewards.
    const { advantages, returns } = this.estimate();
    const explainedVariance = explainedVarianceOf(buf.flat('values'), returns);

    // 3. Value targets in the critic's units (MAPPO: normalized by running statistics of the returns).
    if (this.vnorm) this.vnorm.update(returns);
    const targets = this.vnorm ? returns.map((r) => this.vnorm!.normalize(r)) : returns;

    // 4. Optimize the policy and value network: epochs of shuffled minibatches of (step, env) groups.
    const batch = this.batchTensors(advantages, targets);
    const groups = buf.length * buf.numEnvs;
    const groupsPerMinibatch = Math.ceil(groups / Math.min(p.minibatches, groups));
    const order = Int32Array.from({ length: groups }, (_, g) => g);
    const sums = zeroMinibatchStats();
    let minibatches = 0;
    let epochs = 0;
    let stoppedEarly = false;
    while (epochs < p.epochs && !stoppedEarly) {
      this.minibatchRng.shuffle(order);
      let epochKl = 0;
      let epochMinibatches = 0;
      for (let start = 0; start < groups; start += groupsPerMinibatch) {
        const mbGroups = order.slice(start, Math.min(groups, start + groupsPerMinibatch));
        const stats = this.minibatchStep(batch, mbGroups);
        for (const k of MINIBATCH_STAT_NAMES) sums[k] += stats[k];
        epochKl += stats.approxKl;
        epochMinibatches++;
        minibatches++;
      }
      epochs++;
      // Early stop (CleanRL's target_kl): the epoch's mean approx KL left the trust region.
      if (p.targetKl !== null && epochKl / epochMinibatches > p.targetKl) stoppedEarly = true;
    }
    disposeBatch(batch);
    buf.clear();
    this.updates++;

    // 5. Report: minibatch means, then the rollout's diagnostics.
    const out: UpdateStats = {};
    for (const k of MINIBATCH_STAT_NAMES) out[k] = sums[k] / minibatches;
    Object.assign(out, {
      explainedVariance,
      lr: this.lr,
      epochs,
      earlyStop: stoppedEarly ? 1 : 0,
      meanReturn: mean(returns),
      meanAdvantage: mean(advantages),
      updates: this.updates,
    });
    if (this.vnorm) {
      out.valueNormMean = this.vnorm.mean;
      out.valueNormStd = this.vnorm.std;
    }
    return out;
  }

  /** The whole rollout as tensors, one row per (step, env, agent) (the state: one row per (step, env)). */
  private batchTensors(advantages: Float32Array, targets: Float32Array): RolloutBatch {
    const buf = this.buffer;
    const rows = buf.length * buf.rows;
    return {
      obs: tf.tensor2d(buf.flat('obs'), [rows, buf.obsDim]),
      state:
        this.critic === 'central'
          ? tf.tensor2d(buf.flat('state'), [buf.length * buf.numEnvs, buf.stateDim])
          : null,
      actions: tf.tensor1d(buf.flat('actions'), 'int32'),
      oldLogProbs: tf.tensor1d(buf.flat('logProbs')),
      advantages: tf.tensor1d(advantages),
      targets: tf.tensor1d(targets),
      oldValues: tf.tensor1d(buf.flat('valuePreds')),
    };
  }

  /**
   * One gradient step on the minibatch of `groups` ((step, env) indices: group g = t * numEnvs + e holds
   * rows g * numAgents .. g * numAgents + numAgents - 1, all of the env's agents).
   */
  private minibatchStep(batch: RolloutBatch, groups: Int32Array): MinibatchStats {
    const p = this.ppo;
    const N = this.buffer.numAgents;
    const numGroups = groups.length;
    const rowIdx = new Int32Array(numGroups * N);
    groups.forEach((g, k) => {
      for (let a = 0; a < N; a++) rowIdx[k * N + a] = g * N + a;
    });
    const vars = this.module.variables();
    let gradNorm = 0;
    const termsT = tf.tidy(() => {
      const rows = tf.tensor1d(rowIdx, 'int32');
      const obs = tf.gather(batch.obs, rows); // [numGroups * N, obsDim]
      const state = batch.state ? tf.gather(batch.state, tf.tensor1d(groups, 'int32')) : null; // [numGroups, stateDim]
      const actions = tf.gather(batch.actions, rows) as tf.Tensor1D;
      const oldLogProbs = tf.gather(batch.oldLogProbs, rows) as tf.Tensor1D;
      const rawAdvantages = tf.gather(batch.advantages, rows) as tf.Tensor1D;
      const advantages = p.normAdv ? normalizeAdvantages(rawAdvantages) : rawAdvantages;
      const targets = tf.gather(batch.targets, rows) as tf.Tensor1D;
      const oldValues = tf.gather(batch.oldValues, rows) as tf.Tensor1D;

      const kept: { terms?: tf.Tensor } = {};
      const { grads } = tf.variableGrads(() => {
        const newLogits = this.module.logits(obs, numGroups, N);
        const newLogProbs = bernoulliLogProb(newLogits, actions);
        const entropy = tf.mean(bernoulliEntropy(newLogits));
        const surrogate = clippedSurrogate(newLogProbs, oldLogProbs, advantages, p.clipCoef);
        const newValues = this.rawValues(obs, state, numGroups, N);
        const vLoss = valueLoss(newValues, oldValues, targets, p.clipCoef, p.clipVloss);
        // loss = pg_loss - ent_coef * entropy + vf_coef * v_loss
        const loss = tf.add(tf.sub(surrogate.loss, tf.mul(p.entCoef, entropy)), tf.mul(p.vfCoef, vLoss));
        kept.terms = tf.keep(
          tf.stack([surrogate.loss, vLoss, entropy, surrogate.approxKl, surrogate.clipFrac]),
        );
        return loss as tf.Scalar;
      }, vars);
      gradNorm = this.optimizer.apply(grads).gradNorm; // clips to ppo.maxGradNorm, then steps
      return kept.terms!;
    });
    const values = termsT.dataSync(); // policyLoss, valueLoss, entropy, approxKl, clipFrac
    termsT.dispose();
    return {
      policyLoss: values[0]!,
      valueLoss: values[1]!,
      entropy: values[2]!,
      approxKl: values[3]!,
      clipFrac: values[4]!,
      gradNorm,
    };
  }

  /** What a checkpoint must match to load into this agent (saved in its meta). */
  private architecture(): Pick<
    AgentMeta,
    'critic' | 'centralInput' | 'useContext' | 'obsDim' | 'stateDim' | 'hidden'
  > {
    return {
      critic: this.critic,
      centralInput: this.critic === 'central' ? this.module.centralInput : null,
      useContext: this.module.useContext,
      obsDim: this.module.obsDim,
      stateDim: this.module.stateDim,
      hidden: this.module.hidden,
    };
  }

  async save(dir: string): Promise<void> {
    const meta: AgentMeta = {
      agent: this.name,
      ...this.architecture(),
      updates: this.updates,
      adamT: this.optimizer.step,
      valueNorm: this.vnorm?.getState() ?? null,
    };
    await saveCheckpoint(
      dir,
      toCheckpointTensors([...this.module.params.named(), ...this.optimizer.stateTensors()]),
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
    for (const [k, v] of Object.entries(this.architecture()))
      if (m[k as keyof AgentMeta] !== v)
        throw new CheckpointError(
          `checkpoint ${dir}: agent '${m.agent ?? '?'}' has ${k} ${JSON.stringify(m[k as keyof AgentMeta])}, ` +
            `this ${this.name} agent has ${JSON.stringify(v)}`,
        );
    assignVariables(ck, this.module.params.list(), { dir });
    this.optimizer.loadState((name) => ck.tensors.get(name), m.adamT ?? 0, dir);
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
