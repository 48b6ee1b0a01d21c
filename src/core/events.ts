/*
 * Typed training events. The pretraining trainer emits them on an rxjs Observable; the progress bar,
 * the JSONL log and user code subscribe.
 */

export interface StepEvent {
  type: 'step';
  step: number;
  phase: 1 | 2;
  mimLoss: number;
  maskRatio: number;
  reward: number;
  rewardTerms: Record<string, number>;
}

export interface UpdateEvent {
  type: 'update';
  step: number;
  /** Agent statistics (policy loss, value loss, entropy, approx KL, clip fraction, diagnostics). */
  stats: Record<string, number | number[]>;
}

export interface EpisodeEvent {
  type: 'episode';
  step: number;
  episode: number;
  return: number;
  length: number;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  step: number;
  dir: string;
}

export interface PhaseEvent {
  type: 'phase';
  step: number;
  phase: 1 | 2;
}

export interface DoneEvent {
  type: 'done';
  step: number;
  seconds: number;
}

export type TrainEvent = StepEvent | UpdateEvent | EpisodeEvent | CheckpointEvent | PhaseEvent | DoneEvent;
