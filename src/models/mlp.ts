import type * as tf from '@tensorflow/tfjs';
import { Dense } from './dense.js';
import { gelu } from './gelu.js';
import type { ParamScope } from './params.js';

/** Transformer MLP: dense (dim -> hidden) -> GELU -> dense (hidden -> dim), on `[rows, dim]`. */
export class Mlp {
  readonly fc1: Dense;
  readonly fc2: Dense;

  constructor(scope: ParamScope, dim: number, hidden: number) {
    this.fc1 = new Dense(scope.scope('fc1'), dim, hidden);
    this.fc2 = new Dense(scope.scope('fc2'), hidden, dim);
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return this.fc2.apply(gelu(this.fc1.apply(x)));
  }

  get macsPerRow(): number {
    return this.fc1.macsPerRow + this.fc2.macsPerRow;
  }
}
