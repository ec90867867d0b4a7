/**
 * The HTTP JSON API (docs/api.md): the operations of the OpenAPI document
 * (openapi.ts), each wired to its handler (routes.ts), on fastify. This file
 * holds what every request goes through, in one place, as CallRunner does
 * for gRPC: bodies bounded before they are read, authentication by the same
 * Access, the node's request deadline, the per-identity stream count, the
 * status a failure is sent as (status.ts), and the request counter.
 */
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter } from 'prom-client';
import { CairnError, invalidArgument } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Access, Caller } from '../server/access.js';
import type { CallerLimits } from '../server/limits.js';
import { openCallerStream, type TenantQuotas } from '../server/quotas.js';
import type { Metrics } from '../server/metrics.js';
import type { TlsFileSet } from '../server/tls.js';
import { drained } from '../server/drain.js';
import { operations, type Operation, type OperationId } from './openapi.js';
import { credentialsOf, queryReq } from './request.js';
import { errorReply } from './status.js';
import type { Answer, Route, RouteContext } from './routes.js';
import { registerConsole } from './console-assets.js';

export interface HttpTls {
  /** The TLS files in force; `onReload` follows the same files as gRPC. */
  files(): TlsFileSet;
  onReload(l: (files: TlsFileSet) => void): void;
  /** Whether a handshake without a valid client certificate fails (tls_client_cert required). */
  requireClientCert: boolean;
}

export interface HttpServerOptions {
  access: Access;
  limits: CallerLimits;
  /** Per-tenant quotas: streams count against the tenant as on gRPC. */
  quotas: TenantQuotas;
  metrics: Metrics;
  log: Logger;
  routes: Record<OperationId, Route>;
  /** Bytes; a longer body is refused before it is read. */
  maxBodyBytes: number;
  /** Deadline of every unary operation, and of receiving a request. */
  requestTimeoutMs: number;
  /** A stream whose reader accepts no data for this long is ended. */
  streamStallMs: number;
  tls?: HttpTls | undefined;
  /** Where the built console is (default dist/console/); served at /console/. */
  consoleDir?: string;
}

/** `/v1/logs/{log}` -> `/v1/logs/:log`. */
function routePath(path: string): string {
  return path.replace(/\{([a-z_]+)\}/g, ':$1');
}

