/**
 * Append and AppendStream: authorize, rate-limit, then record with the
 * caller's identity. The ledger acknowledges an append only once it is
 * durable (sequence, integrate and checkpoint in one synced group commit).
 */
import type * as grpc from '@grpc/grpc-js';
import type { WireReceipt } from '../api/proto.js';
import { CairnError } from '../core/errors.js';
import { validateLogName } from '../core/entry.js';
import type { Ledger, Receipt } from '../ledger/ledger.js';
import type { Access, Caller } from './access.js';
import type { CallerLimits } from './limits.js';
import type { TenantQuotas } from './quotas.js';
import type { Metrics } from './metrics.js';
import { AppendStreamSession } from './append-stream-session.js';
import { requestOrigin } from './read-handlers.js';
import { mirroredAppend } from '../ledger/mirror-logs.js';
import { appendInput, wireAppendError, wireReceipt, type AppendStreamReply, type Req } from './wire.js';

/** Added to Append's DEADLINE_EXCEEDED message: the append may outlive the deadline. */
export const APPEND_DEADLINE_HINT = '; the entry may still be recorded: retry with the same request_id';

/** Requests in flight per AppendStream before reading pauses. */
const MAX_STREAM_IN_FLIGHT = 1024;

export interface AppendHandlersDeps {
  ledger: Ledger;
  access: Access;
  limits: CallerLimits;
  /** Per-tenant quotas (rate, queued appends, logs). */
  quotas: TenantQuotas;
  metrics: Metrics;
  /** An AppendStream whose reader accepts no data for this long is ended. */
  streamStallMs: number;
}

export class AppendHandlers {
  readonly #deps: Readonly<AppendHandlersDeps>;

  constructor(deps: AppendHandlersDeps) {
    this.#deps = deps;
  }

  async append(req: Req, caller: Caller): Promise<WireReceipt> {
    const started = process.hrtime.bigint();
    const r = await this.#record(caller, req);
    this.#observe(started);
    return wireReceipt(r);
  }

  /** Many appends on one call; a failed append is an error reply, and the stream goes on. */
  appendStream(call: grpc.ServerDuplexStream<Req, unknown>, caller: Caller, end: (err?: unknown) => void): void {
    const session = new AppendStreamSession<Req, AppendStreamReply>(call, {
      answer: (req, index) => this.#answer(caller, req, index),
      end,
      maxInFlight: MAX_STREAM_IN_FLIGHT,
      stallMs: this.#deps.streamStallMs,
    });
    call.on('cancelled', () => session.cancel());
    call.on('data', (req: Req) => session.receive(req));
    call.on('end', () => session.halfClose());
  }

  async #answer(caller: Caller, req: Req, index: number): Promise<AppendStreamReply> {
    const started = process.hrtime.bigint();
    try {
      const r = await this.#record(caller, req);
      this.#observe(started);
      return { index: String(index), receipt: wireReceipt(r) };
    } catch (err) {
      return wireAppendError(index, err);
    }
  }

  /**
   * Authorizes and rate-limits one append (the identity's limit, then the
   * tenant's quotas), then records it with the caller's identity; a new log
   * must fit the tenant's log quota.
   */
  async #record(caller: Caller, req: Req): Promise<Receipt> {
    const input = appendInput(req);
    const log = validateLogName(input.log, 'log');
    const { access, limits, quotas, ledger } = this.#deps;
    // A log of another origin is a mirror here (docs/federation.md): only its origin appends to it.
    const origin = requestOrigin(req);
    if (origin !== '' && origin !== ledger.options.nodeName) throw mirroredAppend(origin, log);
    if (!access.canAppend(caller, log)) throw new CairnError('PERMISSION_DENIED', `not allowed to append to log ${log}`);
    limits.takeAppend(caller.limitKey);
    quotas.takeAppend(caller.tenant);
    const leave = quotas.enterQueue(caller.tenant);
    try {
      return await ledger.append(input, caller.principal, (newLog) => quotas.admitLog(caller.tenant, caller.principal, newLog));
    } finally {
      leave();
    }
  }

  #observe(started: bigint): void {
    this.#deps.metrics.appendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }
}
