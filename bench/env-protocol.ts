/*
 * Env protocol wire formats: `npm run bench -- --only env-protocol`, or `node --import tsx bench/env-protocol.ts`.
 * Encode + decode of one step reply (observations, rewards, terminations, truncations, realized actions,
 * per-patch loss, 4 reward terms) in the two candidate formats:
 * - binary: the protocol's length-prefixed frame (JSON header + 8-aligned raw arrays, src/env/protocol/frame.ts);
 * - json-base64: one JSON line per message with every array as a base64 string.
 * Sizes: the small test env (2 envs x 8 agents, obsDim 22) and the env bench's (4 x 64, obsDim 102).
 * Median of `reps` round trips (the machine is shared: compare the formats within one run).
 */
import { encodeFrame, FrameDecoder, type NamedArray } from '../src/env/protocol/frame.js';

interface Size {
  name: string;
  rows: number;
  obsDim: number;
}

const SIZES: Size[] = [
  { name: 'small (2 envs x 8 agents, obsDim 22)', rows: 16, obsDim: 22 },
  { name: 'env bench (4 envs x 64 agents, obsDim 102)', rows: 256, obsDim: 102 },
];
const TERMS = ['reconstruction', 'relative-reconstruction', 'budget', 'kl'];

function stepReply(s: Size): NamedArray[] {
  const f = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3.7);
  return [
    { name: 'observations', data: f(s.rows * s.obsDim), shape: [s.rows, s.obsDim] },
    { name: 'rewards', data: f(s.rows) },
    { name: 'terminations', data: new Uint8Array(s.rows) },
    { name: 'truncations', data: new Uint8Array(s.rows) },
    { name: 'realizedActions', data: Int8Array.from({ length: s.rows }, (_, i) => i % 2) },
    { name: 'infos.perPatchLoss', data: f(s.rows) },
    ...TERMS.map((t) => ({ name: `rewardTerms.${t}`, data: f(s.rows) })),
  ];
}

const HEADER = { op: 'step', envMs: 12.5, infos: { mimLoss: 0.93, globalStep: 17, t: 3 } };

function binaryRoundTrip(arrays: NamedArray[]): number {
  const bytes = encodeFrame(HEADER, arrays);
  const [frame] = new FrameDecoder({ maxHeaderBytes: 1 << 20, maxPayloadBytes: 1 << 26 }).push(bytes);
  if (!frame || frame instanceof Error) throw new Error('binary round trip failed');
  return bytes.length;
}

function jsonBase64RoundTrip(arrays: NamedArray[]): number {
  const msg: Record<string, unknown> = { ...HEADER };
  for (const a of arrays)
    msg[a.name] = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).toString('base64');
  const line = JSON.stringify(msg) + '\n';
  const back = JSON.parse(line) as Record<string, string>;
  for (const a of arrays) {
    const raw = Buffer.from(back[a.name]!, 'base64');
    const C = a.data.constructor as new (b: ArrayBuffer) => unknown;
    new C(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)); // aligned copy, as a reader needs
  }
  return Buffer.byteLength(line);
}

function medianUs(fn: () => number, reps: number): { us: number; bytes: number } {
  let bytes = fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    bytes = fn();
    t.push((performance.now() - t0) * 1000);
  }
  t.sort((a, b) => a - b);
  return { us: Number(t[Math.floor(reps / 2)]!.toFixed(1)), bytes };
}

export async function benchEnvProtocol(reps = 300): Promise<object[]> {
  const rows: object[] = [];
  for (const s of SIZES) {
    const arrays = stepReply(s);
    const bin = medianUs(() => binaryRoundTrip(arrays), reps);
    const b64 = medianUs(() => jsonBase64RoundTrip(arrays), reps);
    rows.push({
      bench: 'env-protocol',
      message: `step reply, ${s.name}`,
      binaryUs: bin.us,
      binaryBytes: bin.bytes,
      jsonBase64Us: b64.us,
      jsonBase64Bytes: b64.bytes,
      jsonBase64OverBinaryTime: Number((b64.us / bin.us).toFixed(2)),
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`)
  for (const r of await benchEnvProtocol()) console.log(JSON.stringify(r));
