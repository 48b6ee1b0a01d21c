import type { DependencyContainer } from 'tsyringe';
import type { ModelConfig } from '../../core/config.js';
import { TOKENS } from '../../core/tokens.js';
import type { NamedTensor } from '../../models/types.js';

/*
 * The handoff of a pretraining run: when the trainer's run ends it gives the trained encoder to an
 * EncoderSink resolved from the run container. The default sink publishes it under
 * TOKENS.PretrainedEncoder, where the segmentation task finds it; a user sink can write it elsewhere.
 */

/** The encoder a finished pretraining run hands on. */
export interface TrainedEncoder {
  /** The encoder's tensors by name (`encoder/...`), owned by the MIM model (valid until it is disposed). */
  weights: NamedTensor[];
  /** The model config they were trained with (the segmentation task rebuilds the encoder from it). */
  model: ModelConfig;
}

/** Where a pretraining run hands its encoder when it ends. */
export interface EncoderSink {
  publish(encoder: TrainedEncoder): void;
}

/** The default sink: registers the encoder under `TOKENS.PretrainedEncoder` in `container`. */
export function containerEncoderSink(container: DependencyContainer): EncoderSink {
  return { publish: (encoder) => void container.register(TOKENS.PretrainedEncoder, { useValue: encoder }) };
}
