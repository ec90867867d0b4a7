/**
 * Checks entry signatures on worker threads while the main thread checks
 * everything else in order. ECDSA verification is ~100 us an entry even with
 * node:crypto, most of a verifier's time, and unlike the chain it has no order
 * dependency, so it parallelises (docs/design.md).
 *
 * The verifier still trusts nothing but the pinned key: each worker runs the
 * same pure checkEntrySignature from the core, under the key the in-order
 * verifier found in force at each seq (the pinned key, or one its chain of
 * rotation links leads to). Keys are sent to the workers once each and
 * referred to by index.
 *
 * Two ways to use it: `submit`/`settle` for one log read start to end (the
 * verifiers of verify-log.ts), and `check` for callers that share one pool
 * among many logs (the federation's mirrors: each batch is checked on its own
 * and stored only once its signatures verified).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { VerificationError } from '../core/errors.js';
import { bytesEqual, toHex } from '../core/bytes.js';
import type { SignedEntry } from '../core/entry.js';

/** Signatures a worker checks per message at least: fewer cost more in messages than they save. */
const MIN_CHECK_CHUNK = 32;

/** One thread per core, at most 4 (beyond that the in-order checks on the main thread are the limit). */
export function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

interface Pending {
  firstSeq: number;
  result: Promise<number>;
}

export class SignaturePool {
  readonly #workers: Worker[];
  readonly #jobs = new Map<number, (badIndex: number) => void>();
  readonly #failures = new Map<number, (e: unknown) => void>();
  readonly #pending: Pending[] = [];
  readonly #maxPending: number;
  readonly #log: string;
  #next = 0;
  #rr = 0;
  #firstBad: SignedEntry | undefined;
  /** Keys the workers hold, by index; index 0 is the pinned key. */
  readonly #keys: Uint8Array[];

  /**
   * `publicKeySpki` is the key of entries `submit` gets no key for; a pool
   * shared by many logs has none, and `check` is given every entry's key.
   */
  constructor(log: string, publicKeySpki: Uint8Array | undefined, threads = defaultThreads()) {
    this.#log = log;
    this.#maxPending = threads * 4;
    this.#keys = publicKeySpki ? [publicKeySpki] : [];
    this.#workers = Array.from({ length: threads }, () => {
      const w = new Worker(new URL('./signature-worker.js', import.meta.url), { workerData: { spki: publicKeySpki } });
      w.on('message', (m: { id: number; bad: number }) => {
        const done = this.#jobs.get(m.id);
        this.#jobs.delete(m.id);
        this.#failures.delete(m.id);
        done?.(m.bad);
      });
      w.on('error', (e) => {
        for (const f of this.#failures.values()) f(e);
      });
      return w;
    });
  }

  #keyIndex(key: Uint8Array): number {
    // Few keys (one per rotation), and consecutive entries share one: check the last first.
    for (let i = this.#keys.length - 1; i >= 0; i--) if (bytesEqual(this.#keys[i]!, key)) return i;
    this.#keys.push(key);
    // Posted before any chunk that uses it: each worker handles its messages in order.
    for (const w of this.#workers) w.postMessage({ key, index: this.#keys.length - 1 });
    return this.#keys.length - 1;
  }

  /**
   * Queues a chunk (consecutive seqs), each entry checked under `keys[i]`
   * (default: the pinned key). Waits when too many chunks are in flight, so
   * memory stays bounded.
   */
  async submit(chunk: SignedEntry[], keys?: readonly Uint8Array[]): Promise<void> {
    if (chunk.length === 0) return;
    this.#pending.push({
      firstSeq: chunk[0]!.seq,
      result: this.#post(chunk, keys).then((bad) => {
        if (bad >= 0) {
          const e = chunk[bad]!;
          if (!this.#firstBad || e.seq < this.#firstBad.seq) this.#firstBad = e;
        }
        return bad;
      }),
    });
    while (this.#pending.length > this.#maxPending) await this.#pending.shift()!.result;
  }

  /**
   * Checks `entries`, entry i under `keys[i]`, apart from `submit`/`settle`
   * (no state kept): split into one chunk per thread so they run at once.
   * @returns the lowest-seq entry whose signature does not verify, or undefined
   */
  async check(entries: readonly SignedEntry[], keys: readonly Uint8Array[]): Promise<SignedEntry | undefined> {
    const size = Math.max(MIN_CHECK_CHUNK, Math.ceil(entries.length / this.#workers.length));
    const parts: Promise<SignedEntry | undefined>[] = [];
    for (let i = 0; i < entries.length; i += size) {
      const chunk = entries.slice(i, i + size);
      parts.push(this.#post(chunk, keys.slice(i, i + size)).then((bad) => (bad >= 0 ? chunk[bad] : undefined)));
    }
    for (const bad of await Promise.all(parts)) if (bad) return bad;
    return undefined;
  }

  /** Posts one chunk to the next worker; resolves with the index of its first bad signature, or -1. */
  #post(chunk: readonly SignedEntry[], keys?: readonly Uint8Array[]): Promise<number> {
    let last: Uint8Array | undefined;
    let lastIndex = 0;
    const keyIndexes = chunk.map((_, i) => {
      const k = keys?.[i];
      if (k === undefined) return 0;
      if (k !== last) {
        last = k;
        lastIndex = this.#keyIndex(k);
      }
      return lastIndex;
    });
    const id = this.#next++;
    const w = this.#workers[this.#rr++ % this.#workers.length]!;
    const result = new Promise<number>((resolve, reject) => {
      this.#jobs.set(id, resolve);
      this.#failures.set(id, reject);
    });
    w.postMessage({ id, items: chunk.map((e, i) => ({ body: e.body, signature: e.signature, key: keyIndexes[i]! })) });
    return result;
  }

  /**
   * Waits for every submitted chunk; throws SIGNATURE_INVALID for the lowest
   * bad seq if it is below `before`, or at it when `atBeforeToo` (a failure
   * the caller found at `before` otherwise stands).
   */
  async settle(before = Number.POSITIVE_INFINITY, atBeforeToo = false): Promise<void> {
    await Promise.all(this.#pending.splice(0).map((p) => p.result));
    const bad = this.#firstBad;
    if (bad && (bad.seq < before || (atBeforeToo && bad.seq === before))) {
      throw new VerificationError('SIGNATURE_INVALID', `entry ${bad.seq}: signature does not verify under the key in force at that seq`, { log: this.#log, seq: bad.seq, actual: toHex(bad.signature) });
    }
  }

  /** A bad signature already seen, for stopping early. */
  get failed(): boolean {
    return this.#firstBad !== undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
