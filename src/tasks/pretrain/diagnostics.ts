import { obsFeature } from '../../env/observation-layout.js';

/*
 * Collapse diagnostics of a masking policy (the reference's adaptive policies collapsed to ratio 0.75):
 * realized mask ratios, how often masks land on membrane-rich patches, how saturated the policy is.
 * Accumulated over a rollout window, reported with every update.
 */
export class MaskDiagnostics {
  private ratios: number[] = [];
  private masksOnTopQuartile = 0;
  private masks = 0;
  private saturated = 0;
  private decisions = 0;

  /**
   * @param obs `[numEnvs * numAgents, obsDim]` observations the decisions were made on
   * @param realized `[numEnvs * numAgents]` applied actions (1 = mask)
   * @param probs `[numEnvs * numAgents]` the policy's mask probabilities
   */
  record(
    obs: Float32Array,
    obsDim: number,
    numEnvs: number,
    numAgents: number,
    realized: Int32Array,
    probs: Float32Array,
  ): void {
    const proxy = new Float32Array(numAgents);
    for (let e = 0; e < numEnvs; e++) {
      let m = 0;
      for (let a = 0; a < numAgents; a++) {
        const row = e * numAgents + a;
        proxy[a] = obsFeature(obs, obsDim, row, 'membrane');
        m += realized[row]!;
        const p = probs[row]!;
        if (p < 0.01 || p > 0.99) this.saturated++;
        this.decisions++;
      }
      this.ratios.push(m / numAgents);
      // Top quartile of this env's membrane proxy: patches at or above the 75th percentile.
      const sorted = Array.from(proxy).sort((x, y) => x - y);
      const q75 = sorted[Math.floor(0.75 * (numAgents - 1))]!;
      for (let a = 0; a < numAgents; a++) {
        if (!realized[e * numAgents + a]) continue;
        this.masks++;
        if (proxy[a]! >= q75) this.masksOnTopQuartile++;
      }
    }
  }

  /** Summary of the window, then reset. `ratioHistogram` has 10 bins over [0, 1]. */
  flush(): Record<string, number | number[]> {
    const hist = new Array<number>(10).fill(0);
    for (const r of this.ratios) hist[Math.min(9, Math.floor(r * 10))]! += 1;
    const mean = this.ratios.reduce((a, b) => a + b, 0) / Math.max(1, this.ratios.length);
    const out = {
      maskRatioMean: mean,
      maskRatioHistogram: hist,
      maskOnTopMembraneQuartile: this.masks ? this.masksOnTopQuartile / this.masks : 0,
      saturatedFraction: this.decisions ? this.saturated / this.decisions : 0,
    };
    this.ratios = [];
    this.masks = this.masksOnTopQuartile = this.saturated = this.decisions = 0;
    return out;
  }
}
