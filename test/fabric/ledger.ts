/**
 * The test peer's channel ledger: an ordering queue that cuts blocks, the
 * committer that validates each transaction (signatures, endorsement,
 * duplicate tx IDs, then MVCC through {@link WorldState}), the tx-ID index
 * that `CommitStatus` reads, and the chaincode events per block that
 * `ChaincodeEvents` streams.
 *
 * Block 0 stands for the channel's genesis (config) block, as on a real
 * channel; transactions go into blocks 1, 2, ... Transactions submitted
 * within `batchTimeoutMs` of each other share a block, which is how two
 * transactions endorsed against the same state produce an MVCC conflict.
 *
 * Everything lives in memory: it survives the gateway being stopped and
 * started again (the peer "going away"), not the process.
 */
import { common, peer } from '@hyperledger/fabric-protos';
import { createHash, X509Certificate } from 'node:crypto';
import { verifyFabricSignature } from './pki.js';
import type { Version, WorldState } from './world-state.js';

export type TxValidationCode = peer.TxValidationCodeMap[keyof peer.TxValidationCodeMap];

export interface CommittedTx {
  txId: string;
  blockNumber: number;
  txIndex: number;
  code: TxValidationCode;
}

export interface Block {
  number: number;
  txs: CommittedTx[];
  /** Events of the valid transactions, in transaction order. */
  events: peer.ChaincodeEvent[];
}

/** Decides whether an identity (a serialized `msp.SerializedIdentity`) is a valid member of a known MSP. */
export type IdentityResolver = (serializedIdentity: Uint8Array) => X509Certificate | undefined;

/**
 * Runs after a transaction's signatures and endorsements checked out and
 * before its MVCC check; fault injection uses it to force a validation code
 * or to commit a conflicting write first.
 */
export type ValidationHook = (tx: ParsedTransaction, height: Version) => TxValidationCode | undefined;

/** What the committer needs from an envelope. */
export interface ParsedTransaction {
  txId: string;
  channelId: string;
  creator: Uint8Array;
  payload: Uint8Array;
  signature: Uint8Array;
  rwset: Uint8Array;
  event: peer.ChaincodeEvent | undefined;
  proposalResponsePayload: Uint8Array;
  endorsements: peer.Endorsement[];
  proposalHash: Uint8Array;
  expectedProposalHash: Uint8Array;
}

/**
 * SHA-256 over the proposal header and the chaincode proposal payload
 * without transient data: what an endorser puts in
 * `ProposalResponsePayload.proposal_hash` (fabric protoutil.GetProposalHash1).
 */
export function proposalHash(headerBytes: Uint8Array, chaincodeProposalPayloadNoTransient: Uint8Array): Buffer {
  return createHash('sha256').update(headerBytes).update(chaincodeProposalPayloadNoTransient).digest();
}

/** Parses an endorser transaction envelope; throws on anything malformed. */
export function parseTransaction(envelope: common.Envelope): ParsedTransaction {
  const payloadBytes = envelope.getPayload_asU8();
  const payload = common.Payload.deserializeBinary(payloadBytes);
  const header = payload.getHeader();
  if (header === undefined) throw new Error('missing header');
  const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
  if (channelHeader.getType() !== common.HeaderType.ENDORSER_TRANSACTION) throw new Error(`header type ${channelHeader.getType()} is not ENDORSER_TRANSACTION`);
  const signatureHeader = common.SignatureHeader.deserializeBinary(header.getSignatureHeader_asU8());
  const tx = peer.Transaction.deserializeBinary(payload.getData_asU8());
  const actions = tx.getActionsList();
  if (actions.length !== 1) throw new Error(`transaction has ${actions.length} actions, expected 1`);
  const actionPayload = peer.ChaincodeActionPayload.deserializeBinary(actions[0]!.getPayload_asU8());
  const endorsed = actionPayload.getAction();
  if (endorsed === undefined) throw new Error('missing endorsed action');
  const prpBytes = endorsed.getProposalResponsePayload_asU8();
  const prp = peer.ProposalResponsePayload.deserializeBinary(prpBytes);
  const action = peer.ChaincodeAction.deserializeBinary(prp.getExtension_asU8());
  const eventBytes = action.getEvents_asU8();
  return {
    txId: channelHeader.getTxId(),
    channelId: channelHeader.getChannelId(),
    creator: signatureHeader.getCreator_asU8(),
    payload: payloadBytes,
    signature: envelope.getSignature_asU8(),
    rwset: action.getResults_asU8(),
    event: eventBytes.length > 0 ? peer.ChaincodeEvent.deserializeBinary(eventBytes) : undefined,
    proposalResponsePayload: prpBytes,
    endorsements: endorsed.getEndorsementsList(),
    proposalHash: prp.getProposalHash_asU8(),
    expectedProposalHash: proposalHash(header.serializeBinary(), actionPayload.getChaincodeProposalPayload_asU8()),
  };
}

export interface LedgerOptions {
  channelId: string;
  state: WorldState;
  /** Resolves client identities (creators). */
  resolveIdentity: IdentityResolver;
  /** Resolves endorser identities; an endorsement by anyone else fails the policy. */
  resolveEndorser: IdentityResolver;
  /** How long the orderer waits for more transactions before cutting a block. */
  batchTimeoutMs: number;
}

type TxWaiter = (tx: CommittedTx) => void;
type BlockListener = (block: Block) => void;

