/**
 * The gRPC face of a {@link Ledger}: cairn.ledger.v1.Ledger plus the standard
 * grpc.health.v1 service and server reflection (grpcurl works without the
 * .proto). Handlers validate and convert; the ledger does the work; every
 * error goes through status.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { ledgerPackageDefinition, ledgerServiceDefinition, LEDGER_SERVICE, u64, type WireCheckpoint, type WireEntry, type WireReceipt } from '../api/proto.js';
import { wireKeyLink } from '../api/proto.js';
import { toServiceError } from './status.js';
import { CairnError, invalidArgument } from '../core/errors.js';
import { validateLogName, type SignedEntry } from '../core/entry.js';
import { logNotFound, type Ledger, type Receipt, type SignedCheckpoint } from '../ledger/ledger.js';
import type { Access, Caller } from './access.js';
import type { CallerLimits } from './limits.js';
import type { AppendInput } from '../core/append-request.js';
import type { AnchorStore, StoredWindow } from '../anchoring/store.js';
import { windowProof } from '../anchoring/window-tree.js';
import type { Logger } from '../core/logger.js';
import type { Metrics } from './metrics.js';

export function wireEntry(e: SignedEntry): WireEntry {
  return { log: e.log, seq: String(e.seq), body: e.body, signature: e.signature, hash: e.hash };
}

export function wireCheckpoint(c: SignedCheckpoint): WireCheckpoint {
  return { log: c.log, size: String(c.size), rootHash: c.rootHash, note: c.note };
}

/**
 * A watch never ends on its own: when the ledger stops following (the node is
 * shutting down) the stream must fail with a retryable status, not end with OK
 * as if the log had no more entries.
 */
async function* untilShutdown(entries: AsyncGenerator<SignedEntry[]>, signal: AbortSignal): AsyncGenerator<SignedEntry[]> {
  yield* entries;
  if (!signal.aborted) throw new CairnError('UNAVAILABLE', 'node is shutting down; watch again from the next seq');
}

export interface GrpcServerOptions {
  /** Bytes; requests above are refused by grpc-js with RESOURCE_EXHAUSTED. */
  maxReceiveMessageLength: number;
  /** The anchor queue, when anchoring is on. */
  anchorStore?: AnchorStore;
  /** Who may call, and what they may do. */
  access: Access;
  limits: CallerLimits;
  /** Deadline of every unary handler. */
  requestTimeoutMs: number;
  /** A stream whose reader accepts no data for this long is ended. */
  streamStallMs: number;
}

type Req = Record<string, unknown>;

const MAX_STREAM_INFLIGHT = 1024;

function appendInput(req: Req): AppendInput {
  return {
    log: str(req, 'log'),
    configId: str(req, 'configId'),
    operator: str(req, 'operator'),
    action: str(req, 'action'),
    source: str(req, 'source'),
    commit: str(req, 'commit'),
    payloadJson: str(req, 'payloadJson'),
    requestId: str(req, 'requestId'),
  };
}

export function wireReceipt(r: Receipt): WireReceipt {
  return { entry: wireEntry(r.entry), checkpoint: wireCheckpoint(r.checkpoint), inclusionProof: r.inclusionProof, replayed: r.replayed };
}

function str(req: Req, key: string): string {
  const v = req[key];
  return typeof v === 'string' ? v : '';
}

/**
 * An anchor window as a caller may see it: only the checkpoints of logs it may
 * read (`visible`). The window root stays: it is a hash that reveals nothing,
 * and each tenant proves its own checkpoints into it with GetAnchorProof.
 */
export function wireAnchor(w: StoredWindow, visible: (log: string) => boolean = () => true): Record<string, unknown> {
  return {
    window: String(w.window.window),
    root: w.window.root,
    node: w.window.node,
    checkpoints: w.window.checkpoints.filter((c) => visible(c.log)).map((c) => ({ log: c.log, size: String(c.size), rootHash: c.rootHash, note: c.note })),
    state: w.state,
    txId: w.receipt?.txId ?? '',
    block: String(w.receipt?.block ?? 0),
    backend: w.receipt?.backend ?? '',
  };
}

