/**
 * Runs verification requests in a Web Worker, or in the page itself where a
 * worker cannot start. Chromium refuses `new Worker(...)` in a page opened
 * from file:// (its origin is opaque), and a worker from a Blob URL would
 * need `blob:` in worker-src, which the node's policy does not grant. So a
 * page opened from a file verifies in the page, with the same code
 * (verify-protocol.ts); only responsiveness differs, not the result.
 */
import { serve, type Finished, type VerifyRequest, type WorkerMessage } from './verify-protocol.js';

export type Where = 'worker' | 'page';

export class VerifyClient {
  readonly #worker: Worker | undefined;
  readonly #waiting = new Map<number, { resolve(f: Finished): void; reject(e: Error): void; progress(done: number, total: number): void }>();
  #next = 0;

  constructor() {
    let w: Worker | undefined;
    if (location.protocol !== 'file:') {
      try {
        w = new Worker(new URL('verify-worker.js', location.href));
      } catch {
        w = undefined;
      }
    }
    this.#worker = w;
    w?.addEventListener('message', (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      const waiting = this.#waiting.get(m.id);
      if (!waiting) return;
      if ('progress' in m) return waiting.progress(...m.progress);
      this.#waiting.delete(m.id);
      if ('done' in m) waiting.resolve(m.done);
      else waiting.reject(new Error(m.error));
    });
  }

  get where(): Where {
    return this.#worker ? 'worker' : 'page';
  }

  run(req: VerifyRequest, progress: (done: number, total: number) => void = () => undefined): Promise<Finished> {
    if (!this.#worker) return serve(req, progress);
    const id = this.#next++;
    return new Promise<Finished>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, progress });
      this.#worker!.postMessage({ id, req });
    });
  }
}
