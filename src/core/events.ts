/*
 * Typed training events. The pretraining trainer emits them on an rxjs Observable; the progress bar,
 * the JSONL log and user code subscribe.
 */

/** After every env step (one MIM update). */
export interface StepEvent {
  type: 'step';
  step: number;
  phase: 1 | 2;
  mimLoss: number;
  maskRatio: number;
  reward: number;
  rewardTerms: Record<string, number>;
}

/** After every policy update, with its statistics. */
export interface UpdateEvent {
  type: 'update';
  step: number;
  /** Agent statistics (policy loss, value loss, entropy, approx KL, clip fraction, diagnostics). */
  stats: Record<string, number | number[]>;
}

/** At the end of every episode. */
export interface EpisodeEvent {
  type: 'episode';
  step: number;
  episode: number;
  return: number;
  length: number;
}

/**
 * The held-out MIM loss (`train.heldOutEvery`): masked-patch voxel MSE on fixed validation crops under a
 * fixed mask, with the loss of predicting each patch's mean and their ratio.
 */
export interface HeldOutEvent {
  type: 'heldOut';
  step: number;
  loss: number;
  baseline: number;
  /** loss / baseline (below 1: better than the per-patch mean). */
  ratio: number;
}

/** When a checkpoint has been written. */
export interface CheckpointEvent {
  type: 'checkpoint';
  step: number;
  dir: string;
}

/** When a phase starts (1: policy learns, 2: policy frozen). */
export interface PhaseEvent {
  type: 'phase';
  step: number;
  phase: 1 | 2;
}

/** Something the user should know that does not stop the run (library code prints nothing itself). */
export interface WarningEvent {
  type: 'warning';
  step: number;
  message: string;
}

/** When the run has ended. */
export interface DoneEvent {
  type: 'done';
  step: number;
  seconds: number;
}

/** Every event a pretraining run emits on its `events$` Observable. */
export type TrainEvent =
  | StepEvent
  | UpdateEvent
  | HeldOutEvent
  | EpisodeEvent
  | CheckpointEvent
  | PhaseEvent
  | WarningEvent
  | DoneEvent;
