/**
 * One mirrored log: follows `origin`'s log `log` through one peer (the origin
 * itself, or a peer that mirrors it) and keeps a verified copy.
 *
 * Guarantees
 * - Nothing is stored unless verified from the ORIGIN's pinned key, exactly
 *   as `cairn verify` checks a log (src/core/log-verifier.ts: body, chain
 *   link, low-S signature, key rotations, the rebuilt RFC 6962 tree), never
 *   trusted because of who relayed it. A batch with one bad entry is
 *   refused whole ({@link MirrorRejected} names origin, log and seq).
 * - Signatures are checked on worker threads (client/signature-pool.ts, one
 *   pool for every mirrored log of the node) while the main thread checks
 *   the rest in order, as `cairn verify` does; a batch is stored only after
 *   all its signatures verified, each under the key in force at its seq.
 * - A newer checkpoint is accepted only once the entries up to its size,
 *   verified on top of the accepted tree, rebuild its root: it then extends
 *   the accepted one by construction. The checkpoint comes with the Watch
 *   stream (on the last entry of each group, ledger.proto Entry.checkpoint),
 *   so following costs no call per group; from a peer that sends none, it is
 *   asked for with a consistency proof from the accepted one (RFC 6962
 *   section 2.1.2), checked before any entry is read.
 * - Entries, the tree nodes they complete, the checkpoint accepted with them
 *   and the new position go to storage in ONE synced batch per verified
 *   batch (storage/mirror-store.ts): after kill -9 the mirror resumes from
 *   the last batch, with no entry twice and no gap.
 * - Push-driven and bounded: entries arrive on the peer's Watch stream (read
 *   by seq from the peer's storage, so a mirror that falls behind is fed
 *   from disk, not memory); at most {@link MirrorOptions.maxBatch} entries
 *   are verified per batch and reading pauses while a few batches wait.
 * - A checkpoint that contradicts one accepted before (same size and
 *   another root, a smaller tree, a failed consistency proof, or a tree its
 *   own signed entries do not rebuild) stops the mirror with
 *   {@link MirrorConflict}, keeping both signed notes.
 */
import { LogVerifier, openLogCheckpointWithKeys } from '../core/log-verifier.js';
import { followKeyChain } from '../core/key-chain.js';
import { EMPTY_ROOT, type NodeId, verifyConsistency } from '../core/merkle.js';
import { bytesEqual, toHex } from '../core/bytes.js';
import { isVerificationError, VerificationError } from '../core/errors.js';
import type { SignedEntry } from '../core/entry.js';
import type { Equivocation, EquivocationKind } from '../core/federation.js';
import type { LedgerClient } from '../client/ledger-client.js';
import type { SignaturePool } from '../client/signature-pool.js';
import type { MirrorLogs } from '../ledger/mirror-logs.js';

export interface MirrorOptions {
  /** Entries verified and stored per batch at most. */
  maxBatch: number;
  /** Checks entry signatures off the main thread (shared by the node's mirrors); without it they are checked inline. */
  signatures?: SignaturePool;
  /** After each durable batch: entries stored, and the checkpoint size accepted with them (undefined: none). */
  stored?(entries: number, acceptedSize: number | undefined): void;
  /** After a checkpoint is accepted and stored: its note and the witnesses' cosignature lines the peer served with it (unchecked). */
  accepted?(note: string, cosignatures: readonly string[]): void;
}

/** A batch a peer sent that does not verify: nothing of it was stored. */
export class MirrorRejected extends Error {
  readonly origin: string;
  readonly log: string;
  readonly seq: number | undefined;
  readonly peer: string;
  readonly code: string;
  constructor(peer: string, origin: string, log: string, err: VerificationError) {
    const seq = typeof err.evidence.seq === 'number' ? err.evidence.seq : undefined;
    super(`peer ${peer} relayed origin ${origin} log ${log}${seq === undefined ? '' : ` entry ${seq}`} that fails verification (${err.code}: ${err.message}); nothing of that batch was stored`, { cause: err });
    this.name = 'MirrorRejected';
    this.peer = peer;
    this.origin = origin;
    this.log = log;
    this.seq = seq;
    this.code = err.code;
  }
}

