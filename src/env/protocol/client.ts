import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { DbmimError, ProtocolError } from '../../core/errors.js';
import type { ResetOptions } from '../parallel-env.js';
import { encodeFrame, FrameDecoder, type Frame, type FrameHeader, type NamedArray } from './frame.js';
import type { ErrorHeader, HelloHeader } from './messages.js';

/*
 * A Node client of `dbmim env-server` (docs/env-protocol.md): starts the server as a child process and
 * drives it one request at a time. Errors land on the side that made them: a bad request rejects with the
 * server's error message (code from the server), a request after `close()` rejects here without being
 * sent, and a server that dies rejects every pending and later request with its exit code and last
 * stderr line. The Python adapter (examples/python/dbmim_pettingzoo.py) is the same client in Python.
 */

export interface RemoteStepResult {
  observations: Float32Array;
  rewards: Float32Array;
  terminations: Uint8Array;
  truncations: Uint8Array;
  realizedActions: Int8Array;
  /** Per-term rewards `[numEnvs * numAgents]`. */
  rewardTerms: Record<string, Float32Array>;
  /** Typed-array info fields (e.g. perPatchLoss, maskRatio) and scalar ones (e.g. mimLoss, t). */
  infos: Record<string, unknown>;
  /** Server-side time of `env.step`, ms. */
  envMs: number;
}

/** Largest reply header / payload this client reads (a hello with a full config is a few KB). */
const CLIENT_LIMITS = { maxHeaderBytes: 1 << 24, maxPayloadBytes: 2 ** 31 };

/** Drives a `dbmim env-server` child process through its stdin and stdout (docs/env-protocol.md). */
export class EnvServerClient {
  /** Every stderr line of the server so far. */
  readonly stderr: string[] = [];
  private readonly decoder = new FrameDecoder(CLIENT_LIMITS);
  private waiting: { resolve: (f: Frame) => void; reject: (e: Error) => void } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;
  private closed = false;
  private exitCode: number | null = null;
  private readonly exited: Promise<number>;
  private helloHeader: HelloHeader | null = null;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    let errTail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      const lines = (errTail + s).split('\n');
      errTail = lines.pop()!;
      this.stderr.push(...lines);
    });
    child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stdin.on('error', () => {
      // EPIPE when the server died: reported by the exit handler with the server's own message
    });
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        if (errTail) this.stderr.push(errTail);
        this.exitCode = code ?? 1;
        // The server's own error line; else (a crash before it could print one) its last stderr line.
        const lines = this.stderr.filter((l) => l.trim());
        const crash = lines.findLast((l) => l.includes('Error')) ?? lines.at(-1);
        const last = lines.findLast((l) => l.startsWith('error:')) ?? (signal ? undefined : crash);
        this.fail(
          new ProtocolError(
            `dbmim env-server exited (${signal ? `signal ${signal}` : `code ${code}`})` +
              (last ? `: ${last}` : ''),
            'server-exited',
          ),
        );
        resolve(this.exitCode);
      });
    });
  }

  /** Start `command args` (e.g. `dbmim env-server --synthetic`) and read its hello frame. */
  static async spawn(
    command: string,
    args: readonly string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<EnvServerClient> {
    const child = spawn(command, [...args], { stdio: 'pipe', cwd: opts.cwd, env: opts.env ?? process.env });
    const c = new EnvServerClient(child);
    const hello = await c.next();
    if (hello.header.op !== 'hello')
      throw new ProtocolError(`expected a hello frame first, got op '${hello.header.op}'`);
    c.helloHeader = hello.header as HelloHeader;
    return c;
  }

  /** The server's hello: protocol version, sizes, agent ids, spaces, and what the server adds. */
  get hello(): HelloHeader {
    return this.helloHeader!;
  }

  /** Exit code once the server has exited, else null. */
  get code(): number | null {
    return this.exitCode;
  }

  async reset(
    opts: ResetOptions = {},
  ): Promise<{ observations: Float32Array; infos: Record<string, unknown> }> {
    const f = await this.request('reset', {
      op: 'reset',
      seed: opts.seed ?? null,
      options: opts.options ?? null,
    });
    return {
      observations: f.arrays.observations as Float32Array,
      infos: f.header.infos as Record<string, unknown>,
    };
  }

  async step(actions: Int8Array, preferences?: Float32Array): Promise<RemoteStepResult> {
    const arrays: NamedArray[] = [{ name: 'actions', data: actions }];
    if (preferences) arrays.push({ name: 'preferences', data: preferences });
    const f = await this.request('step', { op: 'step' }, arrays);
    const rewardTerms: Record<string, Float32Array> = {};
    const infos: Record<string, unknown> = { ...(f.header.infos as object) };
    for (const [k, v] of Object.entries(f.arrays)) {
      if (k.startsWith('rewardTerms.')) rewardTerms[k.slice(12)] = v as Float32Array;
      else if (k.startsWith('infos.')) infos[k.slice(6)] = v;
    }
    return {
      observations: f.arrays.observations as Float32Array,
      rewards: f.arrays.rewards as Float32Array,
      terminations: f.arrays.terminations as Uint8Array,
      truncations: f.arrays.truncations as Uint8Array,
      realizedActions: f.arrays.realizedActions as Int8Array,
      rewardTerms,
      infos,
      envMs: f.header.envMs as number,
    };
  }

  /** Global state `[numEnvs * stateDim]`. */
  async state(): Promise<Float32Array> {
    return (await this.request('state', { op: 'state' })).arrays.state as Float32Array;
  }

  /** Close the env and wait for the server to exit; resolves to its exit code. Calling twice is harmless. */
  async close(): Promise<number> {
    if (!this.closed && !this.failure) {
      await this.request('close', { op: 'close' });
      this.closed = true;
      this.child.stdin.end();
    }
    this.closed = true;
    return this.exited;
  }

  /** Send any header and arrays and return the reply frame (an `error` reply rejects). */
  request(what: string, header: FrameHeader, arrays: readonly NamedArray[] = []): Promise<Frame> {
    return this.sendBytes(what, encodeFrame(header, arrays));
  }

  /** Send raw bytes (for tests of the server's handling of bad frames); resolves to the next frame. */
  sendBytes(what: string, bytes: Uint8Array): Promise<Frame> {
    const run = async (): Promise<Frame> => {
      if (this.closed)
        throw new DbmimError(`EnvServerClient.${what}: the env is closed (close() was called)`, 'env-state');
      if (this.failure) throw this.failure;
      const reply = this.next();
      this.child.stdin.write(bytes);
      const f = await reply;
      if (f.header.op === 'error') {
        const e = f.header as unknown as ErrorHeader;
        throw new DbmimError(`env-server: ${e.message}`, e.code);
      }
      return f;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Kill the server (SIGKILL by default): what a crash looks like to the client. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }

  private next(): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  private onData(chunk: Buffer): void {
    let frames: ReturnType<FrameDecoder['push']>;
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      this.child.kill();
      return;
    }
    for (const f of frames) {
      const w = this.waiting;
      this.waiting = null;
      if (!w) continue; // a reply nobody asked for cannot happen with one request in flight
      if (f instanceof ProtocolError) w.reject(f);
      else w.resolve(f);
    }
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(this.failure);
  }
}
