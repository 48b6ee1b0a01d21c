import { join } from 'node:path';
import { writeFileAtomic } from '../../core/fs.js';
import { mean, sampleStd } from '../../core/stats.js';
import { encodePng, grayToRgb, hstack, overlay } from '../report/png.js';
import { histogramChart, lineChart, type Series } from '../report/svg.js';
import type { LabelBudget, Readout } from './presets.js';
import type { BenchmarkResults, ComparisonRecord, EvaluationRecord, RunRecord, Scores } from './results.js';

/*
 * The benchmark report: report.md (first the paired differences over seeds with their intervals and a
 * sentence on what the run detected, then mean and spread over seeds per row, readout and label budget, pretraining
 * diagnostics, time per part) and figures (MIM loss and reward curves, mask-ratio histograms, each
 * policy's mask over one section, segmentations beside ground truth). Every number comes from results.
 */

const SCORE_KEYS: (keyof Scores)[] = ['voi_split', 'voi_merge', 'voi_sum', 'arand', 'cremi_score'];

function meanStd(xs: number[]): { mean: number; std: number } {
  return { mean: mean(xs), std: sampleStd(xs) };
}

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

function cell(xs: number[], digits = 3): string {
  const { mean, std } = meanStd(xs);
  // A quantity a policy does not have (entropy of a heuristic) is n/a, not "n/a ± n/a".
  return xs.length > 1 && Number.isFinite(mean)
    ? `${fmt(mean, digits)} ± ${fmt(std, digits)}`
    : fmt(mean, digits);
}

/** Moving average (window w) so curves of a few hundred noisy steps are readable. */
function smooth(y: number[], w = 10): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    s += y[i]!;
    if (i >= w) s -= y[i - w]!;
    out.push(s / Math.min(i + 1, w));
  }
  return out;
}

/** Element-wise mean of equal-purpose series of possibly different lengths (truncated to the shortest). */
function meanSeries(ys: number[][]): number[] {
  const n = Math.min(...ys.map((y) => y.length));
  return Array.from({ length: n }, (_, i) => ys.reduce((a, y) => a + y[i]!, 0) / ys.length);
}

export function groupByPolicy(runs: RunRecord[]): Map<string, RunRecord[]> {
  const m = new Map<string, RunRecord[]>();
  for (const r of runs) m.set(r.policy, [...(m.get(r.policy) ?? []), r]);
  return m;
}

/** `k=16` / `all`. */
function budgetCell(b: LabelBudget): string {
  return b === 'all' ? 'all' : `k=${b}`;
}

function signed(x: number, digits = 3): string {
  return Number.isFinite(x) ? `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(digits)}` : 'n/a';
}

/** The evaluations of the runs, in the order they ran (readout, budget). */
function evaluationKeys(res: BenchmarkResults): { readout: Readout; labelBudget: LabelBudget }[] {
  const out: { readout: Readout; labelBudget: LabelBudget }[] = [];
  for (const readout of ['probe', 'finetune'] as const)
    for (const labelBudget of res.readouts[readout] ?? []) out.push({ readout, labelBudget });
  return out;
}

const SCORE_NAME = { voi_sum: 'VOI sum', arand: 'ARAND', affinity_loss: 'affinity loss' } as const;

/** One comparison in words: `random - scratch (probe, k=16, VOI sum) -0.050 [-0.080, -0.020]`. */
function describeComparison(c: ComparisonRecord): string {
  const iv = c.interval ? ` [${signed(c.interval[0])}, ${signed(c.interval[1])}]` : '';
  return `${c.row} - ${c.baseline} (${c.readout}, ${budgetCell(c.labelBudget)}, ${SCORE_NAME[c.score]}) ${signed(c.mean)}${iv}`;
}

/**
 * The sentences that say which differences the run detected, computed from the comparisons: the
 * controls first (pretraining vs none, longer pretraining, frozen random vs frozen pretrained), then
 * the policies against random.
 */
