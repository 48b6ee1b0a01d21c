import type { Readable, Writable } from 'node:stream';
import { DbmimError, ProtocolError } from '../../core/errors.js';
import type { ParallelEnv } from '../parallel-env.js';
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION, type Frame, type NamedArray } from './frame.js';
import { REQUEST_OPS, spaceToJson, type ErrorHeader, type HelloHeader } from './messages.js';

/*
 * Serve one parallel env (a MaskingEnv, or any ParallelEnv) over a byte stream pair, one request at a
 * time (docs/env-protocol.md). Bad requests get an `error` reply and the server goes on; a stream it
 * cannot read any more (bad prefix, wrong protocol version, EOF or a stall inside a frame) gets a fatal
 * `error` reply and the server stops. It never waits on input that cannot come: a frame begun but not
 * finished within `frameTimeoutMs` is fatal, and EOF between frames closes the env and ends the serve.
 */

export interface ServeEnvOptions {
  /** Extra fields of the hello frame (e.g. the server version, horizon, resolved config). */
  hello?: Record<string, unknown>;
  /** A frame begun but not complete after this long is a fatal error (a stalled client). */
  frameTimeoutMs?: number;
  /** Largest request header in bytes (requests are small JSON objects). */
  maxHeaderBytes?: number;
  /** Where fatal errors are reported as one line (e.g. stderr), beside the error frame. */
  log?: (line: string) => void;
}

/** Default of {@link ServeEnvOptions.frameTimeoutMs}: generous for a slow client, short for a human. */
export const DEFAULT_FRAME_TIMEOUT_MS = 30_000;

/** Hello frame of `env` (the server's first frame). */
export function helloHeader(env: ParallelEnv, extra: Record<string, unknown> = {}): HelloHeader {
  const a0 = env.possibleAgents[0]!;
  return {
    op: 'hello',
    protocol: PROTOCOL_VERSION,
    numEnvs: env.numEnvs,
    numAgents: env.numAgents,
    obsDim: env.obsDim,
    stateDim: env.stateDim,
    possibleAgents: [...env.possibleAgents],
    observationSpace: spaceToJson(env.observationSpace(a0)),
    actionSpace: spaceToJson(env.actionSpace(a0)),
    stateSpace: spaceToJson(env.stateSpace()),
    ...extra,
  };
}

/** JSON-safe fields of an info object (numbers, strings, booleans, null); arrays travel binary. */
function scalarFields(info: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(info))
    if (v === null || ['number', 'string', 'boolean'].includes(typeof v)) out[k] = v;
  return out;
}

function isWire(v: unknown): v is Float32Array | Int32Array | Uint8Array | Int8Array {
  return (
    v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array || v instanceof Int8Array
  );
}

/** Handles requests for one env; `handle` returns the reply frame and whether the serve ends. */
class EnvSession {
  private readonly n: number;
  private readonly numActions: number;

  constructor(private readonly env: ParallelEnv) {
    this.n = env.numEnvs * env.numAgents;
    this.numActions = env.actionSpace(env.possibleAgents[0]!).n;
  }

  handle(frame: Frame): { reply: Uint8Array; done: boolean } {
    const { header, arrays } = frame;
    switch (header.op) {
      case 'reset':
        return { reply: this.reset(header), done: false };
      case 'step':
        return { reply: this.step(arrays), done: false };
      case 'state':
        return {
          reply: encodeFrame({ op: 'state' }, [
            { name: 'state', data: this.env.state(), shape: [this.env.numEnvs, this.env.stateDim] },
          ]),
          done: false,
        };
      case 'close':
        this.env.close();
        return { reply: encodeFrame({ op: 'closed' }), done: true };
      default:
        throw new ProtocolError(
          `unknown op ${JSON.stringify(header.op)}; expected one of ${REQUEST_OPS.join(', ')}`,
          'unknown-op',
        );
    }
  }

