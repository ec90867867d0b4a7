/**
 * Where the sync engine records: the node's own ledger in-process (`serve`
 * with sync targets; node/ledger-recorder.ts) or a node over gRPC
 * (`cairn sync`). Both give the same guarantee: `append` resolves only once the entry is durable, and a
 * `requestId` already recorded returns the original entry (`replayed`), so a
 * retried append never records twice.
 */
import * as grpc from '@grpc/grpc-js';
import { CairnError } from '../core/errors.js';
import type { AppendInput } from '../core/append-request.js';
import type { SignedEntry } from '../core/entry.js';
import type { AppendStreamHandle, LedgerClient } from '../client/ledger-client.js';

export interface RecordReceipt {
  log: string;
  seq: number;
  /** The requestId had been recorded before: this is the original entry. */
  replayed: boolean;
}

export interface Recorder {
  readonly describe: string;
  /** Resolves once the entry is durable. */
  append(input: AppendInput): Promise<RecordReceipt>;
  /** Every entry of `log` recorded so far, in seq order; nothing for a log that does not exist yet. */
  history(log: string, signal?: AbortSignal): AsyncIterable<SignedEntry>;
  /** Closes what the recorder opened (never the ledger or client passed in). */
  close(): Promise<void>;
}

/**
 * Records into a node over gRPC through one AppendStream (many appends in
 * flight, one result each in order): a burst of drifts costs one round trip
 * per group commit, not per entry. A stream that fails is replaced on the
 * next append.
 */
export function clientRecorder(client: LedgerClient, address = 'remote node'): Recorder {
  let stream: AppendStreamHandle | undefined;
  const drop = (s: AppendStreamHandle): void => {
    if (stream === s) stream = undefined;
    // Appends still in flight on it settle; end() waits for them.
    s.end().catch(() => undefined);
  };
  return {
    describe: address,
    async append(input) {
      const s = (stream ??= client.appendStream());
      try {
        const r = await s.append(input);
        return { log: r.entry.log, seq: r.entry.seq, replayed: r.replayed };
      } catch (e) {
        drop(s);
        throw e;
      }
    },
    async *history(log, signal) {
      try {
        for await (const e of client.listEntries(log, 0, 0, signal)) yield e;
      } catch (e) {
        if ((e as grpc.ServiceError).code === grpc.status.NOT_FOUND) return;
        throw e;
      }
    },
    async close() {
      const s = stream;
      stream = undefined;
      await s?.end().catch(() => undefined);
    },
  };
}
