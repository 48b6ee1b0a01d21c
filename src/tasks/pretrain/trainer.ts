import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import type { Config } from '../../core/config.js';
import { CheckpointError } from '../../core/errors.js';
import type { TrainEvent } from '../../core/events.js';
import { writeDirAtomic, writeFileAtomic } from '../../core/fs.js';
import { Rng } from '../../core/rng.js';
import type { ParallelEnv, StepInfo } from '../../env/parallel-env.js';
import type { Agent, UpdateStats } from '../../agents/agent.js';
import { actInputOf, stepEnded, transitionOf } from '../../agents/env-io.js';
import { MaskDiagnostics } from './diagnostics.js';
import type { EncoderSink, TrainedEncoder } from './encoder-sink.js';
import { mean } from '../../core/stats.js';

/*
 * The pretraining loop (docs/architecture.md, "Two phases"): phase 1 trains the MIM model (inside the env: one env
 * step = one MIM update) and the masking policy together; phase 2 freezes the policy and continues MIM
 * training. Events go out on an rxjs Observable; checkpoints make a run resumable bit for bit.
 *
 * Exact resume. A checkpoint is taken only where the run's whole state is model + optimizer + agent +
 * counters: at an episode boundary (the env is reset next, with a seed derived from the run seed and the
 * episode index, so crops and augmentation need no saved RNG state) and right after a policy update (the
 * rollout buffer is empty). `checkpointEvery` is rounded up to the next such boundary.
 */

/** What the trainer needs from the MIM model owned by the env. */
export interface ModelIO {
  /** Write model weights, optimizer moments and step into `dir`. */
  save(dir: string): Promise<void>;
  /** Restore what `save` wrote. */
  load(dir: string): Promise<void>;
}

/** What the trainer hands on when its run ends, and to whom. */
export interface EncoderHandoff {
  sink: EncoderSink;
  /** The trained encoder (read when the run ends). */
  encoder(): TrainedEncoder;
}

/** Where a trainer writes, what it resumes from and when it stops. */
export interface TrainerOptions {
  /** Output directory: `checkpoint/`, `metrics.jsonl`, `config.json`. */
  outDir: string;
  /** Resume from this checkpoint directory (written by an earlier run of the same config). */
  resumeDir?: string;
  /** Stop gracefully when aborted (a checkpoint is written at the next boundary). */
  signal?: AbortSignal;
}

/** What {@link PretrainTrainer.run} returns. */
export interface TrainerResult {
  steps: number;
  episodes: number;
  seconds: number;
  finalMimLoss: number;
  checkpointDir: string | null;
  stopped: boolean;
}

interface TrainerState {
  step: number;
  episode: number;
  updates: number;
}

/** Seed of episode `k`: a pure function of the run seed and k (exact resume at episode boundaries). */
export function episodeSeed(runSeed: number, episode: number): number {
  return Rng.fromSeed(`${runSeed}/episode/${episode}`).int32();
}

/**
 * Runs pretraining (phase 1: MIM model and policy learn together; phase 2: policy frozen), emits
 * typed events on `events$` and writes resumable checkpoints. Assembled by {@link buildPretraining}.
 */
export class PretrainTrainer {
  private readonly subject = new Subject<TrainEvent>();
  /** Typed training events: step, update, episode, checkpoint, phase, done. */
  readonly events$: Observable<TrainEvent> = this.subject.asObservable();
  private readonly diagnostics = new MaskDiagnostics();

  /**
   * `handoff`: when the run ends (its `done` event), `handoff.encoder()` goes to `handoff.sink`
   * (`buildPretraining` wires the sink resolved from the run container).
   */
  constructor(
    private readonly config: Config,
    private readonly env: ParallelEnv<StepInfo & { mimLoss?: number; maskRatio?: Float32Array | number[] }>,
    private readonly agent: Agent,
    private readonly model: ModelIO,
    private readonly opts: TrainerOptions,
    handoff?: EncoderHandoff,
  ) {
    if (handoff)
      this.events$.subscribe((e) => {
        if (e.type === 'done') handoff.sink.publish(handoff.encoder());
      });
  }

