/**
 * Abusive clients for test/load-abuse.test.ts, run in a worker thread so their
 * CPU work (serializing 4.5 MiB messages, thousands of rejected calls) does not
 * delay the honest clients' event loop and inflate their measured latency.
 *
 * Every loop is bounded by a deadline and a count. The worker posts one
 * {@link AbuseReport} and then closes everything it opened.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ledgerClientConstructor } from '../../src/api/proto.js';
import { LedgerClient } from '../../src/client/ledger-client.js';

export interface AbuseConfig {
  address: string;
  /** Bearer tokens by abuser. */
  tokens: { oversize: string; flood: string; slow: string; streams: string; wrongSecret: string; unknownName: string; creator: string };
  /** The log creator's tenant quota of logs (tenant_max_logs). */
  creatorLogQuota: number;
  /** How long the abuse lasts. */
  durationMs: number;
  /** The log slow readers stream (large entries) and its size. */
  bigLog: string;
  bigSize: number;
  /** A small log the streams abuser may read. */
  streamsLog: string;
  maxStreams: number;
  stallMs: number;
  maxPayloadBytes: number;
  /** Bytes of a message above the node's gRPC receive limit. */
  overLimitBytes: number;
  /** Held TCP connections: half complete the HTTP/2 preface, half send garbage. */
  connections: number;
  /** Run only this abuser (a phase that isolates its effect); absent: all of them at once. */
  only?: 'creator';
}

/** Status name -> count. */
export type Counts = Record<string, number>;

export interface AbuseReport {
  oversizePayload: Counts;
  overLimit: Counts;
  flood: Counts;
  floodRetryHints: number;
  /** How the flooder's AppendStreams ended, each followed by a new one. */
  floodStreamEnded: Counts;
  unauthenticated: Counts;
  /** The log creator: OK (a log created), LOG_QUOTA (its tenant's log quota), RATE_LIMITED (its identity's rate), other codes. */
  creator: Counts;
  streamsOverLimit: Counts;
  /** Slow-reader streams: opened, refused at the limit, and how each opened one ended once finally read. */
  slowOpened: number;
  slowRefused: number;
  /** Opened while the identity already had `maxStreams` stalled streams: a slot the node freed by cutting one. */
  slowReopenedAfterCut: number;
  slowEnded: Counts;
  /** Slow streams opened early enough (stallMs + 1.5 s before the end) that the node must have cut them. */
  slowDueForCut: number;
  slowDueCut: number;
  slowMessagesMax: number;
  prefaceHeldOpen: number;
  prefaceOpened: number;
  garbageOpened: number;
  garbageClosedByNode: number;
  /** The first status message seen per "category code", to tell apart refusals that share a code. */
  details: Record<string, string>;
  errors: string[];
}

const S = grpc.status;
const cfg = workerData as AbuseConfig;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const inc = (c: Counts, k: string): void => {
  c[k] = (c[k] ?? 0) + 1;
};
const code = (err: unknown): string => S[(err as grpc.ServiceError).code] ?? String((err as grpc.ServiceError).code);

const report: AbuseReport = {
  oversizePayload: {},
  overLimit: {},
  flood: {},
  floodRetryHints: 0,
  floodStreamEnded: {},
  unauthenticated: {},
  creator: {},
  streamsOverLimit: {},
  slowOpened: 0,
  slowRefused: 0,
  slowReopenedAfterCut: 0,
  slowEnded: {},
  slowDueForCut: 0,
  slowDueCut: 0,
  slowMessagesMax: 0,
  prefaceHeldOpen: 0,
  prefaceOpened: 0,
  garbageOpened: 0,
  garbageClosedByNode: 0,
  details: {},
  errors: [],
};

const started = Date.now();
const deadline = started + cfg.durationMs;
const live = (): boolean => Date.now() < deadline;
const toClose: (() => void)[] = [];

/**
 * Runs `n` copies of `step` until the deadline or `max` calls in all; each copy
 * starts a step at most every `everyMs` (0: back to back). The pacing bounds
 * what the abusers' own client code costs on the shared 2-core test machine,
 * so the test measures what the node lets abuse do to honest callers, not
 * two processes fighting over the same cores (docs/benchmarks.md, the load test).
 */
