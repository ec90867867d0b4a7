/**
 * One log's write path. Each append is sequenced (validated, signed,
 * hash-chained and given its seq), integrated (the Merkle tree is extended)
 * and checkpointed (a signed C2SP checkpoint covers it); the three are made
 * durable together in one group commit, and only then is the append
 * acknowledged. Anchoring follows asynchronously (anchoring/pipeline.ts).
 * Whether a requestId is new is decided by RequestIds (request-ids.ts).
 *
 * Guarantees
 * - `append` resolves to a receipt only after its entry, the Merkle nodes it
 *   completes and a signed checkpoint covering it are durable (the group
 *   commit: one synced LevelDB batch, see LedgerStore.commit). It never
 *   resolves for an entry that a crash could lose.
 * - Concurrent appends are grouped: one group commit and one checkpoint
 *   signature per group, so throughput rises with concurrency.
 * - Groups commit strictly in order. The next group is sequenced, integrated
 *   and checkpointed while the previous one syncs, and handed to the store at
 *   once, so groups that are ready together share one synced write; if a
 *   group commit fails, every group built on top of it fails too (the store
 *   refuses the log's later groups) and the state is reloaded from storage.
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
import type { CommitGroup, Head, LedgerStore } from '../storage/ledger-store.js';
import type { ChainSigner, EntryFields } from './chain-signer.js';
import { RequestIds } from './request-ids.js';

/** Entries of the last groups kept for followers near the tip (a few groups at full rate; bounded memory). */
const RECENT_ENTRIES = 4096;

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

/** A log's state as storage holds it. */
interface Loaded {
  state: TreeState;
  checkpoint: SignedCheckpoint;
  /** Why appends are refused, when the stored state disagrees with itself or with `headKeys`. */
  broken: CairnError | undefined;
  headKey: Uint8Array | undefined;
}

/** A group after integrate and checkpoint: what the group commit writes, and the nodes its receipts' proofs need. */
interface Integrated {
  group: CommitGroup;
  checkpoint: SignedCheckpoint;
  nodes: Map<string, Uint8Array>;
}

const nodeKey = (id: NodeId): string => `${id.level}/${id.index}`;
/** requestIds a log keeps in memory (default of SequencerOptions.rememberedRequests). */
const REMEMBERED_REQUESTS = 100_000;
// Bounds the groups between sequence and durable: one being signed, the rest waiting for or in a write.
const MAX_INFLIGHT_GROUPS = 3;
/**
 * The least a group cut while an earlier one is still on its way to disk
 * holds, unless no append has joined it for one I/O turn. Each group pays
 * fixed costs (a checkpoint signature, two thread hops, its part of a write)
 * however few entries it carries, so appends still arriving do better
 * waiting for the pipeline to free (about 10-15% less node CPU per append at
 * concurrency 64; docs/design.md). Waiting on for appends that no longer come
 * (fewer clients than this, all already in line) would only idle the signer,
 * hence the cut once the line has stood still for a turn. An idle log still
 * starts each group at once.
 */
const MIN_OVERLAPPING_GROUP = 32;

const shuttingDown = (): CairnError => new CairnError('UNAVAILABLE', 'node is shutting down');

export class LogSequencer {
  readonly log: string;
  readonly #store: LedgerStore;
  readonly #chain: ChainSigner;
  readonly #noteSigner: NoteSigner;
  readonly #opts: Readonly<SequencerOptions>;
  readonly #hooks: SequencerHooks;
  readonly #requests: RequestIds<ValidAppend, Receipt>;
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
  /** Settles after the last group commit handed to the store (close waits for it). */
  #tail: Promise<void> = Promise.resolve();
  #broken: CairnError | undefined;
  #scheduled = false;
  /** A group of this log is being signed: the next one waits and grows meanwhile. */
  #signing = false;
  /** The queue's length when #pump last held back a group that was not yet MIN_OVERLAPPING_GROUP long. */
  #heldAt = -1;
  #closed = false;
  readonly #waiters = new Set<() => void>();
  /** The last durable groups' entries, oldest first, for followers near the tip (Ledger.follow); at most about RECENT_ENTRIES. */
  #recent: (readonly SignedEntry[])[] = [];
  #recentCount = 0;