  /** Steps between policy updates (the rollout length). */
  private get rolloutSteps(): number {
    return this.config.ppo.rolloutSteps;
  }

  private isBoundary(step: number): boolean {
    const h = this.config.env.horizon;
    return (
      step % h === 0 &&
      (!this.agent.learns || step % this.rolloutSteps === 0 || step >= this.config.train.phase1Steps)
    );
  }

  async run(): Promise<TrainerResult> {
    const { config, env, agent, opts } = this;
    const t0 = performance.now();
    const total = config.train.phase1Steps + config.train.phase2Steps;
    const ckptDir = join(opts.outDir, 'checkpoint');
    const metricsPath = join(opts.outDir, 'metrics.jsonl');
    mkdirSync(opts.outDir, { recursive: true });
    writeFileAtomic(join(opts.outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');

    let state: TrainerState = { step: 0, episode: 0, updates: 0 };
    if (opts.resumeDir) {
      state = await this.restore(opts.resumeDir);
      truncateMetrics(metricsPath, state.step);
    } else writeFileSync(metricsPath, '');

    const log = (e: TrainEvent): void => {
      appendFileSync(metricsPath, JSON.stringify(e) + '\n');
      this.subject.next(e);
    };

    let obs = env.reset({ seed: episodeSeed(config.seed, state.episode) }).observations;
    let episodeReturn = 0;
    let episodeLen = 0;
    let lastLoss = NaN;
    let nextCkpt = config.train.checkpointEvery > 0 ? state.step + config.train.checkpointEvery : Infinity;
    let lastCkpt: string | null = opts.resumeDir ?? null;
    let savedAt = opts.resumeDir ? state.step : -1;
    let phase: 1 | 2 = state.step < config.train.phase1Steps ? 1 : 2;
    log({ type: 'phase', step: state.step, phase });

    while (state.step < total) {
      const newPhase: 1 | 2 = state.step < config.train.phase1Steps ? 1 : 2;
      if (newPhase !== phase) {
        phase = newPhase;
        log({ type: 'phase', step: state.step, phase });
      }
      const input = actInputOf(env, obs);
      const out = agent.act(input);
      const res = env.step(out.actions, out.probs);
      const learning = phase === 1 && agent.learns;
      const ended = stepEnded(res); // then every env is reset: rows still running count as truncated
      if (learning) agent.observe(transitionOf(input, out, res, env.state(), ended));
      this.diagnostics.record(
        obs,
        env.obsDim,
        env.numEnvs,
        env.numAgents,
        res.infos.realizedActions,
        out.probs,
      );
      state.step++;

      const meanReward = mean(res.rewards);
      const terms: Record<string, number> = {};
      for (const [k, v] of Object.entries(res.infos.rewardTerms)) terms[k] = mean(v);
      lastLoss = typeof res.infos.mimLoss === 'number' ? res.infos.mimLoss : NaN;
      const ratios = res.infos.maskRatio;
      const ratio =
        ratios === undefined
          ? mean(res.infos.realizedActions)
          : typeof ratios === 'number'
            ? ratios
            : mean(ratios);
      log({
        type: 'step',
        step: state.step,
        phase,
        mimLoss: lastLoss,
        maskRatio: ratio,
        reward: meanReward,
        rewardTerms: terms,
      });
      episodeReturn += meanReward;
      episodeLen++;

      // Update after every full rollout, and on the last phase-1 step so no collected step goes unused.
      if (learning && (state.step % this.rolloutSteps === 0 || state.step === config.train.phase1Steps)) {
        // Progress before this rollout (CleanRL anneals with the fraction done before the update).
        const rolloutLen = ((state.step - 1) % this.rolloutSteps) + 1;
        const progress = (state.step - rolloutLen) / Math.max(1, config.train.phase1Steps);
        const stats: UpdateStats = agent.update(progress) ?? {};
        state.updates++;
        log({ type: 'update', step: state.step, stats: { ...stats, ...this.diagnostics.flush() } });
      } else if (!agent.learns && state.step % this.rolloutSteps === 0) {
        log({ type: 'update', step: state.step, stats: this.diagnostics.flush() });
      }

      if (ended) {
        log({
          type: 'episode',
          step: state.step,
          episode: state.episode,
          return: episodeReturn,
          length: episodeLen,
        });
        state.episode++;
        episodeReturn = 0;
        episodeLen = 0;
        obs = env.reset({ seed: episodeSeed(config.seed, state.episode) }).observations;
      } else obs = res.observations;

      const stopping = opts.signal?.aborted === true;
      const atBoundary = ended && this.isBoundary(state.step);
      if (atBoundary && (state.step >= nextCkpt || stopping)) {
        await this.save(ckptDir, state, true);
        lastCkpt = ckptDir;
        savedAt = state.step;
        log({ type: 'checkpoint', step: state.step, dir: ckptDir });
        nextCkpt = state.step + Math.max(1, config.train.checkpointEvery);
        if (stopping) break;
      }
    }
    // The run always ends with a checkpoint (the encoder handoff reads it). Off an episode boundary it
    // still holds the final weights, but resuming from it is not bit-exact (trainer.json says so).
    if (savedAt !== state.step) {
      await this.save(ckptDir, state, false);
      lastCkpt = ckptDir;
      log({ type: 'checkpoint', step: state.step, dir: ckptDir });
    }
    const seconds = (performance.now() - t0) / 1000;
    log({ type: 'done', step: state.step, seconds });
    this.subject.complete();
    return {
      steps: state.step,
      episodes: state.episode,
      seconds,
      finalMimLoss: lastLoss,
      checkpointDir: lastCkpt,
      stopped: state.step < total,
    };
  }

  private async save(dir: string, state: TrainerState, boundary: boolean): Promise<void> {
    await writeDirAtomic(dir, async (tmp) => {
      await this.model.save(join(tmp, 'model'));
      await this.agent.save(join(tmp, 'agent'));
      writeFileSync(
        join(tmp, 'trainer.json'),
        JSON.stringify({ format: 'dbmim-trainer', ...state, boundary, config: this.config }, null, 1),
      );
    });
  }

  private async restore(dir: string): Promise<TrainerState> {
    const p = join(dir, 'trainer.json');
    if (!existsSync(p))
      throw new CheckpointError(`cannot resume: ${p} not found (not a pretraining checkpoint)`);
    const s = JSON.parse(readFileSync(p, 'utf8')) as TrainerState & {
      format?: string;
      config?: Config;
      boundary?: boolean;
    };
    if (s.format !== 'dbmim-trainer' || !Number.isInteger(s.step) || !Number.isInteger(s.episode))
      throw new CheckpointError(`cannot resume: ${p} is not a dbmim trainer state`);
    const diff = configDiff(s.config, this.config, ['train']);
    if (diff) throw new CheckpointError(`cannot resume from ${dir}: config differs at ${diff}`);
    // library code does not print: the warning goes out as an event (the CLI prints it)
    if (s.boundary === false)
      this.subject.next({
        type: 'warning',
        step: s.step,
        message: `${dir} was written off an episode boundary; the resumed run is not bit-identical to an uninterrupted one`,
      });
    await this.model.load(join(dir, 'model'));
    await this.agent.load(join(dir, 'agent'));
    return { step: s.step, episode: s.episode, updates: s.updates ?? 0 };
  }
}

/** First differing field path of two configs, ignoring top-level sections in `ignore`. */
function configDiff(a: unknown, b: unknown, ignore: string[], path = ''): string | null {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null)
    return JSON.stringify(a) === JSON.stringify(b) ? null : path || '(root)';
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (!path && ignore.includes(k)) continue;
    const d = configDiff(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      ignore,
      path ? `${path}.${k}` : k,
    );
    if (d) return d;
  }
  return null;
}

/** Keep only metrics lines at or before `step` (a resumed run rewrites what came after its checkpoint). */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false;
      }
    });
  writeFileAtomic(path, keep.map((l) => l + '\n').join(''));
}
