/*
 * A masking agent as a plug-in: REINFORCE with a linear-logistic policy, p(mask | o) = sigmoid(w . o + b),
 * and a per-update mean-reward baseline, in plain JavaScript (no tfjs). Loading this file registers the
 * agent under the name 'reinforce'; the commands then select it by name:
 *
 *   npx dbmim bench --plugin ./reinforce.mjs --policies reinforce,random --synthetic --out out/plugin
 *   npx dbmim pretrain --plugin ./reinforce.mjs --agent reinforce --synthetic --out out/reinforce
 *
 * Only the public API is used: `import ... from 'dbmim'` (the plug-in loader points it at the running dbmim).
 * The class is exported too, so a program that loaded this file (loadPlugins) can build it with other
 * hyper-parameters (examples/custom-agent.ts does, for the toy env).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerAgent, writeFileAtomic } from 'dbmim';

/** Hyper-parameters of the registered agent (MaskingEnv: observations are unnormalized patch embeddings). */
export const REINFORCE_DEFAULTS = {
  /** Step size of the gradient ascent on the policy's weights. */
  lr: 0.05,
  /** Largest gradient norm applied per update (Infinity: no clipping). */
  maxGradNorm: 1,
};

/** REINFORCE with a per-update mean-reward baseline: p(mask | o) = sigmoid(w . o + b). */
export class ReinforceAgent {
  name = 'reinforce';
  learns = true;

  /**
   * @param {number} obsDim
   * @param {{ next(): number }} rng
   * @param {{ lr?: number, maxGradNorm?: number }} [options] defaults: REINFORCE_DEFAULTS
   */
  constructor(obsDim, rng, options = {}) {
    this.obsDim = obsDim;
    this.rng = rng;
    this.lr = options.lr ?? REINFORCE_DEFAULTS.lr;
    this.maxGradNorm = options.maxGradNorm ?? REINFORCE_DEFAULTS.maxGradNorm;
    this.w = new Float64Array(obsDim);
    this.b = 0;
    this.steps = [];
  }

  act(input) {
    const rows = input.numEnvs * input.numAgents;
    const out = {
      actions: new Int32Array(rows),
      probs: new Float32Array(rows),
      logProbs: new Float32Array(rows),
      values: new Float32Array(rows),
    };
    for (let i = 0; i < rows; i++) {
      let z = this.b;
      for (let j = 0; j < this.obsDim; j++) z += this.w[j] * input.observations[i * this.obsDim + j];
      const p = 1 / (1 + Math.exp(-z));
      const a = input.deterministic ? (p > 0.5 ? 1 : 0) : this.rng.next() < p ? 1 : 0;
      out.actions[i] = a;
      out.probs[i] = p;
      out.logProbs[i] = Math.log(a ? p : 1 - p);
    }
    return out;
  }

  observe(t) {
    // The env's mask budget may flip actions: learn from the realized ones.
    this.steps.push({
      obs: Float32Array.from(t.input.observations),
      actions: Int32Array.from(t.realizedActions),
      probs: Float32Array.from(t.output.probs),
      rewards: Float32Array.from(t.rewards),
    });
  }

  update() {
    if (this.steps.length === 0) return null;
    let n = 0;
    let meanR = 0;
    for (const s of this.steps)
      for (const r of s.rewards) {
        meanR += r;
        n++;
      }
    meanR /= n;
    // grad of mean (r - baseline) * log pi(a | o); d log pi / dz = a - p
    const gw = new Float64Array(this.obsDim);
    let gb = 0;
    for (const s of this.steps)
      s.rewards.forEach((r, i) => {
        const g = ((r - meanR) * (s.actions[i] - s.probs[i])) / n;
        for (let j = 0; j < this.obsDim; j++) gw[j] += g * s.obs[i * this.obsDim + j];
        gb += g;
      });
    const norm = Math.hypot(...gw, gb);
    const scale = this.lr * Math.min(1, this.maxGradNorm / (norm || 1));
    for (let j = 0; j < this.obsDim; j++) this.w[j] += scale * gw[j];
    this.b += scale * gb;
    this.steps = [];
    return { meanReward: meanR, gradNorm: norm };
  }

  async save(dir) {
    writeFileAtomic(join(dir, 'reinforce.json'), JSON.stringify({ w: [...this.w], b: this.b }));
  }

  async load(dir) {
    const s = JSON.parse(readFileSync(join(dir, 'reinforce.json'), 'utf8'));
    if (!Array.isArray(s.w) || s.w.length !== this.obsDim || typeof s.b !== 'number')
      throw new Error(`${dir}/reinforce.json: expected {w: number[${this.obsDim}], b: number}`);
    this.w = Float64Array.from(s.w);
    this.b = s.b;
  }

  dispose() {}
}

registerAgent('reinforce', (ctx) => new ReinforceAgent(ctx.obsDim, ctx.rng.split('reinforce')));
