/**
 * The `fabric` anchor backend: each window becomes one `RecordAnchor`
 * transaction of the CairnAnchor chaincode (src/chaincode) under this node's
 * name, on a channel many nodes share. The chaincode binds the node name to
 * this node's Fabric identity at its first anchor, recomputes the window root
 * from the checkpoint notes, and refuses a window twice.
 *
 * A submission is `submitAsync` (endorse, then hand to the orderer) and
 * `getStatus()` (wait for the commit), each under its deadline
 * (`fabric.timeout_ms`, `fabric.commit_timeout_ms`). Failures become
 * {@link AnchorSubmitError}s, which tell the pipeline whether to retry and
 * whether the transaction may have committed anyway:
 *
 * | failure                                                    | code                   | retryable | outcomeUnknown | exists |
 * |------------------------------------------------------------|------------------------|-----------|----------------|--------|
 * | EndorseError, chaincode `ANCHOR_WINDOW_EXISTS`             | ALREADY_EXISTS         | no        | no             | yes    |
 * | EndorseError UNAVAILABLE or DEADLINE_EXCEEDED              | same                   | yes       | no             | no     |
 * | EndorseError, anything else (chaincode refusal, ABORTED)   | FAILED_PRECONDITION    | no        | no             | no     |
 * | SubmitError, CommitStatusError, cancelled during either    | UNAVAILABLE / DEADLINE_EXCEEDED | yes | yes         | no     |
 * | committed with MVCC_READ_CONFLICT                          | UNAVAILABLE            | yes (re-endorse) | no      | no     |
 * | committed with another invalid code                        | FAILED_PRECONDITION    | no        | no             | no     |
 * | lookup (`get`): Evaluate or CommitStatus UNAVAILABLE or DEADLINE_EXCEEDED | same | yes     | yes            | no     |
 *
 * An endorsement that failed never reached the orderer, so its outcome is
 * known; past endorsement it is not, and the pipeline looks the window up
 * (`get`) before submitting again. A failed lookup leaves the outcome unknown,
 * hence `outcomeUnknown` on lookup failures too: the next attempt looks again.
 * Fabric's own guarantees (the chaincode's ANCHOR_WINDOW_EXISTS at
 * endorsement, MVCC at commit on the window's key) keep a window from being
 * recorded twice even if two submissions raced; the lookup keeps it from
 * being submitted twice.
 */
import { CommitStatusError, EndorseError, GatewayError, StatusCode } from '@hyperledger/fabric-gateway';
import * as grpc from '@grpc/grpc-js';
import type { AnchorReceipt, AnchorWindow } from '../core/anchor.js';
import { CairnError } from '../core/errors.js';
import { chaincodeErrorCode, FabricConnection, type FabricConnectOptions, type FabricSettings } from './fabric-connection.js';
import { AnchorSubmitError, type AnchorBackend, type AnchoredWindow } from './backend.js';

export interface FabricAnchorBackendOptions extends FabricConnectOptions {
  /** The node's name: the chaincode keys this node's windows by it. */
  node: string;
}

function statusName(code: number): string {
  return Object.entries(StatusCode).find(([, v]) => v === code)?.[0] ?? String(code);
}

/** The chaincode's message (or the gateway's) for a log line, without the gRPC noise. */
function detail(err: unknown): string {
  if (err instanceof GatewayError && err.details.length > 0) return err.details.map((d) => d.message).join('; ');
  return err instanceof Error ? err.message : String(err);
}

function transient(code: number | undefined): 'UNAVAILABLE' | 'DEADLINE_EXCEEDED' | undefined {
  if (code === grpc.status.UNAVAILABLE) return 'UNAVAILABLE';
  if (code === grpc.status.DEADLINE_EXCEEDED) return 'DEADLINE_EXCEEDED';
  return undefined;
}

/** Resolves or rejects with `p`, or rejects as soon as `signal` aborts (the call itself goes on until its deadline). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason ?? new Error('aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Maps a failure of `submitAsync` (endorse, then submit to the orderer). */
export function mapSubmitFailure(window: number, err: unknown, aborted: boolean): AnchorSubmitError {
  if (err instanceof EndorseError && !aborted) {
    if (chaincodeErrorCode(err) === 'ANCHOR_WINDOW_EXISTS') {
      return new AnchorSubmitError('ALREADY_EXISTS', `anchor window ${window} is already on the channel`, { retryable: false, exists: true, cause: err });
    }
    const t = transient(err.code);
    if (t) return new AnchorSubmitError(t, `endorsing anchor window ${window}: ${t} (${detail(err)})`, { retryable: true, cause: err });
    return new AnchorSubmitError('FAILED_PRECONDITION', `anchor window ${window} was refused at endorsement: ${detail(err)}`, { retryable: false, cause: err });
  }
  // Past endorsement (SubmitError), cancelled, or unexpected: the transaction may be on its way.
  const t = aborted ? 'DEADLINE_EXCEEDED' : (transient(err instanceof GatewayError ? err.code : undefined) ?? 'UNAVAILABLE');
  return new AnchorSubmitError(t, `submitting anchor window ${window}: outcome unknown (${aborted ? 'cancelled' : detail(err)})`, { retryable: true, outcomeUnknown: true, cause: err });
}

