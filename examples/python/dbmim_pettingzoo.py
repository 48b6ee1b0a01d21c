"""dbmim's MaskingEnv as a PettingZoo ParallelEnv.

`DbmimParallelEnv` starts `dbmim env-server` as a child process and speaks the binary env protocol
(docs/env-protocol.md) over its stdin/stdout. Every patch of every crop is an agent (`patch_z_y_x`, or
`env<e>/patch_z_y_x` when the server runs numEnvs > 1 crops per step) choosing 0 (keep) or 1 (mask).
One step = one MIM optimizer update on the server; the episode is truncated after `horizon` steps.

Needs only numpy, gymnasium and pettingzoo:

    env = DbmimParallelEnv(["--synthetic", "--set", "env.numEnvs=1"])
    obs, infos = env.reset(seed=0)
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)
    env.close()

`DbmimEnvClient` is the batched path underneath (numpy arrays, rows env-major), for learners that want
arrays instead of dicts.
"""

from __future__ import annotations

import collections
import json
import shlex
import struct
import subprocess
import threading
import weakref
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

PROTOCOL_VERSION = 1
MAGIC = b"DBEF"
PREFIX = struct.Struct("<4sIII")  # magic, protocol version, header bytes, payload bytes
DTYPES = {"float32": np.float32, "int32": np.int32, "int8": np.int8, "uint8": np.uint8}
DEFAULT_COMMAND = ("npx", "dbmim", "env-server")
# Seconds to wait for the server to exit after `close` before killing it.
EXIT_GRACE_S = 10.0


class DbmimEnvError(RuntimeError):
    """The server rejected a request (its message names what was wrong); the server goes on."""

    def __init__(self, message: str, code: str = "error"):
        super().__init__(message)
        self.code = code


class DbmimServerError(RuntimeError):
    """The server is gone (it exited or crashed); the message carries its exit code and error line."""


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def encode_frame(header: dict[str, Any], arrays: list[tuple[str, np.ndarray]] = ()) -> bytes:
    """One frame: 16-byte prefix, space-padded JSON header, 8-aligned little-endian arrays."""
    if arrays:
        header = {
            **header,
            "arrays": [{"name": n, "dtype": a.dtype.name, "shape": list(a.shape)} for n, a in arrays],
        }
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (_align8(len(h)) - len(h))
    parts = []
    for _, a in arrays:
        b = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        parts.append(b + b"\0" * (_align8(len(b)) - len(b)))
    payload = b"".join(parts)
    return PREFIX.pack(MAGIC, PROTOCOL_VERSION, len(h), len(payload)) + h + payload