  private reset(header: Frame['header']): Uint8Array {
    const { seed, options } = header;
    if (seed !== undefined && seed !== null && !(Number.isSafeInteger(seed) && (seed as number) >= 0))
      throw new ProtocolError(
        `reset: seed must be a non-negative integer or null, got ${JSON.stringify(seed)}`,
      );
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options)))
      throw new ProtocolError(`reset: options must be a JSON object or null, got ${JSON.stringify(options)}`);
    const t0 = performance.now();
    const r = this.env.reset({
      ...(typeof seed === 'number' ? { seed } : {}),
      ...(options ? { options: options as Record<string, unknown> } : {}),
    });
    const envMs = performance.now() - t0;
    return encodeFrame({ op: 'reset', envMs, infos: scalarFields(r.infos) }, [
      { name: 'observations', data: r.observations, shape: [this.n, this.env.obsDim] },
    ]);
  }

  private step(arrays: Frame['arrays']): Uint8Array {
    const n = this.n;
    const a = arrays.actions;
    if (!(a instanceof Int8Array) || a.length !== n)
      throw new ProtocolError(
        `step: expected array 'actions' of dtype int8 and length numEnvs * numAgents = ${n}, got ` +
          (a ? `${a.constructor.name}(${a.length})` : 'none'),
        'bad-action',
      );
    for (let i = 0; i < n; i++)
      if (a[i]! < 0 || a[i]! >= this.numActions) {
        const e = Math.floor(i / this.env.numAgents);
        const id = this.env.possibleAgents[i % this.env.numAgents];
        throw new ProtocolError(
          `step: action of row ${i} (env ${e}, agent ${id}) is ${a[i]}; expected an integer in [0, ${this.numActions})`,
          'bad-action',
        );
      }
    const p = arrays.preferences;
    if (p !== undefined && !(p instanceof Float32Array && p.length === n))
      throw new ProtocolError(
        `step: array 'preferences' must be float32 of length ${n}, got ${p.constructor.name}(${p.length})`,
        'bad-action',
      );
    const t0 = performance.now();
    const r = this.env.step(Int32Array.from(a), p);
    const envMs = performance.now() - t0;
    const { realizedActions, rewardTerms, ...rest } = r.infos;
    const out: NamedArray[] = [
      { name: 'observations', data: r.observations, shape: [n, this.env.obsDim] },
      { name: 'rewards', data: r.rewards },
      { name: 'terminations', data: r.terminations },
      { name: 'truncations', data: r.truncations },
      { name: 'realizedActions', data: Int8Array.from(realizedActions) },
    ];
    for (const [k, v] of Object.entries(rewardTerms)) out.push({ name: `rewardTerms.${k}`, data: v });
    for (const [k, v] of Object.entries(rest)) if (isWire(v)) out.push({ name: `infos.${k}`, data: v });
    return encodeFrame({ op: 'step', envMs, infos: scalarFields(rest) }, out);
  }
}

/**
 * Serve `env` on `input` / `output` until a `close` request, EOF, or a fatal error. Sends the hello
 * frame first. Resolves to an exit code (0 after close or EOF between frames, 1 after a fatal error);
 * the env is closed in every case.
 */
export function serveEnv(
  env: ParallelEnv,
  input: Readable,
  output: Writable,
  opts: ServeEnvOptions = {},
): Promise<number> {
  const n = env.numEnvs * env.numAgents;
  const align8 = (b: number): number => Math.ceil(b / 8) * 8;
  // The largest request is a step with int8 actions and float32 preferences.
  const decoder = new FrameDecoder({
    maxHeaderBytes: opts.maxHeaderBytes ?? 1 << 16,
    maxPayloadBytes: align8(n) + align8(4 * n),
  });
  const session = new EnvSession(env);
  const frameTimeoutMs = opts.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS;

  return new Promise<number>((resolve) => {
    let ended = false;
    let timer: NodeJS.Timeout | null = null;

    const finish = (code: number, last?: Uint8Array): void => {
      if (ended) return;
      ended = true;
      if (timer) clearTimeout(timer);
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onInputError);
      input.pause();
      try {
        env.close();
      } catch {
        // closing is best effort once the serve is over
      }
      if (last && output.writable) output.write(last, () => resolve(code));
      else resolve(code);
    };

    const errorFrame = (e: DbmimError, request: string | null, fatal: boolean): Uint8Array => {
      const h: ErrorHeader = { op: 'error', request, code: e.code, message: e.message, fatal };
      return encodeFrame({ ...h });
    };

    const fatal = (e: DbmimError, request: string | null): void => {
      opts.log?.(`error: ${e.message}`);
      finish(1, errorFrame(e, request, true));
    };

    const armTimer = (): void => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (decoder.pendingBytes === 0) return;
      timer = setTimeout(() => {
        const want = decoder.expectedBytes;
        fatal(
          new ProtocolError(
            `a frame was begun but not finished within ${frameTimeoutMs} ms ` +
              `(got ${decoder.pendingBytes} of ${want ?? 'at least 16'} bytes)`,
            'stalled-frame',
          ),
          null,
        );
      }, frameTimeoutMs);
    };

    const onData = (chunk: Buffer): void => {
      if (ended) return;
      let frames: ReturnType<FrameDecoder['push']>;
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        if (e instanceof ProtocolError) return fatal(e, null);
        throw e;
      }
      for (const f of frames) {
        if (ended) return;
        if (f instanceof ProtocolError) {
          output.write(errorFrame(f, null, false));
          continue;
        }
        const op = String(f.header.op);
        try {
          const { reply, done } = session.handle(f);
          if (done) return finish(0, reply);
          output.write(reply);
        } catch (e) {
          if (e instanceof DbmimError) output.write(errorFrame(e, op, false));
          else
            return fatal(
              new DbmimError(
                `internal error while handling '${op}': ${(e as Error)?.stack ?? String(e)}`,
                'internal',
              ),
              op,
            );
        }
      }
      armTimer();
    };

    const onEnd = (): void => {
      if (decoder.pendingBytes > 0)
        return fatal(
          new ProtocolError(
            `input ended inside a frame (got ${decoder.pendingBytes} of ${decoder.expectedBytes ?? 'at least 16'} bytes)`,
            'truncated-frame',
          ),
          null,
        );
      finish(0);
    };

    const onInputError = (e: Error): void => fatal(new ProtocolError(`input failed: ${e.message}`), null);

    output.on('error', () => finish(1)); // the client went away: nothing left to tell it
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onInputError);
    output.write(encodeFrame(helloHeader(env, opts.hello)));
  });
}
