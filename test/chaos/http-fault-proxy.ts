/**
 * An HTTP proxy on loopback between the Kubernetes client and the (fake) API
 * server that injects, while armed, the faults a scenario names: latency,
 * an error status (429, 503, ...) with `Retry-After`, 410 Gone on a list
 * page with a continue token or on a watch (as an HTTP status or as an ERROR
 * event, both of which the API server sends), a watch response cut in the
 * middle of an event (the connection dropped, or the response ended cleanly
 * after half a line), a connection reset, and a connection held open
 * without a byte of answer. Everything else is passed through as is,
 * streamed (watches stay open through the proxy). With `watchTimeoutMs`,
 * each watch is ended normally after a random time between half of it and
 * all of it, as the API server ends watches after a randomized timeout
 * (`--min-request-timeout`): a client then reopens its watches all along,
 * and faults on new requests reach it while it is otherwise idle.
 *
 * Kubernetes' own wording is used for the injected answers: a `Status`
 * object with `code`, `reason` (`TooManyRequests`, `ServiceUnavailable`,
 * `Expired`) and `message`, as in
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#410-gone-responses
 * and the API server's 429 with `Retry-After` (API Priority and Fairness).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { faultActive, type FaultKind, type FaultSpec } from './scenario.js';

const REASONS: Record<number, string> = { 410: 'Expired', 429: 'TooManyRequests', 500: 'InternalError', 502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'Timeout' };

function statusBody(code: number, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'Unknown', code });
}

export class HttpFaultProxy {
  /** Faults injected, by kind. */
  readonly injected = new Map<FaultKind, number>();
  readonly #upstream: URL;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Requests held open without an answer (a `hang`); they stay so until the client gives up. */
  readonly #held = new Set<ServerResponse>();
  #faults: readonly FaultSpec[] = [];
  #armedAt = 0;
  #random: () => number;
  readonly #watchTimeoutMs: number | undefined;

  private constructor(upstream: string, random: () => number, watchTimeoutMs: number | undefined) {
    this.#upstream = new URL(upstream);
    this.#random = random;
    this.#watchTimeoutMs = watchTimeoutMs;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(upstream: string, opts: { random?: () => number; watchTimeoutMs?: number } = {}): Promise<HttpFaultProxy> {
    const p = new HttpFaultProxy(upstream, opts.random ?? Math.random, opts.watchTimeoutMs);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Injects `faults` from now on, each in its own part of the window (`start_ms`, `duration_ms`). */
  arm(faults: readonly FaultSpec[]): void {
    this.#faults = faults;
    this.#armedAt = Date.now();
  }

  /** Passes everything through again (connections already held stay held). */
  disarm(): void {
    this.#faults = [];
  }

  get total(): number {
    let n = 0;
    for (const v of this.injected.values()) n += v;
    return n;
  }

  async close(): Promise<void> {
    for (const res of this.#held) res.destroy();
    this.#held.clear();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #count(kind: FaultKind): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
  }

  /** The active faults that match this request and whose dice say yes, in scenario order. */
  #hits(path: string, isWatch: boolean, hasContinue: boolean): FaultSpec[] {
    const elapsed = Date.now() - this.#armedAt;
    return this.#faults.filter((f) => {
      if (!faultActive(f, elapsed)) return false;
      if (f.path !== undefined && !path.startsWith(f.path)) return false;
      if (f.fault === 'gone' && (f.on === 'watch' ? !isWatch : isWatch || !hasContinue)) return false;
      if (f.fault === 'cut-watch' && !isWatch) return false;
      return this.#random() < f.rate;
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const isWatch = url.searchParams.get('watch') === 'true';
    const hits = this.#hits(url.pathname, isWatch, url.searchParams.has('continue'));
    for (const f of hits) {
      switch (f.fault) {
        case 'latency': {
          this.#count('latency');
          const ms = f.minMs! + this.#random() * (f.maxMs! - f.minMs!);
          await new Promise((r) => setTimeout(r, ms));
          break;
        }
        case 'status': {
          this.#count('status');
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter);
          res.writeHead(f.status!, headers).end(statusBody(f.status!, `injected fault: ${f.status}`));
          req.resume();
          return;
        }
        case 'gone': {
          this.#count('gone');
          req.resume();
          const message = f.on === 'continue' ? 'The provided continue parameter is too old to display a consistent list result.' : 'too old resource version';
          if (f.on === 'watch' && this.#random() < 0.5) {
            // The other form: 200, then one ERROR event carrying the 410 Status.
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(`${JSON.stringify({ type: 'ERROR', object: JSON.parse(statusBody(410, message)) })}\n`);
          } else {
            res.writeHead(410, { 'content-type': 'application/json' }).end(statusBody(410, message));
          }
          return;
        }
        case 'reset':
          this.#count('reset');
          req.socket.resetAndDestroy();
          return;
        case 'hang':
          this.#count('hang');
          req.resume();
          this.#held.add(res);
          res.on('close', () => this.#held.delete(res));
          return;
        default:
          break;
      }
    }
    this.#forward(req, res, url);
  }

  #forward(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const headers = { ...req.headers, host: this.#upstream.host };
    const isWatch = url.searchParams.get('watch') === 'true';
    const up = httpRequest({ host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: url.pathname + url.search, headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      res.flushHeaders();
      if (!isWatch || ures.statusCode !== 200) {
        ures.pipe(res);
        return;
      }
      this.#followWatch(ures, res, url.pathname);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  }

  /**
   * Passes a watch stream on line by line. A watch lives for minutes, longer
   * than a fault: so at every event the faults active then are rolled again
   * for this stream: `cut-watch` (after `after_events` lines, half of the
   * next one, then the connection dropped or, one time in two, the response
   * ended cleanly), `gone` on watch (an ERROR event with code 410, then the
   * end, as the API server does when the watch's history is compacted),
   * `reset`, and `hang` (nothing more is sent; the connection stays open).
   */
  #followWatch(ures: IncomingMessage, res: ServerResponse, path: string): void {
    let passed = 0;
    let pending = '';
    let stalled = false;
    ures.setEncoding('utf8');
    let timeout: NodeJS.Timeout | undefined;
    const stop = (): void => {
      clearTimeout(timeout);
      ures.removeAllListeners('data');
      ures.destroy();
    };
    if (this.#watchTimeoutMs !== undefined) {
      timeout = setTimeout(() => {
        stop();
        res.end();
      }, this.#watchTimeoutMs * (0.5 + this.#random() / 2));
    }
    res.on('close', () => clearTimeout(timeout));
    ures.on('data', (chunk: string) => {
      if (stalled) return;
      pending += chunk;
      for (;;) {
        const nl = pending.indexOf('\n');
        if (nl < 0) return;
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        const hits = this.#hits(path, true, false);
        const cut = hits.find((f) => f.fault === 'cut-watch');
        if (cut && passed >= (cut.afterEvents ?? 0)) {
          this.#count('cut-watch');
          res.write(line.slice(0, Math.max(1, Math.floor((line.length - 1) / 2))));
          stop();
          if (this.#random() < 0.5) res.destroy();
          else res.end();
          return;
        }
        const fault = hits.find((f) => f.fault === 'gone' || f.fault === 'reset' || f.fault === 'hang');
        if (fault?.fault === 'gone') {
          this.#count('gone');
          res.end(`${JSON.stringify({ type: 'ERROR', object: JSON.parse(statusBody(410, 'too old resource version')) })}\n`);
          stop();
          return;
        }
        if (fault?.fault === 'reset') {
          this.#count('reset');
          stop();
          res.socket?.resetAndDestroy();
          return;
        }
        if (fault?.fault === 'hang') {
          this.#count('hang');
          stalled = true;
          stop();
          this.#held.add(res);
          res.on('close', () => this.#held.delete(res));
          return;
        }
        res.write(line);
        passed++;
      }
    });
    ures.on('end', () => res.end(pending));
    ures.on('error', () => res.destroy());
  }
}
