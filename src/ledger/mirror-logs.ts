/**
 * The read side of the mirrors a node keeps of other nodes' logs (written by
 * src/federation/, stored by storage/mirror-store.ts): the same reads as
 * {@link Ledger} offers for the node's own logs, for a log named by its
 * origin. What a mirror serves ends at its accepted checkpoint: every entry
 * below it was verified from the origin's pinned key and every hash a proof
 * holds was rebuilt here, so an auditor checks them exactly as it would at
 * the origin, with the origin's key.
 *
 * A mirrored log can never be appended to: it has no sequencer, and an
 * append naming another origin is refused ({@link mirroredAppend}).
 */
import { CairnError } from '../core/errors.js';
import type { SignedEntry } from '../core/entry.js';
import { consistencyProofPlan, inclusionProofPlan, rootPlan } from '../core/merkle.js';
import type { LedgerStore } from '../storage/ledger-store.js';
import type { MirrorBatch, MirrorHead } from '../storage/mirror-store.js';
import type { Proof, SignedCheckpoint } from './ledger.js';
import type { KeyLink } from '../core/key-chain.js';

/** The one answer for a mirror that is not there (or that the caller may not read). */
export function mirrorNotFound(origin: string, log: string): CairnError {
  return new CairnError('NOT_FOUND', `log ${log} of origin ${origin} not found`);
}

/** The refusal of an append to a log of another origin. */
export function mirroredAppend(origin: string, log: string): CairnError {
  return new CairnError('FAILED_PRECONDITION', `origin: log ${log} of origin ${origin} is a mirror and cannot be appended to; append at its origin, ${origin}`, { field: 'origin' });
}

/** One (origin, log) a node holds, as federation vectors carry it. */
export interface MirrorVectorEntry {
  origin: string;
  log: string;
  size: number;
  rootHash: Uint8Array;
  note: string;
  acceptedAtMs: number;
}

export interface MirrorLogsOptions {
  /**
   * TEST ONLY (docs/federation.md, "Test hooks"): serve entry `seq` of
   * `origin`/`log` with one byte of its body changed, as a dishonest relay
   * would. node.ts sets it only when CAIRN_TEST_HOOKS=1.
   */
  tamperRelay?: { origin: string; log: string; seq: number };
  /** Each mirrored origin's pinned first key (DER SPKI), by origin name. */
  originKeys?: ReadonlyMap<string, Uint8Array>;
}

export class MirrorLogs {
  readonly #store: LedgerStore;
  readonly #tamper: MirrorLogsOptions['tamperRelay'];
  /** Each mirrored origin's pinned first key. */
  readonly originKeys: ReadonlyMap<string, Uint8Array>;
  readonly #heads = new Map<string, { origin: string; log: string; head: MirrorHead }>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #chains = new Map<string, KeyLink[]>();
  #closed = false;

  private constructor(store: LedgerStore, opts: MirrorLogsOptions) {
    this.#store = store;
    this.#tamper = opts.tamperRelay;
    this.originKeys = opts.originKeys ?? new Map();
  }

  /** Loads every mirror's head. */
  static async open(store: LedgerStore, opts: MirrorLogsOptions = {}): Promise<MirrorLogs> {
    const m = new MirrorLogs(store, opts);
    for (const row of await store.mirrors.list()) m.#heads.set(key(row.origin, row.log), row);
    for (const [origin, links] of await store.mirrors.listOriginKeyChains()) m.#chains.set(origin, links);
    return m;
  }

  /** The key chain of `origin` as last verified from its pinned key (empty: never rotated, or not known yet). */
  originKeyChain(origin: string): readonly KeyLink[] {
    return this.#chains.get(origin) ?? [];
  }

