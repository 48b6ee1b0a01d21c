import type { Box, Discrete } from '../spaces.js';

/*
 * The messages of the env protocol (docs/env-protocol.md): what each frame's header holds.
 * Requests (client -> server): reset, step, state, close. Replies: the same op, or `error`.
 * The server speaks first with `hello`.
 */

/** Ops a client may send. */
export const REQUEST_OPS = ['reset', 'step', 'state', 'close'] as const;
export type RequestOp = (typeof REQUEST_OPS)[number];

/** A space as JSON: infinite bounds are the strings "inf" / "-inf" (JSON has no infinity). */
export type SpaceJson =
  | { kind: 'discrete'; n: number; dtype: 'int64' }
  | {
      kind: 'box';
      low: number | 'inf' | '-inf';
      high: number | 'inf' | '-inf';
      shape: number[];
      dtype: 'float32';
    };

const bound = (v: number): number | 'inf' | '-inf' => (v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v);

export function spaceToJson(s: Box | Discrete): SpaceJson {
  return s.kind === 'discrete'
    ? { kind: 'discrete', n: s.n, dtype: 'int64' }
    : { kind: 'box', low: bound(s.low), high: bound(s.high), shape: [...s.shape], dtype: 'float32' };
}

/** The server's first frame. */
export interface HelloHeader {
  op: 'hello';
  protocol: number;
  /** Parallel copies; rows are env-major: row = env * numAgents + agent. */
  numEnvs: number;
  numAgents: number;
  obsDim: number;
  stateDim: number;
  /** Agent ids of one env (the same in every env). */
  possibleAgents: string[];
  observationSpace: SpaceJson;
  actionSpace: SpaceJson;
  /** Space of one env's global state `[stateDim]`; `state` replies `[numEnvs, stateDim]`. */
  stateSpace: SpaceJson;
  [key: string]: unknown;
}

/** Header of an `error` reply. `fatal`: the server exits after sending it. */
export interface ErrorHeader {
  op: 'error';
  /** The op that failed (null when the frame itself was unreadable). */
  request: string | null;
  code: string;
  message: string;
  fatal: boolean;
}