/** Two signed checkpoints of one origin and log that cannot both be true: the mirror stopped. */
export class MirrorConflict extends Error {
  readonly evidence: Equivocation;
  constructor(evidence: Equivocation) {
    super(`origin ${evidence.origin} log ${evidence.log}: ${evidence.kind}: ${evidence.reason}`);
    this.name = 'MirrorConflict';
    this.evidence = evidence;
  }
}

interface Accepted {
  size: number;
  rootHash: Uint8Array;
  note: string;
}

/** Entries handed to the signature workers at once (each check splits them over the threads). */
const SIGNATURE_CHUNK = 256;

/** Batches waiting to be verified before the stream is paused. */
const QUEUED_BATCHES = 4;

export class LogMirror {
  readonly origin: string;
  readonly log: string;
  readonly #peer: string;
  readonly #client: LedgerClient;
  readonly #mirrors: MirrorLogs;
  readonly #pinned: Uint8Array;
  readonly #opts: MirrorOptions;
  #verifier!: LogVerifier;
  #accepted!: Accepted;
  #acceptedAtMs = 0;
  /** The newest checkpoint seen from the peer, verified against the accepted one, not yet reached. */
  #target: Accepted | undefined;
  /** The cosignature lines served with {@link #target}, handed on when it is accepted. */
  #targetCosignatures: readonly string[] = [];
  /** The latest signed note the Watch stream carried, not opened yet. */
  #offered: string | undefined;
  /** The synced write of the last verified batch, in flight while the next batch is verified. */
  #committing: Promise<void> = Promise.resolve();
  /** The peer sends checkpoints on its Watch stream (older peers do not: then each is asked for). */
  #offers = false;

  /** `client` reads `origin`'s logs on the peer (LedgerClient.withOrigin unless the peer is the origin). */
  constructor(peer: string, client: LedgerClient, mirrors: MirrorLogs, origin: string, log: string, pinned: Uint8Array, opts: MirrorOptions) {
    this.#peer = peer;
    this.#client = client;
    this.#mirrors = mirrors;
    this.origin = origin;
    this.log = log;
    this.#pinned = pinned;
    this.#opts = opts;
  }

  /** Entries verified and stored so far (the position). */
  get size(): number {
    return this.#verifier?.size ?? this.#mirrors.head(this.origin, this.log)?.size ?? 0;
  }