export class ChannelLedger {
  readonly channelId: string;
  readonly #state: WorldState;
  readonly #options: LedgerOptions;
  readonly #blocks: Block[] = [{ number: 0, txs: [], events: [] }];
  readonly #byTxId = new Map<string, CommittedTx>();
  readonly #waiters = new Map<string, Set<TxWaiter>>();
  readonly #listeners = new Set<BlockListener>();
  #pending: common.Envelope[] = [];
  #cutTimer: NodeJS.Timeout | undefined;
  validationHook: ValidationHook | undefined;

  constructor(options: LedgerOptions) {
    this.channelId = options.channelId;
    this.#state = options.state;
    this.#options = options;
  }

  /** Next block number (= number of blocks). */
  get height(): number {
    return this.#blocks.length;
  }

  block(n: number): Block | undefined {
    return this.#blocks[n];
  }

  committed(txId: string): CommittedTx | undefined {
    return this.#byTxId.get(txId);
  }

  /** Hands a signed transaction to the orderer; it is committed in a later block. */
  order(envelope: common.Envelope): void {
    this.#pending.push(envelope);
    this.#cutTimer ??= setTimeout(() => this.#cutBlock(), this.#options.batchTimeoutMs);
  }

  /** Resolves when `txId` is committed (at once if it already is); `signal` aborts the wait. */
  waitForTx(txId: string, signal: AbortSignal): Promise<CommittedTx> {
    const done = this.#byTxId.get(txId);
    if (done !== undefined) return Promise.resolve(done);
    return new Promise<CommittedTx>((resolve, reject) => {
      const waiters = this.#waiters.get(txId) ?? new Set<TxWaiter>();
      this.#waiters.set(txId, waiters);
      const waiter: TxWaiter = (tx) => {
        signal.removeEventListener('abort', onAbort);
        resolve(tx);
      };
      const onAbort = (): void => {
        waiters.delete(waiter);
        reject(new Error('cancelled'));
      };
      waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Calls `listener` for every block committed from now on; returns the unsubscribe function. */
  onBlock(listener: BlockListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #cutBlock(): void {
    this.#cutTimer = undefined;
    const envelopes = this.#pending;
    this.#pending = [];
    if (envelopes.length === 0) return;
    const number = this.#blocks.length;
    const block: Block = { number, txs: [], events: [] };
    const seenInBlock = new Set<string>();
    envelopes.forEach((envelope, txIndex) => {
      const { txId, code, event } = this.#validate(envelope, { blockNum: number, txNum: txIndex }, seenInBlock);
      const tx: CommittedTx = { txId, blockNumber: number, txIndex, code };
      block.txs.push(tx);
      if (code === peer.TxValidationCode.VALID && event !== undefined) block.events.push(event);
    });
    this.#blocks.push(block);
    for (const tx of block.txs) {
      if (this.#byTxId.has(tx.txId)) continue; // a duplicate keeps the first commit's status
      this.#byTxId.set(tx.txId, tx);
      const waiters = this.#waiters.get(tx.txId);
      this.#waiters.delete(tx.txId);
      for (const w of waiters ?? []) w(tx);
    }
    for (const listener of this.#listeners) listener(block);
  }

  #validate(envelope: common.Envelope, height: Version, seenInBlock: Set<string>): { txId: string; code: TxValidationCode; event?: peer.ChaincodeEvent } {
    let tx: ParsedTransaction;
    try {
      tx = parseTransaction(envelope);
    } catch {
      return { txId: '', code: peer.TxValidationCode.BAD_PAYLOAD };
    }
    const { txId } = tx;
    if (tx.channelId !== this.channelId) return { txId, code: peer.TxValidationCode.BAD_CHANNEL_HEADER };
    if (this.#byTxId.has(txId) || seenInBlock.has(txId)) return { txId, code: peer.TxValidationCode.DUPLICATE_TXID };
    seenInBlock.add(txId);
    const creator = this.#options.resolveIdentity(tx.creator);
    if (creator === undefined || !verifyFabricSignature(creator, tx.payload, tx.signature)) {
      return { txId, code: peer.TxValidationCode.BAD_CREATOR_SIGNATURE };
    }
    if (!Buffer.from(tx.proposalHash).equals(Buffer.from(tx.expectedProposalHash)) || !this.#endorsed(tx)) {
      return { txId, code: peer.TxValidationCode.ENDORSEMENT_POLICY_FAILURE };
    }
    const forced = this.validationHook?.(tx, height);
    if (forced !== undefined) return { txId, code: forced };
    const code = this.#state.validateAndCommit(tx.rwset, height);
    return code === peer.TxValidationCode.VALID ? { txId, code, event: tx.event } : { txId, code };
  }

  /** The endorsement policy: at least one valid endorsement by a known peer over the response payload. */
  #endorsed(tx: ParsedTransaction): boolean {
    return tx.endorsements.some((e) => {
      const endorser = this.#options.resolveEndorser(e.getEndorser_asU8());
      const signed = Buffer.concat([tx.proposalResponsePayload, e.getEndorser_asU8()]);
      return endorser !== undefined && verifyFabricSignature(endorser, signed, e.getSignature_asU8());
    });
  }

  /** Stops the block cutter (pending transactions are dropped, as by a crashed orderer). */
  close(): void {
    if (this.#cutTimer !== undefined) clearTimeout(this.#cutTimer);
    this.#cutTimer = undefined;
    this.#pending = [];
  }
}
