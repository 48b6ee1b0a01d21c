/*
 * A custom agent plugged in from outside the library: a REINFORCE learner with a linear-logistic policy
 * in plain TypeScript (no tfjs), registered under the name 'reinforce' and selected by that name through
 * the registry, exactly as `--agent reinforce` would select it. It trains on the toy ScoreMaskEnv.
 *
 * Run: node --import tsx examples/custom-agent.ts [updates]
 * Written against the public API only ('../src/index.js'; from an installed package: 'dbmim').
 */
import {
  createAgent,
  registerAgent,
  resolveConfig,
  Rng,
  ScoreMaskEnv,
  trainOnEnv,
  writeFileAtomic,
  type ActInput,
  type ActOutput,
  type Agent,
  type Transition,
  type UpdateStats,
} from '../src/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** REINFORCE with a per-batch mean baseline: p(mask | o) = sigmoid(w . o + b). */
class ReinforceAgent implements Agent {
  readonly name = 'reinforce';
  readonly learns = true;
  private w: Float64Array;
  private b = 0;
  private episodes: { obs: Float32Array; actions: Int32Array; probs: Float32Array; rewards: Float32Array }[] =
    [];

  constructor(
    private readonly obsDim: number,
    private readonly rng: Rng,
    /** Step size of the gradient ascent. */
    private readonly lr = 4,
  ) {
    this.w = new Float64Array(obsDim);
  }

  act(input: ActInput): ActOutput {
    const R = input.numEnvs * input.numAgents;
    const out: ActOutput = {
      actions: new Int32Array(R),
      probs: new Float32Array(R),
      logProbs: new Float32Array(R),
      values: new Float32Array(R),
    };
    for (let i = 0; i < R; i++) {
      let z = this.b;
      for (let j = 0; j < this.obsDim; j++) z += this.w[j]! * input.observations[i * this.obsDim + j]!;
      const p = 1 / (1 + Math.exp(-z));
      const a = input.deterministic ? (p > 0.5 ? 1 : 0) : this.rng.next() < p ? 1 : 0;
      out.actions[i] = a;
      out.probs[i] = p;
      out.logProbs[i] = Math.log(a ? p : 1 - p);
    }
    return out;
  }

  observe(t: Transition): void {
    // The env's budget may have flipped actions: learn from the realized ones.
    this.episodes.push({
      obs: Float32Array.from(t.input.observations),
      actions: Int32Array.from(t.realizedActions),
      probs: Float32Array.from(t.output.probs),
      rewards: Float32Array.from(t.rewards),
    });
  }

  update(): UpdateStats | null {
    if (this.episodes.length === 0) return null;
    // Immediate rewards (the toy env is a bandit): advantage = r - mean(r).
    let n = 0;
    let meanR = 0;
    for (const s of this.episodes)
      for (const r of s.rewards) {
        meanR += r;
        n++;
      }
    meanR /= n;
    const gw = new Float64Array(this.obsDim);
    let gb = 0;
    for (const s of this.episodes)
      s.rewards.forEach((r, i) => {
        const g = (r - meanR) * (s.actions[i]! - s.probs[i]!); // d log pi(a) / dz = a - p
        for (let j = 0; j < this.obsDim; j++) gw[j]! += (g * s.obs[i * this.obsDim + j]!) / n;
        gb += g / n;
      });
    for (let j = 0; j < this.obsDim; j++) this.w[j]! += this.lr * gw[j]!;
    this.b += this.lr * gb;
    this.episodes = [];
    return { meanReward: meanR, gradNorm: Math.hypot(...gw, gb) };
  }

  async save(dir: string): Promise<void> {
    writeFileAtomic(join(dir, 'reinforce.json'), JSON.stringify({ w: [...this.w], b: this.b }));
  }

  async load(dir: string): Promise<void> {
    const s = JSON.parse(readFileSync(join(dir, 'reinforce.json'), 'utf8')) as { w: number[]; b: number };
    this.w = Float64Array.from(s.w);
    this.b = s.b;
  }

  dispose(): void {}
}

/** Register 'reinforce', build it by name from the config and train it for `updates` rollouts. */
export async function main(updates = 20): Promise<{ agent: string; correct: number[]; learns: boolean }> {
  registerAgent('reinforce', (ctx) => new ReinforceAgent(ctx.obsDim, ctx.rng.split('reinforce')));
  const config = resolveConfig({ agent: { name: 'reinforce' } });
  const env = new ScoreMaskEnv({ numEnvs: 4, numAgents: 16 });
  const agent = createAgent(config.agent.name, {
    obsDim: env.obsDim,
    stateDim: env.stateDim,
    numAgents: env.numAgents,
    numEnvs: env.numEnvs,
    config,
    rng: Rng.fromSeed(config.seed),
  });
  const { history } = trainOnEnv(env, agent, { updates, rolloutSteps: 4, seed: 1 });
  env.close();
  agent.dispose();
  return { agent: agent.name, learns: agent.learns, correct: history.map((h) => h.correct as number) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const r = await main(Number(process.argv[2] ?? 20));
  console.log(
    `agent '${r.agent}': correct decisions per update: ${r.correct.map((c) => c.toFixed(2)).join(' ')}`,
  );
}
