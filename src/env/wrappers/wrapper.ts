import type { ParallelEnv, ResetOptions, ResetResult, StepInfo, StepResult } from '../parallel-env.js';
import type { Box, Discrete } from '../spaces.js';

/**
 * Base of env wrappers: forwards everything to the wrapped env; subclasses override `reset` / `step`.
 */
export class ParallelEnvWrapper<I extends StepInfo = StepInfo> implements ParallelEnv<I> {
  constructor(readonly env: ParallelEnv<I>) {}
  get possibleAgents(): readonly string[] {
    return this.env.possibleAgents;
  }
  get agents(): readonly string[] {
    return this.env.agents;
  }
  get numEnvs(): number {
    return this.env.numEnvs;
  }
  get numAgents(): number {
    return this.env.numAgents;
  }
  get obsDim(): number {
    return this.env.obsDim;
  }
  get stateDim(): number {
    return this.env.stateDim;
  }
  observationSpace(agent: string): Box {
    return this.env.observationSpace(agent);
  }
  actionSpace(agent: string): Discrete {
    return this.env.actionSpace(agent);
  }
  stateSpace(): Box {
    return this.env.stateSpace();
  }
  reset(opts?: ResetOptions): ResetResult {
    return this.env.reset(opts);
  }
  step(actions: Int32Array, preferences?: Float32Array): StepResult<I> {
    return this.env.step(actions, preferences);
  }
  state(): Float32Array {
    return this.env.state();
  }
  close(): void {
    this.env.close();
  }
}
