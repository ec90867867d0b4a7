/**
 * A gRPC call written as raw HTTP/2 frames (RFC 9113), for headers that no
 * well-behaved client sends: two `authorization` fields (node:http2 refuses
 * to send a single-value header twice), or values with characters grpc-js
 * would refuse. Headers go out as HPACK literals without indexing and without
 * Huffman coding (RFC 7541 section 6.2.2), which every decoder accepts.
 *
 * The answer is not decoded (the server's HPACK may use Huffman codes):
 * callers read the outcome from the node itself (its request metrics, the
 * log's size). The call resolves when the server ends or resets the stream,
 * or closes the connection; it is bounded by `timeoutMs`.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface RawGrpcCall {
  host: string;
  port: number;
  /** `:path`, e.g. /cairn.ledger.v1.Ledger/ListLogs */
  path: string;
  /** Extra header fields in order, repeats allowed; names lowercase. */
  headers: readonly (readonly [string, string])[];
  /** The serialized request message (without the 5-byte gRPC prefix). */
  message: Uint8Array;
  /** TLS with these options (client certificate, CA); plain TCP when absent. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer; servername: string };
  timeoutMs?: number;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME = { data: 0, headers: 1, rst: 3, settings: 4, ping: 6, goaway: 7, windowUpdate: 8 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 section 5.1). */
function hpackInt(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const out = [firstByte | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Literal header field without indexing, new name, no Huffman (RFC 7541 section 6.2.2). */
function literal(name: string, value: string): Buffer {
  // latin1: one byte per code unit up to U+00FF, as node:http2 sends header values.
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v]);
}

/** Sends one gRPC call on a fresh connection; resolves once the server has answered or hung up. */
export async function rawGrpcCall(c: RawGrpcCall): Promise<{ ended: 'stream-end' | 'reset' | 'goaway' | 'closed' | 'timeout' }> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = c.tls
      ? tlsConnect({ host: c.host, port: c.port, ca: c.tls.ca, cert: c.tls.cert, key: c.tls.key, servername: c.tls.servername, ALPNProtocols: ['h2'] }, () => resolve(s))
      : netConnect({ host: c.host, port: c.port }, () => resolve(s));
    s.once('error', reject);
  });
  const scheme = c.tls ? 'https' : 'http';
  const block = Buffer.concat([
    literal(':method', 'POST'),
    literal(':scheme', scheme),
    literal(':path', c.path),
    literal(':authority', `${c.host}:${c.port}`),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
    ...c.headers.map(([n, v]) => literal(n, v)),
  ]);
  const grpcMessage = Buffer.alloc(5 + c.message.length);
  grpcMessage.writeUInt32BE(c.message.length, 1);
  grpcMessage.set(c.message, 5);
  socket.write(Buffer.concat([PREFACE, frame(FRAME.settings, 0, 0, Buffer.alloc(0)), frame(FRAME.headers, END_HEADERS, 1, block), frame(FRAME.data, END_STREAM, 1, grpcMessage)]));

  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (ended: 'stream-end' | 'reset' | 'goaway' | 'closed' | 'timeout'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ended });
    };
    const timer = setTimeout(() => finish('timeout'), c.timeoutMs ?? 10_000);
    socket.on('error', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      // Bounded: each pass consumes one whole frame.
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        buf = buf.subarray(9 + len);
        if (type === FRAME.settings && (flags & ACK) === 0) socket.write(frame(FRAME.settings, ACK, 0, Buffer.alloc(0)));
        else if (type === FRAME.ping && (flags & ACK) === 0) socket.write(frame(FRAME.ping, ACK, 0, Buffer.alloc(8)));
        else if (stream === 1 && (type === FRAME.headers || type === FRAME.data) && (flags & END_STREAM) !== 0) finish('stream-end');
        else if (stream === 1 && type === FRAME.rst) finish('reset');
        else if (type === FRAME.goaway) finish('goaway');
      }
    });
  });
}
