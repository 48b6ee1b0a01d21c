/**
 * Replacing pieces of a pretraining run through the DI container: a custom reward term and a custom
 * encoder sink are registered in the run's container before `buildPretraining`, which resolves every
 * piece from it and builds the library's default only for what is not registered. The reward term exists
 * for this run only (it is not registered globally); the sink receives the trained encoder when the run
 * ends, in place of the default (which would publish it under TOKENS.PretrainedEncoder).
 *
 * Written against the public API only ('../src/index.js'; from an installed package: 'dbmim').
 * Run: node --import tsx examples/custom-reward-di.ts [steps]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildPretraining,
  createRunContainer,
  PRETRAIN_TOKENS,
  registerReward,
  resolveConfig,
  selectBackend,
  TOKENS,
  type EncoderSink,
  type RewardContext,
  type StepEvent,
  type TrainedEncoder,
} from '../src/index.js';

/** Name of the custom reward term. */
export const MASKED_TERM = 'masked';

/** 1 for every patch the env masked (after the budget), 0 for the kept ones. */
export function maskedReward(ctx: RewardContext): Float32Array {
  return Float32Array.from(ctx.realized);
}

/** An encoder sink that keeps a summary instead of publishing the tensors. */
export class SummarySink implements EncoderSink {
  received: { tensors: number; values: number; embedDim: number } | null = null;

  publish(encoder: TrainedEncoder): void {
    const values = encoder.weights.reduce((s, w) => s + w.tensor.size, 0);
    this.received = { tensors: encoder.weights.length, values, embedDim: encoder.model.embedDim };
  }
}

/** What {@link main} reports. */
export interface DiExampleResult {
  /** Per step: the mean reward and the realized mask ratio (equal when the custom term is the reward). */
  steps: { reward: number; maskRatio: number; terms: string[] }[];
  /** What the custom sink received. */
  sink: SummarySink['received'];
  /** Whether the default sink's token was filled (false: the replacement was used). */
  defaultPublished: boolean;
}

/** A tiny pretraining run on synthetic data with the custom term as the only reward and the custom sink. */
export async function main(steps = 8, seed = 3): Promise<DiExampleResult> {
  await selectBackend();
  const config = resolveConfig({
    seed,
    data: { syntheticShape: [16, 64, 64] },
    model: { embedDim: 32, depth: 1, heads: 2, decoderDim: 32, decoderHeads: 2 },
    env: { numEnvs: 2, horizon: 4 },
    agent: { name: 'random' },
    // every built-in term off; the custom term is the whole reward
    reward: { relativeReconstruction: 0, budget: 0, extra: { [MASKED_TERM]: 1 } },
    train: { phase1Steps: steps, phase2Steps: 0, checkpointEvery: 0 },
  });

  // 1. The run's container, with the replacements registered in it.
  const container = createRunContainer(config);
  registerReward(MASKED_TERM, maskedReward, container);
  const sink = new SummarySink();
  container.register(PRETRAIN_TOKENS.EncoderSink, { useValue: sink });

  // 2. Everything else is the library's default, resolved from the same container.
  const outDir = mkdtempSync(join(tmpdir(), 'dbmim-di-'));
  const run = await buildPretraining(config, { outDir, container });
  const seen: DiExampleResult['steps'] = [];
  run.trainer.events$.subscribe((e) => {
    if (e.type === 'step') {
      const s = e as StepEvent;
      seen.push({ reward: s.reward, maskRatio: s.maskRatio, terms: Object.keys(s.rewardTerms) });
    }
  });
  try {
    await run.trainer.run();
    return {
      steps: seen,
      sink: sink.received,
      defaultPublished: container.isRegistered(TOKENS.PretrainedEncoder),
    };
  } finally {
    run.dispose();
    rmSync(outDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const r = await main(Number(process.argv[2]) || undefined);
  for (const [i, s] of r.steps.entries())
    console.log(`step ${i + 1}: reward ${s.reward.toFixed(4)} = mask ratio ${s.maskRatio.toFixed(4)}`);
  console.log(`encoder sink received ${JSON.stringify(r.sink)}; default token filled: ${r.defaultPublished}`);
}
