/**
 * One log's requestIds: which are recorded or in flight, so that a retried
 * append answers with its original entry instead of recording a second one.
 * The sequencer puts new appends in line; this unit decides what is new.
 *
 * Guarantees
 * - An append whose requestId is recorded in the log replays the original
 *   entry; one whose requestId is in flight replays that append's receipt.
 *   Neither gets a new seq.
 * - While the index holds every requestId the log has recorded (read at open
 *   for a log of at most `remembered` entries, until one is forgotten), a new
 *   id is put in line at once, without a storage read.
 * - Otherwise new ids are looked up in storage in batches: one read for the
 *   first, then one for all that arrived while the previous read was in
 *   flight.
 * - Appends are put in line in the order they were admitted, also when one of
 *   them waits for its lookup: whatever comes after it waits too.
 * - At most `remembered` recorded ids stay in memory; past that the oldest is
 *   forgotten and, when asked again, found in storage.
 */
import { CairnError } from '../core/errors.js';
import type { LedgerStore } from '../storage/ledger-store.js';

/** What the index reads from storage. */
export type RequestIdStore = Pick<LedgerStore, 'readRequestIds' | 'getRequestSeqs'>;

/** The sequencer side of the index. */
export interface RequestLine<Q, R> {
  /**
   * Puts `req` in line for a new seq and returns its receipt.
   * @throws CairnError when the line refuses it (full, shutting down)
   */
  enter(req: Q): Promise<R>;
  /** The receipt of the entry already recorded at `seq`. */
  replay(seq: number): Promise<R>;
}

export interface RequestIdOptions {
  /** Recorded ids kept in memory, newest last; older ones are looked up in storage. */
  remembered: number;
  /** Appends that may wait for a lookup at once (the sequencer's maxQueue). */
  maxWaiting: number;
}

interface Waiting<Q, R> {
  req: Q;
  settle(r: Promise<R>): void;
}

export class RequestIds<Q extends { requestId?: string | undefined }, R extends { entry: { seq: number }; replayed: boolean }> {
  readonly #log: string;
  readonly #store: RequestIdStore;
  readonly #line: RequestLine<Q, R>;
  readonly #opts: Readonly<RequestIdOptions>;
  readonly #inFlight = new Map<string, Promise<R>>();
  /** Recorded ids with their seqs, oldest first (Map iteration is insertion order). */
  readonly #recorded = new Map<string, number>();
  /** #recorded holds every id the log has ever recorded, so an id missing there is new. */
  #allKnown = false;
  /** Appends, in admission order, that wait for a lookup, with every append admitted after them. */
  #waiting: Waiting<Q, R>[] = [];
  #lookingUp = false;

  constructor(log: string, store: RequestIdStore, line: RequestLine<Q, R>, opts: RequestIdOptions) {
    this.#log = log;
    this.#store = store;
    this.#line = line;
    this.#opts = opts;
  }

  /**
   * Reads every recorded id of a log of at most `remembered` entries, so that
   * new ids need no lookup: a storage read per batch of new ids is a thread
   * hop in front of each such append (AppendStream with ids at concurrency
   * 64: a quarter fewer appends/s; docs/design.md).
   */
  async preload(logSize: number): Promise<void> {
    if (logSize > this.#opts.remembered) return;
    for (const [id, seq] of await this.#store.readRequestIds(this.#log)) this.#recorded.set(id, seq);
    this.#allKnown = true;
  }

  /**
   * Answers `req`: a replay when its requestId is recorded or in flight,
   * else its receipt once it has been put in line, in admission order.
   * @throws CairnError RESOURCE_EXHAUSTED when too many appends wait for a lookup; whatever the line throws
   */
  admit(req: Q): Promise<R> {
    const id = req.requestId;
    const known = id ? this.#replayOf(id) : undefined;
    if (known) return known;
    // The common case: nothing to look up and nobody ahead still waiting for a lookup.
    if ((!id || this.#allKnown) && !this.#lookingUp) return this.#enter(req);
    return this.#wait(req);
  }

  /** The replay for an id recorded or in flight here (no storage read), or undefined. */
  #replayOf(id: string): Promise<R> | undefined {
    const p = this.#inFlight.get(id);
    if (p) return p.then((r) => ({ ...r, replayed: true }));
    const seq = this.#recorded.get(id);
    return seq === undefined ? undefined : this.#line.replay(seq);
  }

  #knows(id: string): boolean {
    return this.#inFlight.has(id) || this.#recorded.has(id);
  }

  /** Puts `req` in line and keeps its id in flight until its receipt, then recorded. */
  #enter(req: Q): Promise<R> {
    const p = this.#line.enter(req);
    const id = req.requestId;
    if (id) {
      this.#inFlight.set(id, p);
      p.then(
        (r) => this.#remember(id, r.entry.seq),
        () => this.#inFlight.delete(id),
      );
    }
    return p;
  }

  #remember(id: string, seq: number): void {
    this.#inFlight.delete(id);
    if (this.#recorded.size >= this.#opts.remembered) {
      // Oldest first; a forgotten id is still in storage.
      const oldest = this.#recorded.keys().next().value;
      if (oldest !== undefined) this.#recorded.delete(oldest);
      this.#allKnown = false;
    }
    this.#recorded.set(id, seq);
  }

  #wait(req: Q): Promise<R> {
    if (this.#waiting.length >= this.#opts.maxWaiting) {
      throw new CairnError('RESOURCE_EXHAUSTED', `log ${this.#log}: append queue is full (${this.#opts.maxWaiting}); retry later`, { retryAfterMs: 50 });
    }
    const r = new Promise<R>((settle) => this.#waiting.push({ req, settle }));
    if (!this.#lookingUp) void this.#lookUpWaiting();
    return r;
  }

  /**
   * Looks up everything waiting, one storage read per batch, until nothing
   * waits: a read per id would put a thread hop in front of every append
   * with an id (half the appends/s of such a stream; docs/design.md).
   */
  async #lookUpWaiting(): Promise<void> {
    this.#lookingUp = true;
    try {
      while (this.#waiting.length > 0) await this.#lookUpBatch(this.#waiting.splice(0));
    } finally {
      this.#lookingUp = false;
    }
  }

  async #lookUpBatch(batch: Waiting<Q, R>[]): Promise<void> {
    // Only reached while #allKnown is false: it starts true or never, and only turns false.
    const ids = [...new Set(batch.flatMap(({ req }) => (req.requestId && !this.#knows(req.requestId) ? [req.requestId] : [])))];
    let stored: Map<string, number> | undefined;
    let failure: unknown;
    try {
      stored = await this.#store.getRequestSeqs(this.#log, ids);
    } catch (err) {
      failure = err;
    }
    for (const { req, settle } of batch) settle(this.#answer(req, stored, failure));
  }

  /** The answer for a waiting append once its batch was looked up (`stored` undefined: the read failed). */
  #answer(req: Q, stored: Map<string, number> | undefined, failure: unknown): Promise<R> {
    const id = req.requestId;
    if (id) {
      // Checked again: an earlier duplicate in this batch, or one since, may be in line now.
      const known = this.#replayOf(id);
      if (known) return known;
      if (!stored) return Promise.reject(new CairnError('UNAVAILABLE', `log ${this.#log}: cannot read request ids; nothing was recorded`, { cause: failure }));
      const seq = stored.get(id);
      if (seq !== undefined) return this.#line.replay(seq);
    }
    try {
      return this.#enter(req);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
