/**
 * Mirrors of other nodes' logs, in the node's one LevelDB beside its own
 * logs, in tables of their own (keys.ts, MIRROR_TAG).
 *
 * Guarantee: {@link MirrorStore.commit} writes a verified batch (its
 * entries, the tree nodes they complete, the checkpoint accepted with them
 * if any, and the mirror's new head) in ONE synced write batch, so after a
 * crash a mirror is at the old head or the new one, never between: it
 * resumes exactly where the last batch left off, with no entry twice and
 * no gap.
 */
import type { Level } from 'level';
import { CairnError } from '../core/errors.js';
import type { SignedEntry } from '../core/entry.js';
import type { NodeId } from '../core/merkle.js';
import { fromUtf8, utf8 } from '../core/bytes.js';
import { checkpointKey, entryKey, headKey, metaKey, MIRROR_TAG, mirrorName, nodeKey, readU64, splitMirrorName, tableRange } from './keys.js';
import { keyLinkToJson, parseKeyLinks, type KeyLink } from '../core/key-chain.js';
import { decodeEntryRecord, decodeMirrorHead, encodeEntryRecord, encodeMirrorHead, type MirrorHead } from './records.js';

export type { MirrorHead } from './records.js';

type Db = Level<Uint8Array, Uint8Array>;

/** Metadata row prefix of other origins' key chains. */
const ORIGIN_CHAIN = 'origin-key-chain/';

/** One verified batch of a mirror. */
export interface MirrorBatch {
  entries: readonly SignedEntry[];
  nodes: readonly { id: NodeId; hash: Uint8Array }[];
  /** A checkpoint accepted with this batch (its size is head.checkpoint.size). */
  checkpoint?: { size: number; note: string };
  head: MirrorHead;
}

/** A mirror that stopped: what it saw, kept as evidence (JSON as the caller wrote it). */
export interface StoredConflict {
  origin: string;
  log: string;
  evidence: unknown;
}

export class MirrorStore {
  readonly #db: Db;

  /** Opened by LedgerStore over its own database. */
  constructor(db: Db) {
    this.#db = db;
  }

  /** Every mirror with its head, in key order. */
  async list(): Promise<{ origin: string; log: string; head: MirrorHead }[]> {
    const out: { origin: string; log: string; head: MirrorHead }[] = [];
    for await (const [k, v] of this.#db.iterator({ gte: Uint8Array.of(MIRROR_TAG.head), lt: Uint8Array.of(MIRROR_TAG.head + 1) })) {
      const name = fromUtf8(k.subarray(1));
      out.push({ ...splitMirrorName(name), head: decodeMirrorHead(name, v) });
    }
    return out;
  }

  async getHead(origin: string, log: string): Promise<MirrorHead | undefined> {
    const name = mirrorName(origin, log);
    const v = await this.#db.get(headKey(name, MIRROR_TAG.head));
    return v === undefined ? undefined : decodeMirrorHead(name, v);
  }

  /** Writes one verified batch atomically and durably (synced). */
  async commit(origin: string, log: string, batch: MirrorBatch): Promise<void> {
    const name = mirrorName(origin, log);
    const b = this.#db.batch();
    for (const e of batch.entries) b.put(entryKey(name, e.seq, MIRROR_TAG.entry), encodeEntryRecord(e));
    for (const n of batch.nodes) b.put(nodeKey(name, n.id.level, n.id.index, MIRROR_TAG.node), n.hash);
    if (batch.checkpoint) b.put(checkpointKey(name, batch.checkpoint.size, MIRROR_TAG.checkpoint), utf8(batch.checkpoint.note));
    b.put(headKey(name, MIRROR_TAG.head), encodeMirrorHead(batch.head));
    await b.write({ sync: true });
  }

  async getEntry(origin: string, log: string, seq: number): Promise<SignedEntry | undefined> {
    const v = await this.#db.get(entryKey(mirrorName(origin, log), seq, MIRROR_TAG.entry));
    return v === undefined ? undefined : decodeEntryRecord(log, seq, v);
  }

