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
import type { MimModelLike } from '../../models/types.js';
import { envSteps, summarizeStep, type EnvStep, type StepSummary } from '../../agents/step-loop.js';
import { MaskDiagnostics } from './diagnostics.js';
import type { EncoderSink, TrainedEncoder } from './encoder-sink.js';
import type { HeldOutMimLoss } from './held-out-loss.js';

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

/** Checkpoint bookkeeping of a run. */
interface CheckpointPlan {
  dir: string;
  /** First step at which a boundary checkpoint is due. */
  next: number;
  /** The last checkpoint written (or resumed from). */
  lastDir: string | null;
  /** Step of the last checkpoint (-1: none yet). */
  savedAt: number;
}

/** Phase of the step after `stepsDone` steps: 1 (policy and MIM train) or 2 (policy frozen). */
function phaseOf(stepsDone: number, phase1Steps: number): 1 | 2 {
  return stepsDone < phase1Steps ? 1 : 2;
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
   * `heldOut`: the held-out MIM loss and the model it measures, logged as `heldOut` events at step 0, every
   * `train.heldOutEvery` steps and at the end (none when absent or `heldOutEvery` is 0).
   */
  constructor(
    private readonly config: Config,
    private readonly env: ParallelEnv<StepInfo & { mimLoss?: number; maskRatio?: Float32Array | number[] }>,
    private readonly agent: Agent,
    private readonly model: ModelIO,
    private readonly opts: TrainerOptions,
    handoff?: EncoderHandoff,
    private readonly heldOut?: { loss: HeldOutMimLoss; model: MimModelLike },
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
    const { phase1Steps, phase2Steps } = config.train;
    const total = phase1Steps + phase2Steps;
    const state = await this.start();
    const ckpt = this.checkpointPlan(state.step);
    let episode = { return: 0, length: 0 };
    let lastLoss = NaN;
    let phase = phaseOf(state.step, phase1Steps);
    this.log({ type: 'phase', step: state.step, phase });
    if (state.step === 0) this.measureHeldOut(0);
    if (!this.heldOut && config.train.heldOutEvery > 0)
      this.subject.next({
        type: 'warning',
        step: state.step,
        message:
          'no held-out MIM loss: the run has no validation volume that holds a crop (data.validZ must span at ' +
          'least model.crop[0] sections; train.heldOutEvery 0 turns the measurement off)',
      });

    // The stepping loop (agents/step-loop.ts): episode k starts from a seed derived from the run seed and
    // k, so a resumed run sees the same crops; the policy learns in phase 1 only.
    const steps = envSteps(env, agent, {
      firstStep: state.step,
      firstEpisode: state.episode,
      resetSeed: (k) => episodeSeed(config.seed, k),
      learnAt: (step) => agent.learns && step <= phase1Steps,
    });
    while (state.step < total) {
      if (phaseOf(state.step, phase1Steps) !== phase) {
        phase = phaseOf(state.step, phase1Steps);
        this.log({ type: 'phase', step: state.step, phase });
      }
      const s = steps.next().value;
      state.step = s.step;
      const summary = this.logStep(s, phase);
      lastLoss = summary.mimLoss ?? NaN;
      episode = { return: episode.return + summary.reward, length: episode.length + 1 };
      if (phase === 1 && agent.learns) this.maybeUpdate(state);
      else if (!agent.learns && state.step % this.rolloutSteps === 0) this.logDiagnostics(state.step);

      if (this.heldOutDue(state.step, total)) this.measureHeldOut(state.step);

      if (s.ended) {
        this.log({ type: 'episode', step: state.step, episode: state.episode, ...episode });
        state.episode++;
        episode = { return: 0, length: 0 };
      }
      const stopping = opts.signal?.aborted === true;
      if (s.ended && this.isBoundary(state.step) && (state.step >= ckpt.next || stopping)) {
        await this.checkpoint(ckpt, state, true);
        if (stopping) break;
      }
    }
    // The run always ends with a checkpoint (the encoder handoff reads it). Off an episode boundary it
    // still holds the final weights, but resuming from it is not bit-exact (trainer.json says so).
    if (ckpt.savedAt !== state.step) await this.checkpoint(ckpt, state, false);
    const seconds = (performance.now() - t0) / 1000;
    this.log({ type: 'done', step: state.step, seconds });
    this.subject.complete();
    return {
      steps: state.step,
      episodes: state.episode,
      seconds,
      finalMimLoss: lastLoss,
      checkpointDir: ckpt.lastDir,
      stopped: state.step < total,
    };
  }

  /** Output directory, config.json, metrics file; the restored state when resuming, else step 0. */
  private async start(): Promise<TrainerState> {
    const { opts } = this;
    mkdirSync(opts.outDir, { recursive: true });
    writeFileAtomic(join(opts.outDir, 'config.json'), JSON.stringify(this.config, null, 2) + '\n');
    if (!opts.resumeDir) {
      writeFileSync(this.metricsPath, '');
      return { step: 0, episode: 0, updates: 0 };
    }
    const state = await this.restore(opts.resumeDir);
    truncateMetrics(this.metricsPath, state.step);
    return state;
  }

  private get metricsPath(): string {
    return join(this.opts.outDir, 'metrics.jsonl');
  }

  /** Append an event to metrics.jsonl and emit it. */
  private log(e: TrainEvent): void {
    appendFileSync(this.metricsPath, JSON.stringify(e) + '\n');
    this.subject.next(e);
  }

  /** Where and when checkpoints go (`next`: the first step a checkpoint is due at a boundary). */
  private checkpointPlan(step: number): CheckpointPlan {
    const every = this.config.train.checkpointEvery;
    const resumed = this.opts.resumeDir;
    return {
      dir: join(this.opts.outDir, 'checkpoint'),
      next: every > 0 ? step + every : Infinity,
      lastDir: resumed ?? null,
      savedAt: resumed ? step : -1,
    };
  }

  /** Record the step's mask diagnostics and log its step event. */
  private logStep(s: EnvStep, phase: 1 | 2): StepSummary {
    const { env } = this;
    const res = s.result;
    this.diagnostics.record(
      s.input.observations,
      env.obsDim,
      env.numEnvs,
      env.numAgents,
      res.infos.realizedActions,
      s.output.probs,
    );
    const summary = summarizeStep(res);
    this.log({
      type: 'step',
      step: s.step,
      phase,
      mimLoss: summary.mimLoss ?? NaN,
      maskRatio: summary.maskRatio,
      reward: summary.reward,
      rewardTerms: summary.rewardTerms,
    });
    return summary;
  }

  /** Whether the held-out loss is measured after `step`: every `heldOutEvery` steps and after the last. */
  private heldOutDue(step: number, total: number): boolean {
    const every = this.config.train.heldOutEvery;
    return !!this.heldOut && every > 0 && (step % every === 0 || step === total);
  }

  /** Log the held-out MIM loss of the model as it is now. */
  private measureHeldOut(step: number): void {
    if (!this.heldOut || this.config.train.heldOutEvery === 0) return;
    this.log({ type: 'heldOut', step, ...this.heldOut.loss.measure(this.heldOut.model) });
  }

  /** Update after every full rollout, and on the last phase-1 step so no collected step goes unused. */
  private maybeUpdate(state: TrainerState): void {
    const { phase1Steps } = this.config.train;
    if (state.step % this.rolloutSteps !== 0 && state.step !== phase1Steps) return;
    // Progress before this rollout (CleanRL anneals with the fraction done before the update).
    const rolloutLen = ((state.step - 1) % this.rolloutSteps) + 1;
    const progress = (state.step - rolloutLen) / Math.max(1, phase1Steps);
    const stats: UpdateStats = this.agent.update(progress) ?? {};
    state.updates++;
    this.log({ type: 'update', step: state.step, stats: { ...stats, ...this.diagnostics.flush() } });
  }

  /** A fixed policy has no update: its mask diagnostics are logged once per rollout instead. */
  private logDiagnostics(step: number): void {
    this.log({ type: 'update', step, stats: this.diagnostics.flush() });
  }

  /** Save, log and plan the next checkpoint. */
  private async checkpoint(plan: CheckpointPlan, state: TrainerState, boundary: boolean): Promise<void> {
    await this.save(plan.dir, state, boundary);
    plan.lastDir = plan.dir;
    plan.savedAt = state.step;
    this.log({ type: 'checkpoint', step: state.step, dir: plan.dir });
    if (boundary) plan.next = state.step + Math.max(1, this.config.train.checkpointEvery);
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