export function createGrpcServer(ledger: Ledger, log: Logger, metrics: Metrics, opts: GrpcServerOptions): { server: grpc.Server; health: HealthImplementation } {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxReceiveMessageLength,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
    // HTTP/2 streams one connection may have open at once: past it the client
    // queues, so one connection cannot pile up calls without bound.
    'grpc.max_concurrent_streams': 1000,
  });
  // grpc-js creates its HTTP/2 server without TCP_NODELAY, so Nagle may hold
  // back small response frames until the client's delayed ACK. On loopback
  // here the difference was within noise; it is set for real networks. The
  // options object reaches http2.createServer -> net.Server, which honours
  // noDelay (Node >= 17.7).
  const common = (server as unknown as { commonServerOptions?: Record<string, unknown> }).commonServerOptions;
  if (common) common.noDelay = true;

  const done = (method: string, code: grpc.status): void => {
    metrics.rpcs.inc({ method, code: grpc.status[code] ?? String(code) });
  };

  const fail = (method: string, err: unknown): grpc.ServiceError => {
    const s = toServiceError(err);
    if (s.code === grpc.status.INTERNAL || s.code === grpc.status.DATA_LOSS) log.error('request failed', { method, err });
    else log.debug('request rejected', { method, code: grpc.status[s.code], details: s.details });
    done(method, s.code);
    return Object.assign(new Error(s.details), s) as grpc.ServiceError;
  };

  const { access, limits } = opts;

  /** Rejects with DEADLINE_EXCEEDED when `work` outlives the node's request deadline. */
  const withDeadline = <T>(method: string, work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const hint = method === 'Append' ? '; the entry may still be recorded: retry with the same request_id' : '';
        reject(new CairnError('DEADLINE_EXCEEDED', `the node's deadline of ${opts.requestTimeoutMs} ms (request_timeout_ms) passed${hint}`));
      }, opts.requestTimeoutMs);
    });
    return Promise.race([work, expired]).finally(() => clearTimeout(timer));
  };

  const unary = <T>(method: string, fn: (req: Req, caller: Caller) => Promise<T>): grpc.handleUnaryCall<Req, T> => {
    return (call, callback) => {
      withDeadline(method, (async () => fn(call.request, access.authenticate(call)))()).then(
        (res) => {
          done(method, grpc.status.OK);
          callback(null, res);
        },
        (err) => {
          // A status grpc-js cannot send (it once threw on a malformed message) must not
          // become an unhandled rejection that takes the node down.
          try {
            callback(fail(method, err));
          } catch (sendErr) {
            log.error('could not send an error status', { method, err: sendErr });
            callback({ code: grpc.status.INTERNAL, details: 'internal error' });
          }
        },
      );
    };
  };

  /**
   * Waits until grpc-js's buffer for `call` drains. A reader that takes
   * nothing for streamStallMs is cut off: a stalled stream holds memory and a
   * stream slot, and must not hold them for ever.
   */
  const drained = (call: grpc.ServerWritableStream<Req, unknown> | grpc.ServerDuplexStream<Req, unknown>, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        call.off('drain', go);
        signal.removeEventListener('abort', go);
        if (err) reject(err);
        else resolve();
      };
      const go = (): void => finish();
      const timer = setTimeout(
        () => finish(new CairnError('DEADLINE_EXCEEDED', `the stream's reader took no data for ${opts.streamStallMs} ms (stream_stall_ms); read again from the next seq`)),
        opts.streamStallMs,
      );
      call.on('drain', go);
      signal.addEventListener('abort', go, { once: true });
    });

  /** Streams chunks with backpressure: waits for 'drain' when grpc-js buffers fill. */
  const stream = (method: string, fn: (req: Req, signal: AbortSignal, caller: Caller) => AsyncGenerator<SignedEntry[]>): grpc.handleServerStreamingCall<Req, WireEntry> => {
    return (call) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      call.on('close', () => ac.abort());
      let release = (): void => undefined;
      (async () => {
        const caller = access.authenticate(call);
        release = limits.openStream(caller.limitKey);
        for await (const chunk of fn(call.request, ac.signal, caller)) {
          for (const e of chunk) {
            if (ac.signal.aborted) return;
            if (!call.write(wireEntry(e))) await drained(call, ac.signal);
          }
        }
      })().then(
        () => {
          release();
          if (!ac.signal.aborted) {
            done(method, grpc.status.OK);
            call.end();
          }
        },
        (err) => {
          release();
          // grpc-js turns an 'error' event into the call's status and ends the
          // stream; destroy() would drop the status and leave the client waiting.
          if (!ac.signal.aborted) call.emit('error', fail(method, err));
        },
      );
    };
  };

  const checkLog = (req: Req): string => validateLogName(req.log, 'log');
  /**
   * Every field is parsed before this is called, so a log the caller may not
   * read fails at the point, and with the error, of a log that does not exist.
   */
  const readable = (caller: Caller, log: string): string => {
    if (!access.canRead(caller, log)) throw logNotFound(log);
    return log;
  };
  const anchors = (caller: Caller): AnchorStore => {
    if (!opts.anchorStore) throw new CairnError('FAILED_PRECONDITION', 'anchoring is off on this node (anchor_backend = off)');
    if (!access.canAnchorRead(caller)) throw new CairnError('PERMISSION_DENIED', 'reading anchors needs the anchor:read rule');
    return opts.anchorStore;
  };
  /** Authorizes and rate-limits one append, then records it with the caller's identity. */
  const append = (caller: Caller, req: Req): Promise<Receipt> => {
    const input = appendInput(req);
    const log = validateLogName(input.log, 'log');
    if (!access.canAppend(caller, log)) throw new CairnError('PERMISSION_DENIED', `not allowed to append to log ${log}`);
    limits.takeAppend(caller.limitKey);
    return ledger.append(input, caller.principal);
  };

  server.addService(ledgerServiceDefinition(), {
    Append: unary('Append', async (req, caller) => {
      const started = process.hrtime.bigint();
      const r = await append(caller, req);
      metrics.appendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      return wireReceipt(r);
    }),
    AppendStream: (call: grpc.ServerDuplexStream<Req, unknown>) => {
      // Results go out in request order; at most MAX_STREAM_INFLIGHT requests
      // are in flight per stream, beyond which reading pauses (HTTP/2 flow
      // control then holds the client back), so one stream cannot queue without bound.
      let caller: Caller;
      let release: () => void;
      try {
        caller = access.authenticate(call);
        release = limits.openStream(caller.limitKey);
      } catch (err) {
        call.emit('error', fail('AppendStream', err));
        return;
      }
      const ac = new AbortController();
      let index = 0;
      let inflight = 0;
      let ended = false;
      let finished = false;
      let tail: Promise<void> = Promise.resolve();
      const finish = (err?: unknown): void => {
        if (finished) return;
        finished = true;
        release();
        ac.abort();
        if (err !== undefined) call.emit('error', fail('AppendStream', err));
        else if (!call.cancelled) {
          done('AppendStream', grpc.status.OK);
          call.end();
        }
      };
      call.on('cancelled', () => finish());
      const finishIfDone = (): void => {
        if (ended && inflight === 0) finish();
      };
      call.on('data', (req: Req) => {
        if (finished) return;
        const i = index++;
        inflight++;
        if (inflight >= MAX_STREAM_INFLIGHT) call.pause();
        const started = process.hrtime.bigint();
        const result = (async () => append(caller, req))().then(
          (r) => {
            metrics.appendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
            return { index: String(i), receipt: wireReceipt(r) };
          },
          (err) => {
            const st = toServiceError(err);
            const ce = err instanceof CairnError ? err : undefined;
            return { index: String(i), error: { code: st.code, message: st.details, field: ce?.field ?? '', retryAfterMs: String(ce?.retryAfterMs ?? 0) } };
          },
        );
        tail = tail.then(async () => {
          const res = await result;
          if (finished) return;
          if (!call.write(res)) {
            try {
              await drained(call, ac.signal);
            } catch (err) {
              finish(err);
              return;
            }
          }
          inflight--;
          if (inflight < MAX_STREAM_INFLIGHT / 2 && call.isPaused()) call.resume();
          finishIfDone();
        });
      });
      call.on('end', () => {
        ended = true;
        void tail.then(finishIfDone);
      });
    },
    GetEntry: unary('GetEntry', async (req, caller) => {
      const log = checkLog(req);
      const seq = u64('seq', req.seq);
      return wireEntry(await ledger.getEntry(readable(caller, log), seq));
    }),
    ListEntries: stream('ListEntries', (req, _signal, caller) => {
      const log = checkLog(req);
      const start = u64('start', req.start);
      const end = u64('end', req.end);
      if (end !== 0 && end < start) throw invalidArgument('end', 'must be 0 or at least start');
      return ledger.listEntries(readable(caller, log), start, end === 0 ? undefined : end);
    }),
    Watch: stream('Watch', (req, signal, caller) => {
      const log = checkLog(req);
      const start = u64('start', req.start);
      return untilShutdown(ledger.follow(readable(caller, log), start, signal), signal);
    }),
    GetCheckpoint: unary('GetCheckpoint', async (req, caller) => {
      const log = checkLog(req);
      const size = u64('size', req.size);
      return wireCheckpoint(await ledger.getCheckpoint(readable(caller, log), size === 0 ? undefined : size));
    }),
    GetInclusionProof: unary('GetInclusionProof', async (req, caller) => {
      const log = checkLog(req);
      const seq = u64('seq', req.seq);
      const size = u64('size', req.size);
      const p = await ledger.inclusionProof(readable(caller, log), seq, size === 0 ? undefined : size);
      return { log: p.log, seq: String(p.seq), size: String(p.size), hashes: p.hashes, checkpoint: wireCheckpoint(p.checkpoint) };
    }),
    GetConsistencyProof: unary('GetConsistencyProof', async (req, caller) => {
      const log = checkLog(req);
      const from = u64('from_size', req.fromSize);
      const to = u64('to_size', req.toSize);
      const p = await ledger.consistencyProof(readable(caller, log), from, to === 0 ? undefined : to);
      return { log: p.log, fromSize: String(p.from), toSize: String(p.to), hashes: p.hashes, checkpoint: wireCheckpoint(p.checkpoint) };
    }),
    ListLogs: unary('ListLogs', async (_req, caller) => ({
      logs: (await ledger.listLogs()).filter((c) => access.canRead(caller, c.log)).map(wireCheckpoint),
    })),
    GetPublicKey: unary('GetPublicKey', async () => ({
      algorithm: 'ecdsa-p256-sha256',
      spkiDer: ledger.key.publicKeySpki,
      pem: ledger.key.publicKeyPem,
      keyId: ledger.key.keyIdHex,
      nodeName: ledger.options.nodeName,
      keyChain: ledger.keyChain.map(wireKeyLink),
    })),
    GetAnchor: unary('GetAnchor', async (req, caller) => {
      const window = u64('window', req.window);
      const w = await anchors(caller).get(window);
      if (!w) throw new CairnError('NOT_FOUND', `anchor window ${window} not found`);
      return wireAnchor(w, (log) => access.canRead(caller, log));
    }),
    ListAnchors: unary('ListAnchors', async (req, caller) => {
      const logName = checkLog(req);
      const fromWindow = u64('from_window', req.fromWindow);
      const limit = typeof req.limit === 'number' && req.limit > 0 ? Math.min(req.limit, 1000) : 1000;
      const store = anchors(caller);
      // A log the caller may not read has no anchors, as a log that does not exist.
      const ws = access.canRead(caller, logName) ? await store.forLog(logName, fromWindow, Number.MAX_SAFE_INTEGER, limit) : [];
      return { anchors: ws.map((w) => wireAnchor(w, (log) => access.canRead(caller, log))) };
    }),
    GetAnchorProof: unary('GetAnchorProof', async (req, caller) => {
      const logName = checkLog(req);
      const size = u64('size', req.size);
      const store = anchors(caller);
      const ws = access.canRead(caller, logName) ? await store.forLog(logName) : [];
      const w = size === 0 ? ws.filter((x) => x.state === 'committed').at(-1) : ws.find((x) => x.window.checkpoints.some((c) => c.log === logName && c.size === size));
      if (!w) throw new CairnError('NOT_FOUND', size === 0 ? `log ${logName} has no committed anchor` : `no anchor window holds the checkpoint of ${logName} at size ${size}`);
      const p = windowProof(w.window, logName)!;
      const c = w.window.checkpoints[p.index]!;
      return {
        window: String(p.window),
        root: p.root,
        index: p.index,
        count: p.count,
        // Sibling hashes only: other tenants' checkpoints stay hidden behind them.
        path: p.path,
        checkpoint: { log: c.log, size: String(c.size), rootHash: c.rootHash, note: c.note },
        txId: w.receipt?.txId ?? '',
        block: String(w.receipt?.block ?? 0),
        backend: w.receipt?.backend ?? '',
        state: w.state,
      };
    }),
  } satisfies Record<string, grpc.UntypedHandleCall>);

  const health = new HealthImplementation({ '': 'NOT_SERVING', [LEDGER_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  new ReflectionService(ledgerPackageDefinition()).addToServer(server);
  return { server, health };
}

