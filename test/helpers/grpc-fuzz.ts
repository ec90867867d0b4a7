/**
 * Shared by the gRPC fuzz tests (fuzz-grpc, fuzz-props): untyped calls that
 * resolve to a status instead of throwing, so a property can look at every
 * answer, and a client that sends raw bytes to any method.
 */
import * as grpc from '@grpc/grpc-js';
import { ledgerClientConstructor, ledgerServiceDefinition } from '../../src/api/proto.js';

export type Req = Record<string, unknown>;
export type RawClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export const S = grpc.status;
export const UNARY_DEADLINE_MS = 10_000;

export interface Outcome {
  code: number;
  details: string;
  metadata?: grpc.Metadata | undefined;
}

export interface StreamResult {
  index?: string;
  receipt?: { entry?: { log?: string; seq?: string }; replayed?: boolean };
  error?: { code: number; message: string; field: string };
  result?: string;
}

/** A typed (proto-loader) client of cairn.ledger.v1.Ledger. */
export function ledgerClient(address: string): RawClient {
  const Ctor = ledgerClientConstructor();
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as RawClient;
}

/** A client whose requests are raw bytes (identity serializer) and whose answers are decoded as usual. */
export function rawLedgerClient(address: string): RawClient {
  const identity = (b: Buffer): Buffer => b;
  const rawDef: grpc.ServiceDefinition = Object.fromEntries(Object.entries(ledgerServiceDefinition()).map(([name, m]) => [name, { ...m, requestSerialize: identity, requestDeserialize: identity }]));
  const RawCtor = grpc.makeGenericClientConstructor(rawDef, 'RawLedger');
  return new RawCtor(address, grpc.credentials.createInsecure()) as unknown as RawClient;
}

/** A failure message's view of a value: JSON, cut at 300 characters. */
export function preview(v: unknown): string {
  const s = v instanceof Uint8Array ? `bytes ${Buffer.from(v).toString('hex')}` : JSON.stringify(v);
  return s.length > 300 ? `${s.slice(0, 300)}... (${s.length} chars)` : s;
}

export function unary(c: RawClient, method: string, req: unknown): Promise<Outcome & { res?: unknown }> {
  return new Promise((resolve) => {
    (c[method] as (...a: unknown[]) => unknown).call(c, req, new grpc.Metadata(), { deadline: Date.now() + UNARY_DEADLINE_MS }, (err: grpc.ServiceError | null, res?: unknown) => {
      if (err) resolve({ code: err.code, details: err.details, metadata: err.metadata });
      else resolve({ code: S.OK, details: '', res });
    });
  });
}

/**
 * A server stream to its status. With `followMs` (a Watch, which never ends on
 * its own) the call is cancelled after its first message, or after `followMs`
 * without one (it is following the log live); either counts as OK.
 */
export function serverStream(c: RawClient, method: string, req: unknown, followMs?: number): Promise<Outcome & { messages: number; following: boolean }> {
  return new Promise((resolve) => {
    const call = (c[method] as (...a: unknown[]) => grpc.ClientReadableStream<unknown>).call(c, req, new grpc.Metadata(), { deadline: Date.now() + UNARY_DEADLINE_MS });
    const watch = followMs !== undefined;
    let messages = 0;
    let cancelled: 'first' | 'following' | undefined;
    const timer = watch
      ? setTimeout(() => {
          cancelled ??= 'following';
          call.cancel();
        }, followMs)
      : undefined;
    call.on('data', () => {
      messages++;
      if (watch && !cancelled) {
        cancelled = 'first';
        call.cancel();
      }
    });
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      // Our own cancel: the server did not fail the call, it answered (a message) or is following.
      if (cancelled && s.code === S.CANCELLED) resolve({ code: S.OK, details: '', metadata: s.metadata, messages, following: cancelled === 'following' });
      else resolve({ ...s, messages, following: false });
    });
  });
}

/** Writes every request, half-closes, and collects the results and the final status. */
export function appendStream(c: RawClient, reqs: unknown[]): Promise<Outcome & { results: StreamResult[] }> {
  return new Promise((resolve) => {
    const call = (c.AppendStream as (...a: unknown[]) => grpc.ClientDuplexStream<unknown, StreamResult>).call(c, new grpc.Metadata(), { deadline: Date.now() + UNARY_DEADLINE_MS });
    const results: StreamResult[] = [];
    call.on('data', (r: StreamResult) => results.push(r));
    call.on('error', () => undefined);
    call.on('status', (s: grpc.StatusObject) => resolve({ ...s, results }));
    for (const r of reqs) call.write(r);
    call.end();
  });
}

/** `n` times `open`, then `inner`, then `n` times `close`: nesting of a chosen depth. */
export const deep = (n: number, open: string, inner: string, close: string): string => open.repeat(n) + inner + close.repeat(n);