/** Maps a failure while waiting for the commit status: the transaction was handed to the orderer. */
export function mapCommitStatusFailure(window: number, txId: string, err: unknown, aborted: boolean): AnchorSubmitError {
  const code = aborted ? 'DEADLINE_EXCEEDED' : (transient(err instanceof CommitStatusError ? err.code : undefined) ?? 'UNAVAILABLE');
  return new AnchorSubmitError(code, `commit status of anchor window ${window} (tx ${txId}): outcome unknown (${aborted ? 'cancelled' : detail(err)})`, { retryable: true, outcomeUnknown: true, cause: err });
}

/** Maps a failed lookup: while it fails, the window's outcome stays unknown. */
export function mapLookupFailure(window: number, err: unknown): AnchorSubmitError {
  if (err instanceof CairnError) return new AnchorSubmitError(err.code, `looking up anchor window ${window}: ${err.message}`, { retryable: false, cause: err });
  if (err instanceof GatewayError) {
    const t = transient(err.code);
    if (t) return new AnchorSubmitError(t, `looking up anchor window ${window}: ${t} (${detail(err)})`, { retryable: true, outcomeUnknown: true, cause: err });
    return new AnchorSubmitError('FAILED_PRECONDITION', `looking up anchor window ${window}: ${detail(err)}`, { retryable: false, outcomeUnknown: true, cause: err });
  }
  return new AnchorSubmitError('UNAVAILABLE', `looking up anchor window ${window}: ${detail(err)}`, { retryable: true, outcomeUnknown: true, cause: err });
}

export class FabricAnchorBackend implements AnchorBackend {
  readonly name = 'fabric' as const;
  readonly #conn: FabricConnection;
  readonly #node: string;

  private constructor(conn: FabricConnection, node: string) {
    this.#conn = conn;
    this.#node = node;
  }

  /**
   * Reads the identity and TLS files and opens the connection (the peer may
   * be down: submissions then fail as UNAVAILABLE and are retried).
   * @throws CairnError INVALID_ARGUMENT naming the Fabric setting at fault
   */
  static async open(settings: Readonly<FabricSettings>, options: FabricAnchorBackendOptions): Promise<FabricAnchorBackend> {
    return new FabricAnchorBackend(await FabricConnection.open(settings, options), options.node);
  }

  get describe(): string {
    return this.#conn.describe;
  }

  /** @throws AnchorSubmitError as in the table above */
  async submit(w: AnchorWindow, signal?: AbortSignal): Promise<AnchorReceipt> {
    if (w.node !== this.#node) {
      throw new AnchorSubmitError('INVALID_ARGUMENT', `anchor window ${w.window} is node ${w.node}'s, this backend anchors for ${this.#node}`, { retryable: false });
    }
    if (signal?.aborted) throw new AnchorSubmitError('DEADLINE_EXCEEDED', `anchor window ${w.window}: cancelled before it was submitted`, { retryable: true });
    const anchorJson = JSON.stringify({ root: w.root, checkpoints: w.checkpoints.map((c) => ({ log: c.log, size: c.size, rootHash: c.rootHash, note: c.note })) });
    let submitted;
    try {
      submitted = await untilAborted(this.#conn.contract.submitAsync('RecordAnchor', { arguments: [this.#node, String(w.window), anchorJson] }), signal);
    } catch (err) {
      throw mapSubmitFailure(w.window, err, signal?.aborted === true);
    }
    const txId = submitted.getTransactionId();
    let status;
    try {
      status = await untilAborted(submitted.getStatus(), signal);
    } catch (err) {
      throw mapCommitStatusFailure(w.window, txId, err, signal?.aborted === true);
    }
    if (status.successful) return { txId, block: Number(status.blockNumber), backend: 'fabric' };
    if (status.code === StatusCode.MVCC_READ_CONFLICT) {
      // Endorsed against state another transaction changed first: endorse again.
      throw new AnchorSubmitError('UNAVAILABLE', `anchor window ${w.window} (tx ${txId}) hit MVCC_READ_CONFLICT in block ${status.blockNumber}; endorsing again`, { retryable: true });
    }
    throw new AnchorSubmitError('FAILED_PRECONDITION', `anchor window ${w.window} (tx ${txId}) was invalidated at commit: ${statusName(status.code)}`, { retryable: false });
  }

  /**
   * This node's window as recorded on the channel, with the block of the
   * transaction that recorded it, or undefined.
   * @throws AnchorSubmitError retryable with outcomeUnknown when the peer cannot be reached
   */
  async get(window: number): Promise<AnchoredWindow | undefined> {
    try {
      const a = await this.#conn.getAnchor(this.#node, window);
      if (a === undefined) return undefined;
      const status = await this.#conn.commitStatus(a.txId);
      return {
        window: { window, root: a.root, node: a.node, checkpoints: a.checkpoints },
        receipt: { txId: a.txId, block: Number(status.blockNumber), backend: 'fabric' },
      };
    } catch (err) {
      throw mapLookupFailure(window, err);
    }
  }

  async close(): Promise<void> {
    this.#conn.close();
  }
}