  /**
   * Follows until `signal` aborts (resolves) or the peer fails (rejects:
   * the caller retries later with a new LogMirror, which resumes from storage).
   * @throws MirrorRejected for a batch that does not verify; MirrorConflict for a split view; a gRPC error when the peer fails
   */
  async run(signal: AbortSignal): Promise<void> {
    this.#resume();
    const queue: SignedEntry[] = [];
    let wake: (() => void) | undefined;
    let room: (() => void) | undefined;
    let ended: unknown;
    let done = false;
    let arrived = 0;
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const pump = (async () => {
      try {
        for await (const { entry, checkpointNote } of this.#client.watchWithCheckpoints(this.log, this.#verifier.size, stop.signal)) {
          queue.push(entry);
          arrived++;
          if (checkpointNote) {
            this.#offered = checkpointNote;
            this.#offers = true;
          }
          wake?.();
          if (queue.length >= QUEUED_BATCHES * this.#opts.maxBatch) await new Promise<void>((r) => (room = r));
        }
        if (!stop.signal.aborted) ended = new Error(`peer ${this.#peer} ended the watch of ${this.origin}/${this.log}`);
      } catch (err) {
        ended = err;
      } finally {
        done = true;
        wake?.();
      }
    })();
    try {
      // Entries verified before a restart may wait for their checkpoint.
      if (this.#verifier.size > this.#accepted.size) await this.#apply([], queue, false);
      while (!signal.aborted) {
        if (queue.length === 0) {
          if (done) throw ended;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        // One turn for the rest of a burst to arrive: fewer, larger batches (one synced write each).
        await new Promise<void>((r) => setImmediate(r));
        const batch = queue.splice(0, this.#opts.maxBatch);
        room?.();
        room = undefined;
        const seen = arrived;
        if (!(await this.#apply(batch, queue, !done)) && arrived === seen && !done) {
          // The rest of a group, with its checkpoint, is on its way: wait for it rather than ask for one.
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      stop.abort();
      room?.();
      await pump;
      // The last verified batch is stored before the mirror reports it stopped (or a write failure instead).
      await this.#committing;
    }
  }

  #resume(): void {
    const head = this.#mirrors.head(this.origin, this.log);
    const opts = { nodeName: this.origin, deferSignatures: this.#opts.signatures !== undefined };
    this.#verifier = head ? LogVerifier.resume(this.log, head, opts) : new LogVerifier(this.log, this.#pinned, opts);
    this.#accepted = head ? head.checkpoint : { size: 0, rootHash: EMPTY_ROOT, note: '' };
    this.#acceptedAtMs = head?.acceptedAtMs ?? 0;
    this.#target = undefined;
    this.#offered = undefined;
  }

  /**
   * Verifies `batch` (entries from the position on) and stores it with its
   * checkpoint, if it reaches one.
   * @param canWait the stream is open: entries no checkpoint it sent covers yet may wait for the one that will
   * @returns false when the batch went back to the queue to wait for its checkpoint
   */
  async #apply(batch: SignedEntry[], queue: SignedEntry[], canWait: boolean): Promise<boolean> {
    const v = this.#verifier;
    const end = v.size + batch.length;
    if (!this.#target || this.#target.size < end) {
      const offered = this.#takeOffered();
      if (offered) this.#target = offered;
      else if (canWait && this.#offers && batch.length > 0) {
        queue.unshift(...batch);
        return false;
      } else this.#target = await this.#fetchTarget();
    }
    const target = this.#target;
    // The stream ran ahead of the checkpoint just read: the rest waits for the next one.
    if (target.size < end) queue.unshift(...batch.splice(Math.max(0, target.size - v.size)));
    const nodes = await this.#verify(batch);
    let checkpoint: { size: number; note: string } | undefined;
    if (v.size === target.size && target.size > this.#accepted.size) {
      this.#finish(target);
      checkpoint = { size: target.size, note: target.note };
      this.#accepted = target;
      this.#acceptedAtMs = Date.now();
      this.#target = undefined;
    }
    if (batch.length === 0 && !checkpoint) return true;
    const state = v.state();
    const write = {
      entries: batch,
      nodes,
      ...(checkpoint ? { checkpoint } : {}),
      head: { size: state.size, prevHash: state.prevHash, key: state.key, frontier: state.frontier, checkpoint: this.#accepted, acceptedAtMs: this.#acceptedAtMs },
    };
    // Written in order, each batch in one synced write as before, but the next
    // batch is verified while this one is written; at most one write waits.
    const previous = this.#committing;
    const cosignatures = checkpoint ? this.#targetCosignatures : [];
    this.#committing = previous.then(async () => {
      await this.#mirrors.commit(this.origin, this.log, write);
      this.#opts.stored?.(batch.length, checkpoint?.size);
      if (checkpoint) this.#opts.accepted?.(checkpoint.note, cosignatures);
    });
    this.#committing.catch(() => undefined); // surfaced by the next await of it
    await previous;
    return true;
  }

  /**
   * Pushes `batch` through the in-order verifier and, with a pool, has its
   * signatures checked on the workers, chunk by chunk as the in-order checks
   * reach them: resolves only when every check passed.
   * @returns the tree nodes the batch completed
   * @throws MirrorRejected naming the lowest seq that fails, whichever check found it
   */
  async #verify(batch: SignedEntry[]): Promise<{ id: NodeId; hash: Uint8Array }[]> {
    const v = this.#verifier;
    const pool = this.#opts.signatures;
    const nodes: { id: NodeId; hash: Uint8Array }[] = [];
    const keys: Uint8Array[] = [];
    const checks: Promise<SignedEntry | undefined>[] = [];
    let from = 0;
    let i = 0;
    try {
      for (; i < batch.length; i++) {
        const e = batch[i]!;
        for (const n of v.push(e).nodes) nodes.push(n);
        if (!pool) continue;
        keys.push(v.signatureKeyOf(e.seq)!);
        // The workers start on a chunk while the main thread goes on with the next.
        if (keys.length - from === SIGNATURE_CHUNK) {
          checks.push(pool.check(batch.slice(from, keys.length), keys.slice(from)));
          from = keys.length;
        }
      }
      if (pool) checks.push(pool.check(batch.slice(from, keys.length), keys.slice(from)));
    } catch (err) {
      if (!isVerificationError(err)) throw err;
      if (pool) {
        // Inline, an entry's signature is checked after its body and chain link but before its hash:
        // report whichever an inline check would have hit first.
        const failing = batch[i]!;
        const failedKey = err.code === 'ENTRY_HASH_MISMATCH' ? v.signatureKeyOf(failing.seq) : undefined;
        const upTo = failedKey ? [...keys.slice(from), failedKey] : keys.slice(from);
        checks.push(pool.check(batch.slice(from, from + upTo.length), upTo));
        const bad = await firstBad(checks);
        if (bad) throw this.#badSignature(bad);
      }
      throw new MirrorRejected(this.#peer, this.origin, this.log, err);
    }
    const bad = await firstBad(checks);
    if (bad) throw this.#badSignature(bad);
    return nodes;
  }

  #badSignature(e: SignedEntry): MirrorRejected {
    const err = new VerificationError('SIGNATURE_INVALID', `entry ${e.seq}: signature does not verify under the key in force at this seq`, { log: this.log, seq: e.seq, actual: toHex(e.signature) });
    return new MirrorRejected(this.#peer, this.origin, this.log, err);
  }

  /** The rebuilt tree must be the signed one: a signed root its own signed entries do not rebuild is a split view. */
  #finish(target: Accepted): void {
    try {
      this.#verifier.finish(target.note);
    } catch (err) {
      if (!isVerificationError(err)) throw err;
      if (err.code === 'ROOT_MISMATCH') this.#conflict('inconsistent', `the checkpoint at size ${target.size} does not hold the origin's own signed entries (rebuilt root ${err.evidence.actual})`, target.note);
      throw new MirrorRejected(this.#peer, this.origin, this.log, err);
    }
  }

  /**
   * The checkpoint the Watch stream carried, if it covers entries not
   * verified yet: checked like a fetched one, without a consistency proof
   * (the entries up to its size must rebuild its root on top of the
   * accepted tree, which {@link #finish} checks before anything is stored).
   */
  #takeOffered(): Accepted | undefined {
    const note = this.#offered;
    this.#offered = undefined;
    if (note === undefined || openedSizeHint(note) <= this.#verifier.size) return undefined;
    const target = this.#checkTarget(note, undefined);
    // The stream carries no cosignatures: the federation reads them with GetCheckpoint later.
    this.#targetCosignatures = [];
    return target;
  }

  /**
   * The peer's latest checkpoint of the log, checked against the accepted
   * one before any entry is read: signed by the origin, not smaller, not
   * another root at the same size, and proved consistent (one call: the
   * consistency proof carries the checkpoint it leads to).
   */
  async #fetchTarget(): Promise<Accepted> {
    const acc = this.#accepted;
    let served: { note: string; cosignatures: string[] };
    let proof: Uint8Array[] | undefined;
    if (acc.size === 0) {
      served = await this.#client.getCheckpoint(this.log);
    } else {
      try {
        const p = await this.#client.consistencyProof(this.log, acc.size, 0);
        served = p.checkpoint;
        proof = p.hashes;
      } catch (err) {
        // INVALID_ARGUMENT: the peer's tree is smaller than the accepted one; its checkpoint says by how much.
        if ((err as { code?: number }).code !== 3) throw err;
        served = await this.#client.getCheckpoint(this.log);
      }
    }
    const target = this.#checkTarget(served.note, proof);
    this.#targetCosignatures = served.cosignatures;
    return target;
  }

  /** Opens `note` and checks it against the accepted checkpoint (and `proof`, when given: consistency from the accepted size). */
  #checkTarget(note: string, proof: Uint8Array[] | undefined): Accepted {
    const acc = this.#accepted;
    const cp = this.#open(note);
    if (!cp) {
      // Signed by a key the log's rotation entries have not handed over yet: checked by #finish once they have.
      return { size: openedSizeHint(note), rootHash: EMPTY_ROOT, note };
    }
    if (cp.size < acc.size) this.#conflict('rollback', `the peer's checkpoint has ${cp.size} entries, fewer than the ${acc.size} accepted before`, note);
    if (cp.size === acc.size && !bytesEqual(cp.rootHash, acc.rootHash)) this.#conflict('fork', `two signed roots at size ${cp.size}: ${toHex(acc.rootHash)} accepted, ${toHex(cp.rootHash)} now`, note);
    if (proof && acc.size > 0 && cp.size > acc.size) {
      try {
        verifyConsistency(acc.size, cp.size, proof, acc.rootHash, cp.rootHash);
      } catch (err) {
        if (!isVerificationError(err)) throw err;
        this.#conflict('inconsistent', `the checkpoint at size ${cp.size} is not consistent with the one accepted at size ${acc.size} (${err.message})`, note);
      }
    }
    return { size: cp.size, rootHash: cp.rootHash, note };
  }

  /** Opens a checkpoint with the origin's keys; undefined when it is signed by a key not known yet. */
  #open(note: string): { size: number; rootHash: Uint8Array } | undefined {
    const keys = [...followKeyChain(this.#pinned, this.#mirrors.originKeyChain(this.origin)), this.#verifier.currentKey];
    try {
      return openLogCheckpointWithKeys(note, this.log, keys, this.origin).checkpoint;
    } catch (err) {
      if (!isVerificationError(err)) throw err;
      if (err.code === 'NOTE_UNSIGNED') return undefined;
      throw new MirrorRejected(this.#peer, this.origin, this.log, err);
    }
  }

  #conflict(kind: EquivocationKind, reason: string, conflictingNote: string): never {
    throw new MirrorConflict({ origin: this.origin, log: this.log, kind, reason, acceptedNote: this.#accepted.note, conflictingNote, peer: this.#peer, atMs: Date.now() });
  }
}

/** Lowest-seq bad entry of chunks checked in seq order. */
async function firstBad(checks: Promise<SignedEntry | undefined>[]): Promise<SignedEntry | undefined> {
  for (const bad of await Promise.all(checks)) if (bad) return bad;
  return undefined;
}

/** The size line of an unopened checkpoint (second line, C2SP tlog-checkpoint), as a target only: #finish verifies it. */
function openedSizeHint(note: string): number {
  const line = note.split('\n')[1] ?? '';
  const n = /^[0-9]{1,16}$/.test(line) ? Number(line) : NaN;
  if (!Number.isSafeInteger(n)) throw new VerificationError('CHECKPOINT_MALFORMED', 'checkpoint size line is not a number', {});
  return n;
}