export function detectionSentences(comparisons: ComparisonRecord[]): string[] {
  if (!comparisons.length)
    return ['No paired comparison: the run has no baseline row (`scratch` or `random`).'];
  const n = Math.max(...comparisons.map((c) => c.seeds.length));
  if (n < 2)
    return [
      `With ${n} seed no interval exists, so this run cannot detect any difference: the table shows single ` +
        'paired differences (run more seeds, e.g. the calibrate preset, for intervals).',
    ];
  const out: string[] = [];
  const say = (what: string, cs: ComparisonRecord[]) => {
    if (!cs.length) return;
    const hit = cs.filter((c) => c.detected);
    const better = hit.filter((c) => c.mean < 0);
    const worse = hit.filter((c) => c.mean > 0);
    const widest = Math.max(...cs.map((c) => c.detectable ?? NaN).filter(Number.isFinite));
    out.push(
      hit.length === 0
        ? `${what}: not detected in any of ${cs.length} comparisons (every 95 % interval includes zero; ` +
            `differences below about ${fmt(widest)} were not detectable at this spread).`
        : `${what}: detected in ${hit.length} of ${cs.length} comparisons` +
            (better.length ? `; lower (better) for ${better.map(describeComparison).join('; ')}` : '') +
            (worse.length ? `; higher (worse) for ${worse.map(describeComparison).join('; ')}` : '') +
            '.',
    );
  };
  const vsScratch = comparisons.filter((c) => c.baseline === 'scratch');
  say(
    'Pretrained (random masking) vs scratch, finetuned',
    vsScratch.filter((c) => c.row === 'random' && c.readout === 'finetune'),
  );
  say(
    'Frozen pretrained (random masking) vs frozen random-init encoder (probe)',
    vsScratch.filter((c) => c.row === 'random' && c.readout === 'probe'),
  );
  say(
    'Longer pretraining (random-long) vs scratch',
    vsScratch.filter((c) => c.row === 'random-long'),
  );
  say(
    'Other pretrained encoders vs scratch',
    vsScratch.filter((c) => c.row !== 'random' && c.row !== 'random-long'),
  );
  say(
    'Policies vs random',
    comparisons.filter((c) => c.baseline === 'random'),
  );
  return out;
}

