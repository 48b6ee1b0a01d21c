import * as tf from '@tensorflow/tfjs';
import { ConfigError, InputError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import { ParamStore } from './params.js';

/*
 * The decision module (docs/architecture.md, "Masking as a decision"): the network every patch agent
 * shares. CleanRL layout (two-layer MLPs, orthogonal init, separate actor and critic trunks):
 *
 *   actor   obs_i -> Linear(obsDim, H) -> act -> Linear(H, H) -> act = h_i          [rows, H]
 *           logit_i = h_i . w_self + b                           (one logit of Bernoulli(mask))
 *   with the pooled context (useContext):
 *           c_e   = act(Linear(H, H)(mean_{i in env e} h_i))                      [numEnvs, H]
 *           logit_i = h_i . w_self + c_e . w_context + b
 *   critic  agent   (IPPO): V(obs_i) = MLP(obsDim -> H -> H -> 1), the agent's own observation only
 *           central (MAPPO): 'agent-specific' input (default, Yu et al. 2022): V(s_e, obs_i) =
 *                     MLP(stateDim + obsDim -> H -> H -> 1), one value per agent;
 *                     'global' input: V(s_e) = MLP(stateDim -> H -> H -> 1), one value per env
 *
 * Without the context the actor is decentralized: agent i's logit depends on its own observation only.
 * The pooled context lets every agent see what the others in its crop look like (e.g. how much membrane
 * the crop has) without a transformer pass. Because it pools over an env's patches, a forward pass must
 * always see whole envs (all numAgents rows of an env, in order): minibatches are made of (step, env)
 * groups, never of single rows.
 *
 * Parameters live in a ParamStore (params.ts) under `policy/` (`policy/actor/...`, `policy/critic_agent/...`,
 * `policy/critic_central/...`), the names checkpoints and the optimizer go by.
 */

/** Hidden activation of the MLPs. */
export type DecisionActivation = 'tanh' | 'gelu';

/** Which value heads to build. */
export type CriticKind = 'agent' | 'central' | 'both';

/**
 * Input of the central critic: 'agent-specific' = the env's global state concatenated with the agent's own
 * observation (MAPPO's agent-specific global state, one value per agent); 'global' = the env state only.
 */
export type CentralCriticInput = 'agent-specific' | 'global';

export interface DecisionModuleOptions {
  /** Width of one agent's observation row. */
  obsDim: number;
  /** Width of one env's global state (needed for the central critic; may be 0 otherwise). */
  stateDim: number;
  /** Hidden width of every MLP (PpoConfig.hidden, default 64). */
  hidden?: number;
  /** Hidden activation (default tanh, as CleanRL). */
  activation?: DecisionActivation;
  /** Value heads to build (default 'agent'). */
  critic?: CriticKind;
  /** Add the pooled global context to the policy logit (default false: a decentralized actor). */
  useContext?: boolean;
  /** Input of the central critic (default 'agent-specific'). */
  centralInput?: CentralCriticInput;
  /**
   * Initial mask probability of the policy (the head's bias is logit(p)), so a fresh policy starts at the
   * prior ratio (e.g. the env's target 0.75) instead of 0.5. Default 0.5.
   */
  initMaskProb?: number;
  /** Seeded stream for the orthogonal init (consumed in a fixed order). */
  rng: Rng;
}

/** Gain of hidden layers (ReLU/tanh family, as CleanRL's layer_init). */
const HIDDEN_GAIN = Math.SQRT2;
/** Gain of the policy head: near-uniform initial policy. */
const POLICY_GAIN = 0.01;
/** Gain of the value heads. */
const VALUE_GAIN = 1;

/**
 * An orthogonal matrix `[rows, cols]` (row-major) scaled by `gain`: the columns are orthonormal when
 * rows >= cols, else the rows are. Modified Gram-Schmidt on seeded standard normals, with the sign fixed
 * so that it equals Q of a QR decomposition with a positive diagonal of R (as torch.nn.init.orthogonal_).
 */
export function orthogonal(rows: number, cols: number, gain: number, rng: Rng): Float32Array {
  const n = Math.max(rows, cols);
  const k = Math.min(rows, cols);
  // k column vectors of length n, in float64 for a clean orthogonalization.
  const q: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal();
    for (const u of q) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += u[i]! * v[i]!;
      for (let i = 0; i < n; i++) v[i]! -= dot * u[i]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    // R's diagonal entry is the norm (positive): no extra sign flip needed.
    for (let i = 0; i < n; i++) v[i]! /= norm || 1;
    q.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (rows >= cols ? q[c]![r]! : q[r]![c]!);
  return out;
}

function gelu(x: tf.Tensor): tf.Tensor {
  // tanh approximation (Hendrycks & Gimpel).
  return tf.tidy(() =>
    tf.mul(
      tf.mul(x, 0.5),
      tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
    ),
  );
}

interface Linear {
  w: tf.Variable;
  b: tf.Variable;
}

/** The shared actor plus per-agent and/or centralized critics. */
export class DecisionModule {
  readonly obsDim: number;
  readonly stateDim: number;
  readonly hidden: number;
  readonly activation: DecisionActivation;
  readonly critic: CriticKind;
  readonly useContext: boolean;
  readonly centralInput: CentralCriticInput;
  /** Trainable parameters under `policy/...` (registration order is the checkpoint order). */
  readonly params: ParamStore;
  private readonly actor: Linear[];
  private readonly contextProj: Linear | null = null;
  private readonly headSelf: tf.Variable;
  private readonly headContext: tf.Variable | null = null;
  private readonly headBias: tf.Variable;
  private readonly agentCritic: Linear[] | null = null;
  private readonly centralCritic: Linear[] | null = null;
  private disposed = false;

  constructor(opts: DecisionModuleOptions) {
    this.obsDim = opts.obsDim;
    this.stateDim = opts.stateDim;
    this.hidden = opts.hidden ?? 64;
    this.activation = opts.activation ?? 'tanh';
    this.critic = opts.critic ?? 'agent';
    this.useContext = opts.useContext ?? false;
    this.centralInput = opts.centralInput ?? 'agent-specific';
    // Initial values are drawn from `rng` in a fixed order below (orthogonal init) and handed over as values.
    this.params = new ParamStore(opts.rng);
    if (!Number.isInteger(this.obsDim) || this.obsDim < 1)
      throw new ConfigError(`DecisionModule: obsDim must be an integer >= 1, got ${this.obsDim}`);
    if (!Number.isInteger(this.hidden) || this.hidden < 1)
      throw new ConfigError(
        `DecisionModule: hidden (ppo.hidden) must be an integer >= 1, got ${this.hidden}`,
      );
    if (this.critic !== 'agent' && (!Number.isInteger(this.stateDim) || this.stateDim < 1))
      throw new ConfigError(
        `DecisionModule: a central critic needs stateDim >= 1 (the env's state width), got ${this.stateDim}`,
      );
    const H = this.hidden;
    const rng = opts.rng;
    // Creation order is fixed: it fixes which normals each weight consumes.
    this.actor = [
      this.linear('policy/actor/fc1', this.obsDim, H, HIDDEN_GAIN, rng),
      this.linear('policy/actor/fc2', H, H, HIDDEN_GAIN, rng),
    ];
    // The context weights are drawn even without the context, so the other weights do not depend on it;
    // they become variables only when used (a variable without a gradient would break the update).
    const contextW = orthogonal(H, H, HIDDEN_GAIN, rng);
    if (this.useContext)
      this.contextProj = {
        w: this.variable('policy/actor/context/w', [H, H], contextW),
        b: this.variable('policy/actor/context/b', [H]),
      };
    // One orthogonal [2H, 1] head split into its self and context halves.
    const head = orthogonal(2 * H, 1, POLICY_GAIN, rng);
    this.headSelf = this.variable('policy/actor/head/w_self', [H, 1], head.slice(0, H));
    if (this.useContext)
      this.headContext = this.variable('policy/actor/head/w_context', [H, 1], head.slice(H, 2 * H));
    const p0 = opts.initMaskProb ?? 0.5;
    if (!(p0 > 0 && p0 < 1))
      throw new ConfigError(`DecisionModule: initMaskProb must be in (0, 1), got ${p0}`);
    this.headBias = this.variable('policy/actor/head/b', [1], Float32Array.of(Math.log(p0 / (1 - p0))));
    if (this.critic !== 'central')
      this.agentCritic = [
        this.linear('policy/critic_agent/fc1', this.obsDim, H, HIDDEN_GAIN, rng),
        this.linear('policy/critic_agent/fc2', H, H, HIDDEN_GAIN, rng),
        this.linear('policy/critic_agent/out', H, 1, VALUE_GAIN, rng),
      ];
    if (this.critic !== 'agent')
      this.centralCritic = [
        this.linear(
          'policy/critic_central/fc1',
          this.stateDim + (this.centralInput === 'agent-specific' ? this.obsDim : 0),
          H,
          HIDDEN_GAIN,
          rng,
        ),
        this.linear('policy/critic_central/fc2', H, H, HIDDEN_GAIN, rng),
        this.linear('policy/critic_central/out', H, 1, VALUE_GAIN, rng),
      ];
  }

  /** A parameter with the given initial values (zeros when none are given). */
  private variable(name: string, shape: number[], data?: Float32Array): tf.Variable {
    return this.params.add(name, shape, data ? { kind: 'values', data } : { kind: 'zeros' });
  }

  private linear(name: string, fanIn: number, fanOut: number, gain: number, rng: Rng): Linear {
    return {
      w: this.variable(`${name}/w`, [fanIn, fanOut], orthogonal(fanIn, fanOut, gain, rng)),
      b: this.variable(`${name}/b`, [fanOut]),
    };
  }

  private act(x: tf.Tensor): tf.Tensor {
    return this.activation === 'tanh' ? tf.tanh(x) : gelu(x);
  }

  private mlp(layers: Linear[], x: tf.Tensor2D, activateLast: boolean): tf.Tensor2D {
    let h: tf.Tensor2D = x;
    layers.forEach((l, i) => {
      const z = tf.add(tf.matMul(h, l.w), l.b) as tf.Tensor2D;
      h = (i < layers.length - 1 || activateLast ? this.act(z) : z) as tf.Tensor2D;
    });
    return h;
  }

  private checkRows(x: tf.Tensor, width: number, what: string, rows?: number): void {
    if (x.rank !== 2 || x.shape[1] !== width || (rows !== undefined && x.shape[0] !== rows))
      throw new InputError(
        `DecisionModule: ${what} has shape [${x.shape}], expected [${rows ?? 'rows'}, ${width}]`,
      );
  }

  /**
   * Logit of Bernoulli(mask) per agent. Rows are env-major and must hold whole envs.
   * @param obs `[numEnvs * numAgents, obsDim]`
   * @returns `[numEnvs * numAgents]` (caller disposes; use inside tf.tidy)
   */
  logits(obs: tf.Tensor2D, numEnvs: number, numAgents: number): tf.Tensor1D {
    this.checkRows(obs, this.obsDim, 'observations', numEnvs * numAgents);
    return tf.tidy(() => {
      const h = this.mlp(this.actor, obs, true); // [rows, H]
      let logit = tf.add(tf.matMul(h, this.headSelf), this.headBias).reshape([numEnvs, numAgents]); // [E, N]
      if (this.contextProj && this.headContext) {
        const pooled = tf.mean(h.reshape([numEnvs, numAgents, this.hidden]), 1); // [E, H]
        const ctx = this.act(tf.add(tf.matMul(pooled, this.contextProj.w), this.contextProj.b)); // [E, H]
        logit = tf.add(logit, tf.matMul(ctx as tf.Tensor2D, this.headContext)); // + [E, 1] per env
      }
      return logit.reshape([numEnvs * numAgents]) as tf.Tensor1D;
    });
  }

  /** Per-agent value from the agent's own observation (IPPO). `[rows, obsDim]` -> `[rows]`. */
  agentValue(obs: tf.Tensor2D): tf.Tensor1D {
    if (!this.agentCritic) throw new ConfigError(`DecisionModule: built without an agent critic`);
    this.checkRows(obs, this.obsDim, 'observations');
    return tf.tidy(() => this.mlp(this.agentCritic!, obs, false).reshape([-1]) as tf.Tensor1D);
  }

  /**
   * Centralized value per agent (MAPPO): of [s_e | obs_i] ('agent-specific') or of s_e alone, repeated for
   * the env's agents ('global'). Rows are env-major and hold whole envs.
   * @param state `[numEnvs, stateDim]`
   * @param obs `[numEnvs * numAgents, obsDim]`
   * @returns `[numEnvs * numAgents]`
   */
  centralValue(state: tf.Tensor2D, obs: tf.Tensor2D, numAgents: number): tf.Tensor1D {
    if (!this.centralCritic) throw new ConfigError(`DecisionModule: built without a central critic`);
    const E = state.shape[0];
    this.checkRows(state, this.stateDim, 'state');
    this.checkRows(obs, this.obsDim, 'observations', E * numAgents);
    return tf.tidy(() => {
      if (this.centralInput === 'global') {
        const v = this.mlp(this.centralCritic!, state, false); // [E, 1]
        return tf.tile(v, [1, numAgents]).reshape([-1]) as tf.Tensor1D;
      }
      const perAgent = tf.tile(state, [1, numAgents]).reshape([E * numAgents, this.stateDim]);
      const x = tf.concat([perAgent, obs], 1) as tf.Tensor2D;
      return this.mlp(this.centralCritic!, x, false).reshape([-1]) as tf.Tensor1D;
    });
  }

  /** The trainable variables, in checkpoint order (for tf.variableGrads). */
  variables(): tf.Variable[] {
    return this.params.list().map((p) => p.variable);
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.params.list().reduce((n, p) => n + p.variable.size, 0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.params.dispose();
  }
}
