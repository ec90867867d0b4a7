/**
 * One log's write path: sequencing, integration and publishing in one group
 * commit.
 *
 * Guarantees
 * - `append` resolves to a receipt only after its entry, the Merkle nodes it
 *   completes and a signed checkpoint covering it are durable (one synced
 *   LevelDB batch, see LedgerStore.commit). It never resolves for an entry
 *   that a crash could lose.
 * - Concurrent appends are grouped: one synced batch and one checkpoint
 *   signature per group, so throughput rises with concurrency.
 * - Groups commit strictly in order. The next group is built (signed, hashed,
 *   integrated) while the previous one syncs, and handed to the store at
 *   once, so groups that are ready together share one synced write; if a
 *   commit fails, every group built on top of it fails too (the store refuses
 *   the log's later groups) and the state is reloaded from storage.
 * - The queue is bounded: past `maxQueue` waiting appends, `append` fails at
 *   once with RESOURCE_EXHAUSTED and a retry hint, never an unbounded queue.
 * - A `requestId` already recorded (or in flight) in this log returns the
 *   original entry, never a second one.
 * - Appends get seqs in the order `append` was called, also when one of them
 *   waits for its requestId to be looked up in storage.
 * - With `genesis`, a new log's seq 0 is that entry (a key-history entry
 *   after key rotations), written in the log's first group, before any
 *   client entry; a failed first group leaves the log empty, so it is
 *   written again by the next one.
 * - With `headKeys`, a log whose head checkpoint is signed by none of them
 *   refuses appends (FAILED_PRECONDITION): extending it would switch keys
 *   without a rotation entry, which every verifier rejects.
 */