  /** Whether any log of `origin` is mirrored here. */
  hasOrigin(origin: string): boolean {
    for (const r of this.#heads.values()) if (r.origin === origin) return true;
    return false;
  }

  /** Stores a longer key chain of `origin` (the caller verified it from the pinned key). */
  async setOriginKeyChain(origin: string, links: readonly KeyLink[]): Promise<void> {
    if (links.length <= (this.#chains.get(origin)?.length ?? 0)) return;
    await this.#store.mirrors.putOriginKeyChain(origin, links);
    this.#chains.set(origin, [...links]);
  }

  head(origin: string, log: string): MirrorHead | undefined {
    return this.#heads.get(key(origin, log))?.head;
  }

  /**
   * Makes one verified batch durable (one synced write), then lets readers
   * and watchers see it.
   */
  async commit(origin: string, log: string, batch: MirrorBatch): Promise<void> {
    await this.#store.mirrors.commit(origin, log, batch);
    const k = key(origin, log);
    this.#heads.set(k, { origin, log, head: batch.head });
    const waiting = this.#waiters.get(k);
    if (waiting) for (const w of [...waiting]) w();
  }

  /** Every mirror's accepted checkpoint, sorted by origin then log. */
  vector(): MirrorVectorEntry[] {
    return [...this.#heads.values()]
      .filter((r) => r.head.checkpoint.note !== '')
      .map(({ origin, log, head }) => ({ origin, log, size: head.checkpoint.size, rootHash: head.checkpoint.rootHash, note: head.checkpoint.note, acceptedAtMs: head.acceptedAtMs }))
      .sort((a, b) => (a.origin === b.origin ? (a.log < b.log ? -1 : a.log > b.log ? 1 : 0) : a.origin < b.origin ? -1 : 1));
  }

  /** The latest accepted checkpoint of every mirrored log of `origin` whose name `visible` admits. */
  listLogs(origin: string, visible: (log: string) => boolean): SignedCheckpoint[] {
    return this.vector()
      .filter((v) => v.origin === origin && visible(v.log))
      .map((v) => ({ log: v.log, size: v.size, rootHash: v.rootHash, note: v.note }));
  }

  #served(origin: string, log: string): MirrorHead {
    const h = this.head(origin, log);
    if (!h || h.checkpoint.note === '') throw mirrorNotFound(origin, log);
    return h;
  }

  async getEntry(origin: string, log: string, seq: number): Promise<SignedEntry> {
    const size = this.#served(origin, log).checkpoint.size;
    if (seq >= size) throw new CairnError('NOT_FOUND', `log ${log} of origin ${origin} has no entry ${seq} here (mirrored size ${size})`);
    const e = await this.#store.mirrors.getEntry(origin, log, seq);
    if (!e) throw new CairnError('CORRUPTION', `mirror ${origin}/${log}: entry ${seq} is missing below size ${size}`);
    return this.#relay(origin, [e])[0]!;
  }

  async *listEntries(origin: string, log: string, start: number, end?: number): AsyncGenerator<SignedEntry[]> {
    const size = this.#served(origin, log).checkpoint.size;
    for await (const chunk of this.#store.mirrors.readEntries(origin, log, start, Math.min(end ?? size, size))) yield this.#relay(origin, chunk);
  }

  /** Entries as served; only the test hook ever changes them. */
  #relay(origin: string, chunk: SignedEntry[]): SignedEntry[] {
    const t = this.#tamper;
    if (!t || t.origin !== origin) return chunk;
    return chunk.map((e) => {
      if (e.log !== t.log || e.seq !== t.seq) return e;
      const body = e.body.slice();
      body[body.length >> 1]! ^= 0x01;
      return { ...e, body };
    });
  }

  /** Entries from `start` on, then each accepted batch as it is made durable (lossless: read by seq from storage). */
  async *follow(origin: string, log: string, start: number, signal?: AbortSignal): AsyncGenerator<SignedEntry[]> {
    this.#served(origin, log);
    let next = start;
    while (!signal?.aborted && !this.#closed) {
      const size = this.head(origin, log)!.checkpoint.size;
      if (next < size) {
        for await (const chunk of this.#store.mirrors.readEntries(origin, log, next, size)) {
          yield this.#relay(origin, chunk);
          next += chunk.length;
          if (signal?.aborted) return;
        }
        continue;
      }
      await this.#nextCommit(key(origin, log), signal);
    }
  }

  #nextCommit(k: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || this.#closed) return resolve();
      let set = this.#waiters.get(k);
      if (!set) this.#waiters.set(k, (set = new Set()));
      const waiting = set;
      const done = (): void => {
        waiting.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      waiting.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async getCheckpoint(origin: string, log: string, size?: number): Promise<SignedCheckpoint> {
    const h = this.#served(origin, log);
    const latest = { log, size: h.checkpoint.size, rootHash: h.checkpoint.rootHash, note: h.checkpoint.note };
    if (size === undefined || size === latest.size) return latest;
    if (size > latest.size) throw new CairnError('NOT_FOUND', `log ${log} of origin ${origin} has size ${latest.size} here, less than ${size}`);
    const cp = await this.#atSize(origin, log, size, latest);
    if (!cp.note) throw new CairnError('NOT_FOUND', `log ${log} of origin ${origin}: no checkpoint at size ${size} was accepted here`);
    return cp;
  }

  async inclusionProof(origin: string, log: string, seq: number, size?: number): Promise<Proof & { seq: number; size: number }> {
    const h = this.#served(origin, log);
    const latest = { log, size: h.checkpoint.size, rootHash: h.checkpoint.rootHash, note: h.checkpoint.note };
    const checkpoint = size === undefined ? latest : await this.#atSize(origin, log, size, latest);
    const n = checkpoint.size;
    if (seq >= n) throw new CairnError('INVALID_ARGUMENT', `seq: ${seq} is not below tree size ${n}`, { field: 'seq' });
    const plan = inclusionProofPlan(seq, n);
    return { log, seq, size: n, hashes: plan.finish(await this.#store.mirrors.getNodes(origin, log, plan.nodes)), checkpoint };
  }

  async consistencyProof(origin: string, log: string, from: number, to?: number): Promise<Proof & { from: number; to: number }> {
    const h = this.#served(origin, log);
    const latest = { log, size: h.checkpoint.size, rootHash: h.checkpoint.rootHash, note: h.checkpoint.note };
    const checkpoint = to === undefined ? latest : await this.#atSize(origin, log, to, latest, 'to_size');
    const n = checkpoint.size;
    if (from < 1 || from > n) throw new CairnError('INVALID_ARGUMENT', `from_size: must be in [1, ${n}]`, { field: 'from_size' });
    const plan = consistencyProofPlan(from, n);
    return { log, from, to: n, hashes: plan.finish(await this.#store.mirrors.getNodes(origin, log, plan.nodes)), checkpoint };
  }

  /** The tree at a past size (a note only where a checkpoint of that size was accepted), as Ledger does for its own logs. */
  async #atSize(origin: string, log: string, size: number, latest: SignedCheckpoint, field = 'size'): Promise<SignedCheckpoint> {
    if (size > latest.size) throw new CairnError('INVALID_ARGUMENT', `${field}: ${size} is beyond the mirrored size ${latest.size}`, { field });
    if (size === latest.size) return latest;
    const note = await this.#store.mirrors.getCheckpoint(origin, log, size);
    const plan = rootPlan(size);
    return { log, size, rootHash: plan.finish(await this.#store.mirrors.getNodes(origin, log, plan.nodes)), note: note ?? '' };
  }

  /** Ends every watch of a mirror (the node is stopping). */
  close(): void {
    this.#closed = true;
    for (const set of this.#waiters.values()) for (const w of [...set]) w();
  }
}

function key(origin: string, log: string): string {
  return `${origin}\u0000${log}`;
}