async function loop(n: number, max: number, step: (i: number) => Promise<void>, everyMs = 0): Promise<void> {
  let calls = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      let next = Date.now();
      while (live() && calls < max) {
        await step(calls++);
        next += everyMs;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }),
  );
}

const append = (log: string, i: number, payloadJson = ''): Parameters<LedgerClient['append']>[0] => ({ log, configId: `c${i}`, operator: 'abuser', action: 'set', payloadJson, requestId: `${log}-${process.pid}-${started}-${i}` });

// (a) Oversized: a payload just over max_payload_bytes, and a message over the gRPC receive limit.
async function oversize(): Promise<void> {
  const c = new LedgerClient(cfg.address, { token: cfg.tokens.oversize, timeoutMs: 10_000, channelOptions: { 'grpc.max_send_message_length': -1 } });
  toClose.push(() => c.close());
  const overPayload = JSON.stringify({ blob: 'p'.repeat(cfg.maxPayloadBytes + 1024) });
  const overLimit = JSON.stringify({ blob: 'm'.repeat(cfg.overLimitBytes) });
  await loop(2, 400, async (i) => {
    const big = i % 4 === 3;
    await c.append(append('abuse-oversize', i, big ? overLimit : overPayload)).then(
      () => inc(big ? report.overLimit : report.oversizePayload, 'OK'),
      (err: unknown) => {
        // Back to back, the abuser can outrun its own rate limit when the node answers fast; that refusal is counted apart.
        const details = (err as grpc.ServiceError).details ?? '';
        const k = code(err) === 'RESOURCE_EXHAUSTED' && /append rate limit/.test(details) ? 'RATE_LIMITED' : code(err);
        inc(big ? report.overLimit : report.oversizePayload, k);
        report.details[`${big ? 'overLimit' : 'oversizePayload'} ${k}`] ??= details;
      },
    );
  });
}

// (b) A flooder over its rate limit that ignores the retry hint: unary calls, and an AppendStream that pipelines 64 at a time.
async function flood(): Promise<void> {
  const c = new LedgerClient(cfg.address, { token: cfg.tokens.flood, timeoutMs: 10_000 });
  toClose.push(() => c.close());
  const counted = (p: Promise<unknown>): Promise<void> =>
    p.then(
      () => inc(report.flood, 'OK'),
      (err: unknown) => {
        inc(report.flood, code(err));
        // Unary: the gRFC A6 trailer; AppendStream: the per-request result's retry_after_ms.
        const e = err as grpc.ServiceError & { retryAfterMs?: number };
        const hint = Number(e.metadata?.get('grpc-retry-pushback-ms')[0] ?? e.retryAfterMs ?? 0);
        if (code(err) === 'RESOURCE_EXHAUSTED' && hint > 0) report.floodRetryHints++;
      },
    );
  let stream = c.appendStream();
  let reopened = 0;
  const streamed = (i: number): Promise<void> => {
    const h = stream;
    return h.append(append('abuse-flood', 1_000_000 + i)).then(
      () => inc(report.flood, 'OK'),
      async (err: unknown) => {
        // A per-request result carries retryAfterMs; without it the whole stream ended (the node may cut a
        // reader that falls behind by stream_stall_ms): open another one, a bounded number of times.
        if ('retryAfterMs' in (err as object)) return counted(Promise.reject(err));
        if (h !== stream) return;
        inc(report.floodStreamEnded, code(err));
        if (reopened++ < 20) stream = c.appendStream();
        else await sleep(deadline - Date.now());
      },
    );
  };
  // About 800 calls/s in all: 40 times the flooder's rate limit.
  await Promise.all([loop(8, 200_000, (i) => counted(c.append(append('abuse-flood', i))), 20), loop(16, 200_000, streamed, 40)]);
  await Promise.race([stream.end(), sleep(5000)]);
}