import { CairnError } from '../core/errors.js';
import { ZERO_HASH, type SignedEntry } from '../core/entry.js';
import { CompactRange, inclusionProofPlan, leafHash, type NodeId } from '../core/merkle.js';
import { parseCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { ecdsaKeyId, ecdsaNoteVerifier, openNote, parseNote } from '../core/note.js';
import { bytesEqual } from '../core/bytes.js';
import type { ValidAppend } from '../core/append-request.js';
import type { NoteSigner } from '../core/note.js';
import type { CommitGroup, LedgerStore } from '../storage/ledger-store.js';
import type { ChainSigner, EntryFields } from './chain-signer.js';

export interface SignedCheckpoint {
  log: string;
  size: number;
  rootHash: Uint8Array;
  /** The C2SP signed note. */
  note: string;
}

export interface Receipt {
  entry: SignedEntry;
  checkpoint: SignedCheckpoint;
  /** RFC 6962 audit path of entry.seq in checkpoint.size. */
  inclusionProof: Uint8Array[];
  /** True when the requestId had been recorded before and this is the original entry. */
  replayed: boolean;
}

export interface SequencerOptions {
  maxBatch: number;
  maxQueue: number;
  /** Checkpoint origin line: `<node name>/<log>`. */
  origin: string;
  /** Written as seq 0 of a new log, before its first client entry. */
  genesis?: EntryFields;
  /** Keys the stored head checkpoint must be signed by (any one); unchecked when absent. */
  headKeys?: readonly Uint8Array[];
  /** requestIds kept in memory, newest last (default REMEMBERED_REQUESTS); older ones are looked up in storage. */
  rememberedRequests?: number;
}

export interface SequencerHooks {
  /** Called after each durable group, in order. */
  committed?(log: string, checkpoint: SignedCheckpoint, entries: number, batchStartNs: bigint): void;
}

interface Pending {
  req: ValidAppend;
  resolve(r: Receipt): void;
  reject(e: unknown): void;
}

interface TreeState {
  size: number;
  lastHash: Uint8Array;
  lastTimeMs: number;
  range: CompactRange;
  /** Hashes of the complete subtrees of [0, size): what a proof for a new entry needs from before its group. */
  frontier: Map<string, Uint8Array>;
}

const nodeKey = (id: NodeId): string => `${id.level}/${id.index}`;
/** requestIds a log keeps in memory (default of SequencerOptions.rememberedRequests). */
const REMEMBERED_REQUESTS = 100_000;
// Bounds the groups between signing and durable: one signing, the rest waiting for or in a write.
const MAX_INFLIGHT_GROUPS = 3;
/**
 * The least a group cut while an earlier one is still on its way to disk
 * holds, unless no append has joined it for one I/O turn. Each group pays
 * fixed costs (a checkpoint signature, two thread hops, its part of a write)
 * however few entries it carries; appends still arriving do better waiting
 * for the pipeline to free. Measured against cutting a group whenever
 * signing is free, AppendStream at concurrency 64, alternating runs: 10-15%
 * less node CPU per append, 0-19% more appends/s with the signing worker and
 * 30-50% more with inline signing. Waiting on for appends that no longer
 * come (fewer clients than this, all already in line) only idled the signer:
 * cutting once the line has stood still for a turn gave concurrency 16
 * 3,454-3,711 instead of 2,680-3,159 appends/s at 285-293 instead of 345-401
 * us of node CPU each, concurrency 64 unchanged (alternating runs). An idle
 * log still starts each group at once.
 */
const MIN_OVERLAPPING_GROUP = 32;

export class LogSequencer {
  readonly log: string;
  readonly #store: LedgerStore;
  readonly #chain: ChainSigner;
  readonly #noteSigner: NoteSigner;
  readonly #opts: Readonly<SequencerOptions>;
  readonly #hooks: SequencerHooks;
  /** Next seq to assign and the time floor: ahead of what is durable while groups are in flight. */
  #nextSeq: number;
  #lastTimeMs: number;
  /** The tree as integrated so far (ahead of what is durable while groups are in flight). */
  #tree: TreeState;
  #integrateTail: Promise<void> = Promise.resolve();
  #committed: SignedCheckpoint;
  #headKey: Uint8Array | undefined;
  #queue: Pending[] = [];
  #inflight = 0;
  #tail: Promise<void> = Promise.resolve();
  #broken: CairnError | undefined;
  #scheduled = false;
  /**
   * Appends, in call order, that wait for requestIds to be looked up in
   * storage, with every append that came after them (`append`).
   */
  #intake: { req: ValidAppend; settle: (r: Promise<Receipt>) => void }[] = [];
  #lookingUp = false;
  /** A group of this log is being signed: the next one waits and grows meanwhile. */
  #signing = false;
  /** The queue's length when #pump last held back a group that was not yet MIN_OVERLAPPING_GROUP long. */
  #heldAt = -1;
  #closed = false;
  readonly #requestsInFlight = new Map<string, Promise<Receipt>>();
  readonly #requestsDone = new Map<string, number>();
  /**
   * #requestsDone holds every requestId this log has ever recorded, so an id
   * missing there is new without asking storage: true from open for a log of
   * at most `rememberedRequests` entries, false once one is forgotten.
   */
  #requestsAllKnown = false;
  get #remembered(): number {
    return this.#opts.rememberedRequests ?? REMEMBERED_REQUESTS;
  }
  readonly #waiters = new Set<() => void>();

  private constructor(log: string, store: LedgerStore, chain: ChainSigner, noteSigner: NoteSigner, opts: SequencerOptions, hooks: SequencerHooks, state: TreeState, cp: SignedCheckpoint) {
    this.log = log;
    this.#store = store;
    this.#chain = chain;
    this.#noteSigner = noteSigner;
    this.#opts = opts;
    this.#hooks = hooks;
    this.#tree = state;
    this.#nextSeq = state.size;
    this.#lastTimeMs = state.lastTimeMs;
    this.#committed = cp;
    chain.reset(log, state.lastHash);
  }

  static async open(log: string, store: LedgerStore, chain: ChainSigner, noteSigner: NoteSigner, opts: SequencerOptions, hooks: SequencerHooks = {}): Promise<LogSequencer> {
    const { state, checkpoint, damage, keyDamage, headKey } = await LogSequencer.#load(log, store, noteSigner, opts);
    const s = new LogSequencer(log, store, chain, noteSigner, opts, hooks, state, checkpoint);
    // A storage read per batch of new ids is a thread hop in front of every such append
    // (AppendStream at concurrency 64: a quarter fewer appends/s): read them all once instead, while that is small.
    if (state.size <= s.#remembered) {
      for (const [id, seq] of await store.readRequestIds(log)) s.#requestsDone.set(id, seq);
      s.#requestsAllKnown = true;
    }
    s.#headKey = headKey;
    s.#broken = LogSequencer.#damageError(log, damage, keyDamage);
    return s;
  }

  static #damageError(log: string, damage: string | undefined, keyDamage: string | undefined): CairnError | undefined {
    if (damage) return new CairnError('CORRUPTION', `log ${log}: ${damage}; appends refused (run cairn verify)`);
    if (keyDamage) return new CairnError('FAILED_PRECONDITION', `log ${log}: ${keyDamage}; appends refused`);
    return undefined;
  }

  /** Which of `headKeys` signed the stored head checkpoint (undefined for an empty log, or when none did). */
  get headKey(): Uint8Array | undefined {
    return this.#headKey;
  }

  static async #load(
    log: string,
    store: LedgerStore,
    noteSigner: NoteSigner,
    opts: SequencerOptions,
  ): Promise<{ state: TreeState; checkpoint: SignedCheckpoint; damage?: string | undefined; keyDamage?: string | undefined; headKey?: Uint8Array | undefined }> {
    const origin = opts.origin;
    const head = await store.getHead(log);
    if (!head) {
      const range = CompactRange.empty();
      const rootHash = range.root();
      return {
        state: { size: 0, lastHash: ZERO_HASH, lastTimeMs: 0, range, frontier: new Map() },
        // An empty log's checkpoint is signed on demand and never stored.
        checkpoint: { log, size: 0, rootHash, note: signCheckpoint({ origin, size: 0, rootHash, extensions: [] }, noteSigner) },
      };
    }
    const ids = CompactRange.nodesFor(head.size);
    const hashes = await store.getNodes(log, ids);
    const range = CompactRange.fromNodes(head.size, hashes);
    const frontier = new Map<string, Uint8Array>();
    ids.forEach((id, i) => frontier.set(nodeKey(id), hashes[i]!));
    const cp = await store.getCheckpoint(log, head.size);
    if (!cp) throw new CairnError('CORRUPTION', `log ${log}: no checkpoint for head size ${head.size}`);
    // Refuse to extend a log whose stored state disagrees with itself: appending
    // on top would sign over the damage. (Full verification is `cairn verify`.)
    // Reads stay available so that an auditor can find the damage with `cairn verify`.
    let damage: string | undefined;
    let signedRoot: Uint8Array | undefined;
    try {
      signedRoot = parseCheckpoint(cp.note.slice(0, cp.note.lastIndexOf('\n\n') + 1)).rootHash;
    } catch {
      damage = `the stored checkpoint at size ${head.size} does not parse`;
    }
    if (signedRoot && !bytesEqual(signedRoot, range.root())) damage = `stored Merkle nodes do not match the signed checkpoint at size ${head.size}`;
    const last = await store.getEntry(log, head.size - 1).catch(() => undefined);
    if (!last || !bytesEqual(last.hash, head.lastHash)) damage ??= `the head does not match entry ${head.size - 1}`;
    let headKey: Uint8Array | undefined;
    let keyDamage: string | undefined;
    if (opts.headKeys && !damage) {
      headKey = signingKeyOf(cp.note, opts.headKeys);
      if (!headKey) {
        const ids = opts.headKeys.map((k) => ecdsaKeyId(k).toString(16).padStart(8, '0')).join(', ');
        keyDamage = `the checkpoint at size ${head.size} is not signed by the node's signing key (${ids}): the key changed without a rotation entry; put the previous key back and run cairn rotate-key`;
      }
    }
    return {
      state: { size: head.size, lastHash: head.lastHash, lastTimeMs: head.lastTimeMs, range, frontier },
      checkpoint: { log, size: head.size, rootHash: signedRoot ?? range.root(), note: cp.note },
      damage,
      keyDamage,
      headKey,
    };
  }

  /** The latest durable checkpoint. */
  get checkpoint(): SignedCheckpoint {
    return this.#committed;
  }

  get size(): number {
    return this.#committed.size;
  }

  get queueLength(): number {
    return this.#queue.length;
  }

  /**
   * Resolves at the next durable group, at close, or when `signal` aborts (the
   * waiter is then dropped, so cancelled followers of an idle log leave nothing behind).
   */
  nextCommit(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || this.#closed) return resolve();
      const done = (): void => {
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Records one validated request.
   * @throws CairnError RESOURCE_EXHAUSTED when the queue is full; UNAVAILABLE if storage failed
   */
  async append(req: ValidAppend): Promise<Receipt> {
    if (this.#closed) throw new CairnError('UNAVAILABLE', 'node is shutting down');
    if (this.#broken && this.#inflight === 0) throw this.#broken;
    const id = req.requestId;
    if (id) {
      // A retry of a request this node recorded or is recording: no lookup, no new seq.
      const known = this.#lookupRequest(id);
      if (known) return known;
    }
    // The common case: no requestId to look up and nobody ahead still looking: in line at once.
    if ((!id || this.#requestsAllKnown) && !this.#lookingUp) return this.#enqueue(req);
    // Otherwise in call order behind the appends being looked up, so that one
    // stream's appends get seqs in request order.
    if (this.#intake.length >= this.#opts.maxQueue) {
      throw new CairnError('RESOURCE_EXHAUSTED', `log ${this.log}: append queue is full (${this.#opts.maxQueue}); retry later`, { retryAfterMs: 50 });
    }
    const r = new Promise<Promise<Receipt>>((settle) => this.#intake.push({ req, settle }));
    if (!this.#lookingUp) void this.#drainIntake();
    return r;
  }

  /**
   * Looks up the requestIds of everything in the intake with one storage read
   * (one at a time, a stream whose every append carries an id got half the
   * appends/s: measured), then puts each append in line, in call order.
   */
  async #drainIntake(): Promise<void> {
    this.#lookingUp = true;
    try {
      await this.#lookUpIntake();
    } finally {
      this.#lookingUp = false;
    }
  }

  async #lookUpIntake(): Promise<void> {
    while (this.#intake.length > 0) {
      const batch = this.#intake.splice(0);
      // Only reached while #requestsAllKnown is false: it starts true or never, and only turns false.
      const ids = [...new Set(batch.flatMap((p) => (p.req.requestId && !this.#remembers(p.req.requestId) ? [p.req.requestId] : [])))];
      let stored: Map<string, number>;
      let failed: unknown;
      try {
        stored = await this.#store.getRequestSeqs(this.log, ids);
      } catch (err) {
        stored = new Map();
        failed = err;
      }
      for (const { req, settle } of batch) {
        const id = req.requestId;
        if (id) {
          // Checked again: an earlier duplicate in this batch, or one since, may be in line now.
          const known = this.#lookupRequest(id);
          if (known) {
            settle(known);
            continue;
          }
          if (failed) {
            settle(Promise.reject(new CairnError('UNAVAILABLE', `log ${this.log}: cannot read request ids; nothing was recorded`, { cause: failed })));
            continue;
          }
          const seq = stored.get(id);
          if (seq !== undefined) {
            settle(this.#replay(seq));
            continue;
          }
        }
        settle(this.#enqueue(req));
      }
    }
  }

  /** Puts a request in line (synchronously) and returns its receipt. */
  #enqueue(req: ValidAppend): Promise<Receipt> {
    // Closed while this append waited in line: close() has already failed the queue.
    if (this.#closed) return Promise.reject(new CairnError('UNAVAILABLE', 'node is shutting down'));
    if (this.#queue.length >= this.#opts.maxQueue) {
      return Promise.reject(new CairnError('RESOURCE_EXHAUSTED', `log ${this.log}: append queue is full (${this.#opts.maxQueue}); retry later`, { retryAfterMs: 50 }));
    }
    const p = new Promise<Receipt>((resolve, reject) => this.#queue.push({ req, resolve, reject }));
    const id = req.requestId;
    if (id) {
      this.#requestsInFlight.set(id, p);
      p.then(
        (r) => this.#remember(id, r.entry.seq),
        () => this.#requestsInFlight.delete(id),
      );
    }
    this.#schedule();
    return p;
  }

  /** This node is recording, or recently recorded, request `id` (no storage read needed). */
  #remembers(id: string): boolean {
    return this.#requestsInFlight.has(id) || this.#requestsDone.has(id);
  }

  #lookupRequest(id: string): Promise<Receipt> | undefined {
    const p = this.#requestsInFlight.get(id);
    if (p) return p.then((r) => ({ ...r, replayed: true }));
    const seq = this.#requestsDone.get(id);
    return seq === undefined ? undefined : this.#replay(seq);
  }

  #remember(id: string, seq: number): void {
    this.#requestsInFlight.delete(id);
    if (this.#requestsDone.size >= this.#remembered) {
      // Oldest first: Map iteration order is insertion order. Forgotten ids are still in storage.
      const oldest = this.#requestsDone.keys().next().value;
      if (oldest !== undefined) this.#requestsDone.delete(oldest);
      this.#requestsAllKnown = false;
    }
    this.#requestsDone.set(id, seq);
  }

  async #replay(seq: number): Promise<Receipt> {
    const entry = await this.#store.getEntry(this.log, seq);
    if (!entry) throw new CairnError('CORRUPTION', `log ${this.log}: request index points at missing entry ${seq}`);
    const checkpoint = this.#committed;
    const plan = inclusionProofPlan(seq, checkpoint.size);
    const proof = plan.finish(await this.#store.getNodes(this.log, plan.nodes));
    return { entry, checkpoint, inclusionProof: proof, replayed: true };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate lets the appends that arrived in this I/O turn join the group.
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /**
   * Starts the next group when signing is free. A log's signatures are
   * sequential (each body names the previous hash), so a second group sent to
   * the signer would only wait there; waiting here instead lets every append
   * that arrives meanwhile join it. Groups therefore grow with load, and the
   * groups that are signed while a write is in flight share the next one.
   * While an earlier group is in flight, a new one waits for
   * MIN_OVERLAPPING_GROUP appends, for that group to be durable, or for an
   * I/O turn in which nobody joined it.
   */
  #pump(): void {
    const n = this.#queue.length;
    if (n === 0 || this.#signing || this.#inflight >= MAX_INFLIGHT_GROUPS || this.#broken) return;
    const enough = this.#inflight === 0 ? 1 : Math.min(MIN_OVERLAPPING_GROUP, this.#opts.maxBatch);
    // Held back once and nothing has joined since: whoever was coming has come, so waiting only idles the signer.
    const settled = n === this.#heldAt;
    if (n >= enough || settled) {
      this.#heldAt = -1;
      this.#buildGroup(this.#queue.splice(0, this.#opts.maxBatch));
      return;
    }
    this.#heldAt = n;
    this.#schedule();
  }

  #buildGroup(batch: Pending[]): void {
    const startNs = process.hrtime.bigint();
    // A new log's first group starts with the genesis entry; the batch follows it.
    const genesis = this.#nextSeq === 0 && this.#opts.genesis ? [this.#opts.genesis] : [];
    const startSeq = this.#nextSeq + genesis.length;
    this.#nextSeq += genesis.length + batch.length;
    const timeMs = Math.max(Date.now(), this.#lastTimeMs);
    this.#lastTimeMs = timeMs;
    const requests = batch.flatMap((p, i) => (p.req.requestId ? [{ requestId: p.req.requestId, seq: startSeq + i }] : []));
    this.#inflight++;
    // Stage 1, sequencing and signing: may run on the signing thread while earlier groups integrate or sync.
    const signed = this.#chain.sign(this.log, startSeq - genesis.length, new Date(timeMs).toISOString(), [...genesis, ...batch.map((p) => p.req)]);
    this.#signing = true;
    signed.then(
      () => {
        this.#signing = false;
        this.#pump();
      },
      () => {
        this.#signing = false;
      },
    );
    // Stage 2, integration and publishing: in order, on this thread.
    const integrated = this.#integrateTail.then(async () => {
      if (this.#broken) throw this.#broken;
      let entries: SignedEntry[];
      try {
        entries = await signed;
      } catch (cause) {
        this.#broken ??= cause instanceof CairnError ? cause : new CairnError('UNAVAILABLE', `log ${this.log}: signing failed`, { cause });
        throw this.#broken;
      }
      return this.#integrate(entries, timeMs, requests);
    });
    this.#integrateTail = integrated.then(
      () => undefined,
      () => undefined,
    );
    // Stage 3, durability: handed to the store as soon as it is integrated, so
    // that groups which are ready while a write is in flight share the next
    // synced batch; the store keeps them in this order.
    const commit = integrated.then(async (g) => {
      if (this.#broken) throw this.#broken;
      try {
        await this.#store.commit(this.log, g.group);
      } catch (cause) {
        this.#broken ??= new CairnError('UNAVAILABLE', `log ${this.log}: storage write failed; nothing of this request was acknowledged`, { cause });
        throw this.#broken;
      }
      return g;
    });
    this.#tail = this.#tail.then(
      () => commit.then(
        () => undefined,
        () => undefined,
      ),
    );
    commit.then(
      ({ group, checkpoint, nodes }) => {
        this.#inflight--;
        this.#committed = checkpoint;
        const size = checkpoint.size;
        for (let i = 0; i < batch.length; i++) {
          const e = group.entries[genesis.length + i]!;
          const plan = inclusionProofPlan(e.seq, size);
          // Every node a new entry's path needs is in its group or the frontier before it.
          const proof = plan.finish(plan.nodes.map((id) => nodes.get(nodeKey(id))!));
          batch[i]!.resolve({ entry: e, checkpoint, inclusionProof: proof, replayed: false });
        }
        this.#hooks.committed?.(this.log, checkpoint, batch.length, startNs);
        this.#wake();
        this.#pump();
      },
      (cause) => this.#fail(batch, cause),
    );
  }

  /** Extends the tree with a signed group and signs its checkpoint. */
  #integrate(entries: SignedEntry[], timeMs: number, requests: { requestId: string; seq: number }[]): { group: CommitGroup; checkpoint: SignedCheckpoint; nodes: Map<string, Uint8Array> } {
    const t = this.#tree;
    const nodes = new Map(t.frontier);
    const written: { id: NodeId; hash: Uint8Array }[] = [];
    const range = t.range.clone();
    for (const e of entries) {
      for (const n of range.append(leafHash(e.hash))) {
        nodes.set(nodeKey(n.id), n.hash);
        written.push(n);
      }
    }
    const size = range.size;
    const rootHash = range.root();
    const note = signCheckpoint({ origin: this.#opts.origin, size, rootHash, extensions: [] }, this.#noteSigner);
    const checkpoint: SignedCheckpoint = { log: this.log, size, rootHash, note };
    const frontier = new Map<string, Uint8Array>();
    for (const id of CompactRange.nodesFor(size)) frontier.set(nodeKey(id), nodes.get(nodeKey(id))!);
    const lastHash = entries[entries.length - 1]!.hash;
    this.#tree = { size, lastHash, lastTimeMs: timeMs, range, frontier };
    const group: CommitGroup = { entries, nodes: written, requests, checkpoint: { size, note }, head: { size, lastHash, lastTimeMs: timeMs } };
    return { group, checkpoint, nodes };
  }

  #fail(batch: Pending[], cause: unknown): void {
    this.#inflight--;
    for (const p of batch) p.reject(cause);
    // Every group built on the failed one fails too (see the commit chain); once
    // the last has, rebuild the state from what is durable and go on.
    if (this.#inflight === 0) void this.#reload();
  }

  async #reload(): Promise<void> {
    try {
      const { state, checkpoint, damage, keyDamage, headKey } = await LogSequencer.#load(this.log, this.#store, this.#noteSigner, this.#opts);
      this.#store.recovered(this.log);
      this.#tree = state;
      this.#nextSeq = state.size;
      this.#lastTimeMs = state.lastTimeMs;
      this.#committed = checkpoint;
      this.#headKey = headKey;
      this.#chain.reset(this.log, state.lastHash);
      this.#broken = LogSequencer.#damageError(this.log, damage, keyDamage);
      if (this.#broken) for (const p of this.#queue.splice(0)) p.reject(this.#broken);
      this.#pump();
    } catch (e) {
      const fatal = new CairnError('UNAVAILABLE', `log ${this.log}: cannot reload after a failed write`, { cause: e });
      this.#broken = fatal;
      for (const p of this.#queue.splice(0)) p.reject(fatal);
    }
  }

  #wake(): void {
    for (const f of [...this.#waiters]) f();
  }

  /** Followers waiting for the next group (for tests and metrics). */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Stops taking appends, waits for groups in flight, fails what never started. */
  async close(): Promise<void> {
    this.#closed = true;
    const err = new CairnError('UNAVAILABLE', 'node is shutting down');
    for (const p of this.#queue.splice(0)) p.reject(err);
    await this.#tail;
    this.#wake();
  }
}

/** The key of `keys` whose signature on the note verifies (under the name on its line), or undefined. */
function signingKeyOf(note: string, keys: readonly Uint8Array[]): Uint8Array | undefined {
  let lines;
  try {
    lines = parseNote(note).signatures;
  } catch {
    return undefined;
  }
  for (const key of keys) {
    const id = ecdsaKeyId(key);
    for (const line of lines) {
      if (line.keyId !== id) continue;
      try {
        openNote(note, [ecdsaNoteVerifier(line.name, key)]);
        return key;
      } catch {
        // Not this (name, key): try the next line.
      }
    }
  }
  return undefined;
}
