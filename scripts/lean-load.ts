/**
 * A lean gRPC load generator for AppendStream, for `npm run bench`: what the
 * node does when its client costs little, as with a load tool written in a
 * compiled language (ghz, h2load) running on another machine.
 *
 * On this 2-core machine the client shares the cores with the node, and the
 * grpc-js client spends 46-66 us of CPU per streamed append (bench), CPU the
 * node then lacks. This one speaks the same wire protocol through node:http2
 * directly: one HTTP/2 stream, the request encoded once with the node's own
 * protobuf definition and resent as the same gRPC frame, replies split by
 * their gRPC length prefix. It still checks every reply: each must carry a
 * receipt (AppendResult field 2) and not an error (field 3), every 64th is
 * decoded in full and its seq must be above the last one checked, and the
 * stream must end with grpc-status 0.
 */
import { connect } from 'node:http2';
import { ledgerServiceDefinition, LEDGER_SERVICE } from '../src/api/proto.js';
import { percentile, processCpuSeconds, ownCpuSeconds } from './bench-lib.js';

export interface LeanResult {
  rate: number;
  p50: number;
  p99: number;
  /** The server process's CPU per append (all threads), from /proc. */
  cpuUs: number;
  /** This process's CPU per append. */
  clientUs: number;
}

/** Reads one varint at `i`; returns [value, next index]. */
function varint(b: Uint8Array, i: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const x = b[i++]!;
    v += (x & 127) * mul;
    if (x < 128) return [v, i];
    mul *= 128;
  }
}

/** True when a serialized AppendResult holds a receipt and no error; throws on a malformed one. */
function isReceipt(m: Uint8Array): boolean {
  let receipt = false;
  let i = 0;
  while (i < m.length) {
    const [key, j] = varint(m, i);
    // Wire type 0 (the index) is followed by its value, 2 by a length.
    const [len, k] = varint(m, j);
    const field = Math.floor(key / 8);
    if ((key & 7) === 0) {
      i = k;
      continue;
    }
    if ((key & 7) !== 2) throw new Error(`AppendResult: unexpected wire type ${key & 7}`);
    if (field === 3) return false;
    if (field === 2) receipt = true;
    i = k + len;
  }
  return receipt;
}

/**
 * Keeps `concurrency` appends in flight on one AppendStream to `address` for
 * `seconds` (after a 400 ms warm-up on its own stream) and reports appends/s,
 * latency and CPU per append of both processes.
 */
export async function leanAppendStream(address: string, serverPid: number | undefined, request: Record<string, unknown>, concurrency: number, seconds: number): Promise<LeanResult> {
  const method = ledgerServiceDefinition().AppendStream!;
  const msg = method.requestSerialize(request);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  const session = connect(`http://${address}`);
  // A session error (the node going away) fails the stream's own promises; this keeps it from being thrown twice.
  session.on('error', () => undefined);
  try {
    let result: LeanResult | undefined;
    for (const measure of [false, true]) {
      const ms = measure ? seconds * 1000 : 400;
      const stream = session.request({ ':method': 'POST', ':path': `/${LEDGER_SERVICE}/AppendStream`, 'content-type': 'application/grpc', te: 'trailers' });
      const sentAt: number[] = [];
      const lat: number[] = [];
      let lastSeq = -1;
      let pending: Buffer = Buffer.alloc(0);
      const cpu0 = processCpuSeconds(serverPid);
      const own0 = ownCpuSeconds();
      const until = performance.now() + ms;
      const send = (): void => {
        sentAt.push(performance.now());
        stream.write(frame);
      };
      const status = new Promise<string>((resolve, reject) => {
        stream.on('trailers', (t) => resolve(String(t['grpc-status'])));
        stream.on('error', reject);
        stream.on('close', () => resolve('closed without trailers'));
      });
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (chunk: Buffer) => {
          pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
          try {
            while (pending.length >= 5) {
              const len = pending.readUInt32BE(1);
              if (pending.length < 5 + len) break;
              const reply = pending.subarray(5, 5 + len);
              pending = pending.subarray(5 + len);
              if (!isReceipt(reply)) throw new Error(`append ${lat.length} failed: ${JSON.stringify(method.responseDeserialize(reply))}`);
              if (lat.length % 64 === 0) {
                const seq = Number((method.responseDeserialize(reply) as { receipt: { entry: { seq: string } } }).receipt.entry.seq);
                if (!(seq > lastSeq)) throw new Error(`receipt seq ${seq} after ${lastSeq}`);
                lastSeq = seq;
              }
              lat.push(performance.now() - sentAt[lat.length]!);
              if (performance.now() < until) send();
              else if (lat.length === sentAt.length) resolve();
            }
          } catch (e) {
            reject(e as Error);
          }
        });
        // The stream ending before every reply came back (the node refusing or going away) fails the run.
        status.then((code) => reject(new Error(`AppendStream ended early (grpc-status ${code}) after ${lat.length} replies`)), reject);
        for (let i = 0; i < concurrency; i++) send();
      });
      stream.end();
      const code = await status;
      if (code !== '0') throw new Error(`AppendStream ended with grpc-status ${code}`);
      if (measure) {
        lat.sort((a, b) => a - b);
        result = {
          rate: lat.length / seconds,
          p50: percentile(lat, 50),
          p99: percentile(lat, 99),
          cpuUs: ((processCpuSeconds(serverPid) - cpu0) * 1e6) / lat.length,
          clientUs: ((ownCpuSeconds() - own0) * 1e6) / lat.length,
        };
      }
    }
    return result!;
  } finally {
    // Also after a failure, with the failed stream still open.
    session.destroy();
  }
}