// (e, second half) Clients without a valid credential hammering RPCs.
async function unauthenticated(): Promise<void> {
  const clients = [new LedgerClient(cfg.address, { timeoutMs: 10_000 }), new LedgerClient(cfg.address, { token: cfg.tokens.wrongSecret, timeoutMs: 10_000 }), new LedgerClient(cfg.address, { token: cfg.tokens.unknownName, timeoutMs: 10_000 })];
  for (const c of clients) toClose.push(() => c.close());
  // About 300 calls/s in all.
  await loop(6, 200_000, async (i) => {
    const c = clients[i % clients.length]!;
    const call = i % 2 === 0 ? c.append(append('honest-0', i)) : c.getCheckpoint(cfg.bigLog);
    await call.then(
      () => inc(report.unauthenticated, 'OK'),
      (err: unknown) => inc(report.unauthenticated, code(err)),
    );
  }, 20);
}

type RawClient = grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown>>;
function rawClient(token: string): { client: RawClient; meta: () => grpc.Metadata } {
  const Ctor = ledgerClientConstructor();
  const client = new Ctor(cfg.address, grpc.credentials.createInsecure()) as unknown as RawClient;
  toClose.push(() => client.close());
  return {
    client,
    meta: () => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${token}`);
      return m;
    },
  };
}

/** The status a stream ends with, once known. */
function streamStatus(call: grpc.ClientReadableStream<unknown>): Promise<string> {
  return new Promise((resolve) => {
    call.on('error', (err) => resolve(code(err)));
    call.on('status', (s: grpc.StatusObject) => resolve(S[s.code] ?? String(s.code)));
  });
}

/**
 * Whether the node accepted a stream: response headers ('metadata') mean it
 * did, a status first means it refused it (a trailers-only response, which
 * arrives even when the stream is paused).
 */
function accepted(call: grpc.ClientReadableStream<unknown>, status: Promise<string>): Promise<string> {
  return Promise.race([status, new Promise<string>((resolve) => call.once('metadata', () => resolve('open'))), sleep(5000).then(() => 'no answer')]);
}

// (c) Slow readers: streams of a big log that are never read, re-opened whenever the node frees a slot.
async function slowReaders(): Promise<() => Promise<void>> {
  const { client, meta } = rawClient(cfg.tokens.slow);
  const open: { call: grpc.ClientReadableStream<unknown>; status: Promise<string>; at: number; messages: number; ended: boolean }[] = [];
  const openOne = async (i: number): Promise<void> => {
    const method = i % 2 === 0 ? 'ListEntries' : 'Watch';
    const req = method === 'ListEntries' ? { log: cfg.bigLog, start: '0', end: '0' } : { log: cfg.bigLog, start: '0' };
    const call = client[method]!.call(client, req, meta());
    const s = { call, status: streamStatus(call), at: Date.now(), messages: 0, ended: false };
    // Never read: the stream stays paused and its data waits in flow-control windows and buffers.
    call.pause();
    const first = await accepted(call, s.status);
    if (first === 'RESOURCE_EXHAUSTED') {
      report.slowRefused++;
      return;
    }
    if (first !== 'open') inc(report.slowEnded, `early ${first}`);
    report.slowOpened++;
    if (open.filter((o) => !o.ended).length >= cfg.maxStreams) report.slowReopenedAfterCut++;
    open.push(s);
  };
  let i = 0;
  const opener = (async () => {
    while (live() && i < 200) {
      await openOne(i++);
      await sleep(100);
    }
  })();
  return async () => {
    await opener;
    const endAt = Date.now();
    // Now read everything: a cut stream ends with the node's status after the entries it had already sent.
    await Promise.all(
      open.map(async (o) => {
        o.call.on('data', () => o.messages++);
        o.call.resume();
        const st = await Promise.race([o.status, sleep(3000).then(() => 'still open')]);
        o.ended = true;
        o.call.cancel();
        inc(report.slowEnded, st);
        report.slowMessagesMax = Math.max(report.slowMessagesMax, o.messages);
        if (endAt - o.at >= cfg.stallMs + 1500) {
          report.slowDueForCut++;
          // Either the node cut it, or it had nothing left to hold: the whole log fitted in
          // the flow-control windows and buffers (the writes never blocked, so there was no
          // stall to cut) and the reader got every entry once it read.
          if ((st === 'DEADLINE_EXCEEDED' && o.messages < cfg.bigSize) || o.messages >= cfg.bigSize) report.slowDueCut++;
        }
      }),
    );
  };
}

// (d) More streams than max_streams_per_identity, kept open and read.
async function tooManyStreams(): Promise<() => void> {
  const { client, meta } = rawClient(cfg.tokens.streams);
  const calls: grpc.ClientReadableStream<unknown>[] = [];
  const openOne = async (): Promise<void> => {
    const call = client.Watch!.call(client, { log: cfg.streamsLog, start: '0' }, meta());
    calls.push(call);
    call.on('data', () => undefined);
    inc(report.streamsOverLimit, await accepted(call, streamStatus(call)));
  };
  // All at once, then one more every 250 ms: each is refused while the first ones stay open.
  await Promise.all(Array.from({ length: 3 * cfg.maxStreams }, () => openOne()));
  for (let i = 0; live() && i < 100; i++) {
    await sleep(250);
    await openOne();
  }
  return () => calls.forEach((c) => c.cancel());
}

// (e) Connection flood: sockets held open, half after a valid HTTP/2 preface, half after garbage (re-opened when the node drops them).
async function connectionFlood(): Promise<() => void> {
  const [host, port] = [cfg.address.slice(0, cfg.address.lastIndexOf(':')), Number(cfg.address.slice(cfg.address.lastIndexOf(':') + 1))];
  const sockets = new Map<Socket, 'preface' | 'garbage'>();
  const preface = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);
  let stopping = false;
  let garbageBudget = 2000;
  const open = (kind: 'preface' | 'garbage'): void => {
    const s = connect({ host, port });
    sockets.set(s, kind);
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.on('connect', () => {
      if (kind === 'preface') report.prefaceOpened++;
      else report.garbageOpened++;
      s.write(kind === 'preface' ? preface : Buffer.from(`GARBAGE ${'\u00ff'.repeat(64)}\r\n\r\n`, 'latin1'));
    });
    s.on('close', () => {
      sockets.delete(s);
      if (stopping) return;
      if (kind === 'garbage') report.garbageClosedByNode++;
      if (kind === 'garbage' && live() && garbageBudget-- > 0) setTimeout(() => open('garbage'), 20);
    });
  };
  for (let i = 0; i < cfg.connections; i++) {
    open(i % 2 === 0 ? 'preface' : 'garbage');
    if (i % 50 === 49) await sleep(10);
  }
  return () => {
    stopping = true;
    report.prefaceHeldOpen = [...sockets].filter(([s, kind]) => kind === 'preface' && !s.destroyed).length;
    for (const s of sockets.keys()) s.destroy();
  };
}

// (f) A tenant creating logs as fast as it can: each call a first append to a new log, back to back.
async function createLogs(): Promise<void> {
  const c = new LedgerClient(cfg.address, { token: cfg.tokens.creator, timeoutMs: 10_000 });
  toClose.push(() => c.close());
  await loop(4, 20_000, async (i) => {
    await c.append(append(`creator-${i}`, i)).then(
      () => inc(report.creator, 'OK'),
      (err: unknown) => {
        const details = (err as grpc.ServiceError).details ?? '';
        const k = code(err) !== 'RESOURCE_EXHAUSTED' ? code(err) : /quota logs/.test(details) ? 'LOG_QUOTA' : /rate limit/.test(details) ? 'RATE_LIMITED' : code(err);
        inc(report.creator, k);
        report.details[`creator ${k}`] ??= details;
      },
    );
  });
}

async function main(): Promise<void> {
  if (cfg.only === 'creator') {
    parentPort!.postMessage({ started: true });
    await createLogs();
    return;
  }
  const stopFlood = await connectionFlood();
  const finishSlow = await slowReaders();
  const streamsDone = tooManyStreams();
  parentPort!.postMessage({ started: true });
  await Promise.all([oversize(), flood(), unauthenticated(), createLogs()]);
  const stopStreams = await streamsDone;
  stopFlood();
  await finishSlow();
  stopStreams();
}

main()
  .catch((err: unknown) => report.errors.push(String((err as Error).stack ?? err)))
  .finally(() => {
    for (const close of toClose) close();
    parentPort!.postMessage({ report });
  });
