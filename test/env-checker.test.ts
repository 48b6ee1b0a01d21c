import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/core/backend.js';
import { DbmimError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { assertEnv, checkEnv, ENV_CHECKS, type CheckResult } from '../src/env/env-checker.js';
import { MaskingEnv } from '../src/env/masking-env.js';
import type { ParallelEnv, ResetOptions, ResetResult, StepResult } from '../src/env/parallel-env.js';
import { Box, Discrete } from '../src/env/spaces.js';
import { VectorEnv } from '../src/env/vector-env.js';
import { FakeCrops, FakeMim } from './env-fakes.js';

/** A small hand-written env: 2 envs x 3 agents, observations [2] drawn from the seed, horizon 3. */
class TinyEnv implements ParallelEnv {
  readonly possibleAgents: readonly string[] = ['a', 'b', 'c'];
  agents: readonly string[] = [];
  numEnvs = 2;
  readonly numAgents = 3;
  readonly obsDim = 2;
  readonly stateDim = 1;
  readonly horizon = 3;
  protected t = 0;
  protected rng = Rng.fromSeed(0);
  protected closed = false;
  observationSpace(): Box {
    return new Box(-Infinity, Infinity, [2]);
  }
  actionSpace(): Discrete {
    return new Discrete(2);
  }
  stateSpace(): Box {
    return new Box(0, 1, [1]);
  }
  protected obs(): Float32Array {
    return Float32Array.from({ length: this.numEnvs * 3 * 2 }, () => this.rng.normal());
  }
  reset(opts: ResetOptions = {}): ResetResult {
    if (opts.seed !== undefined) this.rng = Rng.fromSeed(opts.seed);
    this.t = 0;
    this.agents = this.possibleAgents;
    return { observations: this.obs(), infos: {} };
  }
  step(actions: Int32Array): StepResult {
    this.t++;
    const n = this.numEnvs * 3;
    const end = this.t >= this.horizon;
    if (end) this.agents = [];
    return {
      observations: this.obs(),
      rewards: Float32Array.from(actions, (a) => a * 0.5),
      terminations: new Uint8Array(n),
      truncations: new Uint8Array(n).fill(end ? 1 : 0),
      infos: {
        realizedActions: Int32Array.from(actions),
        rewardTerms: { half: Float32Array.from(actions, (a) => a * 0.5) },
      },
    };
  }
  state(): Float32Array {
    return new Float32Array(this.numEnvs).fill(this.t / this.horizon);
  }
  close(): void {
    this.closed = true;
  }
}

test.before(async () => {
  await selectBackend('wasm');
});

function failed(res: CheckResult[]): string[] {
  return res.filter((r) => !r.ok).map((r) => r.check);
}

test('checker: passes a correct hand-written env and lists every check', () => {
  const res = checkEnv(new TinyEnv());
  assert.equal(failed(res), [], JSON.stringify(res.filter((r) => !r.ok)));
  assert.equal(
    res.map((r) => r.check),
    [...ENV_CHECKS],
  );
  assert.match(res.find((r) => r.check === 'horizon')!.message, /truncated at step 3/);
  assert.ok(assertEnv(new TinyEnv()).length === ENV_CHECKS.length);
});

test('checker: passes MaskingEnv (fake model) and a VectorEnv of hand-written envs', () => {
  const env = new MaskingEnv({
    model: new FakeMim(),
    cropSource: new FakeCrops([4, 8, 8], 'c'),
    config: {
      env: { numEnvs: 2, horizon: 3, heldOutCrops: 2 },
      reward: { learningProgress: 1, membraneProxy: 1, kl: 1 },
    },
    rng: Rng.fromSeed(1),
  });
  const res = checkEnv(env);
  assert.equal(failed(res), [], JSON.stringify(res.filter((r) => !r.ok)));
  const vec = VectorEnv.of(() => new TinyEnv(), 3);
  assert.is(vec.numEnvs, 6);
  const vr = checkEnv(vec, { horizon: 3 });
  assert.equal(failed(vr), [], JSON.stringify(vr.filter((r) => !r.ok)));
});

// One broken env per check: the checker must flag exactly that check (and say what is wrong).
const BROKEN: [string, () => ParallelEnv, RegExp][] = [
  [
    'spaces',
    () =>
      new (class extends TinyEnv {
        override observationSpace(): Box {
          return new Box(-1, 1, [3]);
        }
      })(),
    /observationSpace\('a'\) has shape \[3\]; expected a Box of shape \[obsDim = 2\]/,
  ],
  [
    'agents',
    () =>
      new (class extends TinyEnv {
        override readonly possibleAgents = ['a', 'b', 'b'];
      })(),
    /duplicate/,
  ],
  [
    'reset',
    () =>
      new (class extends TinyEnv {
        override reset(o?: ResetOptions): ResetResult {
          const r = super.reset(o);
          return { ...r, observations: r.observations.slice(1) };
        }
      })(),
    /reset observations are Float32Array\(11\); expected Float32Array\(12\)/,
  ],
  [
    'state',
    () =>
      new (class extends TinyEnv {
        override state(): Float32Array {
          return new Float32Array(2).fill(2);
        }
      })(),
    /state of env 0 is outside the state space/,
  ],
  [
    'reset-determinism',
    () =>
      new (class extends TinyEnv {
        private calls = 0;
        override reset(o: ResetOptions = {}): ResetResult {
          return super.reset({ seed: (o.seed ?? 0) + 10 * this.calls++ });
        }
      })(),
    /twice gave different observations/,
  ],
  [
    'reset-seed',
    () =>
      new (class extends TinyEnv {
        override reset(): ResetResult {
          return super.reset({ seed: 1 });
        }
      })(),
    /identical observations/,
  ],
  [
    'step-shapes',
    () =>
      new (class extends TinyEnv {
        override step(a: Int32Array): StepResult {
          const r = super.step(a);
          return { ...r, rewards: Float64Array.from(r.rewards) as unknown as Float32Array };
        }
      })(),
    /rewards are Float64Array\(6\); expected Float32Array\(6\)/,
  ],
  [
    'rewards-finite',
    () =>
      new (class extends TinyEnv {
        override step(a: Int32Array): StepResult {
          const r = super.step(a);
          r.rewards[4] = Infinity;
          return r;
        }
      })(),
    /rewards\[4\] = Infinity/,
  ],
  [
    'done-flags',
    () =>
      new (class extends TinyEnv {
        override step(a: Int32Array): StepResult {
          const r = super.step(a);
          r.terminations[2] = 2;
          return r;
        }
      })(),
    /terminations\[2\] = 2; expected 0 or 1/,
  ],
  [
    'horizon',
    () =>
      new (class extends TinyEnv {
        override step(a: Int32Array): StepResult {
          const r = super.step(a);
          if (this.t >= this.horizon) r.truncations[5] = 0;
          return r;
        }
      })(),
    /truncations\[5\] is 0; expected every row truncated/,
  ],
  [
    'reset-after-end',
    () =>
      new (class extends TinyEnv {
        private started = false;
        override reset(o?: ResetOptions): ResetResult {
          const t = this.t;
          const r = super.reset(o);
          if (this.started) this.t = t; // forgets to restart the episode counter
          this.started = true;
          return r;
        }
      })(),
    /first step after reset already ended the episode/,
  ],
  [
    'close',
    () =>
      new (class extends TinyEnv {
        override close(): void {
          if (this.closed) throw new Error('already closed');
          this.closed = true;
        }
      })(),
    /threw: already closed/,
  ],
];

for (const [check, make, msg] of BROKEN) {
  test(`checker: catches a broken env (${check})`, () => {
    const res = checkEnv(make());
    const bad = res.find((r) => r.check === check)!;
    assert.ok(bad, `check ${check} reported`);
    assert.not.ok(bad.ok, `${check} should fail: ${JSON.stringify(res)}`);
    assert.match(bad.message, msg);
    assert.throws(
      () => assertEnv(make()),
      (e: unknown) => e instanceof DbmimError && (e as Error).message.includes(`${check}:`),
    );
  });
}

test('checker: a check whose prerequisite threw is reported as not run, naming the prerequisite', () => {
  class NoReset extends TinyEnv {
    override reset(): ResetResult {
      throw new Error('no crops');
    }
  }
  const res = checkEnv(new NoReset());
  assert.equal(failed(res), [
    'reset',
    'reset-determinism',
    'reset-seed',
    'step-shapes',
    'rewards-finite',
    'done-flags',
    'horizon',
    'reset-after-end',
  ]);
  const byName = new Map(res.map((r) => [r.check, r.message]));
  assert.is(byName.get('reset'), 'threw: no crops');
  assert.match(byName.get('reset-seed')!, /^not run: 'reset' threw/);
  assert.match(byName.get('horizon')!, /^not run: 'step-shapes' threw/);
});

test('checker: a deterministic env passes reset-seed with {random: false}', () => {
  class Fixed extends TinyEnv {
    override reset(): ResetResult {
      return super.reset({ seed: 1 });
    }
  }
  assert.equal(failed(checkEnv(new Fixed(), { random: false })), []);
});

test.run();
