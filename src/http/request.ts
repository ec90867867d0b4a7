/**
 * What an HTTP request carries, read into the shapes the gRPC handlers take.
 * Every byte here is attacker-controlled: an unknown or repeated query
 * parameter, a body that is not a JSON object, a field of the wrong type is a
 * precise INVALID_ARGUMENT naming it, before any handler runs.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CairnError, invalidArgument } from '../core/errors.js';
import type { CallCredentials } from '../server/access.js';
import type { Req } from '../server/wire.js';

/** `from_size` -> `fromSize`: proto field names as proto-loader shapes them (keepCase false). */
export function camelCase(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The request's credentials as the gRPC access check reads them: the client
 * certificate only when the TLS handshake verified it against the client CA,
 * and every Authorization header (two are refused there, as on gRPC).
 */
export function credentialsOf(req: IncomingMessage): CallCredentials {
  const socket = req.socket as Partial<TLSSocket>;
  const verified = socket.encrypted === true && socket.authorized === true;
  const cert = verified ? socket.getPeerCertificate?.(false) : undefined;
  const metadata = new grpc.Metadata();
  // A header grpc-js could not carry (bytes outside printable ASCII) cannot be a token either:
  // it is passed as an empty value, which the access check refuses like any wrong token.
  for (const v of req.headersDistinct.authorization ?? []) metadata.add('authorization', /^[\x20-\x7e]*$/.test(v) ? v : '');
  return {
    getAuthContext: () => (cert?.raw ? { sslPeerCertificate: { raw: cert.raw, fingerprint256: cert.fingerprint256 } } : {}),
    metadata,
    getPeer: () => `${req.socket.remoteAddress ?? 'unknown'}:${req.socket.remotePort ?? 0}`,
  };
}

/**
 * The query string as a request message: only the parameters the operation
 * lists, each at most once.
 */
export function queryReq(query: Record<string, string | string[] | undefined>, allowed: readonly string[]): Req {
  const req: Req = {};
  for (const [name, value] of Object.entries(query)) {
    if (!allowed.includes(name)) throw invalidArgument(name, `is not a parameter of this operation${allowed.length > 0 ? ` (it takes ${allowed.join(', ')})` : ''}`);
    if (typeof value !== 'string') throw invalidArgument(name, 'is given more than once');
    req[camelCase(name)] = value;
  }
  return req;
}

/**
 * The body as a JSON object.
 * @throws CairnError INVALID_ARGUMENT (field `body`) when it is empty, not JSON or not an object
 */
export function jsonObject(body: unknown): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) throw invalidArgument('body', 'is required: a JSON object with Content-Type: application/json');
  let v: unknown;
  try {
    // A JSON text is UTF-8 (RFC 8259 section 8.1); fatal: a malformed byte is an error, not U+FFFD.
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (e) {
    throw invalidArgument('body', `is not valid JSON (${e instanceof SyntaxError ? e.message : 'not UTF-8'})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument('body', 'must be a JSON object');
  return v as Record<string, unknown>;
}

/** The fields of AppendRequest a body may carry (the path names the log). */
const APPEND_FIELDS = ['config_id', 'operator', 'action', 'source', 'commit', 'payload_json', 'request_id'];

/** An append body as the AppendRequest message the gRPC handler takes. */
export function appendReq(log: string, body: unknown): Req {
  const o = jsonObject(body);
  const req: Req = { log };
  for (const [k, v] of Object.entries(o)) {
    if (!APPEND_FIELDS.includes(k)) throw invalidArgument(k, `is not a field of AppendRequest (${APPEND_FIELDS.join(', ')})`);
    if (typeof v !== 'string') throw invalidArgument(k, k === 'payload_json' ? 'must be a string: the payload as JSON text' : 'must be a string');
    req[camelCase(k)] = v;
  }
  return req;
}

/**
 * The media type of `offered` the Accept header prefers (RFC 9110 section
 * 12.5.1: q-values, then the more specific range); ties go to the first
 * offered. No Accept header: the first offered.
 * @throws CairnError INVALID_ARGUMENT (field `accept`) when none is acceptable
 */
export function preferredType(accept: string | undefined, offered: readonly string[]): string {
  if (!accept) return offered[0]!;
  let best: { type: string; q: number; exact: number; order: number } | undefined;
  for (const part of accept.split(',').slice(0, 32)) {
    const [range = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qp = params.find((p) => p.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    if (!(q > 0 && q <= 1)) continue;
    for (const [order, type] of offered.entries()) {
      const exact = range === type ? 2 : range === `${type.split('/')[0]}/*` ? 1 : range === '*/*' ? 0 : -1;
      if (exact < 0) continue;
      if (!best || q > best.q || (q === best.q && (exact > best.exact || (exact === best.exact && order < best.order)))) best = { type, q, exact, order };
    }
  }
  if (!best) throw new CairnError('INVALID_ARGUMENT', `accept: this operation answers ${offered.join(' or ')}`, { field: 'accept' });
  return best.type;
}
