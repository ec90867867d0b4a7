/**
 * Entry signatures checked on several workers at once: the verification
 * worker keeps the in-order checks (hashes, chain, tree) and hands the
 * signatures to helper workers (nested workers: the same script,
 * verify-worker.js) in batches, so that both cores work (docs/design.md has
 * the figures).
 *
 * It is a VerifyP256Async like any other: the core's verifier does not know
 * where the signatures are checked. Each helper checks with the primitive
 * asked for (WebCrypto or @noble), from the raw bytes.
 */
import type { VerifyP256Async } from '../core/async-verifier.js';
import type { PrimitiveName } from './crypto.js';

export interface SignatureJob {
  batch: number;
  primitive: PrimitiveName;
  items: { spki: Uint8Array; message: Uint8Array; signature: Uint8Array }[];
}

const BATCH = 128;

export class SignatureWorkers {
  readonly #workers: Worker[];
  readonly #primitive: PrimitiveName;
  readonly #waiting = new Map<number, { resolve: ((ok: boolean) => void)[]; reject: (e: Error) => void }>();
  #queue: { item: SignatureJob['items'][number]; resolve: (ok: boolean) => void; reject: (e: Error) => void }[] = [];
  #next = 0;
  #rr = 0;
  #flushScheduled = false;

  private constructor(workers: Worker[], primitive: PrimitiveName) {
    this.#workers = workers;
    this.#primitive = primitive;
    for (const w of workers) {
      w.addEventListener('message', (e: MessageEvent<{ batch: number; ok: boolean[] }>) => {
        const job = this.#waiting.get(e.data.batch);
        if (!job) return;
        this.#waiting.delete(e.data.batch);
        e.data.ok.forEach((ok, i) => job.resolve[i]!(ok));
      });
      w.addEventListener('error', (e) => {
        for (const job of this.#waiting.values()) job.reject(new Error(`a signature worker failed: ${e.message}`));
        this.#waiting.clear();
      });
    }
  }

  /** Helpers running `script`, or undefined where this context cannot start workers. */
  static start(script: string, primitive: PrimitiveName, count: number): SignatureWorkers | undefined {
    if (typeof Worker === 'undefined' || count < 1) return undefined;
    try {
      return new SignatureWorkers(Array.from({ length: count }, () => new Worker(script)), primitive);
    } catch {
      return undefined;
    }
  }

  readonly verify: VerifyP256Async = (spki, message, signature) =>
    new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ item: { spki, message, signature }, resolve, reject });
      if (this.#queue.length >= BATCH) this.#flush();
      else if (!this.#flushScheduled) {
        // A partial batch goes once the caller has queued what it had (the end of a chunk).
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });

  #flush(): void {
    this.#flushScheduled = false;
    while (this.#queue.length > 0) {
      const part = this.#queue.splice(0, BATCH);
      const batch = this.#next++;
      this.#waiting.set(batch, { resolve: part.map((p) => p.resolve), reject: (e) => part.forEach((p) => p.reject(e)) });
      const job: SignatureJob = { batch, primitive: this.#primitive, items: part.map((p) => p.item) };
      this.#workers[this.#rr++ % this.#workers.length]!.postMessage({ signatures: job });
    }
  }

  get count(): number {
    return this.#workers.length;
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
  }
}
