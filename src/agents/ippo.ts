import type { Config } from '../core/config.js';
import type { Rng } from '../core/rng.js';
import type { DecisionActivation } from '../models/decision-module.js';
import { PpoAgent } from './ppo/ppo-agent.js';

/*
 * IPPO (independent PPO, de Witt et al. 2020) with parameter sharing: every patch agent runs the same
 * actor, and the critic V(o_i) sees only the agent's own observation. It treats the other agents as part
 * of the environment; no value normalization by default (CleanRL's PPO).
 */

export interface IppoOptions {
  obsDim: number;
  stateDim: number;
  numEnvs: number;
  numAgents: number;
  config: Config;
  rng: Rng;
  /** Hidden activation (default tanh). */
  activation?: DecisionActivation;
  /** Normalize value targets (default false for IPPO). */
  valueNorm?: boolean;
  /** Add the pooled env context to each agent's logit (default true). */
  useContext?: boolean;
  /** Initial mask probability (default: config.env.targetRatio). */
  initMaskProb?: number;
}

/** Build an IPPO learner. */
export function createIppo(o: IppoOptions): PpoAgent {
  return new PpoAgent({
    name: 'ippo',
    critic: 'agent',
    obsDim: o.obsDim,
    stateDim: o.stateDim,
    numEnvs: o.numEnvs,
    numAgents: o.numAgents,
    ppo: o.config.ppo,
    rng: o.rng,
    activation: o.activation,
    useContext: o.useContext,
    initMaskProb: o.initMaskProb ?? o.config.env.targetRatio,
    valueNorm: o.valueNorm ?? false,
  });
}
