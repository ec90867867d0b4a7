/**
 * `gateway.Gateway` (gateway/gateway.proto) served the way a Fabric 2.5
 * peer's embedded gateway serves it to the fabric-gateway client
 * (fabric `internal/pkg/gateway`): Evaluate and Endorse run the chaincode
 * against the world state, Endorse returns the unsigned transaction envelope,
 * Submit takes it signed to the orderer, CommitStatus waits for the
 * transaction's validation code and block, ChaincodeEvents streams events
 * per block.
 *
 * Errors follow the real gateway, since the client turns them into its own
 * error classes: status codes as in `api.go`, and `gateway.ErrorDetail`s
 * (endpoint, MSP ID, message) packed into the `grpc-status-details-bin`
 * trailer as a `google.rpc.Status`.
 */
import * as grpc from '@grpc/grpc-js';
import { common, gateway, google, msp, orderer, peer } from '@hyperledger/fabric-protos';
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import type { ChaincodeProcess, ExecutionResult } from './chaincode-process.js';
import type { FaultInjector, GatewayMethod } from './faults.js';
import { proposalHash, type ChannelLedger, type IdentityResolver, parseTransaction } from './ledger.js';
import { signLowS, verifyFabricSignature } from './pki.js';
import type { WorldState } from './world-state.js';

// google-protobuf ships no types; Any is the only class needed from it, and
// it must be the same copy fabric-protos uses (the root one).
interface AnyMessage {
  pack(serialized: Uint8Array, name: string, typeUrlPrefix?: string): void;
}
const { Any } = createRequire(import.meta.url)('google-protobuf/google/protobuf/any_pb.js') as { Any: new () => AnyMessage };

/** The peer's own signing identity (endorsements). */
export interface PeerIdentity {
  mspId: string;
  /** `msp.SerializedIdentity` bytes. */
  serialized: Uint8Array;
  key: KeyObject;
}

export interface GatewayServiceOptions {
  channelId: string;
  chaincodes: ReadonlyMap<string, ChaincodeProcess>;
  state: WorldState;
  ledger: ChannelLedger;
  faults: FaultInjector;
  resolveIdentity: IdentityResolver;
  peer: PeerIdentity;
  /** The endpoint named in error details. */
  address: () => string;
}

class GatewayStatusError extends Error {
  readonly code: grpc.status;
  readonly details: readonly string[];
  constructor(code: grpc.status, message: string, details: readonly string[] = []) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

interface ParsedProposal {
  signed: peer.SignedProposal;
  proposal: peer.Proposal;
  header: common.Header;
  channelHeader: common.ChannelHeader;
  signatureHeader: common.SignatureHeader;
  chaincodeName: string;
  input: peer.ChaincodeInput;
  /** ChaincodeProposalPayload without transient data, serialized once. */
  payloadNoTransient: Uint8Array;
}

function invalidArgument(message: string): GatewayStatusError {
  return new GatewayStatusError(grpc.status.INVALID_ARGUMENT, message);
}

/** Unpacks a signed proposal (fabric `getChannelAndChaincodeFromSignedProposal`). */
function parseProposal(signed: peer.SignedProposal | undefined): ParsedProposal {
  if (signed === undefined || signed.getProposalBytes_asU8().length === 0) {
    throw invalidArgument('the proposed transaction must contain a signed proposal');
  }
  try {
    const proposal = peer.Proposal.deserializeBinary(signed.getProposalBytes_asU8());
    const header = common.Header.deserializeBinary(proposal.getHeader_asU8());
    const channelHeader = common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8());
    const signatureHeader = common.SignatureHeader.deserializeBinary(header.getSignatureHeader_asU8());
    const payload = peer.ChaincodeProposalPayload.deserializeBinary(proposal.getPayload_asU8());
    const spec = peer.ChaincodeInvocationSpec.deserializeBinary(payload.getInput_asU8()).getChaincodeSpec();
    if (channelHeader.getChannelId() === '') throw new Error('no channel id provided');
    const chaincodeName = spec?.getChaincodeId()?.getName() ?? '';
    if (chaincodeName === '') throw new Error(`no chaincode name is provided, channel id [${channelHeader.getChannelId()}]`);
    const noTransient = new peer.ChaincodeProposalPayload();
    noTransient.setInput(payload.getInput_asU8());
    return {
      signed,
      proposal,
      header,
      channelHeader,
      signatureHeader,
      chaincodeName,
      input: spec?.getInput() ?? new peer.ChaincodeInput(),
      payloadNoTransient: noTransient.serializeBinary(),
    };
  } catch (e) {
    if (e instanceof GatewayStatusError) throw e;
    throw invalidArgument(`failed to unpack transaction proposal: ${(e as Error).message}`);
  }
}