def _space(js: dict[str, Any]) -> spaces.Space:
    if js["kind"] == "discrete":
        return spaces.Discrete(js["n"])
    return spaces.Box(float(js["low"]), float(js["high"]), tuple(js["shape"]), np.float32)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server process (the finalizer: runs on close, garbage collection or interpreter exit)."""
    if proc.poll() is None:
        try:
            proc.stdin.close()  # EOF: the server closes its env and exits
        except OSError:
            pass
        try:
            proc.wait(EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for f in (proc.stdout, proc.stderr):
        try:
            f.close()
        except OSError:
            pass


def _drain(pipe, lines: collections.deque) -> None:
    # A plain function, not a method: the thread must not keep the client alive (its finalizer stops the server).
    for raw in iter(pipe.readline, b""):
        lines.append(raw.decode(errors="replace").rstrip("\n"))


class DbmimEnvClient:
    """Batched client of `dbmim env-server`: requests and replies as numpy arrays (rows env-major)."""

    def __init__(self, server_args: list[str] = (), command: list[str] | str | None = None, cwd: str | None = None):
        cmd = shlex.split(command) if isinstance(command, str) else list(command or DEFAULT_COMMAND)
        self.command = cmd + list(server_args)
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, bufsize=0
        )
        # The server's stderr (backend line, errors), drained so the pipe never fills.
        self.stderr_lines: collections.deque[str] = collections.deque(maxlen=200)
        self._stderr_thread = threading.Thread(target=_drain, args=(self.proc.stderr, self.stderr_lines), daemon=True)
        self._stderr_thread.start()
        self._finalizer = weakref.finalize(self, _stop, self.proc)
        self.closed = False
        self.dead: DbmimServerError | None = None
        hello = self._read_frame()[0]
        if hello.get("op") != "hello":
            raise DbmimServerError(f"expected a hello frame from the server, got {hello!r}")
        self.hello = hello
        self.num_envs: int = hello["numEnvs"]
        self.num_agents: int = hello["numAgents"]
        self.rows = self.num_envs * self.num_agents
        self.last_env_ms = 0.0  # server-side time of the last reset/step (the in-process cost)

    # -- requests ---------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        header, arrays = self.request({"op": "reset", "seed": seed, "options": options})
        return arrays["observations"], header.get("infos", {})

    def step(self, actions: np.ndarray, preferences: np.ndarray | None = None) -> tuple[dict, dict]:
        """`actions` int8 `[rows]` in {0, 1}; returns (arrays by name, scalar infos)."""
        arrays = [("actions", np.asarray(actions, dtype=np.int8))]
        if preferences is not None:
            arrays.append(("preferences", np.asarray(preferences, dtype=np.float32)))
        header, out = self.request({"op": "step"}, arrays)
        return out, header.get("infos", {})

    def state(self) -> np.ndarray:
        return self.request({"op": "state"})[1]["state"]

    def close(self) -> None:
        """Close the env, let the server exit (killed after EXIT_GRACE_S). Calling twice is harmless."""
        if not self.closed and self.dead is None:
            try:
                self.request({"op": "close"})
            except (DbmimServerError, DbmimEnvError):
                pass
        self.closed = True
        self._finalizer()

    def request(self, header: dict, arrays: list[tuple[str, np.ndarray]] = ()) -> tuple[dict, dict]:
        return self.send_bytes(header["op"], encode_frame(header, arrays))

    def send_bytes(self, what: str, frame: bytes) -> tuple[dict, dict]:
        """Send one frame and read the reply; an `error` reply raises DbmimEnvError with the server's message."""
        if self.closed:
            raise DbmimEnvError(f"{what}: the env is closed (close() was called)", "env-state")
        if self.dead is not None:
            raise self.dead
        try:
            self.proc.stdin.write(frame)
        except (BrokenPipeError, OSError):
            self._died()
        header, arrays = self._read_frame()
        if header.get("op") == "error":
            if header.get("fatal"):
                self._died()
            raise DbmimEnvError(f"env-server: {header['message']}", header.get("code", "error"))
        self.last_env_ms = float(header.get("envMs", 0.0))
        return header, arrays

    # -- frames -----------------------------------------------------------------------------------
    def _read_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.proc.stdout.readinto(view[got:])
            if not k:
                self._died()
            got += k
        return buf

    def _read_frame(self) -> tuple[dict, dict]:
        magic, version, h, p = PREFIX.unpack(bytes(self._read_exact(PREFIX.size)))
        if magic != MAGIC:
            self._stop_now()
            raise DbmimServerError(f"not a dbmim env frame: it starts with {magic!r}, expected {MAGIC!r}")
        if version != PROTOCOL_VERSION:
            self._stop_now()
            raise DbmimServerError(f"the server speaks env protocol v{version}; this client speaks v{PROTOCOL_VERSION}")
        body = self._read_exact(h + p)
        header = json.loads(body[:h].decode())
        arrays, off = {}, h
        for spec in header.get("arrays", []):
            dt = np.dtype(DTYPES[spec["dtype"]]).newbyteorder("<")
            count = int(np.prod(spec["shape"], dtype=np.int64))
            arrays[spec["name"]] = np.frombuffer(body, dt, count, off).reshape(spec["shape"])
            off += _align8(count * dt.itemsize)
        return header, arrays

    def _died(self) -> None:
        """The server is gone: raise its exit code and its last error line."""
        try:
            code = self.proc.wait(EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self._stop_now()
            code = self.proc.returncode
        self._stderr_thread.join(2.0)
        lines = [line for line in self.stderr_lines if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        killed = code is not None and code < 0
        # The server's own error line; else (a crash before it could print one) its last stderr line.
        crash = [line for line in lines if "Error" in line] or lines[-1:]
        why = errors[-1] if errors else (crash[-1] if crash and not killed else "")
        how = f"signal {-code}" if killed else f"code {code}"
        self.dead = DbmimServerError(f"dbmim env-server exited ({how})" + (f": {why}" if why else ""))
        raise self.dead

    def _stop_now(self) -> None:
        self.proc.kill()
        self.proc.wait()


class DbmimParallelEnv(ParallelEnv):
    """PettingZoo ParallelEnv over `dbmim env-server`.

    server_args: options of `dbmim env-server` (the config options of `dbmim rollout`: --config, --set,
        --seed, --data, --synthetic, plus global ones such as --backend before the command name when
        `command` is given in full).
    command: the server command (default `npx dbmim env-server`); a list or a shell-style string.
    """

    metadata = {"name": "dbmim_masking_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, server_args: list[str] = (), command: list[str] | str | None = None,
                 cwd: str | None = None, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"render_mode: dbmim has no rendering, got {render_mode!r}")
        self.render_mode = None
        self.client = DbmimEnvClient(server_args, command, cwd)
        hello = self.client.hello
        ids = hello["possibleAgents"]
        ne = hello["numEnvs"]
        self.possible_agents: list[str] = ids if ne == 1 else [f"env{e}/{a}" for e in range(ne) for a in ids]
        self._row = {a: i for i, a in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        # One space object per agent, as PettingZoo expects (seeding one agent's space leaves the others).
        self.observation_spaces = {a: _space(hello["observationSpace"]) for a in self.possible_agents}
        self.action_spaces = {a: _space(hello["actionSpace"]) for a in self.possible_agents}
        sd = hello["stateSpace"]
        self.state_space = spaces.Box(float(sd["low"]), float(sd["high"]), (ne * sd["shape"][0],), np.float32)
        self.horizon = hello.get("horizon")
        self.last_infos: dict[str, Any] = {}  # batched infos of the last step (mimLoss, maskRatio, ...)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.client.reset(seed, options)
        self.agents = list(self.possible_agents)
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}, {a: dict(infos) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if self.client.closed:
            raise DbmimEnvError("step: the env is closed (close() was called)", "env-state")
        if not self.agents:
            raise DbmimEnvError("step: no live agents (the episode ended or reset() was not called); call reset()",
                                "env-state")
        act = np.zeros(self.client.rows, dtype=np.int8)
        for a, v in actions.items():
            i = self._row.get(a)
            if i is None:
                raise KeyError(f"step: unknown agent {a!r} (agents are e.g. {self.possible_agents[0]!r})")
            if v not in (0, 1):
                raise ValueError(f"step: action of agent {a!r} is {v!r}; expected 0 (keep) or 1 (mask)")
            act[i] = v
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise KeyError(f"step: no action for {len(missing)} live agents, e.g. {missing[0]!r}")
        out, scalars = self.client.step(act)
        obs, rew = out["observations"], out["rewards"]
        term, trunc, real = out["terminations"], out["truncations"], out["realizedActions"]
        per_patch = out.get("infos.perPatchLoss")
        terms = {k[len("rewardTerms."):]: v for k, v in out.items() if k.startswith("rewardTerms.")}
        self.last_infos = {**scalars, **{k[6:]: v for k, v in out.items() if k.startswith("infos.")}}
        live = self.agents
        observations, rewards, terminations, truncations, infos = {}, {}, {}, {}, {}
        for a in live:
            i = self._row[a]
            observations[a] = obs[i]
            rewards[a] = float(rew[i])
            terminations[a] = bool(term[i])
            truncations[a] = bool(trunc[i])
            info = {"realized_action": int(real[i]), "reward_terms": {k: float(v[i]) for k, v in terms.items()}}
            if per_patch is not None:
                info["patch_loss"] = float(per_patch[i])
            infos[a] = info
        self.agents = [a for a in live if not (terminations[a] or truncations[a])]
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        return self.client.state().reshape(-1)

    def render(self) -> None:
        return None

    def close(self) -> None:
        self.client.close()
