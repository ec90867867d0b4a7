/**
 * The fourth stage: anchoring. Every `intervalMs`, when any log has grown,
 * one window is built over the latest signed checkpoint of every log that
 * grew, written to the durable anchor queue, then submitted to the backend.
 *
 * Guarantees
 * - Appends never wait for anchoring: a backend outage only grows the anchor
 *   lag (metric `cairn_anchor_lag_seconds`).
 * - Windows are submitted one at a time, in order, each exactly once: a
 *   window is stored before it is submitted; after a failure whose outcome is
 *   unknown (timeout, lost connection, restart) the window is looked up on the
 *   external ledger before it is submitted again.
 * - Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, MVCC conflicts) are
 *   retried with jittered exponential backoff.
 */
import type { AnchorWindow, WindowCheckpoint } from '../core/anchor.js';
import { toHex } from '../core/bytes.js';
import { AnchorStore, type StoredWindow } from './store.js';
import { AnchorSubmitError, type AnchorBackend } from './backend.js';
import { buildWindow } from './window-tree.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../core/logger.js';

export interface AnchorPipelineOptions {
  intervalMs: number;
  submitTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface AnchorMetricsHooks {
  committed?(w: StoredWindow, lagMs: number): void;
  failed?(w: AnchorWindow, err: unknown): void;
  pending?(count: number): void;
}

export class AnchorPipeline {
  readonly #ledger: Ledger;
  readonly #store: AnchorStore;
  readonly #backend: AnchorBackend;
  readonly #log: Logger;
  readonly #opts: Readonly<AnchorPipelineOptions>;
  readonly #hooks: AnchorMetricsHooks;
  readonly #firstGrowthAt = new Map<string, number>();
  readonly #anchoredSize = new Map<string, number>();
  readonly #ac = new AbortController();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(ledger: Ledger, store: AnchorStore, backend: AnchorBackend, log: Logger, opts: AnchorPipelineOptions, hooks: AnchorMetricsHooks = {}) {
    this.#ledger = ledger;
    this.#store = store;
    this.#backend = backend;
    this.#log = log;
    this.#opts = opts;
    this.#hooks = hooks;
  }

  /** Tells the pipeline a log grew (called from the sequencer's commit hook). */
  noteCommit(log: string): void {
    if (!this.#firstGrowthAt.has(log)) this.#firstGrowthAt.set(log, Date.now());
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Runs one round now (tests): submits pending windows, then builds and submits a new one if any log grew. */
  async runOnce(): Promise<StoredWindow | undefined> {
    for (const w of await this.#store.pending()) await this.#submit(w);
    const w = await this.#buildNext();
    if (w) await this.#submit(w);
    return w ? this.#store.get(w.window.window) : undefined;
  }

  async #run(): Promise<void> {
    const signal = this.#ac.signal;
    while (!signal.aborted) {
      try {
        await this.runOnce();
      } catch (err) {
        if (signal.aborted) break;
        this.#log.warn('anchor round failed; will retry', { err });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.#opts.intervalMs);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  async #lastAnchored(log: string): Promise<number> {
    let n = this.#anchoredSize.get(log);
    if (n === undefined) {
      const w = await this.#store.lastForLog(log);
      n = w?.window.checkpoints.find((c) => c.log === log)?.size ?? 0;
      this.#anchoredSize.set(log, n);
    }
    return n;
  }

  async #buildNext(): Promise<StoredWindow | undefined> {
    const grown: WindowCheckpoint[] = [];
    for (const cp of await this.#ledger.listLogs()) {
      if (cp.size > (await this.#lastAnchored(cp.log))) grown.push({ log: cp.log, size: cp.size, rootHash: toHex(cp.rootHash), note: cp.note });
    }
    if (grown.length === 0) return undefined;
    const last = await this.#store.lastWindow();
    const w = buildWindow((last?.window.window ?? 0) + 1, this.#ledger.options.nodeName, grown);
    const now = Date.now();
    const oldest = Math.min(now, ...grown.map((c) => this.#firstGrowthAt.get(c.log) ?? now));
    const stored: StoredWindow = { window: w, state: 'pending', createdAtMs: now, oldestCheckpointAtMs: oldest };
    await this.#store.put(stored);
    for (const c of grown) {
      this.#anchoredSize.set(c.log, c.size);
      this.#firstGrowthAt.delete(c.log);
    }
    return stored;
  }

  async #submit(sw: StoredWindow): Promise<void> {
    const w = sw.window;
    const signal = this.#ac.signal;
    // After a restart the previous attempt's outcome is unknown: look first.
    let mustLook = true;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        if (mustLook) {
          const there = await this.#backend.get(w.window);
          if (there) {
            if (there.window.root !== w.root) {
              throw new AnchorSubmitError('FAILED_PRECONDITION', `window ${w.window} on the external ledger has root ${there.window.root}, not ${w.root}`, { retryable: false });
            }
            await this.#commit(sw, there.receipt);
            return;
          }
        }
        const receipt = await this.#backend.submit(w, AbortSignal.any([signal, AbortSignal.timeout(this.#opts.submitTimeoutMs)]));
        await this.#commit(sw, receipt);
        return;
      } catch (err) {
        const e = err instanceof AnchorSubmitError ? err : undefined;
        this.#hooks.failed?.(w, err);
        if (e?.exists) {
          mustLook = true;
          continue;
        }
        if (e && !e.retryable) {
          this.#log.error('anchor window rejected; not retrying', { window: w.window, err });
          throw err;
        }
        mustLook = e?.outcomeUnknown ?? true;
        const delay = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffBaseMs * 2 ** Math.min(attempt, 16)) * (0.5 + Math.random() / 2);
        this.#log.info('anchor submit failed; retrying', { window: w.window, attempt, delayMs: Math.round(delay), err });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
      }
    }
  }

  async #commit(sw: StoredWindow, receipt: StoredWindow['receipt']): Promise<void> {
    const now = Date.now();
    const done: StoredWindow = { ...sw, state: 'committed', receipt, committedAtMs: now };
    await this.#store.put(done);
    this.#hooks.committed?.(done, now - sw.oldestCheckpointAtMs);
  }

  async close(): Promise<void> {
    this.#ac.abort();
    this.#wake?.();
    await this.#loop;
  }
}
