/**
 * The in-process subscription API: sync records (or any entries) of a log,
 * in seq order, from a seq on, following new ones as they become durable.
 *
 * Fed from storage by seq (Ledger.follow, or the Watch stream of a remote
 * node), never from an in-memory fan-out: a slow subscriber falls behind in
 * storage, so it never blocks appends and never loses entries. A Watch that
 * ends (the node restarts) is resumed from the next seq with backoff; a log
 * that does not exist yet is waited for.
 */
import * as grpc from '@grpc/grpc-js';
import { CairnError } from '../core/errors.js';
import { decodeBody, type SignedEntry } from '../core/entry.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { readSyncEntry, type SyncRecord } from './sync-entry.js';

export interface SubscribeOptions {
  /** First seq to deliver. Default 0. */
  from?: number;
  signal?: AbortSignal;
  backoff?: BackoffOptions;
}

/** A node in this process (`Ledger.follow`) or over gRPC (`LedgerClient.watch`). */
export type EntrySource =
  | { follow(log: string, start: number, signal?: AbortSignal): AsyncIterable<SignedEntry[]> }
  | { watch(log: string, start: number, signal?: AbortSignal): AsyncIterable<SignedEntry> };

const isNotFound = (e: unknown): boolean =>
  (e instanceof CairnError && e.code === 'NOT_FOUND') || (e as grpc.ServiceError)?.code === grpc.status.NOT_FOUND;

/** Every entry of `log` from `from` on, in order, until the signal aborts. */
export async function* subscribeEntries(source: EntrySource, log: string, opts: SubscribeOptions = {}): AsyncGenerator<SignedEntry> {
  let next = opts.from ?? 0;
  let failures = 0;
  const signal = opts.signal;
  while (!signal?.aborted) {
    try {
      if ('follow' in source) {
        for await (const chunk of source.follow(log, next, signal)) {
          for (const e of chunk) {
            if (e.seq < next) continue;
            next = e.seq + 1;
            failures = 0;
            yield e;
          }
        }
      } else {
        for await (const e of source.watch(log, next, signal)) {
          if (e.seq < next) continue;
          next = e.seq + 1;
          failures = 0;
          yield e;
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (!isNotFound(e) && !(e instanceof CairnError && e.code === 'UNAVAILABLE') && typeof (e as grpc.ServiceError)?.code !== 'number') throw e;
    }
    if (signal?.aborted) return;
    // The stream ended or failed (node restarting, log not created yet): resume from `next`.
    try {
      await sleep(backoffDelay(failures++, opts.backoff ?? { baseMs: 100, maxMs: 5000 }), signal);
    } catch {
      return;
    }
  }
}

/** The sync records of `log` (other entries skipped), optionally of one target only. */
export async function* subscribeSync(source: EntrySource, log: string, opts: SubscribeOptions & { target?: string } = {}): AsyncGenerator<SyncRecord> {
  for await (const e of subscribeEntries(source, log, opts)) {
    let rec: SyncRecord | undefined;
    try {
      rec = readSyncEntry(decodeBody(e.body, { log, seq: e.seq }));
    } catch {
      continue;
    }
    if (rec && (opts.target === undefined || rec.target === opts.target)) yield rec;
  }
}
