/**
 * Durable storage of logs in one LevelDB database.
 *
 * Guarantee (the group commit, which makes a group's sequence, integrate and
 * checkpoint stages durable together): {@link LedgerStore.commit} writes a
 * whole group of entries, their Merkle nodes, idempotency keys, the signed
 * checkpoint and the new head in ONE synced write batch. LevelDB applies a
 * batch atomically through its write-ahead log, so after a crash a log is
 * either at the old head or at the new one: never half a group.
 *
 * The interface speaks of entries, tree nodes and checkpoints; the key layout
 * is private to keys.ts.
 */
import { Level } from 'level';
import { CairnError } from '../core/errors.js';
import type { SignedEntry } from '../core/entry.js';
import type { NodeId } from '../core/merkle.js';
import { fromUtf8, utf8 } from '../core/bytes.js';
import { checkpointKey, entryKey, headKey, metaKey, nodeKey, readU64, requestKey, tableRange, TAG, writeU64 } from './keys.js';
import { keyLinkToJson, parseKeyLinks, type KeyLink } from '../core/key-chain.js';
import { decodeEntryRecord, decodeHead, encodeEntryRecord, encodeHead, type Head } from './records.js';
import { MirrorStore } from './mirror-store.js';

export type { Head } from './records.js';

export interface CommitGroup {
  entries: readonly SignedEntry[];
  nodes: readonly { id: NodeId; hash: Uint8Array }[];
  requests: readonly { requestId: string; seq: number }[];
  checkpoint: { size: number; note: string };
  head: Head;
}

type Db = Level<Uint8Array, Uint8Array>;
interface Queued {
  log: string;
  g: CommitGroup;
  resolve(): void;
  reject(e: unknown): void;
}
type Batch = ReturnType<Db['batch']>;

/** Bounds one merged write (each group is itself at most max_batch entries). */
const MAX_GROUPS_PER_WRITE = 64;

function putGroup(b: Batch, log: string, g: CommitGroup): void {
  for (const e of g.entries) b.put(entryKey(log, e.seq), encodeEntryRecord(e));
  for (const n of g.nodes) b.put(nodeKey(log, n.id.level, n.id.index), n.hash);
  for (const r of g.requests) {
    const v = new Uint8Array(8);
    writeU64(v, 0, r.seq);
    b.put(requestKey(log, r.requestId), v);
  }
  b.put(checkpointKey(log, g.checkpoint.size), utf8(g.checkpoint.note));
  b.put(headKey(log), encodeHead(g.head));
}

/** A stored checkpoint note is UTF-8 as signed; bytes that are not are damage (CORRUPTION), not the caller's bad input. */
function decodeNote(log: string, size: number, v: Uint8Array): string {
  try {
    return fromUtf8(v);
  } catch (cause) {
    throw new CairnError('CORRUPTION', `log ${log}: the checkpoint at size ${size} is not UTF-8`, { cause });
  }
}

export class LedgerStore {
  readonly #db: Db;
  readonly location: string;
  /** Mirrors of other nodes' logs, in the same database (mirror-store.ts). */
  readonly mirrors: MirrorStore;
  readonly #queued: Queued[] = [];
  /** Logs whose last write failed, with the error: refused until `recovered`. */
  readonly #failed = new Map<string, unknown>();
  #writing = false;

  private constructor(db: Db, location: string) {
    this.#db = db;
    this.location = location;
    this.mirrors = new MirrorStore(db);
  }

