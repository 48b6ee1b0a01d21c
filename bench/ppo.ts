/*
 * PPO figures: agent decisions per second (act) and the time of one PPO update (config defaults: 4 epochs
 * x 4 minibatches, hidden 64) for 4 envs x 64 agents x 8 steps with obs dim 102 (tiny embed 96 + 6).
 * Observations and rewards are random: the cost does not depend on them.
 */
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../src/core/config.js';
import { Rng } from '../src/core/rng.js';
import { createIppo } from '../src/agents/ippo.js';
import { createMappo } from '../src/agents/mappo.js';
import type { ActInput } from '../src/agents/agent.js';

const NUM_ENVS = 4;
const NUM_AGENTS = 64;
const STEPS = 8;
const OBS_DIM = 102;
/** MaskingEnv-like state: pooled tokens (96) + progress + realized ratio. */
const STATE_DIM = 98;
const REPEATS = 5;

function randomArray(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

export async function benchPpo(): Promise<object[]> {
  const rows: object[] = [];
  const config = resolveConfig({});
  for (const kind of ['ippo', 'mappo'] as const) {
    const rng = Rng.fromSeed(0);
    const make = kind === 'ippo' ? createIppo : createMappo;
    const agent = make({
      obsDim: OBS_DIM,
      stateDim: STATE_DIM,
      numEnvs: NUM_ENVS,
      numAgents: NUM_AGENTS,
      config,
      rng: rng.split('agent'),
    });
    const R = NUM_ENVS * NUM_AGENTS;
    const data = rng.split('data');
    const inputs: ActInput[] = Array.from({ length: STEPS + 1 }, () => ({
      observations: randomArray(R * OBS_DIM, data),
      state: randomArray(NUM_ENVS * STATE_DIM, data),
      numEnvs: NUM_ENVS,
      numAgents: NUM_AGENTS,
      obsDim: OBS_DIM,
      stateDim: STATE_DIM,
    }));
    let actMs = 0;
    let updateMs = 0;
    const tensors: number[] = [];
    for (let rep = 0; rep < REPEATS + 1; rep++) {
      let a = 0;
      for (let t = 0; t < STEPS; t++) {
        const t0 = performance.now();
        const out = agent.act(inputs[t]!);
        a += performance.now() - t0;
        agent.observe({
          input: inputs[t]!,
          output: out,
          realizedActions: out.actions,
          rewards: randomArray(R, data),
          terminations: new Uint8Array(R),
          truncations: new Uint8Array(R).fill(t === STEPS - 1 ? 1 : 0),
          nextObservations: inputs[t + 1]!.observations,
          nextState: inputs[t + 1]!.state,
        });
      }
      const t0 = performance.now();
      agent.update(0);
      const u = performance.now() - t0;
      if (rep > 0) {
        // the first rollout warms up kernels and is not counted
        actMs += a;
        updateMs += u;
      }
      tensors.push(tf.memory().numTensors);
    }
    rows.push({
      bench: 'ppo',
      agent: kind,
      envs: NUM_ENVS,
      agents: NUM_AGENTS,
      steps: STEPS,
      obsDim: OBS_DIM,
      hidden: config.ppo.hidden,
      epochs: config.ppo.epochs,
      minibatches: config.ppo.minibatches,
      params: agent.module.parameterCount(),
      actMsPerStep: +(actMs / (REPEATS * STEPS)).toFixed(2),
      decisionsPerSec: Math.round((REPEATS * STEPS * R) / (actMs / 1000)),
      updateMs: +(updateMs / REPEATS).toFixed(1),
      tensorsFlat: tensors.every((n) => n === tensors[0]),
    });
    agent.dispose();
  }
  return rows;
}
