/**
 * What every call goes through, in one place: authentication, the
 * per-identity count of open streams, the node's request deadline,
 * back-pressure on server streams, the status a failure is sent as
 * (status.ts) and the `cairn_grpc_requests_total` metric. Handlers get the
 * authenticated {@link Caller}, return values and throw `CairnError`s; they
 * never touch a status or a metric of their own.
 */
import * as grpc from '@grpc/grpc-js';
import { CairnError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Access, Caller } from './access.js';
import type { CallerLimits } from './limits.js';
import { openCallerStream, type TenantQuotas } from './quotas.js';
import type { Metrics } from './metrics.js';
import { drained } from './drain.js';
import { toServiceError } from './status.js';
import type { Req } from './wire.js';

export interface CallRunnerOptions {
  access: Access;
  limits: CallerLimits;
  /** Per-tenant quotas: open streams are counted per tenant too. */
  quotas: TenantQuotas;
  log: Logger;
  metrics: Metrics;
  /** Deadline of every unary handler. */
  requestTimeoutMs: number;
  /** A server stream whose reader accepts no data for this long is ended. */
  streamStallMs: number;
}

export type UnaryHandler<T> = (req: Req, caller: Caller) => Promise<T>;
/** Chunks of items to send; `signal` aborts when the client goes away. */
export type ServerStreamHandler<T> = (req: Req, signal: AbortSignal, caller: Caller) => AsyncIterable<readonly T[]>;
/**
 * Drives one bidirectional call once the caller is authenticated and its
 * stream counted; calls `end` exactly once: with no error to close the call
 * with OK (unless the client cancelled it), with the error to fail it.
 */
export type DuplexHandler = (call: grpc.ServerDuplexStream<Req, unknown>, caller: Caller, end: (err?: unknown) => void) => void;

export interface UnaryOptions {
  /** Appended to the DEADLINE_EXCEEDED message: what the caller should know when the work may still finish. */
  deadlineHint?: string;
}

export class CallRunner {
  readonly #opts: Readonly<CallRunnerOptions>;

  constructor(opts: CallRunnerOptions) {
    this.#opts = opts;
  }

  unary<T>(method: string, fn: UnaryHandler<T>, options: UnaryOptions = {}): grpc.handleUnaryCall<Req, T> {
    return (call, callback) => {
      this.#withDeadline((async () => fn(call.request, this.#opts.access.authenticate(call)))(), options.deadlineHint ?? '').then(
        (res) => {
          this.#succeeded(method);
          callback(null, res);
        },
        (err) => {
          // A status grpc-js cannot send (it once threw on a malformed message) must not
          // become an unhandled rejection that takes the node down.
          try {
            callback(this.#failed(method, err));
          } catch (sendErr) {
            this.#opts.log.error('could not send an error status', { method, err: sendErr });
            callback({ code: grpc.status.INTERNAL, details: 'internal error' });
          }
        },
      );
    };
  }

  /** Streams chunks with back-pressure: waits for 'drain' when grpc-js's buffer fills. */
  serverStream<T, W>(method: string, fn: ServerStreamHandler<T>, toWire: (item: T) => W): grpc.handleServerStreamingCall<Req, W> {
    return (call) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      call.on('close', () => ac.abort());
      let release = (): void => undefined;
      (async () => {
        const caller = this.#opts.access.authenticate(call);
        release = this.#openStream(caller);
        for await (const chunk of fn(call.request, ac.signal, caller)) {
          for (const item of chunk) {
            if (ac.signal.aborted) return;
            if (!call.write(toWire(item))) await drained(call, ac.signal, this.#opts.streamStallMs);
          }
        }
      })().then(
        () => {
          release();
          if (!ac.signal.aborted) {
            this.#succeeded(method);
            call.end();
          }
        },
        (err) => {
          release();
          // grpc-js turns an 'error' event into the call's status and ends the
          // stream; destroy() would drop the status and leave the client waiting.
          if (!ac.signal.aborted) call.emit('error', this.#failed(method, err));
        },
      );
    };
  }

  duplex(method: string, fn: DuplexHandler): grpc.handleBidiStreamingCall<Req, unknown> {
    return (call) => {
      let caller: Caller;
      let release: () => void;
      try {
        caller = this.#opts.access.authenticate(call);
        release = this.#openStream(caller);
      } catch (err) {
        call.emit('error', this.#failed(method, err));
        return;
      }
      fn(call, caller, (err?: unknown) => {
        release();
        if (err !== undefined) call.emit('error', this.#failed(method, err));
        else if (!call.cancelled) {
          this.#succeeded(method);
          call.end();
        }
      });
    };
  }

  #openStream(caller: Caller): () => void {
    return openCallerStream(this.#opts.limits, this.#opts.quotas, caller);
  }

  /** Rejects with DEADLINE_EXCEEDED when `work` outlives the node's request deadline. */
  #withDeadline<T>(work: Promise<T>, hint: string): Promise<T> {
    const ms = this.#opts.requestTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CairnError('DEADLINE_EXCEEDED', `the node's deadline of ${ms} ms (request_timeout_ms) passed${hint}`)), ms);
    });
    return Promise.race([work, expired]).finally(() => clearTimeout(timer));
  }

  #succeeded(method: string): void {
    this.#count(method, grpc.status.OK);
  }

  /** The status `err` is sent as; a failure of the node (INTERNAL, DATA_LOSS) is logged with its cause. */
  #failed(method: string, err: unknown): grpc.ServiceError {
    const s = toServiceError(err);
    if (s.code === grpc.status.INTERNAL || s.code === grpc.status.DATA_LOSS) this.#opts.log.error('request failed', { method, err });
    else this.#opts.log.debug('request rejected', { method, code: grpc.status[s.code], details: s.details });
    this.#count(method, s.code);
    return Object.assign(new Error(s.details), s) as grpc.ServiceError;
  }

  #count(method: string, code: grpc.status): void {
    this.#opts.metrics.rpcs.inc({ method, code: grpc.status[code] ?? String(code) });
  }
}
