import { readFileSync, existsSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/*
 * The configuration of a dbmim run: one strict schema (unknown fields are errors), defaults for every
 * field, JSON files plus dotted CLI overrides (`--set model.depth=4`). Errors name the field, the value
 * and what was expected.
 */

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const num = (min: number, max = Number.MAX_VALUE) => z.number().min(min).max(max);
const triple = z.tuple([int(1), int(1), int(1)]);

/** Data source: an HDF5 file (CREMI layout) or the synthetic generator. */
export const DataConfigSchema = z
  .object({
    /** HDF5 file; `file.h5` or `file.h5:volumes/raw`. Null means synthetic data. */
    path: z.string().nullable().default(null),
    rawKey: z.string().default('volumes/raw'),
    labelsKey: z.string().default('volumes/labels/neuron_ids'),
    /** Labels used for evaluation (the ISBI stack judges 2D labels). */
    evalLabelsKey: z.string().nullable().default(null),
    /** Sections [start, end) used for training; null = all. */
    trainZ: z
      .tuple([int(0), int(1)])
      .nullable()
      .default(null),
    /**
     * Sections [start, end) held out for choosing segmentation parameters (validation); null = none.
     * Never trained on, never scored.
     */
    validZ: z
      .tuple([int(0), int(1)])
      .nullable()
      .default(null),
    /** Sections [start, end) held out for evaluation (test: scored once); null = none. */
    evalZ: z
      .tuple([int(0), int(1)])
      .nullable()
      .default(null),
    /** Shape (z, y, x) of a generated synthetic volume. */
    syntheticShape: triple.default([32, 128, 128]),
    /** Apply the standard augmentation to training crops. */
    augment: z.boolean().default(true),
  })
  .strict();

/** The MIM model (ViT-3D encoder + light decoder). `preset` fills the size fields. */
export const ModelConfigSchema = z
  .object({
    preset: z.enum(['tiny', 'small', 'paper']).default('tiny'),
    crop: triple.default([16, 64, 64]),
    /**
     * Patch (z, y, x) of the MIM tokens. 4x16x16 is the presets' patching, kept by measurement against
     * 2x16x16 (ISBI, the calibrate preset's 256 random-masking updates, seeds 1-3): held-out MIM ratio 0.980
     * vs 0.986, but the frozen-encoder probe (k=16) on validation sections 16-19 scored VOI sum 0.557 vs
     * 0.508 (worse on 3 of 3 seeds; paired +0.049, 95 % t [-0.073, +0.171]).
     */
    patch: triple.default([4, 16, 16]),
    embedDim: int(8).default(96),
    depth: int(1, 64).default(4),
    heads: int(1, 64).default(4),
    mlpRatio: num(0.5, 16).default(4),
    decoderDim: int(8).default(64),
    decoderDepth: int(1, 16).default(1),
    decoderHeads: int(1, 64).default(4),
    /**
     * Give each decoder token a learned map of its visible face neighbours' tokens (NeighborMix) before the
     * decoder blocks. Without it the decoder must learn by attention where a masked patch's neighbours are,
     * and on ISBI it never got there within our budgets: held-out MIM loss / per-patch-mean baseline
     * (validation sections 16-19, tiny, 4 crops per update, mask 0.75, seed 1) after 512 updates, without ->
     * with: patch 4x16x16 (crop 4x128x128) 1.000 -> 0.978, 2x16x16 -> 0.957, 1x16x16 (crop 1x128x128)
     * 1.000 -> 0.958, 1x8x8 (crop 1x64x64) 1.000 -> 0.953; at mask 0.5: 1x16x16 -> 0.907, 4x16x16 0.927.
     */
    decoderNeighbors: z.boolean().default(true),
    /** Position embedding: fixed sin-cos (default) or learned. */
    posEmbed: z.enum(['sincos', 'learned']).default('sincos'),
    /** `mae`: encoder sees visible tokens only (paper). `simmim`: encoder on all tokens with mask tokens. */
    mode: z.enum(['mae', 'simmim']).default('mae'),
    /** Loss weight 1 + w * membrane proxy per patch (0 = plain MSE). */
    membraneWeight: num(0, 100).default(0),
    /** Weight of the gradient ("structure") loss on the reconstruction. */
    structureWeight: num(0, 100).default(0),
    /** Weight of the HOG-feature target beside voxels (the paper). */
    hogWeight: num(0, 100).default(0),
  })
  .strict();

/** Optimizer of the MIM model (AdamW + warmup + cosine). */
export const OptimConfigSchema = z
  .object({
    lr: num(0, 10).default(1.5e-3),
    minLr: num(0, 10).default(1e-5),
    weightDecay: num(0, 10).default(0.05),
    beta1: num(0, 0.999999).default(0.9),
    beta2: num(0, 0.999999).default(0.95),
    warmupSteps: int(0).default(20),
    /** Global gradient-norm clip (0 = off). */
    clipNorm: num(0).default(1),
  })
  .strict();

/** The masking environment. */
export const EnvConfigSchema = z
  .object({
    /** Parallel crops (environments) per step. */
    numEnvs: int(1, 1024).default(4),
    /** MIM updates per episode before truncation. */
    horizon: int(1).default(8),
    minRatio: num(0, 1).default(0.35),
    maxRatio: num(0, 1).default(0.9),
    targetRatio: num(0, 1).default(0.75),
    /** Held-out crops for the learning-progress and membrane-proxy rewards. */
    heldOutCrops: int(0, 256).default(4),
  })
  .strict();

/** Reward weights: each term is computed and reported, the weighted sum is the reward. */
export const RewardConfigSchema = z
  .object({
    /** Masked patch's own loss (the reference's term; pays for masking more, so policies collapse). */
    reconstruction: num(-100, 100).default(0),
    /** Masked patch's loss minus its crop's mean masked loss: pays for masking the harder patches. */
    relativeReconstruction: num(-100, 100).default(1),
    learningProgress: num(-100, 100).default(0),
    membraneProxy: num(-100, 100).default(0),
    budget: num(-100, 100).default(0.5),
    kl: num(-100, 100).default(0),
    /** Weights of terms registered by name (registerReward, `--plugin`): name -> weight; 0 = off. */
    extra: z.record(z.string(), num(-100, 100)).default({}),
  })
  .strict();

/** PPO hyper-parameters (IPPO and MAPPO). */
export const PpoConfigSchema = z
  .object({
    lr: num(0, 1).default(3e-4),
    /**
     * Discount. 0 by default: MaskingEnv draws new crops every step, so row r at t + 1 is an unrelated
     * patch and the task is a contextual bandit; with gamma 0.99 (lambda 0.95) GAE hands patch position r
     * the later rewards of other crops' patches. Planted-reward runs (examples/planted-reward.ts, 10
     * updates, seeds 1-4): top-quartile share IPPO 0.726 / MAPPO 0.717 at gamma 0, 0.718 / 0.701 at
     * gamma 0.99 (README, "What each algorithm's actor and critic see").
     */
    gamma: num(0, 1).default(0),
    gaeLambda: num(0, 1).default(0.95),
    clipCoef: num(0, 1).default(0.2),
    vfCoef: num(0).default(0.5),
    entCoef: num(0).default(0.01),
    epochs: int(1, 100).default(4),
    minibatches: int(1, 4096).default(4),
    maxGradNorm: num(0).default(0.5),
    targetKl: num(0).nullable().default(null),
    annealLr: z.boolean().default(true),
    normAdv: z.boolean().default(true),
    clipVloss: z.boolean().default(true),
    hidden: int(4, 4096).default(64),
    /** Hidden activation of the decision module's MLPs. */
    activation: z.enum(['tanh', 'gelu']).default('tanh'),
    /** Normalize value targets (running mean/std); null = on for MAPPO, off for IPPO. */
    valueNorm: z.boolean().nullable().default(null),
    /**
     * Add the pooled context of the env's patches to each agent's logit. Off by default: the actor of IPPO
     * and MAPPO is decentralized (agent i acts on its own observation), as in both papers.
     */
    useContext: z.boolean().default(false),
    /**
     * Input of MAPPO's central critic: 'agent-specific' = env state + the agent's own observation (Yu et
     * al. 2022, one value per agent, matching the per-agent rewards); 'global' = env state only.
     */
    criticInput: z.enum(['agent-specific', 'global']).default('agent-specific'),
    /** Env steps collected per PPO update. */
    rolloutSteps: int(1).default(8),
  })
  .strict();

/** The agent (masking policy) and its options. */
export const AgentConfigSchema = z
  .object({
    name: z.string().min(1).default('ippo'),
    /** Mask ratio of the heuristic policies. */
    ratio: num(0, 1).default(0.75),
    /** `mixed`: share of masks chosen by edge score (the rest random). */
    edgeFraction: num(0, 1).default(0.5),
    /** `edge`/`mixed`: score = membrane proxy ^ power (sharper preference for larger powers). */
    edgePower: num(0, 100).default(1),
    /** `edge`/`mixed`: std of gaussian noise added to the edge score (0 = deterministic ranking). */
    edgeNoise: num(0, 100).default(0),
    /** `block`: largest cuboid side as a fraction of the patch grid. */
    blockMaxSideFraction: num(0, 1).default(0.5),
  })
  .strict();

/** Pretraining schedule. */
export const TrainConfigSchema = z
  .object({
    /** Phase 1: MIM model and policy trained together. */
    phase1Steps: int(0).default(100),
    /** Phase 2: policy frozen, MIM training continues. */
    phase2Steps: int(0).default(0),
    checkpointEvery: int(0).default(50),
    /**
     * Steps between measurements of the held-out MIM loss (fixed crops of the validation sections under a
     * fixed mask, no update; also at step 0 and at the end); 0 = off. At the quick preset's shapes one
     * measurement of 8 crops costs about half a training step, so 16 adds about 3 % to pretraining.
     */
    heldOutEvery: int(0).default(16),
    /** Validation crops of the held-out MIM loss (drawn once, the same for every policy and seed). */
    heldOutCrops: int(1, 256).default(8),
  })
  .strict();

/** Segmentation finetuning. */
export const FinetuneConfigSchema = z
  .object({
    steps: int(0).default(300),
    batchSize: int(1, 256).default(2),
    /**
     * Decoder learning rate. With the in-plane U-Net (scratch on ISBI, 400 steps, validation sections
     * 16-19, VOI sum): seed 2 0.551 at 2.5e-3, 0.443 at 5e-3, 0.490 at 1e-2, 0.626 at 2e-2; seed 3 0.461
     * at 5e-3, 0.484 at 1e-2. (The earlier token-only network preferred 1.2e-2.)
     */
    lr: num(0, 1).default(5e-3),
    /** Encoder learning rate as a fraction of `lr` (the encoder trains slower). */
    encoderLrScale: num(0, 10).default(0.1),
    /**
     * Frozen-encoder probe: only the decoder learns; the encoder gets no gradient and no update, so its
     * weights stay bit-identical (the benchmark's `probe` readout). False: full finetuning.
     */
    freezeEncoder: z.boolean().default(false),
    /**
     * Decoder of the benchmark's `probe` readout. `tokens`: the frozen encoder's tokens upsampled to full
     * resolution plus the one 3x3x3 conv on the raw, no in-plane U-Net, so the boundaries must come from
     * the encoder's features and the probe measures the representation. `unet`: the finetuning network
     * (with the in-plane U-Net on the raw), which predicts boundaries nearly as well from a random encoder.
     * Measured on ISBI validation (k=16 crops, 200 steps, seeds 1-3, frozen `random-long` minus frozen
     * random encoder, validation affinity loss): `tokens` -0.010, 95 % t [-0.015, -0.005] (3/3 better);
     * `unet` +0.005 [-0.003, +0.013] (pretrained worse on 3/3). Full finetuning always uses the finetuning
     * network.
     */
    probeHead: z.enum(['tokens', 'unet']).default('tokens'),
    loss: z.enum(['mse', 'bce']).default('bce'),
    /** Extra weight on boundary voxels (0 = off). */
    boundaryWeight: num(0, 100).default(2),
    /**
     * Loss weight of the z, y, x affinity channels. 2-D evaluation (`eval.mode2d`) reads only y and x,
     * so the benchmark presets drop z (weight 0) and spend the whole loss on what is scored.
     */
    channelWeights: z
      .tuple([num(0, 100), num(0, 100), num(0, 100)])
      .refine((w) => w.some((x) => x > 0), 'at least one channel weight must be > 0')
      .default([1, 1, 1]),
    /**
     * Training crops get additive Gaussian noise of a standard deviation drawn from [0, noiseAugment]
     * (raw in [0, 1]; on top of `data.augment`). 0 = off.
     */
    noiseAugment: num(0, 0.5).default(0),
    /**
     * Training crops get an in-plane elastic deformation: displacements of this standard deviation
     * (pixels) on a grid of `elasticSpacing` pixels, interpolated in between (labels follow, by nearest
     * voxel). 0 = off: scratch, 400 steps, validation VOI sum on ISBI 16-19, seeds 1-3, 4 px changed it by
     * -0.007 (95 % t interval [-0.039, +0.025]).
     */
    elasticAugment: num(0, 64).default(0),
    /** Grid spacing (pixels) of `elasticAugment`: larger = smoother bends. */
    elasticSpacing: int(4, 4096).default(64),
    validEvery: int(0).default(50),
  })
  .strict();

/** Segmentation and evaluation. */
export const EvalConfigSchema = z
  .object({
    /** Agglomeration thresholds searched on validation (one segmentation each; lower = more merging). */
    thresholds: z.array(num(0, 1)).min(1).default([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
    /** Watershed seeding: `hminima` (robust to noisy maps), `distance` or `threshold` (the original). */
    seeds: z.enum(['hminima', 'distance', 'threshold']).default('hminima'),
    /**
     * Seed dynamics searched on validation (boundary-map units for hminima, voxels for distance). Learned
     * maps chose 0.3, the old grid's edge; with 0.4 and 0.5 one of three ISBI validation runs improved
     * (VOI 0.775 -> 0.687 at 0.4), the others and the learning-free control kept their choice.
     */
    seedH: z.array(num(0, 1000)).min(1).default([0.05, 0.1, 0.2, 0.3, 0.4, 0.5]),
    /** Gaussian sigma (px, in-plane) of the learning-free control's smoothed intensity. */
    baselineSigma: num(0, 20).default(1),
    /**
     * Test-time augmentation of whole-volume prediction: average each window over its 8 in-plane
     * symmetries (8x the forward passes).
     */
    testTimeAugment: z.boolean().default(false),
    /** Overlap of neighbouring windows in whole-volume prediction. */
    overlap: num(0, 0.9).default(0.25),
    mode2d: z.boolean().default(false),
    /** Segments under this many voxels merge into their strongest neighbour (0 = off). */
    minSize: int(0).default(40),
    borderNm: num(0).default(0),
  })
  .strict();

export const ConfigSchema = z
  .object({
    seed: int(0, 2 ** 32 - 1).default(0),
    data: DataConfigSchema.default(DataConfigSchema.parse({})),
    model: ModelConfigSchema.default(ModelConfigSchema.parse({})),
    optim: OptimConfigSchema.default(OptimConfigSchema.parse({})),
    env: EnvConfigSchema.default(EnvConfigSchema.parse({})),
    reward: RewardConfigSchema.default(RewardConfigSchema.parse({})),
    agent: AgentConfigSchema.default(AgentConfigSchema.parse({})),
    ppo: PpoConfigSchema.default(PpoConfigSchema.parse({})),
    train: TrainConfigSchema.default(TrainConfigSchema.parse({})),
    finetune: FinetuneConfigSchema.default(FinetuneConfigSchema.parse({})),
    eval: EvalConfigSchema.default(EvalConfigSchema.parse({})),
  })
  .strict();

/** A whole run configuration, validated (see {@link resolveConfig}); every field has a default. */
export type Config = z.infer<typeof ConfigSchema>;
/** Config `data`: the volume, its sections and augmentation. */
export type DataConfig = Config['data'];
/** Config `model`: the ViT encoder, decoder and MIM loss. */
export type ModelConfig = Config['model'];
/** Config `optim`: AdamW and the learning-rate schedule of MIM training. */
export type OptimConfig = Config['optim'];
/** Config `env`: the masking env (crops per step, horizon, mask budget). */
export type EnvConfig = Config['env'];
/** Config `reward`: the weight of every reward term. */
export type RewardConfig = Config['reward'];
/** Config `ppo`: the PPO learner of IPPO and MAPPO. */
export type PpoConfig = Config['ppo'];
/** Config `agent`: which agent, and the heuristic policies' knobs. */
export type AgentConfig = Config['agent'];
/** Config `train`: the two pretraining phases and checkpoints. */
export type TrainConfig = Config['train'];
/** Config `finetune`: the affinity network's training. */
export type FinetuneConfig = Config['finetune'];
/** Config `eval`: prediction and segmentation of held-out volumes. */
export type EvalConfig = Config['eval'];

/**
 * Size fields of the named model presets (crop 16x64x64 and patch 4x16x16 unless stated). `tiny` is the
 * schema's defaults (ModelConfigSchema), so it sets nothing.
 */
export const MODEL_PRESETS: Record<ModelConfig['preset'], Partial<ModelConfig>> = {
  tiny: {},
  small: { embedDim: 192, depth: 6, heads: 6, decoderDim: 128, decoderDepth: 1, decoderHeads: 4 },
  paper: {
    crop: [32, 160, 160],
    embedDim: 192,
    depth: 6,
    heads: 6,
    decoderDim: 128,
    decoderDepth: 1,
    decoderHeads: 4,
  },
};

/** Deep-partial input accepted by {@link resolveConfig}. */
export type ConfigInput = { [K in keyof Config]?: K extends 'seed' ? number : Partial<Config[K]> };

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function getPath(obj: unknown, path: PropertyKey[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** Turn zod issues into one readable line per problem: `field: got VALUE, expected ...`. */
function formatIssues(err: z.ZodError, input: unknown, source: string): string {
  const lines = err.issues.map((iss) => {
    const field = iss.path.map(String).join('.') || '(root)';
    if (iss.code === 'unrecognized_keys') {
      const keys = iss.keys.map((k) => (field === '(root)' ? k : `${field}.${k}`));
      return `unknown field ${keys.join(', ')}`;
    }
    const got = describe(getPath(input, iss.path));
    return `${field}: got ${got}, ${iss.message.replace(/^Invalid input: /, '')}`;
  });
  return `invalid config (${source}): ${lines.join('; ')}`;
}

/**
 * Validate a (partial) config and fill defaults. The model preset's size fields apply first; fields
 * given explicitly in `input.model` win over the preset.
 */
export function resolveConfig(input: unknown = {}, source = 'config'): Config {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new ConfigError(`invalid config (${source}): expected a JSON object, got ${describe(input)}`);
  const raw = structuredClone(input) as Record<string, unknown>;
  const model = (raw.model ?? {}) as Record<string, unknown>;
  if (model && typeof model === 'object') {
    const preset = (model.preset ?? 'tiny') as string;
    if (preset in MODEL_PRESETS)
      raw.model = { ...MODEL_PRESETS[preset as ModelConfig['preset']], ...model, preset };
  }
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(formatIssues(r.error, raw, source));
  const c = r.data;
  if (c.env.minRatio > c.env.maxRatio)
    throw new ConfigError(
      `invalid config (${source}): env.minRatio ${c.env.minRatio} is above env.maxRatio ${c.env.maxRatio}`,
    );
  const sizeProblem = modelSizeProblem(c.model);
  if (sizeProblem) throw new ConfigError(`invalid config (${source}): ${sizeProblem}`);
  return c;
}

/**
 * The first size mismatch of a model config (crop vs patch, widths vs heads), naming the fields; null when
 * the sizes fit. The one size check: `resolveConfig` and the models (configs built by hand) both use it.
 */
export function modelSizeProblem(m: ModelConfig): string | null {
  for (let i = 0; i < 3; i++)
    if (m.crop[i]! % m.patch[i]! !== 0)
      return `model.crop ${describe(m.crop)} is not a multiple of model.patch ${describe(m.patch)}`;
  if (m.embedDim % m.heads !== 0)
    return `model.embedDim ${m.embedDim} is not divisible by model.heads ${m.heads}`;
  if (m.decoderDim % m.decoderHeads !== 0)
    return `model.decoderDim ${m.decoderDim} is not divisible by model.decoderHeads ${m.decoderHeads}`;
  return null;
}

/** Read a JSON config file; errors name the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new ConfigError(`config file not found: ${path}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Parse a CLI override value: JSON when it parses (numbers, booleans, arrays), else a string. */
function parseValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    if (/^\d+(,\d+)+$/.test(v)) return v.split(',').map(Number);
    return v;
  }
}

/** Apply dotted overrides `a.b=value` to a plain config object (returns a new object). */
export function applyOverrides(base: Record<string, unknown>, overrides: string[]): Record<string, unknown> {
  const out = structuredClone(base);
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new ConfigError(`invalid override '${o}': expected field.path=value`);
    const path = o.slice(0, eq).split('.');
    let cur: Record<string, unknown> = out;
    for (const k of path.slice(0, -1)) {
      if (cur[k] === undefined) cur[k] = {};
      if (typeof cur[k] !== 'object' || cur[k] === null)
        throw new ConfigError(`invalid override '${o}': '${k}' is not a section`);
      cur = cur[k] as Record<string, unknown>;
    }
    cur[path[path.length - 1]!] = parseValue(o.slice(eq + 1));
  }
  return out;
}

/** Load config from an optional file plus overrides, validated. */
export function loadConfig(file?: string, overrides: string[] = [], extra: ConfigInput = {}): Config {
  const base = file ? readConfigFile(file) : {};
  const merged = deepMerge(base, extra as Record<string, unknown>);
  return resolveConfig(applyOverrides(merged, overrides), file ?? 'config');
}

/** Merge b into a (objects recursively; arrays and scalars replace). */
export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const av = out[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && av && typeof av === 'object' && !Array.isArray(av))
      out[k] = deepMerge(av as Record<string, unknown>, v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}
