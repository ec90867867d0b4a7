/**
 * The sync engine's Recorder over this node's own ledger (`serve` with sync
 * targets): the same guarantees as recording over gRPC (sync/recorder.ts),
 * without the round trip.
 */
import { CairnError } from '../core/errors.js';
import type { SignedEntry } from '../core/entry.js';
import type { Recorder } from '../sync/recorder.js';
import type { Ledger } from '../ledger/ledger.js';

/** Records into a ledger in this process. */
export function ledgerRecorder(ledger: Ledger): Recorder {
  return {
    describe: 'in-process ledger',
    async append(input) {
      // Entries the node writes for itself carry the node as their identity.
      const r = await ledger.append(input, `node:${ledger.options.nodeName}`);
      return { log: r.entry.log, seq: r.entry.seq, replayed: r.replayed };
    },
    async *history(log, signal) {
      let chunks: AsyncGenerator<SignedEntry[]>;
      try {
        await ledger.logSequencer(log);
        chunks = ledger.listEntries(log, 0);
      } catch (e) {
        if (e instanceof CairnError && e.code === 'NOT_FOUND') return;
        throw e;
      }
      for await (const chunk of chunks) {
        signal?.throwIfAborted();
        yield* chunk;
      }
    },
    async close() {},
  };
}
