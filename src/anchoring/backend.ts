/**
 * Where anchor windows are published. `fabric` submits them to a Hyperledger
 * Fabric channel through the Gateway; `local` keeps them in an append-only
 * store beside the node (development and the quick start: it does NOT protect
 * against the node's operator, who controls that store too).
 */
import { CairnError, type ErrorCode } from '../core/errors.js';
import type { AnchorReceipt, AnchorWindow } from '../core/anchor.js';

export interface AnchoredWindow {
  window: AnchorWindow;
  receipt: AnchorReceipt;
}

export interface AnchorBackend {
  readonly name: 'local' | 'fabric';
  /**
   * Records a window. Rejects with AnchorSubmitError: `retryable` for
   * transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, MVCC conflicts),
   * `outcomeUnknown` when the transaction may have committed anyway.
   */
  submit(w: AnchorWindow, signal?: AbortSignal): Promise<AnchorReceipt>;
  /** Reads a window back from the external ledger, or undefined. */
  get(window: number): Promise<AnchoredWindow | undefined>;
  close(): Promise<void>;
}

export class AnchorSubmitError extends CairnError {
  readonly retryable: boolean;
  readonly outcomeUnknown: boolean;
  /** The external ledger already holds this window number. */
  readonly exists: boolean;
  constructor(code: ErrorCode, message: string, opts: { retryable: boolean; outcomeUnknown?: boolean; exists?: boolean; cause?: unknown }) {
    super(code, message, { cause: opts.cause });
    this.name = 'AnchorSubmitError';
    this.retryable = opts.retryable;
    this.outcomeUnknown = opts.outcomeUnknown ?? false;
    this.exists = opts.exists ?? false;
  }
}
