import type { Config } from '../core/config.js';
import type { Rng } from '../core/rng.js';
import type { DecisionActivation } from '../models/decision-module.js';
import { PpoAgent } from './ppo/ppo-agent.js';

/*
 * MAPPO (Yu et al. 2022) with parameter sharing: the same actor as IPPO; the critic is centralized, V(s)
 * of the env's global state (`env.state()`: pooled tokens, training progress, realized ratio in
 * MaskingEnv), repeated for every agent of the env. Value targets are normalized by running statistics
 * (ValueNorm); predictions are denormalized before GAE. Centralized training, decentralized execution:
 * acting needs only the observations (the critic is not used for the action).
 */

export interface MappoOptions {
  obsDim: number;
  stateDim: number;
  numEnvs: number;
  numAgents: number;
  config: Config;
  rng: Rng;
  /** Hidden activation (default tanh). */
  activation?: DecisionActivation;
  /** Normalize value targets (default true for MAPPO). */
  valueNorm?: boolean;
  /** Add the pooled env context to each agent's logit (default true). */
  useContext?: boolean;
  /** Initial mask probability (default: config.env.targetRatio). */
  initMaskProb?: number;
}

/** Build a MAPPO learner. */
export function createMappo(o: MappoOptions): PpoAgent {
  return new PpoAgent({
    name: 'mappo',
    critic: 'central',
    obsDim: o.obsDim,
    stateDim: o.stateDim,
    numEnvs: o.numEnvs,
    numAgents: o.numAgents,
    ppo: o.config.ppo,
    rng: o.rng,
    activation: o.activation,
    useContext: o.useContext,
    initMaskProb: o.initMaskProb ?? o.config.env.targetRatio,
    valueNorm: o.valueNorm ?? true,
  });
}