/** Write report.md and the figures into `dir`; returns the report's path. */
export function writeReport(dir: string, res: BenchmarkResults, segPreviews: Map<string, string>): string {
  const groups = groupByPolicy(res.runs);
  const policies = [...groups.keys()];
  const evals = evaluationKeys(res);
  const lines: string[] = [];
  lines.push(`# dbmim masking-policy benchmark (${res.preset})`, '');
  lines.push(
    `Data: \`${res.data}\`. Backend: ${res.backend}. Seeds: ${res.seeds.join(', ')}. Started ${res.startedAt}.`,
    '',
    `Split: training ${res.split.train}; validation ${res.split.valid}; test ${res.split.test}.`,
    `Label budgets: ${evals.map((e) => `${e.readout} ${budgetCell(e.labelBudget)}`).join(', ')} ` +
      '(k labelled crops drawn once per seed from the training sections, the same for every row).',
    '',
    'Each policy pretrains the same MIM model with the same number of updates and crops, once per seed; that',
    'encoder is then read out at every label budget, frozen (`probe`: only the decoder learns) and/or',
    'finetuned (`finetune`), and affinities are predicted on held-out sections no training step saw.',
    'Segmentation (h-minima seeded watershed + mean-affinity agglomeration) takes its two parameters, the seed',
    'dynamic h and the merge threshold, from the **validation** sections; the **test** sections are then',
    'segmented once with them and scored: **thresholds were chosen on validation, never on test**. `scratch`',
    'is the control without pretraining (under the probe: a frozen randomly initialized encoder);',
    ...(groups.has('random-long')
      ? ['`random-long` is random masking pretrained several times longer (the positive control);']
      : []),
    '`learning-free` is the smoothed raw intensity through the same segmentation. Lower is better for every',
    'score.',
    '',
  );
  lines.push('## Paired differences over seeds (test sections)', '');
  lines.push(
    'Per seed, row minus baseline on the same seed (same labelled crops, same finetuning draws); negative',
    'means the row is better. Interval: 95 % Student t over seeds (mean ± t(0.975, n-1) sd / sqrt(n));',
    'one seed gives none. Detectable: the smallest true difference this spread would show with 80 % power,',
    '(t(0.975, n-1) + t(0.8, n-1)) sd / sqrt(n). Wins: seeds on which the row scored lower.',
    '',
    '| row - baseline | readout | labels | score | mean difference | 95 % interval (t) | wins / seeds | detectable |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const c of res.comparisons)
    lines.push(
      `| ${c.row} - ${c.baseline} | ${c.readout} | ${budgetCell(c.labelBudget)} | ${SCORE_NAME[c.score]} | ` +
        `${signed(c.mean)} | ${c.interval ? `[${signed(c.interval[0])}, ${signed(c.interval[1])}]${c.detected ? ' *' : ''}` : 'none (1 seed)'} | ` +
        `${c.wins} / ${c.seeds.length} | ${c.detectable === null ? 'n/a' : fmt(c.detectable)} |`,
    );
  lines.push('', '\\* the interval excludes zero.', '', ...detectionSentences(res.comparisons), '');

  lines.push('## Segmentation scores (test sections)', '');
  lines.push(
    '| row | readout | labels | runs | VOI split | VOI merge | VOI sum | ARAND | CREMI score | affinity loss | seed h | threshold | validation VOI sum |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const e of evals) {
    const at = (p: string) =>
      groups
        .get(p)!
        .map((r) => r.evaluations.find((x) => x.readout === e.readout && x.labelBudget === e.labelBudget))
        .filter((x): x is EvaluationRecord => !!x);
    const order = [...policies].sort(
      (a, b) =>
        meanStd(at(a).map((x) => x.test.voi_sum)).mean - meanStd(at(b).map((x) => x.test.voi_sum)).mean,
    );
    for (const p of order) {
      const xs = at(p);
      if (!xs.length) continue;
      const cells = SCORE_KEYS.map((k) => cell(xs.map((x) => x.test[k])));
      const losses = xs.flatMap((x) => (x.affinityLoss ? [x.affinityLoss.test] : []));
      cells.push(losses.length === xs.length ? cell(losses) : '-');
      lines.push(
        `| ${p} | ${e.readout} | ${budgetCell(e.labelBudget)} | ${xs.length} | ${cells.join(' | ')} | ${cell(
          xs.map((x) => x.test.seedH),
          2,
        )} | ${cell(
          xs.map((x) => x.test.threshold),
          2,
        )} | ${cell(xs.map((x) => x.validation.scores.voi_sum))} |`,
      );
    }
  }
  for (const c of res.controls) {
    const cells = [...SCORE_KEYS.map((k) => fmt(c.test[k])), '-'];
    lines.push(
      `| ${c.name} | none | none | 1 | ${cells.join(' | ')} | ${fmt(c.test.seedH, 2)} | ${fmt(c.test.threshold, 2)} | ${fmt(
        c.validation.scores.voi_sum,
      )} |`,
    );
  }
  lines.push(
    '',
    'Mean ± sample std over seeds. Affinity loss: the finetuning objective of the predicted affinities on the',
    'test sections (no segmentation step; the learning-free map is not a probability, so it has none).',
  );
  for (const c of res.controls) lines.push(`\`${c.name}\`: ${c.description}.`);
  lines.push('');
  if (res.failed?.length) {
    lines.push(
      '## Failed runs',
      '',
      'These runs ended without a result and are not in the tables; running the same command again retries them.',
      '',
      '| policy | seed | error |',
      '|---|---|---|',
      ...res.failed.map((f) => `| ${f.policy} | ${f.seed} | ${f.error.replace(/[|\n]/g, ' ')} |`),
      '',
    );
  }

  lines.push('## Pretraining diagnostics', '');
  lines.push(
    '| policy | final MIM loss | final held-out MIM loss / mean baseline | mean mask ratio | masks on top-quartile membrane patches | saturated decisions | policy entropy |',
  );
  lines.push('|---|---|---|---|---|---|---|');
  for (const p of policies) {
    const rs = groups.get(p)!.filter((r) => r.pretrain);
    if (!rs.length) continue;
    const d = (k: string) => rs.map((r) => r.pretrain!.diagnostics[k] ?? NaN);
    lines.push(
      `| ${p} | ${cell(
        rs.map((r) => r.pretrain!.finalMimLoss),
        4,
      )} | ${cell(
        rs.map((r) => r.pretrain!.heldOut?.at(-1)?.ratio ?? NaN),
        4,
      )} | ${cell(rs.map((r) => meanStd(r.pretrain!.maskRatio).mean))} | ` +
        `${cell(d('maskOnTopMembraneQuartile'))} | ${cell(d('saturatedFraction'))} | ${cell(d('entropy'))} |`,
    );
  }
  lines.push(
    '',
    'The held-out MIM loss is the masked-patch MSE on fixed validation crops under a fixed mask (the same for',
    'every policy and seed), divided by the MSE of predicting each patch mean (about 1): below 1 the model has',
    'learned something that carries to sections it never trained on.',
    'A uniform random policy puts about 25 % of its masks on the top membrane quartile; higher means the policy',
    'prefers membrane-rich patches. Entropy is of the Bernoulli mask decision (nats, learned policies only).',
    '',
  );

  lines.push(
    '## Time per part (seconds, mean over seeds; finetune, predict, segment summed over readouts)',
    '',
  );
  lines.push('| policy | pretrain | finetune | predict | segment + score |');
  lines.push('|---|---|---|---|---|');
  const total = (r: RunRecord, part: 'finetune' | 'predict' | 'segment') =>
    r.evaluations.reduce((a, e) => a + e[part].seconds, 0);
  for (const p of policies) {
    const rs = groups.get(p)!;
    const c = (xs: number[]) => cell(xs, 1);
    lines.push(
      `| ${p} | ${c(rs.map((r) => r.pretrain?.seconds ?? 0))} | ${c(rs.map((r) => total(r, 'finetune')))} | ` +
        `${c(rs.map((r) => total(r, 'predict')))} | ${c(rs.map((r) => total(r, 'segment')))} |`,
    );
  }
  lines.push('');

  // Figures.
  const pre = policies.filter((p) => groups.get(p)!.some((r) => r.pretrain));
  const curve = (key: 'mimLoss' | 'reward'): Series[] =>
    pre.map((p) => {
      const y = smooth(
        meanSeries(
          groups
            .get(p)!
            .filter((r) => r.pretrain)
            .map((r) => r.pretrain![key]),
        ),
      );
      return { name: p, x: y.map((_, i) => i + 1), y };
    });
  writeFileAtomic(
    join(dir, 'mim-loss.svg'),
    lineChart(curve('mimLoss'), {
      title: 'MIM loss during pretraining (mean over seeds, smoothed)',
      xLabel: 'env step (MIM update)',
      yLabel: 'masked-patch MSE',
    }),
  );
  const heldOutCurves: Series[] = pre.flatMap((p) => {
    const runs = groups.get(p)!.filter((r) => r.pretrain?.heldOut?.length);
    if (!runs.length) return [];
    const pts = runs[0]!.pretrain!.heldOut!;
    const y = meanSeries(runs.map((r) => r.pretrain!.heldOut!.map((h) => h.ratio)));
    return [{ name: p, x: pts.slice(0, y.length).map((h) => h.step), y }];
  });
  if (heldOutCurves.length)
    writeFileAtomic(
      join(dir, 'held-out-mim-loss.svg'),
      lineChart(heldOutCurves, {
        title: 'Held-out MIM loss on validation crops (mean over seeds)',
        xLabel: 'MIM update',
        yLabel: 'MSE / per-patch-mean MSE',
      }),
    );
  writeFileAtomic(
    join(dir, 'reward.svg'),
    lineChart(curve('reward'), {
      title: 'Mean reward per step (mean over seeds, smoothed)',
      xLabel: 'env step',
      yLabel: 'reward',
    }),
  );
  writeFileAtomic(
    join(dir, 'mask-ratio.svg'),
    histogramChart(
      pre.map((p) => ({ name: p, values: groups.get(p)!.flatMap((r) => r.pretrain!.maskRatio) })),
      { title: 'Realized mask ratio per step', xLabel: 'mask ratio', bins: 20, range: [0, 1] },
    ),
  );
  lines.push('## Figures', '');
  lines.push(
    '![MIM loss](mim-loss.svg)',
    '',
    ...(heldOutCurves.length ? ['![held-out MIM loss](held-out-mim-loss.svg)', ''] : []),
    '![reward](reward.svg)',
    '',
    '![mask ratio](mask-ratio.svg)',
    '',
  );

  const masks = pre
    .map((p) => groups.get(p)!.find((r) => r.maskPreview))
    .filter((r): r is RunRecord => !!r)
    .map((r) => maskImage(r));
  if (masks.length) {
    const h = masks[0]!.height;
    const row = hstack(
      masks.map((m) => ({ rgb: m.rgb, width: m.width })),
      h,
      6,
    );
    writeFileAtomic(join(dir, 'masks.png'), encodePng(row.rgb, row.width, h));
    lines.push(
      `Each policy's mask (red: masked patches) over the middle section of the same crop, left to right: ${masks.map((m) => m.policy).join(', ')}.`,
      '',
      '![masks](masks.png)',
      '',
    );
  }
  for (const [policy, file] of segPreviews) {
    lines.push(
      `Segmentation of one held-out section, \`${policy}\` (raw | ground truth | prediction):`,
      '',
      `![${policy}](${file})`,
      '',
    );
  }
  lines.push('## Per-threshold test scores', '');
  lines.push(
    'The whole threshold sweep on the test sections at the seed dynamic chosen on validation, to read how',
    'sensitive a run is to the threshold. Not used for any choice: the chosen threshold is marked *.',
    '',
  );
  lines.push(
    '| policy | seed | readout | labels | threshold | VOI split | VOI merge | VOI sum | ARAND |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of res.runs)
    for (const e of r.evaluations)
      for (const t of e.perThreshold)
        lines.push(
          `| ${r.policy} | ${r.seed} | ${e.readout} | ${budgetCell(e.labelBudget)} | ${fmt(t.threshold, 2)}${t.threshold === e.test.threshold ? '*' : ''} | ${fmt(t.voi_split)} | ${fmt(t.voi_merge)} | ${fmt(t.voi_sum)} | ${fmt(t.arand)} |`,
        );
  lines.push('');
  const path = join(dir, 'report.md');
  writeFileAtomic(path, lines.join('\n'));
  return path;
}

/** The middle section of a run's preview crop, its masked patches tinted red, scaled 2x. */
function maskImage(r: RunRecord): { policy: string; rgb: Uint8Array; width: number; height: number } {
  const mp = r.maskPreview!;
  const [, h, w] = mp.crop;
  const [, gy, gx] = mp.grid;
  const scale = 2;
  const W = w * scale;
  const H = h * scale;
  const gray = new Float32Array(W * H);
  const where = new Uint8Array(W * H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const sy = Math.floor(y / scale);
      const sx = Math.floor(x / scale);
      gray[y * W + x] = mp.section[sy * w + sx]!;
      const py = Math.floor((sy * gy) / h);
      const px = Math.floor((sx * gx) / w);
      where[y * W + x] = mp.mask[py * gx + px]! ? 1 : 0;
    }
  return {
    policy: r.policy,
    rgb: overlay(grayToRgb(gray, W, H), where, [220, 30, 30], 0.45),
    width: W,
    height: H,
  };
}
