/**
 * The `authorization` header as the client sent it, checked before HTTP/2 and
 * grpc-js reduce it. Two layers would otherwise hide an unusable credential
 * from authentication, and the call would proceed on whatever else the
 * caller presented (a client certificate):
 *  - node:http2 keeps only the first of two `authorization` fields (it is one
 *    of the headers it treats as single-valued) in the headers object;
 *  - grpc-js drops a value it considers illegal metadata (a tab, a
 *    non-breaking space, a non-ASCII character) and logs it, secret included.
 *
 * How it is hooked: grpc-js creates one HTTP/2 server per bound address in
 * its `createHttp2Server` method and listens for 'stream' on it. That method
 * is wrapped on our Server instance (before `bindAsync`, so no stream can
 * arrive unchecked), and our 'stream' listener is *prepended*, so it runs
 * before grpc-js's handler on the same headers object. Node passes the raw
 * header list as the listener's fourth argument (`rawHeaders`, every field
 * with its repeats). When the `authorization` fields are not exactly one
 * usable `Bearer <token>` value, the header grpc-js will read is replaced by
 * {@link UNUSABLE_AUTHORIZATION}, a legal value that authentication refuses
 * with UNAUTHENTICATED; the raw value never reaches grpc-js, nor its logger.
 * `guardAuthorizationHeaders` throws at start if grpc-js no longer has the
 * method, so an upgrade that moves it fails loudly rather than silently
 * dropping the check (test/auth-raw-headers.test.ts covers every case).
 */
import type * as grpc from '@grpc/grpc-js';
import type { Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';

/** What authentication accepts as an `authorization` value: one bearer token of printable ASCII. */
export const BEARER_RE = /^Bearer ([\x21-\x7e]{1,256})$/;
/** Put in place of an `authorization` header that is present but unusable. */
export const UNUSABLE_AUTHORIZATION = 'cairn-unusable-authorization';

/** Replaces an unusable `authorization` header in `headers` (as the HTTP/2 server gives them) with the marker. */
export function checkAuthorizationHeaders(headers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined): void {
  const values: string[] = [];
  if (Array.isArray(rawHeaders)) {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      if (String(rawHeaders[i]).toLowerCase() === 'authorization') values.push(String(rawHeaders[i + 1]));
    }
  } else {
    const v = headers.authorization as string | string[] | undefined;
    if (v !== undefined) values.push(...(Array.isArray(v) ? v : [v]));
  }
  if (values.length === 0) return;
  if (values.length === 1 && BEARER_RE.test(values[0] as string)) return;
  headers.authorization = UNUSABLE_AUTHORIZATION;
}

type Create = (this: unknown, credentials: unknown) => Http2Server;

/**
 * Installs the raw-header check on every HTTP/2 server `server` creates.
 * @throws Error when grpc-js has no `createHttp2Server` to wrap
 */
export function guardAuthorizationHeaders(server: grpc.Server): void {
  const s = server as unknown as { createHttp2Server?: Create };
  const create = s.createHttp2Server;
  if (typeof create !== 'function') throw new Error('@grpc/grpc-js Server has no createHttp2Server: the raw authorization header check cannot be installed');
  s.createHttp2Server = function (this: unknown, credentials: unknown): Http2Server {
    const h2 = create.call(this, credentials);
    h2.prependListener('stream', (_stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders?: string[]) => checkAuthorizationHeaders(headers, rawHeaders));
    return h2;
  };
}
