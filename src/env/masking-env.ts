import type { DependencyContainer } from 'tsyringe';
import { EnvConfigSchema, RewardConfigSchema, type EnvConfig, type RewardConfig } from '../core/config.js';
import { ConfigError, DbmimError, InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { patchMembraneProxy, patchStats } from '../data/membrane.js';
import type { CropBatch, Shape3 } from '../data/types.js';
import type { MimModelLike, MimStepResult } from '../models/types.js';
import { reseedCropSource, type CropSourceLike } from './crop-source.js';
import { applyMaskBudget, budgetBounds, checkBudget, maskRatios, randomMasks } from './mask-budget.js';
import { obsDimFor, setObsFeature } from './observation-layout.js';
import type { ParallelEnv, ResetOptions, ResetResult, StepInfo, StepResult } from './parallel-env.js';
import { resolveReward, rewardWeights } from './rewards/registry.js';
import type { BeforeUpdateContext, RewardContext, RewardTerm } from './rewards/types.js';
import { Box, Discrete } from './spaces.js';

/*
 * MaskingEnv: MIM pretraining as a parallel multi-agent env (docs/architecture.md, "MaskingEnv"). Every patch of a
 * crop is an agent deciding keep (0) or mask (1); `numEnvs` crops form the vector (rows env-major).
 * One step = the mask budget on the decisions, ONE optimizer update of the MIM model on all envs' crops
 * as one batch, the reward terms, then new crops are drawn and observed with the updated model. After
 * `horizon` steps every agent is truncated and the caller resets. The model keeps training across
 * episodes (an episode is a credit-assignment window, not a restart of pretraining).
 *
 * Observation row (observation-layout.ts): [patch embedding (embedDim) | z, y, x in [0, 1] | patch mean |
 * patch std | membrane proxy]. The embedding is the model's patch projection + position embedding (no
 * transformer pass, no gradient), as the reference does.
 * Global state per env `[stateDim = embedDim + 3]`: [mean patch embedding (embedDim) | mean membrane proxy |
 * last realized mask ratio | last MIM loss of the env's masked patches] (the last two are 0 right after a
 * reset). No episode time: the horizon is a credit-assignment window, not part of the task (the model
 * keeps training across episodes), so truncation is bootstrapped and time stays out of the state (Pardo
 * et al. 2018); with time in it the critic would be bootstrapped at t / horizon = 1, a state it never
 * trains on.
 */

/** Info of a MaskingEnv step. */
export interface MaskingStepInfo extends StepInfo {
  /** Per-patch MIM losses of the update `[numEnvs * numAgents]` (0 for visible patches). */
  perPatchLoss: Float32Array;
  /** Mean loss of the update over all masked patches (the optimized objective). */
  mimLoss: number;
  /** Realized mask ratio per env `[numEnvs]`. */
  maskRatio: Float32Array;
  /** Mean loss of each env's masked patches `[numEnvs]`. */
  envLoss: Float32Array;
  /** The model's global step after the update. */
  globalStep: number;
  /** Step within the episode (1 = first). */
  t: number;
}

/** The config sections MaskingEnv reads; missing fields take the schema defaults. */
export interface MaskingEnvConfig {
  env?: Partial<EnvConfig>;
  reward?: Partial<RewardConfig>;
}

/** What a MaskingEnv is built from: the MIM model, the crop source, env and reward config. */
export interface MaskingEnvOptions {
  /** The MIM model trained by the env (not disposed by `close` unless `ownsModel`). */
  model: MimModelLike;
  /** Training crops; must give crops of the model's crop shape. */
  cropSource: CropSourceLike;
  /** Where the held-out crops come from (default: `cropSource`, drawn once at construction). */
  heldOutSource?: CropSourceLike;
  config?: MaskingEnvConfig;
  /** Root stream of the env (split per purpose inside: budget flips, held-out mask). */
  rng: Rng;
  /** Extra term weights by name (user terms registered with `registerReward`, or overrides). */
  rewardTerms?: Record<string, number>;
  /** Container holding the reward terms (default: the root container). */
  container?: DependencyContainer;
  /** Dispose the model on `close()` (set by `createMaskingEnv` when it built the model). */
  ownsModel?: boolean;
}

/** Agent id of the patch at grid position (z, y, x). */
export function patchAgentId(z: number, y: number, x: number): string {
  return `patch_${z}_${y}_${x}`;
}

interface ActiveTerm {
  name: string;
  weight: number;
  term: RewardTerm;
}

function parseSection<T>(
  schema: {
    safeParse(v: unknown): {
      success: boolean;
      data?: T;
      error?: { issues: { path: PropertyKey[]; message: string }[] };
    };
  },
  v: unknown,
  section: string,
): T {
  const r = schema.safeParse(v ?? {});
  if (!r.success)
    throw new ConfigError(
      `MaskingEnv config: ${r.error!.issues.map((i) => `${section}.${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`,
    );
  return r.data as T;
}

/**
 * MIM pretraining as a parallel multi-agent env: every patch is an agent choosing keep or mask, and
 * one step is one MIM update (docs/architecture.md, "MaskingEnv"). Build it from a config with
 * `createMaskingEnv` (tasks/create-masking-env.ts).
 */
export class MaskingEnv implements ParallelEnv<MaskingStepInfo> {
  readonly model: MimModelLike;
  readonly possibleAgents: readonly string[];
  readonly numEnvs: number;
  readonly numAgents: number;
  readonly obsDim: number;
  readonly stateDim: number;
  readonly horizon: number;
  readonly envConfig: EnvConfig;
  readonly rewardConfig: RewardConfig;
  /** Term name -> weight of every active term (weight 0 terms that are cheap are reported, not summed). */
  readonly weights: Readonly<Record<string, number>>;
  /** Fixed held-out crops (learning-progress and membrane-proxy terms). */
  readonly heldOut: CropBatch;
  readonly heldOutMask: Uint8Array;

  private readonly cropSource: CropSourceLike;
  private readonly rng: Rng;
  private budgetRng: Rng;
  private readonly terms: ActiveTerm[];
  private readonly obsSpace: Box;
  private readonly actSpace = new Discrete(2);
  private readonly stSpace: Box;
  private readonly ownsModel: boolean;
  private currentAgents: readonly string[] = [];
  private crops: CropBatch | null = null;
  private stateBuf: Float32Array;
  private t = 0;
  private done = false;
  private closed = false;

  constructor(opts: MaskingEnvOptions) {
    const { model } = opts;
    this.model = model;
    this.envConfig = parseSection<EnvConfig>(EnvConfigSchema, opts.config?.env, 'env');
    this.rewardConfig = parseSection<RewardConfig>(RewardConfigSchema, opts.config?.reward, 'reward');
    const ec = this.envConfig;
    this.numEnvs = ec.numEnvs;
    this.numAgents = model.numPatches;
    this.horizon = ec.horizon;
    checkBudget(this.numAgents, ec.minRatio, ec.maxRatio);
    this.obsDim = obsDimFor(model.embedDim);
    this.stateDim = model.embedDim + 3;
    this.obsSpace = new Box(-Infinity, Infinity, [this.obsDim]);
    this.stSpace = new Box(-Infinity, Infinity, [this.stateDim]);
    const [gz, gy, gx] = model.grid;
    if (gz * gy * gx !== model.numPatches)
      throw new InputError(
        `model grid [${model.grid.join(',')}] does not hold numPatches ${model.numPatches}`,
      );
    const ids: string[] = [];
    for (let z = 0; z < gz; z++)
      for (let y = 0; y < gy; y++) for (let x = 0; x < gx; x++) ids.push(patchAgentId(z, y, x));
    this.possibleAgents = ids;
    this.cropSource = opts.cropSource;
    this.rng = opts.rng;
    this.budgetRng = opts.rng.split('budget');
    this.ownsModel = opts.ownsModel ?? false;
    this.stateBuf = new Float32Array(this.numEnvs * this.stateDim);

    // Held-out batch and its fixed mask (targetRatio of the patches, kept inside the budget).
    this.heldOut =
      ec.heldOutCrops > 0
        ? this.checkCrops(
            (opts.heldOutSource ?? opts.cropSource).sample(ec.heldOutCrops),
            ec.heldOutCrops,
            'held-out crops',
          )
        : { n: 0, shape: [...model.crop] as Shape3, raw: new Float32Array(0) };
    this.heldOutMask = this.fixedMask(this.heldOut.n, opts.rng.split('held-out-mask'));

    this.weights = rewardWeights(this.rewardConfig, opts.rewardTerms);
    const setup = {
      model,
      numEnvs: this.numEnvs,
      numAgents: this.numAgents,
      grid: model.grid,
      targetRatio: ec.targetRatio,
      heldOut: this.heldOut,
      heldOutMask: this.heldOutMask,
    };
    this.terms = [];
    for (const [name, weight] of Object.entries(this.weights)) {
      const term = resolveReward(name, opts.container)(setup);
      // Costly terms (extra model passes) run only when they count.
      if (term.costly && weight === 0) {
        term.dispose?.();
        continue;
      }
      this.terms.push({ name, weight, term });
    }
  }

  get agents(): readonly string[] {
    return this.currentAgents;
  }

  /** Names of the reward terms computed every step (reported in `info.rewardTerms`). */
  get rewardTermNames(): string[] {
    return this.terms.map((t) => t.name);
  }

  /** The crops the current observations describe (null before the first reset). */
  get currentCrops(): CropBatch | null {
    return this.crops;
  }

  observationSpace(agent: string): Box {
    this.checkAgent(agent);
    return this.obsSpace;
  }

  actionSpace(agent: string): Discrete {
    this.checkAgent(agent);
    return this.actSpace;
  }

  stateSpace(): Box {
    return this.stSpace;
  }

  reset(opts: ResetOptions = {}): ResetResult {
    this.checkOpen();
    let reseeded = false;
    if (opts.seed !== undefined) {
      reseeded = reseedCropSource(this.cropSource, opts.seed);
      this.budgetRng = this.rng.split(`budget/${opts.seed}`);
    }
    this.t = 0;
    this.done = false;
    this.currentAgents = this.possibleAgents;
    const crops = this.checkCrops(this.cropSource.sample(this.numEnvs), this.numEnvs, 'crops');
    const zeros = new Float32Array(this.numEnvs);
    const observations = this.observe(crops, zeros, zeros);
    return { observations, infos: { seed: opts.seed ?? null, reseeded } };
  }

  step(actions: Int32Array, preferences?: Float32Array): StepResult<MaskingStepInfo> {
    this.checkOpen();
    if (!this.crops) throw new DbmimError('MaskingEnv.step: call reset() before the first step', 'env-state');
    if (this.done)
      throw new DbmimError(
        `MaskingEnv.step: the episode ended (truncated at horizon ${this.horizon}); call reset() first`,
        'env-state',
      );
    const n = this.numEnvs * this.numAgents;
    this.checkActions(actions, preferences, n);
    const ec = this.envConfig;
    const realized = applyMaskBudget(actions, {
      numEnvs: this.numEnvs,
      numAgents: this.numAgents,
      minRatio: ec.minRatio,
      maxRatio: ec.maxRatio,
      ...(preferences ? { preferences } : {}),
      rng: this.budgetRng,
    });
    const crops = this.crops;
    const before: BeforeUpdateContext = {
      model: this.model,
      numEnvs: this.numEnvs,
      numAgents: this.numAgents,
      targetRatio: ec.targetRatio,
      crops,
      realized,
      ...(preferences ? { preferences } : {}),
      t: this.t + 1,
    };
    for (const { term } of this.terms) term.beforeUpdate?.(before);

    const mim = this.model.trainStep(crops.raw, this.numEnvs, Uint8Array.from(realized));
    this.checkMim(mim, n);
    const maskRatio = maskRatios(realized, this.numEnvs, this.numAgents);
    const envLoss = this.envLosses(mim.perPatchLoss, realized);
    const ctx: RewardContext = { ...before, mim, maskRatio };

    const rewardTerms: Record<string, Float32Array> = {};
    const sum = new Float64Array(n);
    for (const { name, weight, term } of this.terms) {
      const v = term.compute(ctx);
      checkTerm(name, v, n, this.numAgents);
      rewardTerms[name] = v;
      if (weight !== 0) for (let i = 0; i < n; i++) sum[i]! += weight * v[i]!;
    }
    const rewards = Float32Array.from(sum);
    checkTerm('total (weighted sum)', rewards, n, this.numAgents);

    this.t++;
    const truncated = this.t >= this.horizon;
    const next = this.checkCrops(this.cropSource.sample(this.numEnvs), this.numEnvs, 'crops');
    const observations = this.observe(next, maskRatio, envLoss);
    if (truncated) {
      this.done = true;
      this.currentAgents = [];
    }
    return {
      observations,
      rewards,
      terminations: new Uint8Array(n),
      truncations: new Uint8Array(n).fill(truncated ? 1 : 0),
      infos: {
        realizedActions: realized,
        rewardTerms,
        perPatchLoss: mim.perPatchLoss,
        mimLoss: mim.loss,
        maskRatio,
        envLoss,
        globalStep: this.model.step,
        t: this.t,
      },
    };
  }

  state(): Float32Array {
    this.checkOpen();
    return Float32Array.from(this.stateBuf);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { term } of this.terms) term.dispose?.();
    if (this.ownsModel) this.model.dispose();
    this.crops = null;
  }

  /** Observations of `crops` with the current model; also refreshes the global state. */
  private observe(crops: CropBatch, lastRatio: Float32Array, lastLoss: Float32Array): Float32Array {
    const m = this.model;
    const ne = crops.n;
    const np = this.numAgents;
    const D = m.embedDim;
    const od = this.obsDim;
    const sd = this.stateDim;
    const embT = m.embedPatches(crops.raw, ne); // [numEnvs, numPatches, embedDim]
    let emb: Float32Array;
    try {
      emb = embT.dataSync() as Float32Array;
    } finally {
      embT.dispose();
    }
    if (emb.length !== ne * np * D)
      throw new InputError(
        `model.embedPatches returned ${emb.length} values; expected [${ne}, ${np}, ${D}] = ${ne * np * D}`,
      );
    const memb = patchMembraneProxy(crops.raw, ne, crops.shape, m.patch);
    const { mean, std } = patchStats(crops.raw, ne, crops.shape, m.patch);
    const [gz, gy, gx] = m.grid;
    // A single patch along an axis sits at its centre, 0.5.
    const norm = (i: number, g: number): number => (g > 1 ? i / (g - 1) : 0.5);
    const obs = new Float32Array(ne * np * od);
    this.stateBuf.fill(0);
    for (let e = 0; e < ne; e++) {
      const sOff = e * sd;
      let membSum = 0;
      for (let p = 0; p < np; p++) {
        const row = e * np + p;
        const o = row * od;
        const src = emb.subarray(row * D, row * D + D);
        obs.set(src, o);
        for (let j = 0; j < D; j++) this.stateBuf[sOff + j]! += src[j]! / np;
        const z = Math.floor(p / (gy * gx));
        const y = Math.floor(p / gx) % gy;
        const x = p % gx;
        setObsFeature(obs, od, row, 'z', norm(z, gz));
        setObsFeature(obs, od, row, 'y', norm(y, gy));
        setObsFeature(obs, od, row, 'x', norm(x, gx));
        setObsFeature(obs, od, row, 'mean', mean[row]!);
        setObsFeature(obs, od, row, 'std', std[row]!);
        setObsFeature(obs, od, row, 'membrane', memb[row]!);
        membSum += memb[row]!;
      }
      this.stateBuf[sOff + D] = membSum / np;
      this.stateBuf[sOff + D + 1] = lastRatio[e]!;
      this.stateBuf[sOff + D + 2] = lastLoss[e]!;
    }
    this.crops = crops;
    return obs;
  }

  /** Mean loss over each env's masked patches `[numEnvs]`. */
  private envLosses(per: Float32Array, realized: Int32Array): Float32Array {
    const out = new Float32Array(this.numEnvs);
    for (let e = 0; e < this.numEnvs; e++) {
      let s = 0;
      let c = 0;
      for (let a = 0; a < this.numAgents; a++) {
        const i = e * this.numAgents + a;
        if (realized[i] === 1) {
          s += per[i]!;
          c++;
        }
      }
      out[e] = c ? s / c : 0;
    }
    return out;
  }

  /** A mask of `n` crops with round(targetRatio * numPatches) random patches each, inside the budget. */
  private fixedMask(n: number, rng: Rng): Uint8Array {
    const np = this.numAgents;
    const [lo, hi] = budgetBounds(np, this.envConfig.minRatio, this.envConfig.maxRatio);
    const k = Math.min(hi, Math.max(lo, Math.round(this.envConfig.targetRatio * np)));
    return randomMasks(n, np, k, rng);
  }

  private checkCrops(b: CropBatch, n: number, what: string): CropBatch {
    const c = this.model.crop;
    if (b.n !== n || b.shape.some((s, i) => s !== c[i]) || b.raw.length !== n * c[0] * c[1] * c[2])
      throw new InputError(
        `MaskingEnv ${what}: the crop source returned n ${b.n} crops of shape [${b.shape.join(',')}] (${b.raw.length} values); ` +
          `expected ${n} crops of the model's crop shape [${c.join(',')}]`,
        'bad-shape',
      );
    return b;
  }

  private checkActions(actions: Int32Array, preferences: Float32Array | undefined, n: number): void {
    if (!(actions instanceof Int32Array) || actions.length !== n)
      throw new InputError(
        `MaskingEnv.step: actions must be an Int32Array of length numEnvs * numAgents = ${n}, got ${describeArray(actions)}`,
      );
    for (let i = 0; i < n; i++)
      if (actions[i] !== 0 && actions[i] !== 1)
        throw new InputError(
          `MaskingEnv.step: action of row ${i} is ${actions[i]}; expected 0 (keep) or 1 (mask)`,
        );
    if (preferences === undefined) return;
    if (!(preferences instanceof Float32Array) || preferences.length !== n)
      throw new InputError(
        `MaskingEnv.step: preferences must be a Float32Array of length ${n}, got ${describeArray(preferences)}`,
      );
    for (let i = 0; i < n; i++) {
      const p = preferences[i]!;
      if (!(p >= 0 && p <= 1))
        throw new InputError(
          `MaskingEnv.step: preference of row ${i} is ${p}; expected a probability in [0, 1]`,
        );
    }
  }

  private checkMim(r: MimStepResult, n: number): void {
    if (r.perPatchLoss.length !== n)
      throw new InputError(
        `model.trainStep returned ${r.perPatchLoss.length} per-patch losses; expected ${n}`,
      );
    if (!Number.isFinite(r.loss))
      throw new DbmimError(`MaskingEnv.step: the MIM loss is ${r.loss} (training diverged?)`, 'non-finite');
  }

  private checkAgent(agent: string): void {
    if (!this.possibleAgents.includes(agent))
      throw new InputError(
        `MaskingEnv: unknown agent '${agent}' (agents are patch_z_y_x on grid [${this.model.grid.join(',')}])`,
      );
  }

  private checkOpen(): void {
    if (this.closed) throw new DbmimError('MaskingEnv: the env is closed', 'env-state');
  }
}

function describeArray(a: unknown): string {
  if (a === null || a === undefined) return String(a);
  const c = (a as object).constructor?.name ?? typeof a;
  const len = (a as { length?: number }).length;
  return len === undefined ? c : `${c}(${len})`;
}

/** Every value of a term must be finite, with one value per agent row. */
function checkTerm(name: string, v: Float32Array, n: number, numAgents: number): void {
  if (!(v instanceof Float32Array) || v.length !== n)
    throw new DbmimError(
      `reward term '${name}' returned ${describeArray(v)}; expected a Float32Array of length ${n}`,
      'bad-reward',
    );
  for (let i = 0; i < n; i++)
    if (!Number.isFinite(v[i]!))
      throw new DbmimError(
        `reward term '${name}' is ${v[i]} for env ${Math.floor(i / numAgents)}, agent ${i % numAgents}`,
        'non-finite',
      );
}
