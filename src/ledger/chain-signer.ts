/**
 * Builds, signs and chains a log's entries in order. Each body names the
 * previous entry's hash, which covers the previous signature, so signing a
 * log is inherently sequential. What can move is *where* it runs: the worker
 * variant signs on its own thread, keeping each log's chain head there, so the
 * main thread handles gRPC, integrate, checkpoint and the group commit while
 * the next group signs (docs/design.md).
 *
 * Guarantee: groups of one log are signed in the order `sign` is called, each
 * continuing the chain where the previous call ended (or where `reset` put it).
 */
import { Worker } from 'node:worker_threads';
import { encodeBody, entryHash, ENTRY_FORMAT_VERSION, type SignedEntry } from '../core/entry.js';
import { toHex } from '../core/bytes.js';
import { CairnError } from '../core/errors.js';
import type { ValidAppend } from '../core/append-request.js';
import type { SigningKey } from '../keys/signing-key.js';

export type EntryFields = Omit<ValidAppend, 'log'>;

export interface ChainSigner {
  /** Signs `items` as seqs startSeq.. of `log`, continuing the chain. */
  sign(log: string, startSeq: number, time: string, items: readonly EntryFields[]): Promise<SignedEntry[]>;
  /** Puts the chain head of `log` back to a durable hash (after a failed write, or at open). */
  reset(log: string, lastHash: Uint8Array): void;
  close(): Promise<void>;
}

/** The signing loop shared by both variants. */
export function signChain(sign: (m: Uint8Array) => Uint8Array, log: string, prevHash: Uint8Array, startSeq: number, time: string, items: readonly EntryFields[]): SignedEntry[] {
  const out: SignedEntry[] = [];
  let prev = prevHash;
  for (let i = 0; i < items.length; i++) {
    const r = items[i]!;
    const body = encodeBody({
      v: ENTRY_FORMAT_VERSION,
      log,
      seq: startSeq + i,
      time,
      configId: r.configId,
      operator: r.operator,
      identity: r.identity,
      action: r.action,
      source: r.source,
      commit: r.commit,
      payload: r.payload,
      requestId: r.requestId,
      prevHash: toHex(prev),
    });
    const signature = sign(body);
    const hash = entryHash(prev, body, signature);
    out.push({ log, seq: startSeq + i, body, signature, hash });
    prev = hash;
  }
  return out;
}

/**
 * A signed group as one byte array, so that it crosses to the main thread as
 * one transferred buffer: cloning three small arrays per entry cost more
 * than hashing it (about 8 us per entry on each side; docs/design.md).
 * Layout per entry: u32 body length, u32 signature length, body, signature, 32-byte hash.
 */
export function packSigned(entries: readonly SignedEntry[]): Uint8Array {
  let n = 0;
  for (const e of entries) n += 8 + e.body.length + e.signature.length + 32;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const e of entries) {
    dv.setUint32(o, e.body.length);
    dv.setUint32(o + 4, e.signature.length);
    o += 8;
    out.set(e.body, o);
    o += e.body.length;
    out.set(e.signature, o);
    o += e.signature.length;
    out.set(e.hash, o);
    o += 32;
  }
  return out;
}

/** The inverse of {@link packSigned}; the entries are views into `packed`. */
export function unpackSigned(log: string, startSeq: number, packed: Uint8Array): SignedEntry[] {
  const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const out: SignedEntry[] = [];
  let o = 0;
  while (o < packed.length) {
    const bodyLen = dv.getUint32(o);
    const sigLen = dv.getUint32(o + 4);
    o += 8;
    const body = packed.subarray(o, (o += bodyLen));
    const signature = packed.subarray(o, (o += sigLen));
    const hash = packed.subarray(o, (o += 32));
    out.push({ log, seq: startSeq + out.length, body, signature, hash });
  }
  return out;
}

/** Signs on the calling thread. */
export class InlineChainSigner implements ChainSigner {
  readonly #key: SigningKey;
  readonly #heads = new Map<string, Uint8Array>();
  constructor(key: SigningKey) {
    this.#key = key;
  }
  async sign(log: string, startSeq: number, time: string, items: readonly EntryFields[]): Promise<SignedEntry[]> {
    const prev = this.#heads.get(log);
    if (!prev) throw new CairnError('INTERNAL', `chain head of ${log} was never set`);
    const out = signChain((m) => this.#key.sign(m), log, prev, startSeq, time, items);
    if (out.length > 0) this.#heads.set(log, out[out.length - 1]!.hash);
    return out;
  }
  reset(log: string, lastHash: Uint8Array): void {
    this.#heads.set(log, lastHash);
  }
  async close(): Promise<void> {}
}

interface Job {
  resolve(v: SignedEntry[]): void;
  reject(e: unknown): void;
  log: string;
}

/**
 * Signs on a worker thread. The private key reaches the worker through
 * `workerData` (memory only, never logged). Jobs are answered in order; if the
 * worker dies, every pending and later job fails with UNAVAILABLE and the
 * sequencer reloads, as after a failed write.
 */
export class WorkerChainSigner implements ChainSigner {
  readonly #worker: Worker;
  readonly #jobs = new Map<number, Job>();
  #next = 0;
  #dead: CairnError | undefined;

  constructor(key: SigningKey) {
    this.#worker = new Worker(new URL('./sign-worker.js', import.meta.url), { workerData: { pem: key.privateKeyPem() } });
    this.#worker.unref();
    this.#worker.on('message', (m: { id: number; error?: string; packed?: Uint8Array; startSeq: number }) => {
      const job = this.#jobs.get(m.id);
      if (!job) return;
      this.#jobs.delete(m.id);
      if (m.error !== undefined) {
        job.reject(new CairnError('INTERNAL', `signing failed: ${m.error}`));
        return;
      }
      job.resolve(unpackSigned(job.log, m.startSeq, m.packed!));
    });
    const die = (cause: unknown): void => {
      this.#dead ??= new CairnError('UNAVAILABLE', 'signing worker stopped', { cause });
      for (const j of this.#jobs.values()) j.reject(this.#dead);
      this.#jobs.clear();
    };
    this.#worker.on('error', die);
    this.#worker.on('exit', (code) => die(new Error(`exit ${code}`)));
  }

  sign(log: string, startSeq: number, time: string, items: readonly EntryFields[]): Promise<SignedEntry[]> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject, log });
      // One JSON string, not a structured clone of each item: about half the main thread's cost (docs/design.md).
      this.#worker.postMessage({ type: 'sign', id, log, startSeq, time, items: JSON.stringify(items) });
    });
  }

  reset(log: string, lastHash: Uint8Array): void {
    this.#worker.postMessage({ type: 'reset', log, lastHash });
  }

  async close(): Promise<void> {
    this.#dead ??= new CairnError('UNAVAILABLE', 'signing worker closed');
    await this.#worker.terminate();
  }
}
