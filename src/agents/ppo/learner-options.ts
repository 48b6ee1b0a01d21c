import type { Config } from '../../core/config.js';
import type { Rng } from '../../core/rng.js';
import type { DecisionActivation } from '../../models/decision-module.js';
import { PpoAgent, type PpoAgentOptions } from './ppo-agent.js';

/** Options of the built-in PPO learners (IPPO, MAPPO); only the critic and its defaults differ. */
export interface PpoLearnerOptions {
  obsDim: number;
  stateDim: number;
  numEnvs: number;
  numAgents: number;
  config: Config;
  rng: Rng;
  /** Hidden activation (default tanh). */
  activation?: DecisionActivation;
  /** Normalize value targets (default: the learner's, false for IPPO and true for MAPPO). */
  valueNorm?: boolean;
  /** Add the pooled env context to each agent's logit (default: config.ppo.useContext, false). */
  useContext?: boolean;
  /** Initial mask probability (default: config.env.targetRatio). */
  initMaskProb?: number;
}

/** Build a {@link PpoAgent} from learner options; hyper-parameters come from `config.ppo`. */
export function createPpoLearner(
  name: string,
  critic: PpoAgentOptions['critic'],
  defaultValueNorm: boolean,
  o: PpoLearnerOptions,
): PpoAgent {
  return new PpoAgent({
    name,
    critic,
    obsDim: o.obsDim,
    stateDim: o.stateDim,
    numEnvs: o.numEnvs,
    numAgents: o.numAgents,
    ppo: o.config.ppo,
    rng: o.rng,
    activation: o.activation,
    useContext: o.useContext ?? o.config.ppo.useContext,
    centralInput: o.config.ppo.criticInput,
    initMaskProb: o.initMaskProb ?? o.config.env.targetRatio,
    valueNorm: o.valueNorm ?? defaultValueNorm,
  });
}