/** Rejects with DEADLINE_EXCEEDED when `work` outlives `ms`; the same message gRPC's deadline gives. */
function withDeadline<T>(work: Promise<T>, ms: number, hint: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CairnError('DEADLINE_EXCEEDED', `the node's deadline of ${ms} ms (request_timeout_ms) passed${hint}`)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** An error fastify raised before a handler ran (the body's size or type), as our code. */
function fromFastify(e: unknown, maxBodyBytes: number): unknown {
  if (e instanceof CairnError || typeof e !== 'object' || e === null) return e;
  const err = e as { code?: string; statusCode?: number; message?: string };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return invalidArgument('body', `is over the limit of ${maxBodyBytes} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return invalidArgument('content-type', 'must be application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidArgument('content-length', 'does not match the body');
  }
  // Other refusals of a malformed request (fastify's 4xx); its messages name no internals.
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new CairnError('INVALID_ARGUMENT', `request: ${err.message ?? 'malformed'}`, { field: 'request' });
  return err;
}

export class HttpApi {
  readonly app: FastifyInstance;
  readonly #opts: Readonly<HttpServerOptions>;
  readonly #requests: Counter<'operation' | 'status'>;
  readonly #server: Server;

  constructor(opts: HttpServerOptions) {
    this.#opts = opts;
    this.#requests = new Counter({ name: 'cairn_http_requests_total', help: 'HTTP API requests by operation and status', labelNames: ['operation', 'status'], registers: [opts.metrics.registry] });
    const tls = opts.tls;
    const files = tls?.files();
    this.#server = files
      ? createHttps({ cert: files.cert, key: files.key, ca: files.ca, requestCert: files.ca !== undefined, rejectUnauthorized: tls!.requireClientCert })
      : createHttp();
    tls?.onReload((f) => (this.#server as unknown as { setSecureContext(o: object): void }).setSecureContext({ cert: f.cert, key: f.key, ca: f.ca }));
    this.#server.requestTimeout = opts.requestTimeoutMs;
    this.app = Fastify({
      serverFactory: (handler) => {
        this.#server.on('request', handler);
        return this.#server;
      },
      logger: false,
      bodyLimit: opts.maxBodyBytes,
      return503OnClosing: false,
      exposeHeadRoutes: false,
      routerOptions: { maxParamLength: 256 },
    });
    this.app.removeAllContentTypeParsers();
    // The raw bytes: Flux's signature covers them exactly, and the handlers parse with their own errors.
    this.app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    this.app.setErrorHandler((err, request, reply) => this.#fail(reply, 'unknown', fromFastify(err, opts.maxBodyBytes), request));
    this.app.setNotFoundHandler((request, reply) =>
      this.#fail(reply, 'unknown', new CairnError('NOT_FOUND', `no operation ${request.method} ${request.url.split('?')[0]!.slice(0, 200).toWellFormed()} (see /v1/openapi.json)`), request),
    );
    registerConsole(this.app, opts.consoleDir);
    for (const op of operations()) {
      const route = opts.routes[op.operationId];
      this.app.route({ method: op.method, url: routePath(op.path), handler: (request, reply) => this.#run(op, route, request, reply) });
    }
  }

  /** Binds `host:port`; resolves with the port bound. */
  async listen(host: string, port: number): Promise<number> {
    await this.app.listen({ host, port });
    const a = this.#server.address();
    return typeof a === 'object' && a ? a.port : port;
  }

  /** Stops accepting; requests in flight get `graceMs`, then their connections are cut. */
  async close(graceMs = 2000): Promise<void> {
    const t = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    try {
      await this.app.close();
    } finally {
      clearTimeout(t);
    }
  }

  async #run(op: Operation, route: Route, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const ac = new AbortController();
    reply.raw.once('close', () => ac.abort());
    try {
      const ctx: RouteContext = {
        params: request.params as Record<string, string>,
        query: queryReq(request.query as Record<string, string | string[] | undefined>, op.query),
        body: request.body,
        headers: request.headers,
        signal: ac.signal,
      };
      route.precheck?.(ctx);
      const caller: Caller = route.authenticated ? this.#opts.access.authenticate(credentialsOf(request.raw)) : { principal: '', tenant: undefined, limitKey: 'anonymous' };
      const answer = await withDeadline(route.handle(ctx, caller), this.#opts.requestTimeoutMs, route.deadlineHint ?? '');
      if ('lines' in answer) return await this.#stream(op, caller, answer.lines, reply, ac.signal);
      this.#count(op.operationId, 200);
      if ('text' in answer) await reply.code(200).type(answer.type).send(answer.text);
      else await reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(answer.json));
    } catch (err) {
      await this.#fail(reply, op.operationId, err, request);
    }
  }

  /**
   * JSON Lines with back-pressure. The first chunk is read before the status
   * is sent, so a request that fails at once gets its status; a failure after
   * that ends the stream with one `{"error": ...}` line.
   */
  async #stream(op: Operation, caller: Caller, lines: AsyncGenerator<readonly unknown[]>, reply: FastifyReply, signal: AbortSignal): Promise<void> {
    const release = openCallerStream(this.#opts.limits, this.#opts.quotas, caller);
    try {
      let next = await lines.next();
      reply.hijack();
      const res: ServerResponse<IncomingMessage> = reply.raw;
      res.writeHead(200, { 'content-type': 'application/jsonl; charset=utf-8', 'cache-control': 'no-store' });
      this.#count(op.operationId, 200);
      try {
        while (!next.done && !signal.aborted) {
          for (const item of next.value) {
            if (!res.write(JSON.stringify(item) + '\n')) await drained(res, signal, this.#opts.streamStallMs);
            if (signal.aborted) break;
          }
          if (signal.aborted) break;
          next = await lines.next();
        }
      } catch (err) {
        const r = errorReply(err);
        this.#logFailure(op.operationId, r.status, err);
        if (!signal.aborted) res.write(JSON.stringify({ error: r.body }) + '\n');
      }
      res.end();
    } finally {
      release();
      await lines.return(undefined).catch(() => undefined);
    }
  }

  async #fail(reply: FastifyReply, operation: string, err: unknown, request: FastifyRequest): Promise<void> {
    const r = errorReply(err);
    this.#logFailure(operation, r.status, err, request.method);
    this.#count(operation, r.status);
    if (reply.sent || reply.raw.headersSent) return;
    await reply.code(r.status).headers(r.headers).type('application/json; charset=utf-8').send(JSON.stringify(r.body));
  }

  /** A failure of the node (500) is logged with its cause; a refused request at debug. */
  #logFailure(operation: string, status: number, err: unknown, method?: string): void {
    if (status >= 500 && status !== 503 && status !== 504) this.#opts.log.error('HTTP request failed', { operation, err });
    else this.#opts.log.debug('HTTP request refused', { operation, method, status, message: (err as Error)?.message });
  }

  #count(operation: string, status: number): void {
    this.#requests.inc({ operation, status: String(status) });
  }
}