  /** Entries [start, end) in order, in chunks (memory bounded by one chunk). */
  async *readEntries(origin: string, log: string, start: number, end: number, chunk = 1000): AsyncGenerator<SignedEntry[]> {
    if (start >= end) return;
    const name = mirrorName(origin, log);
    const it = this.#db.iterator({ gte: entryKey(name, start, MIRROR_TAG.entry), lt: entryKey(name, end, MIRROR_TAG.entry) });
    try {
      let expect = start;
      for (;;) {
        const rows = await it.nextv(chunk);
        if (rows.length === 0) break;
        const batch: SignedEntry[] = [];
        for (const [k, v] of rows) {
          const seq = readU64(k, k.length - 8);
          if (seq !== expect) throw new CairnError('CORRUPTION', `mirror ${origin}/${log}: entry ${expect} is missing`);
          batch.push(decodeEntryRecord(log, seq, v));
          expect++;
        }
        yield batch;
      }
      if (expect !== end) throw new CairnError('CORRUPTION', `mirror ${origin}/${log}: entry ${expect} is missing`);
    } finally {
      await it.close();
    }
  }

  /** @throws CairnError CORRUPTION if a node the head implies is missing */
  async getNodes(origin: string, log: string, ids: readonly NodeId[]): Promise<Uint8Array[]> {
    if (ids.length === 0) return [];
    const name = mirrorName(origin, log);
    const values = await this.#db.getMany(ids.map((id) => nodeKey(name, id.level, id.index, MIRROR_TAG.node)));
    return values.map((v, i) => {
      if (v === undefined || v.length !== 32) throw new CairnError('CORRUPTION', `mirror ${origin}/${log}: Merkle node level ${ids[i]!.level} index ${ids[i]!.index} is missing`);
      return v;
    });
  }

  /** The accepted checkpoint at exactly `size`. */
  async getCheckpoint(origin: string, log: string, size: number): Promise<string | undefined> {
    const v = await this.#db.get(checkpointKey(mirrorName(origin, log), size, MIRROR_TAG.checkpoint));
    return v === undefined ? undefined : fromUtf8(v);
  }

  /** Keeps a stopped mirror's evidence, durably. */
  async putConflict(origin: string, log: string, evidence: unknown): Promise<void> {
    await this.#db.put(headKey(mirrorName(origin, log), MIRROR_TAG.conflict), utf8(JSON.stringify(evidence)), { sync: true });
  }

  async listConflicts(): Promise<StoredConflict[]> {
    const out: StoredConflict[] = [];
    for await (const [k, v] of this.#db.iterator({ gte: Uint8Array.of(MIRROR_TAG.conflict), lt: Uint8Array.of(MIRROR_TAG.conflict + 1) })) {
      const { origin, log } = splitMirrorName(fromUtf8(k.subarray(1)));
      let evidence: unknown;
      try {
        evidence = JSON.parse(fromUtf8(v));
      } catch (cause) {
        throw new CairnError('CORRUPTION', `mirror ${origin}/${log}: conflict evidence does not parse`, { cause });
      }
      out.push({ origin, log, evidence });
    }
    return out;
  }

  /**
   * Another origin's key chain, as verified from its pinned key when it was
   * stored (re-verified by whoever uses it). Node metadata rows
   * `origin-key-chain/<origin>`.
   */
  async putOriginKeyChain(origin: string, links: readonly KeyLink[]): Promise<void> {
    await this.#db.put(metaKey(`${ORIGIN_CHAIN}${origin}`), utf8(JSON.stringify(links.map(keyLinkToJson))), { sync: true });
  }

  async listOriginKeyChains(): Promise<Map<string, KeyLink[]>> {
    const out = new Map<string, KeyLink[]>();
    const prefix = metaKey(ORIGIN_CHAIN);
    const lt = prefix.slice();
    lt[lt.length - 1]! += 1;
    for await (const [k, v] of this.#db.iterator({ gte: prefix, lt })) {
      const origin = fromUtf8(k.subarray(prefix.length));
      try {
        out.set(origin, parseKeyLinks(JSON.parse(fromUtf8(v))));
      } catch (cause) {
        throw new CairnError('CORRUPTION', `the stored key chain of origin ${origin} does not parse`, { cause });
      }
    }
    return out;
  }

  /** [gte, lt) of one mirror's entry table (tests that inspect the bytes). */
  static entryRange(origin: string, log: string): { gte: Uint8Array; lt: Uint8Array } {
    return tableRange(MIRROR_TAG.entry, mirrorName(origin, log));
  }
}
