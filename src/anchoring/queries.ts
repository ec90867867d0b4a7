/**
 * The read side of anchoring, in the terms the API asks in: the windows that
 * cover a log, one window by number, and the proof that a log's checkpoint is
 * in a window. Callers do not touch the anchor store or build window trees;
 * what a caller may see of the answers (other tenants' checkpoints) is the
 * caller's business.
 */
import type { AnchorProof, WindowCheckpoint } from '../core/anchor.js';
import type { AnchorStore, StoredWindow } from './store.js';
import { windowProof } from './window-tree.js';

/** A log's checkpoint in one anchor window, with its RFC 6962 audit path to the window root. */
export interface CheckpointAnchor {
  /** The window, with its state and, once committed, its receipt. */
  stored: StoredWindow;
  proof: AnchorProof;
  checkpoint: WindowCheckpoint;
}

export interface AnchorQueries {
  /** The window numbered `window`, or `undefined` when there is none. */
  window(window: number): Promise<StoredWindow | undefined>;
  /** Windows covering `log` numbered `fromWindow` or above, oldest first, at most `limit`. */
  windowsFor(log: string, fromWindow: number, limit: number): Promise<StoredWindow[]>;
  /**
   * The window holding `log`'s checkpoint at `size`, with the proof; `size` 0
   * asks for the latest committed window covering `log`. `undefined` when
   * there is none.
   */
  proofFor(log: string, size: number): Promise<CheckpointAnchor | undefined>;
}

/** {@link AnchorQueries} answered from the node's anchor store. */
export class StoreAnchorQueries implements AnchorQueries {
  readonly #store: AnchorStore;

  constructor(store: AnchorStore) {
    this.#store = store;
  }

  window(window: number): Promise<StoredWindow | undefined> {
    return this.#store.get(window);
  }

  windowsFor(log: string, fromWindow: number, limit: number): Promise<StoredWindow[]> {
    return this.#store.forLog(log, fromWindow, Number.MAX_SAFE_INTEGER, limit);
  }

  async proofFor(log: string, size: number): Promise<CheckpointAnchor | undefined> {
    const stored =
      size === 0
        ? await this.#store.findForLog(log, (w) => w.state === 'committed', true)
        : await this.#store.findForLog(log, (w) => w.window.checkpoints.some((c) => c.log === log && c.size === size));
    if (!stored) return undefined;
    // Every window found through the log's index holds a checkpoint of the log.
    const proof = windowProof(stored.window, log)!;
    return { stored, proof, checkpoint: stored.window.checkpoints[proof.index]! };
  }
}