  /** @throws CairnError UNAVAILABLE when another process holds the database lock */
  static async open(location: string): Promise<LedgerStore> {
    const db: Db = new Level<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (cause) {
      const code = (cause as { code?: string; cause?: { code?: string } }).cause?.code ?? (cause as { code?: string }).code;
      if (code === 'LEVEL_LOCKED') throw new CairnError('UNAVAILABLE', `database ${location} is locked by another process`, { cause });
      throw new CairnError('UNAVAILABLE', `cannot open database ${location}`, { cause });
    }
    return new LedgerStore(db, location);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  /** Names of all logs, in byte order. */
  async listLogs(): Promise<string[]> {
    const out: string[] = [];
    for await (const key of this.#db.keys({ gte: Uint8Array.of(TAG.head), lt: Uint8Array.of(TAG.head + 1) })) {
      out.push(fromUtf8(key.subarray(1)));
    }
    return out;
  }

  async getHead(log: string): Promise<Head | undefined> {
    const v = await this.#db.get(headKey(log));
    return v === undefined ? undefined : decodeHead(log, v);
  }

  async getEntry(log: string, seq: number): Promise<SignedEntry | undefined> {
    const v = await this.#db.get(entryKey(log, seq));
    return v === undefined ? undefined : decodeEntryRecord(log, seq, v);
  }

  /**
   * Entries [start, end) in order, in chunks (LevelDB nextv), so a reader
   * pulls at its own pace and memory stays bounded by one chunk.
   */
  async *readEntries(log: string, start: number, end: number, chunk = 1000): AsyncGenerator<SignedEntry[]> {
    if (start >= end) return;
    const it = this.#db.iterator({ gte: entryKey(log, start), lt: entryKey(log, end) });
    try {
      let expect = start;
      for (;;) {
        const rows = await it.nextv(chunk);
        if (rows.length === 0) break;
        const batch: SignedEntry[] = [];
        for (const [k, v] of rows) {
          const seq = readU64(k, k.length - 8);
          if (seq !== expect) throw new CairnError('CORRUPTION', `log ${log}: entry ${expect} is missing`);
          batch.push(decodeEntryRecord(log, seq, v));
          expect++;
        }
        yield batch;
      }
      if (expect !== end) throw new CairnError('CORRUPTION', `log ${log}: entry ${expect} is missing`);
    } finally {
      await it.close();
    }
  }

  /** @throws CairnError CORRUPTION if a node the head implies is missing */
  async getNodes(log: string, ids: readonly NodeId[]): Promise<Uint8Array[]> {
    if (ids.length === 0) return [];
    const values = await this.#db.getMany(ids.map((id) => nodeKey(log, id.level, id.index)));
    return values.map((v, i) => {
      if (v === undefined || v.length !== 32) {
        throw new CairnError('CORRUPTION', `log ${log}: Merkle node level ${ids[i]!.level} index ${ids[i]!.index} is missing`);
      }
      return v;
    });
  }

  /** The signed checkpoint at exactly `size`, or the latest when size is undefined. */
  async getCheckpoint(log: string, size?: number): Promise<{ size: number; note: string } | undefined> {
    if (size !== undefined) {
      const v = await this.#db.get(checkpointKey(log, size));
      return v === undefined ? undefined : { size, note: decodeNote(log, size, v) };
    }
    const r = tableRange(TAG.checkpoint, log);
    for await (const [k, v] of this.#db.iterator({ ...r, reverse: true, limit: 1 })) {
      const at = readU64(k, k.length - 8);
      return { size: at, note: decodeNote(log, at, v) };
    }
    return undefined;
  }

  /** The smallest stored checkpoint whose size is at least `size`. */
  async getCheckpointAtLeast(log: string, size: number): Promise<{ size: number; note: string } | undefined> {
    const r = tableRange(TAG.checkpoint, log);
    for await (const [k, v] of this.#db.iterator({ gte: checkpointKey(log, size), lt: r.lt, limit: 1 })) {
      const at = readU64(k, k.length - 8);
      return { size: at, note: decodeNote(log, at, v) };
    }
    return undefined;
  }

  /** Every requestId recorded in `log` with its seq, in seq order. */
  async readRequestIds(log: string): Promise<Map<string, number>> {
    const r = tableRange(TAG.request, log);
    const found: [string, number][] = [];
    for await (const [k, v] of this.#db.iterator(r)) found.push([fromUtf8(k.subarray(r.gte.length)), readU64(v, 0)]);
    return new Map(found.sort((a, b) => a[1] - b[1]));
  }

  /** The seqs recorded for those of `requestIds` that are in `log`, in one read. */
  async getRequestSeqs(log: string, requestIds: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (requestIds.length === 0) return out;
    const values = await this.#db.getMany(requestIds.map((id) => requestKey(log, id)));
    values.forEach((v, i) => {
      if (v !== undefined) out.set(requestIds[i]!, readU64(v, 0));
    });
    return out;
  }

  /**
   * Writes one group atomically and durably (sync). Resolves only once fsync returned.
   *
   * Groups share the node's write path: while one synced write is in flight,
   * the groups that arrive (of every log, and several of one log) are queued
   * and then written together in ONE synced batch (still atomic: all of them
   * or none). A synced write costs about the same for 1 entry or 50, so what
   * sets throughput is how many entries share one (docs/design.md, "Groups of
   * every log share the write in flight").
   *
   * Order: a log's groups are written in the order `commit` is called (a
   * later group is in a later batch, or after it in the same one), so a
   * caller may hand over group n+1, built on group n, before n is durable.
   *
   * Failure: if a write fails, nothing of it is stored, and the logs it held
   * are refused: their queued and later groups fail (they build on what was
   * just lost) until the owner has reloaded the log's state from storage and
   * calls {@link LedgerStore.recovered}.
   */
  commit(log: string, g: CommitGroup): Promise<void> {
    const failed = this.#failed.get(log);
    if (failed) return Promise.reject(failed);
    return new Promise<void>((resolve, reject) => {
      this.#queued.push({ log, g, resolve, reject });
      if (!this.#writing) void this.#writeQueued();
    });
  }

  /** Lifts the refusal after a failed write: the caller has reloaded `log` from storage. */
  recovered(log: string): void {
    this.#failed.delete(log);
  }

  async #writeQueued(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queued.length > 0) {
        const groups: Queued[] = [];
        for (const q of this.#queued.splice(0, MAX_GROUPS_PER_WRITE)) {
          const failed = this.#failed.get(q.log);
          if (failed) q.reject(failed);
          else groups.push(q);
        }
        if (groups.length === 0) continue;
        // A chained batch, not an array batch: free of abstract-level's per-op
        // options cost, about 2x faster (docs/design.md).
        const b = this.#db.batch();
        try {
          for (const { log, g } of groups) putGroup(b, log, g);
          await b.write({ sync: true });
        } catch (err) {
          // Nothing of this batch is stored: every group in it fails, and so
          // does every later group of its logs until their owners reload.
          for (const q of groups) {
            this.#failed.set(q.log, err);
            q.reject(err);
          }
          continue;
        }
        for (const q of groups) q.resolve();
      }
    } finally {
      this.#writing = false;
    }
  }

  /**
   * The node's signing-key chain: one link per rotation, first rotation
   * first (empty when the key was never rotated). Read back strictly: the
   * chain is re-verified by whoever uses it.
   * @throws CairnError CORRUPTION when the stored chain does not parse
   */
  async getKeyChain(): Promise<KeyLink[]> {
    const v = await this.#db.get(metaKey('key-chain'));
    if (v === undefined) return [];
    try {
      return parseKeyLinks(JSON.parse(fromUtf8(v)));
    } catch (cause) {
      throw new CairnError('CORRUPTION', 'the stored signing-key chain does not parse', { cause });
    }
  }

  /** Replaces the key chain, durably (synced). */
  async putKeyChain(links: readonly KeyLink[]): Promise<void> {
    await this.#db.put(metaKey('key-chain'), utf8(JSON.stringify(links.map(keyLinkToJson))), { sync: true });
  }

  /**
   * Raw access for tests and repair tools that need to corrupt or inspect
   * bytes on purpose. Not used by the node.
   */
  get rawDb(): Db {
    return this.#db;
  }
}