function statusTrailer(code: grpc.status, message: string, details: readonly string[], opts: GatewayServiceOptions): grpc.Metadata {
  const st = new google.rpc.Status();
  st.setCode(code);
  st.setMessage(message);
  st.setDetailsList(details.map((m) => {
    const detail = new gateway.ErrorDetail();
    detail.setAddress(opts.address());
    detail.setMspId(opts.peer.mspId);
    detail.setMessage(m);
    const any = new Any();
    any.pack(detail.serializeBinary(), 'gateway.ErrorDetail');
    return any;
  }));
  const md = new grpc.Metadata();
  md.set('grpc-status-details-bin', Buffer.from(st.serializeBinary()));
  return md;
}

function toServiceError(e: unknown, opts: GatewayServiceOptions): Partial<grpc.StatusObject> {
  if (e instanceof GatewayStatusError) {
    return { code: e.code, details: e.message, metadata: statusTrailer(e.code, e.message, e.details, opts) };
  }
  return { code: grpc.status.INTERNAL, details: `test peer: ${(e as Error).message}` };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Peer-side failure while processing a proposal (not the chaincode's answer). */
class EndorserFailure extends Error {}

/** Builds the `gateway.Gateway` implementation for `grpc.Server.addService`. */
export function createGatewayService(opts: GatewayServiceOptions): grpc.UntypedServiceImplementation {
  const { faults, ledger } = opts;

  /** Latency and injected failures common to every method; false when the caller went away meanwhile. */
  async function injected(method: GatewayMethod, call: { cancelled: boolean }): Promise<boolean> {
    const delay = faults.latencyFor(method);
    if (delay > 0) await sleep(delay);
    if (call.cancelled) return false;
    const failure = faults.takeFailure(method);
    if (failure !== undefined) throw new GatewayStatusError(failure.code, failure.message);
    return true;
  }

  function unary<Req, Res>(method: GatewayMethod, handle: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      void (async () => {
        try {
          if (!(await injected(method, call))) return;
          callback(null, await handle(call.request, call));
        } catch (e) {
          callback(toServiceError(e, opts));
        }
      })();
    };
  }

  function checkChannel(channelId: string): void {
    if (channelId !== opts.channelId) {
      throw new GatewayStatusError(grpc.status.FAILED_PRECONDITION, `channel '${channelId}' not found`);
    }
  }

  function chaincodeFor(p: ParsedProposal): ChaincodeProcess {
    checkChannel(p.channelHeader.getChannelId());
    const cc = opts.chaincodes.get(p.chaincodeName);
    if (cc === undefined) {
      throw new GatewayStatusError(grpc.status.FAILED_PRECONDITION, `no peers available to evaluate chaincode ${p.chaincodeName} in channel ${opts.channelId}`);
    }
    return cc;
  }

  /**
   * What the endorser checks before running chaincode (fabric
   * `core/endorser` preProcess): header type, tx ID derivation, creator
   * membership and signature, tx ID not yet in the ledger. Then simulation.
   */
  async function simulate(p: ParsedProposal, cc: ChaincodeProcess): Promise<ExecutionResult & { rwset: Uint8Array }> {
    if (p.channelHeader.getType() !== common.HeaderType.ENDORSER_TRANSACTION) {
      throw new EndorserFailure(`invalid header type ${p.channelHeader.getType()}`);
    }
    const txId = p.channelHeader.getTxId();
    const nonce = p.signatureHeader.getNonce_asU8();
    const creatorBytes = p.signatureHeader.getCreator_asU8();
    const expected = createHash('sha256').update(nonce).update(creatorBytes).digest('hex');
    if (txId !== expected) throw new EndorserFailure(`incorrectly computed txid [${txId}], expected [${expected}]`);
    const creator: X509Certificate | undefined = opts.resolveIdentity(creatorBytes);
    if (creator === undefined) {
      throw new EndorserFailure(`access denied: channel [${opts.channelId}] creator org unknown, creator is malformed`);
    }
    if (!verifyFabricSignature(creator, p.signed.getProposalBytes_asU8(), p.signed.getSignature_asU8())) {
      throw new EndorserFailure(`access denied: channel [${opts.channelId}] creator signature is invalid`);
    }
    if (ledger.committed(txId) !== undefined) throw new EndorserFailure(`duplicate transaction found [${txId}]`);
    const simulator = opts.state.newSimulator();
    try {
      const result = await cc.execute(opts.channelId, txId, p.signed, p.input, simulator);
      return { ...result, rwset: simulator.readWriteSet() };
    } catch (e) {
      throw new EndorserFailure((e as Error).message);
    }
  }

  function chaincodeFailed(r: ExecutionResult): boolean {
    const status = r.response.getStatus();
    return status < 200 || status >= 400;
  }

  async function evaluate(req: gateway.EvaluateRequest): Promise<gateway.EvaluateResponse> {
    const p = parseProposal(req.getProposedTransaction());
    const cc = chaincodeFor(p);
    let result: ExecutionResult;
    try {
      result = await simulate(p, cc);
    } catch (e) {
      if (!(e instanceof EndorserFailure)) throw e;
      throw new GatewayStatusError(grpc.status.ABORTED, 'failed to evaluate transaction, see attached details for more info', [e.message]);
    }
    if (chaincodeFailed(result)) {
      const message = `chaincode response ${result.response.getStatus()}, ${result.response.getMessage()}`;
      throw new GatewayStatusError(grpc.status.UNKNOWN, `evaluate call to endorser returned error: ${message}`, [message]);
    }
    const res = new gateway.EvaluateResponse();
    res.setResult(result.response);
    return res;
  }

  async function endorse(req: gateway.EndorseRequest): Promise<gateway.EndorseResponse> {
    const p = parseProposal(req.getProposedTransaction());
    const cc = chaincodeFor(p);
    const abort = (message: string): GatewayStatusError =>
      new GatewayStatusError(grpc.status.ABORTED, 'failed to endorse transaction, see attached details for more info', [message]);
    const injectedFailure = faults.takeEndorsementFailure();
    if (injectedFailure !== undefined) throw abort(injectedFailure);
    let result: ExecutionResult & { rwset: Uint8Array };
    try {
      result = await simulate(p, cc);
    } catch (e) {
      if (!(e instanceof EndorserFailure)) throw e;
      throw abort(e.message);
    }
    if (chaincodeFailed(result)) {
      throw abort(`chaincode response ${result.response.getStatus()}, ${result.response.getMessage()}`);
    }

    // The endorsement (fabric core/endorser: endorsement.go, protoutil.CreateProposalResponse).
    const action = new peer.ChaincodeAction();
    action.setResults(result.rwset);
    if (result.event !== undefined) action.setEvents(result.event.serializeBinary());
    action.setResponse(result.response);
    const ccId = new peer.ChaincodeID();
    ccId.setName(p.chaincodeName);
    ccId.setVersion('1.0');
    action.setChaincodeId(ccId);
    const prp = new peer.ProposalResponsePayload();
    prp.setProposalHash(proposalHash(p.header.serializeBinary(), p.payloadNoTransient));
    prp.setExtension$(action.serializeBinary());
    const prpBytes = prp.serializeBinary();
    const endorsement = new peer.Endorsement();
    endorsement.setEndorser(opts.peer.serialized);
    endorsement.setSignature(signLowS(opts.peer.key, Buffer.concat([prpBytes, opts.peer.serialized])));

    // The transaction for the client to sign (fabric gateway prepareTransaction).
    const endorsed = new peer.ChaincodeEndorsedAction();
    endorsed.setProposalResponsePayload(prpBytes);
    endorsed.setEndorsementsList([endorsement]);
    const actionPayload = new peer.ChaincodeActionPayload();
    actionPayload.setChaincodeProposalPayload(p.payloadNoTransient);
    actionPayload.setAction(endorsed);
    const txAction = new peer.TransactionAction();
    txAction.setHeader(p.header.getSignatureHeader_asU8());
    txAction.setPayload(actionPayload.serializeBinary());
    const tx = new peer.Transaction();
    tx.setActionsList([txAction]);
    const payload = new common.Payload();
    payload.setHeader(p.header);
    payload.setData(tx.serializeBinary());
    const envelope = new common.Envelope();
    envelope.setPayload(payload.serializeBinary());
    const res = new gateway.EndorseResponse();
    res.setPreparedTransaction(envelope);
    return res;
  }

  async function submit(req: gateway.SubmitRequest): Promise<gateway.SubmitResponse> {
    const envelope = req.getPreparedTransaction();
    if (envelope === undefined) throw invalidArgument('a prepared transaction is required');
    if (envelope.getSignature_asU8().length === 0) throw invalidArgument('prepared transaction must be signed');
    checkChannel(req.getChannelId());
    // The orderer's checks: well-formed, and signed by a channel member (Writers policy).
    const ordererRefused = (status: string): GatewayStatusError =>
      new GatewayStatusError(grpc.status.ABORTED, `received unsuccessful response from orderer: ${status}`, [`orderer returned ${status}`]);
    let creator: X509Certificate | undefined;
    try {
      const tx = parseTransaction(envelope);
      creator = opts.resolveIdentity(tx.creator);
      if (creator === undefined || !verifyFabricSignature(creator, tx.payload, tx.signature)) throw ordererRefused('FORBIDDEN');
    } catch (e) {
      if (e instanceof GatewayStatusError) throw e;
      throw ordererRefused('BAD_REQUEST');
    }
    ledger.order(envelope);
    return new gateway.SubmitResponse();
  }

  /** Checks a signed request the way the gateway's ACL check does: known identity, valid signature. */
  function checkSigned(request: Uint8Array, identity: Uint8Array, signature: Uint8Array): void {
    const cert = opts.resolveIdentity(identity);
    if (cert === undefined || !verifyFabricSignature(cert, request, signature)) {
      throw new GatewayStatusError(grpc.status.PERMISSION_DENIED, 'failed evaluating policy on signed data during check policy: signature or identity invalid');
    }
  }

  async function commitStatus(signed: gateway.SignedCommitStatusRequest, call: grpc.ServerUnaryCall<gateway.SignedCommitStatusRequest, gateway.CommitStatusResponse>): Promise<gateway.CommitStatusResponse> {
    const bytes = signed.getRequest_asU8();
    if (bytes.length === 0) throw invalidArgument('a commit status request is required');
    let req: gateway.CommitStatusRequest;
    try {
      req = gateway.CommitStatusRequest.deserializeBinary(bytes);
    } catch (e) {
      throw invalidArgument(`invalid status request: ${(e as Error).message}`);
    }
    checkSigned(bytes, req.getIdentity_asU8(), signed.getSignature_asU8());
    checkChannel(req.getChannelId());
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    if (call.cancelled) abort.abort();
    const tx = await ledger.waitForTx(req.getTransactionId(), abort.signal);
    const res = new gateway.CommitStatusResponse();
    res.setResult(tx.code);
    res.setBlockNumber(tx.blockNumber);
    return res;
  }

  function chaincodeEvents(call: grpc.ServerWritableStream<gateway.SignedChaincodeEventsRequest, gateway.ChaincodeEventsResponse>): void {
    const fail = (e: unknown): void => {
      call.emit('error', toServiceError(e, opts));
    };
    void (async () => {
      try {
        if (!(await injected('ChaincodeEvents', call))) return;
        const bytes = call.request.getRequest_asU8();
        if (bytes.length === 0) throw invalidArgument('a chaincode events request is required');
        let req: gateway.ChaincodeEventsRequest;
        try {
          req = gateway.ChaincodeEventsRequest.deserializeBinary(bytes);
        } catch (e) {
          throw invalidArgument(`invalid chaincode events request: ${(e as Error).message}`);
        }
        checkSigned(bytes, req.getIdentity_asU8(), call.request.getSignature_asU8());
        if (req.getChannelId() !== opts.channelId) throw new GatewayStatusError(grpc.status.NOT_FOUND, `channel '${req.getChannelId()}' not found`);

        // Start block (fabric chaincodeEventsStartBlock): after a known tx, else the seek position.
        const after = req.getAfterTransactionId();
        const afterTx = after === '' ? undefined : ledger.committed(after);
        const position = req.getStartPosition();
        let start = ledger.height;
        if (afterTx !== undefined) start = afterTx.blockNumber;
        else if (position?.getTypeCase() === orderer.SeekPosition.TypeCase.SPECIFIED) start = position.getSpecified()?.getNumber() ?? start;

        // Event filter (fabric chaincodeEventMatcher): this chaincode, after `after` if given.
        let passed = after === '';
        const matches = (e: peer.ChaincodeEvent): boolean => {
          if (!passed) {
            if (e.getTxId() === after) passed = true;
            return false;
          }
          return e.getChaincodeId() === req.getChaincodeId();
        };
        const send = (blockNumber: number, events: readonly peer.ChaincodeEvent[]): void => {
          const selected = events.filter(matches);
          if (selected.length === 0) return;
          const res = new gateway.ChaincodeEventsResponse();
          res.setBlockNumber(blockNumber);
          res.setEventsList(selected);
          call.write(res);
        };
        let next = start;
        const unsubscribe = ledger.onBlock((block) => {
          if (block.number < next) return;
          next = block.number + 1;
          send(block.number, block.events);
        });
        call.on('cancelled', unsubscribe);
        call.on('close', unsubscribe);
        for (; next < ledger.height; next++) send(next, ledger.block(next)?.events ?? []);
      } catch (e) {
        fail(e);
      }
    })();
  }

  return {
    // Keys as in the generated service definition (gateway_grpc_pb.js).
    evaluate: unary('Evaluate', evaluate),
    endorse: unary('Endorse', endorse),
    submit: unary('Submit', submit),
    commitStatus: unary('CommitStatus', commitStatus),
    chaincodeEvents,
  };
}

/** `msp.SerializedIdentity` bytes for an MSP ID and a PEM certificate. */
export function serializeIdentity(mspId: string, certPem: string): Uint8Array {
  const id = new msp.SerializedIdentity();
  id.setMspid(mspId);
  id.setIdBytes(Buffer.from(certPem));
  return id.serializeBinary();
}
