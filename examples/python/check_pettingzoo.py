"""Judge dbmim's MaskingEnv by PettingZoo's own tests, then time it from Python.

    python examples/python/check_pettingzoo.py [--command "npx dbmim env-server"] [--steps 200] [-- server args]

1. PettingZoo's `parallel_api_test` and its state checks on a synthetic MaskingEnv (served by
   `dbmim env-server`); then the env is dropped without close(), and its server must exit;
2. PettingZoo's `parallel_seed_test`: two servers, same seed, same actions -> the same trajectory;
3. bad input over the boundary: each case raises one clear exception on the side that made it;
4. 200 random-policy steps through the adapter: Python-side steps/s, and the in-process figure of the
   same run (the server's own time inside env.reset/env.step, i.e. what a TypeScript loop would get).

Prints one JSON line: {"parallel_api_test": "passed", "seed_test": "passed", "state_test": "passed",
"bad_input": "passed", "steps_per_s": ..., "in_process_steps_per_s": ..., "ratio": ...}; a failed check
raises (exit code 1).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import time

import numpy as np
from pettingzoo.test import parallel_api_test, parallel_seed_test
from pettingzoo.test.state_test import test_parallel_env, test_state_space

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dbmim_pettingzoo import EXIT_GRACE_S, DbmimEnvError, DbmimParallelEnv, DbmimServerError  # noqa: E402

# A small synthetic MaskingEnv: 2 crops of 4x32x32, 8 patch agents each, a 1-block ViT, episodes of 4 updates.
SMALL_ENV = [
    "--synthetic",
    *("--set model.crop=4,32,32 --set model.patch=2,16,16 --set model.embedDim=16 --set model.depth=1 "
      "--set model.heads=2 --set model.decoderDim=16 --set model.decoderHeads=2 --set data.syntheticShape=8,48,48 "
      "--set env.numEnvs=2 --set env.horizon=4 --set env.heldOutCrops=1").split(),
]


def check_bad_input(make) -> None:
    """Every bad input raises one exception naming the problem, on the side that made it."""

    def raises(exc_type, match, fn):
        try:
            fn()
        except exc_type as e:
            assert match in str(e), f"expected {match!r} in {e!r}"
            return
        raise AssertionError(f"expected {exc_type.__name__} ({match})")

    env = make()
    env.reset(seed=1)
    a0 = env.agents[0]
    ok = {a: 0 for a in env.agents}
    raises(ValueError, "expected 0 (keep) or 1 (mask)", lambda: env.step({**ok, a0: 2}))  # Python side
    raises(KeyError, "no action for 1 live agents", lambda: env.step({a: 0 for a in env.agents[1:]}))
    # Server side: a raw batch of the wrong length, and a value outside {0, 1}.
    raises(DbmimEnvError, "length numEnvs * numAgents", lambda: env.client.step(np.zeros(3, np.int8)))
    raises(DbmimEnvError, "expected an integer in [0, 2)", lambda: env.client.step(np.full(env.client.rows, 2)))
    raises(DbmimEnvError, 'unknown op "jump"', lambda: env.client.request({"op": "jump"}))
    env.step(ok)  # the server went on after the rejected requests
    env.close()
    raises(DbmimEnvError, "the env is closed", lambda: env.step(ok))
    # A server that dies: the next request raises with its exit status.
    env = make()
    env.reset(seed=1)
    env.client.proc.kill()
    raises(DbmimServerError, "dbmim env-server exited", lambda: env.step({a: 0 for a in env.agents}))
    env.close()


def time_random_policy(make, steps: int) -> tuple[float, float]:
    """Python-side steps/s of a random policy, and in-process steps/s (server time in reset/step) of the same run."""
    env = make()
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(3):  # warm-up (first tfjs kernels)
        env.step({a: int(rng.integers(2)) for a in env.agents})
    server_ms = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        if not env.agents:
            env.reset()
            server_ms += env.client.last_env_ms
        env.step({a: int(rng.integers(2)) for a in env.agents})
        server_ms += env.client.last_env_ms
    wall = time.perf_counter() - t0
    env.close()
    return steps / wall, steps / (server_ms / 1000)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--command", default="npx dbmim env-server", help="server command (shell-style string)")
    p.add_argument("--steps", type=int, default=200, help="timed random-policy steps")
    p.add_argument("server_args", nargs="*", help="env-server options after `--` (default: a small synthetic env)")
    args = p.parse_args()
    server_args = args.server_args or [*SMALL_ENV, "--seed", "7"]

    def make() -> DbmimParallelEnv:
        return DbmimParallelEnv(server_args, command=args.command)

    with contextlib.redirect_stdout(sys.stderr):  # stdout holds the one JSON line
        env = make()
        parallel_api_test(env, num_cycles=1000)
        test_state_space(env)  # PettingZoo's state checks (state_space, state() inside it)
        test_parallel_env(env)
        server = env.client.proc
        del env  # dropping the env stops its server (no close() needed)
        gc.collect()
        assert server.wait(EXIT_GRACE_S + 5) == 0, "the server of a dropped env must exit"
        parallel_seed_test(make)
    check_bad_input(make)
    sps, in_process = time_random_policy(make, args.steps)
    print(json.dumps({
        "parallel_api_test": "passed",
        "seed_test": "passed",
        "state_test": "passed",
        "bad_input": "passed",
        "steps": args.steps,
        "steps_per_s": round(sps, 2),
        "in_process_steps_per_s": round(in_process, 2),
        "ratio": round(sps / in_process, 3),
    }))


if __name__ == "__main__":
    main()