  private constructor(log: string, store: LedgerStore, chain: ChainSigner, noteSigner: NoteSigner, opts: SequencerOptions, hooks: SequencerHooks, loaded: Loaded) {
    this.log = log;
    this.#store = store;
    this.#chain = chain;
    this.#noteSigner = noteSigner;
    this.#opts = opts;
    this.#hooks = hooks;
    this.#requests = new RequestIds(log, store, { enter: (req) => this.#enter(req), replay: (seq) => this.#replay(seq) }, {
      remembered: opts.rememberedRequests ?? REMEMBERED_REQUESTS,
      maxWaiting: opts.maxQueue,
    });
    this.#tree = loaded.state;
    this.#nextSeq = loaded.state.size;
    this.#lastTimeMs = loaded.state.lastTimeMs;
    this.#committed = loaded.checkpoint;
    this.#recent = [];
    this.#recentCount = 0;
    this.#headKey = loaded.headKey;
    this.#broken = loaded.broken;
    chain.reset(log, loaded.state.lastHash);
  }

  static async open(log: string, store: LedgerStore, chain: ChainSigner, noteSigner: NoteSigner, opts: SequencerOptions, hooks: SequencerHooks = {}): Promise<LogSequencer> {
    const loaded = await LogSequencer.#load(log, store, noteSigner, opts);
    const s = new LogSequencer(log, store, chain, noteSigner, opts, hooks, loaded);
    await s.#requests.preload(loaded.state.size);
    return s;
  }

  /** Which of `headKeys` signed the stored head checkpoint (undefined for an empty log, or when none did). */
  get headKey(): Uint8Array | undefined {
    return this.#headKey;
  }

  /**
   * Reads the log's durable state and checks it against itself: appending on
   * top of damage would sign over it. Reads stay available so that an
   * auditor can find the damage with `cairn verify` (the full verification).
   */
  static async #load(log: string, store: LedgerStore, noteSigner: NoteSigner, opts: SequencerOptions): Promise<Loaded> {
    const head = await store.getHead(log);
    if (!head) return emptyLog(log, opts.origin, noteSigner);
    const ids = CompactRange.nodesFor(head.size);
    const hashes = await store.getNodes(log, ids);
    const range = CompactRange.fromNodes(head.size, hashes);
    const frontier = new Map(ids.map((id, i): [string, Uint8Array] => [nodeKey(id), hashes[i]!]));
    const cp = await store.getCheckpoint(log, head.size);
    if (!cp) throw new CairnError('CORRUPTION', `log ${log}: no checkpoint for head size ${head.size}`);
    const signedRoot = signedRootOf(cp.note);
    const damage = await LogSequencer.#damage(log, store, head, range, signedRoot);
    const headKey = opts.headKeys && damage === undefined ? signingKeyOf(cp.note, opts.headKeys) : undefined;
    let broken: CairnError | undefined;
    if (damage !== undefined) broken = new CairnError('CORRUPTION', `log ${log}: ${damage}; appends refused (run cairn verify)`);
    else if (opts.headKeys && !headKey) broken = new CairnError('FAILED_PRECONDITION', `log ${log}: ${keyChanged(head.size, opts.headKeys)}; appends refused`);
    return {
      state: { size: head.size, lastHash: head.lastHash, lastTimeMs: head.lastTimeMs, range, frontier },
      checkpoint: { log, size: head.size, rootHash: signedRoot ?? range.root(), note: cp.note },
      broken,
      headKey,
    };
  }

  /** What is wrong with the stored head, its Merkle nodes and its checkpoint (undefined: they agree). */
  static async #damage(log: string, store: LedgerStore, head: Head, range: CompactRange, signedRoot: Uint8Array | undefined): Promise<string | undefined> {
    let damage: string | undefined;
    if (!signedRoot) damage = `the stored checkpoint at size ${head.size} does not parse`;
    else if (!bytesEqual(signedRoot, range.root())) damage = `stored Merkle nodes do not match the signed checkpoint at size ${head.size}`;
    const last = await store.getEntry(log, head.size - 1).catch(() => undefined);
    if (!last || !bytesEqual(last.hash, head.lastHash)) damage ??= `the head does not match entry ${head.size - 1}`;
    return damage;
  }

  /** The latest durable checkpoint. */
  get checkpoint(): SignedCheckpoint {
    return this.#committed;
  }

  get size(): number {
    return this.#committed.size;
  }

  /**
   * The durable entries from `start` to the size, when the last groups
   * still hold them (undefined otherwise): followers near the tip take them
   * from here instead of each reading storage, and share the objects.
   */
  recentFrom(start: number): SignedEntry[] | undefined {
    const groups = this.#recent;
    if (groups.length === 0 || start < groups[0]![0]!.seq) return undefined;
    const out: SignedEntry[] = [];
    for (const g of groups) {
      const first = g[0]!.seq;
      if (start >= first + g.length) continue;
      for (let i = Math.max(0, start - first); i < g.length; i++) out.push(g[i]!);
    }
    return out;
  }

  #remember(entries: readonly SignedEntry[]): void {
    this.#recent.push(entries);
    this.#recentCount += entries.length;
    while (this.#recent.length > 1 && this.#recentCount - this.#recent[0]!.length >= RECENT_ENTRIES) this.#recentCount -= this.#recent.shift()!.length;
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
    if (this.#closed) throw shuttingDown();
    if (this.#broken && this.#inflight === 0) throw this.#broken;
    return this.#requests.admit(req);
  }

  /**
   * Puts a request in line (synchronously) and returns its receipt: the
   * RequestIds' way in, once it has found the request new.
   * @throws CairnError UNAVAILABLE when closed, RESOURCE_EXHAUSTED when the queue is full
   */
  #enter(req: ValidAppend): Promise<Receipt> {
    // Closed while this append waited for a lookup: close() has already failed the queue.
    if (this.#closed) throw shuttingDown();
    if (this.#queue.length >= this.#opts.maxQueue) {
      throw new CairnError('RESOURCE_EXHAUSTED', `log ${this.log}: append queue is full (${this.#opts.maxQueue}); retry later`, { retryAfterMs: 50 });
    }
    const p = new Promise<Receipt>((resolve, reject) => this.#queue.push({ req, resolve, reject }));
    this.#schedule();
    return p;
  }

  /** The receipt of the entry recorded at `seq`, proved in the latest durable checkpoint. */
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
      this.#startGroup(this.#queue.splice(0, this.#opts.maxBatch));
      return;
    }
    this.#heldAt = n;
    this.#schedule();
  }

  /** Takes one group through sequence, integrate and checkpoint, and the group commit; acknowledges it once durable. */
  #startGroup(batch: Pending[]): void {
    const startNs = process.hrtime.bigint();
    // A new log's first group starts with the genesis entry; the batch follows it.
    const genesis = this.#nextSeq === 0 && this.#opts.genesis ? [this.#opts.genesis] : [];
    const firstSeq = this.#nextSeq;
    const startSeq = firstSeq + genesis.length;
    this.#nextSeq += genesis.length + batch.length;
    const timeMs = Math.max(Date.now(), this.#lastTimeMs);
    this.#lastTimeMs = timeMs;
    const requests = batch.flatMap((p, i) => (p.req.requestId ? [{ requestId: p.req.requestId, seq: startSeq + i }] : []));
    this.#inflight++;
    const signed = this.#sequence(firstSeq, timeMs, [...genesis, ...batch.map((p) => p.req)]);
    const integrated = this.#integrateInOrder(signed, timeMs, requests);
    const durable = this.#commitInOrder(integrated);
    durable.then(
      (g) => this.#acknowledge(batch, genesis.length, g, startNs),
      (cause) => this.#fail(batch, cause),
    );
  }

  /**
   * Sequence: signs and hash-chains the group as seqs firstSeq.., possibly
   * on the signing thread while earlier groups integrate or sync.
   */
  #sequence(firstSeq: number, timeMs: number, items: EntryFields[]): Promise<SignedEntry[]> {
    const signed = this.#chain.sign(this.log, firstSeq, new Date(timeMs).toISOString(), items);
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
    return signed;
  }

  /** Integrate and checkpoint, group after group in order, on this thread. */
  #integrateInOrder(signed: Promise<SignedEntry[]>, timeMs: number, requests: { requestId: string; seq: number }[]): Promise<Integrated> {
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
    return integrated;
  }

  /**
   * The group commit: handed to the store as soon as the group is
   * integrated, so that groups ready while a write is in flight share the
   * next synced batch; the store keeps them in this order.
   */
  #commitInOrder(integrated: Promise<Integrated>): Promise<Integrated> {
    const durable = integrated.then(async (g) => {
      if (this.#broken) throw this.#broken;
      try {
        await this.#store.commit(this.log, g.group);
      } catch (cause) {
        this.#broken ??= new CairnError('UNAVAILABLE', `log ${this.log}: storage write failed; nothing of this request was acknowledged`, { cause });
        throw this.#broken;
      }
      return g;
    });
    this.#tail = this.#tail.then(() =>
      durable.then(
        () => undefined,
        () => undefined,
      ),
    );
    return durable;
  }

  /** Extends the tree with a signed group (integrate) and signs its checkpoint (checkpoint). */
  #integrate(entries: SignedEntry[], timeMs: number, requests: { requestId: string; seq: number }[]): Integrated {
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

  /** Resolves a durable group's appends with their receipts (the genesis entry, if any, comes first and has no caller). */
  #acknowledge(batch: Pending[], genesis: number, { group, checkpoint, nodes }: Integrated, startNs: bigint): void {
    this.#inflight--;
    this.#committed = checkpoint;
    for (let i = 0; i < batch.length; i++) {
      const e = group.entries[genesis + i]!;
      const plan = inclusionProofPlan(e.seq, checkpoint.size);
      // Every node a new entry's path needs is in its group or the frontier before it.
      const proof = plan.finish(plan.nodes.map((id) => nodes.get(nodeKey(id))!));
      batch[i]!.resolve({ entry: e, checkpoint, inclusionProof: proof, replayed: false });
    }
    this.#remember(group.entries);
    this.#hooks.committed?.(this.log, checkpoint, batch.length, startNs);
    this.#wake();
    this.#pump();
  }

  #fail(batch: Pending[], cause: unknown): void {
    this.#inflight--;
    for (const p of batch) p.reject(cause);
    // Every group built on the failed one fails too (see #commitInOrder); once
    // the last has, rebuild the state from what is durable and go on.
    if (this.#inflight === 0) void this.#reload();
  }

  async #reload(): Promise<void> {
    let loaded: Loaded;
    try {
      loaded = await LogSequencer.#load(this.log, this.#store, this.#noteSigner, this.#opts);
    } catch (e) {
      this.#broken = new CairnError('UNAVAILABLE', `log ${this.log}: cannot reload after a failed write`, { cause: e });
      for (const p of this.#queue.splice(0)) p.reject(this.#broken);
      return;
    }
    this.#store.recovered(this.log);
    this.#tree = loaded.state;
    this.#nextSeq = loaded.state.size;
    this.#lastTimeMs = loaded.state.lastTimeMs;
    this.#committed = loaded.checkpoint;
    this.#headKey = loaded.headKey;
    this.#chain.reset(this.log, loaded.state.lastHash);
    this.#broken = loaded.broken;
    if (this.#broken) for (const p of this.#queue.splice(0)) p.reject(this.#broken);
    this.#pump();
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
    const err = shuttingDown();
    for (const p of this.#queue.splice(0)) p.reject(err);
    await this.#tail;
    this.#wake();
  }
}

/** An empty log: size 0, its checkpoint signed on demand and never stored. */
function emptyLog(log: string, origin: string, noteSigner: NoteSigner): Loaded {
  const range = CompactRange.empty();
  const rootHash = range.root();
  return {
    state: { size: 0, lastHash: ZERO_HASH, lastTimeMs: 0, range, frontier: new Map() },
    checkpoint: { log, size: 0, rootHash, note: signCheckpoint({ origin, size: 0, rootHash, extensions: [] }, noteSigner) },
    broken: undefined,
    headKey: undefined,
  };
}

/** The root hash a stored checkpoint note signs, or undefined when its body does not parse. */
function signedRootOf(note: string): Uint8Array | undefined {
  try {
    return parseCheckpoint(note.slice(0, note.lastIndexOf('\n\n') + 1)).rootHash;
  } catch {
    return undefined;
  }
}

function keyChanged(size: number, headKeys: readonly Uint8Array[]): string {
  const ids = headKeys.map((k) => ecdsaKeyId(k).toString(16).padStart(8, '0')).join(', ');
  return `the checkpoint at size ${size} is not signed by the node's signing key (${ids}): the key changed without a rotation entry; put the previous key back and run cairn rotate-key`;
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
