/**
 * One identity's connection to the CairnAnchor chaincode through a Fabric
 * Gateway peer: a grpc-js channel with TLS (trusting the configured CA), an
 * X.509 identity with its signer (`@hyperledger/fabric-gateway` 1.11), and
 * typed reads of the chaincode (src/chaincode/README.md). The node's anchor
 * backend and an auditor's anchor reader both use it, each with its own
 * identity.
 *
 * The gRPC client is created here and closed by {@link FabricConnection.close}
 * (fabric-gateway leaves its client to whoever made it: "not closed by the
 * gateway"). Chaincode answers come from the channel but are parsed as
 * attacker-controlled: a malformed answer is an error, never trusted.
 */
import * as grpc from '@grpc/grpc-js';
import { connect, GatewayError, hash, signers, type Contract, type Gateway, type Status } from '@hyperledger/fabric-gateway';
import { gateway as gatewayProtos, msp } from '@hyperledger/fabric-protos';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CairnError } from '../core/errors.js';
import type { WindowCheckpoint } from '../core/anchor.js';

/** Where and as whom to connect (the `fabric` section of a config file). */
export interface FabricSettings {
  /** Gateway peer `host:port`. */
  endpoint: string;
  /** PEM file of the CA that issued the peer's TLS certificate. */
  tlsCaFile: string;
  /** Host name in the peer's TLS certificate when it is not the endpoint's host; empty: the endpoint's. */
  tlsServerName: string;
  mspId: string;
  /** X.509 certificate (PEM) of the identity. */
  certFile: string;
  /** Its private key (PEM). */
  keyFile: string;
  channel: string;
  chaincode: string;
  /** Contract name in the chaincode (`CairnAnchor`). */
  contract: string;
  /** Deadline of each Evaluate, Endorse and Submit call. */
  timeoutMs: number;
  /** Deadline of the wait for a commit status. */
  commitTimeoutMs: number;
}

export interface FabricConnectOptions {
  /**
   * grpc-js reconnect backoff after the peer went away: first and longest
   * wait. Defaults 250 ms and 5 s, so a peer that comes back is found within
   * seconds (grpc-js defaults to 1 s growing to 120 s).
   */
  reconnectBackoffMs?: { initial: number; max: number };
}

/** An anchor as the chaincode stores it under (node, window). */
export interface ChannelAnchor {
  window: number;
  root: string;
  node: string;
  checkpoints: WindowCheckpoint[];
  txId: string;
  submitter: { mspId: string; certificateSha256: string };
}

/** One log's checkpoint in one anchored window (a ListAnchors entry). */
export interface ChannelLogAnchor {
  window: number;
  root: string;
  txId: string;
  checkpoint: WindowCheckpoint;
}

/**
 * The chaincode error code in a Fabric error, if any. The chaincode's
 * message starts with its code; the gateway reports it in the error
 * details as `chaincode response 500, <CODE>: ...`.
 */
export function chaincodeErrorCode(err: unknown): string | undefined {
  const texts: string[] = [];
  if (err instanceof GatewayError) texts.push(...err.details.map((d) => d.message));
  if (err instanceof Error) texts.push(err.message);
  for (const text of texts) {
    const m = /chaincode response \d+, ([A-Z][A-Z0-9_]+):/.exec(text);
    if (m) return m[1];
  }
  return undefined;
}

/** The gRPC status of a fabric-gateway error, if it is one. */
export function grpcCode(err: unknown): number | undefined {
  return err instanceof GatewayError ? err.code : undefined;
}

async function readSetting(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new CairnError('INVALID_ARGUMENT', `setting ${setting}: cannot read ${path}: ${(cause as Error).message}`, { field: setting, cause });
  }
}

// ---------------------------------------------------------------- parsing answers (attacker-controlled)

const HEX32 = /^[0-9a-f]{64}$/;

function malformedAnswer(what: string, problem: string): CairnError {
  return new CairnError('CORRUPTION', `the chaincode's answer to ${what}: ${problem}`);
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw malformedAnswer(what, 'not UTF-8 JSON');
  }
}

function obj(v: unknown, what: string, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformedAnswer(what, `${field} is not an object`);
  return v as Record<string, unknown>;
}

function uint(v: unknown, what: string, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformedAnswer(what, `${field} is not a non-negative integer`);
  return v;
}

function hex32(v: unknown, what: string, field: string): string {
  if (typeof v !== 'string' || !HEX32.test(v)) throw malformedAnswer(what, `${field} is not 64 lowercase hex digits`);
  return v;
}

function str(v: unknown, what: string, field: string): string {
  if (typeof v !== 'string') throw malformedAnswer(what, `${field} is not a string`);
  return v;
}

function parseCheckpoint(v: unknown, what: string, field: string): WindowCheckpoint {
  const o = obj(v, what, field);
  return { log: str(o.log, what, `${field}.log`), size: uint(o.size, what, `${field}.size`), rootHash: hex32(o.rootHash, what, `${field}.rootHash`), note: str(o.note, what, `${field}.note`) };
}

function parseSubmitter(v: unknown, what: string): ChannelAnchor['submitter'] {
  const o = obj(v, what, 'submitter');
  return { mspId: str(o.mspId, what, 'submitter.mspId'), certificateSha256: hex32(o.certificateSha256, what, 'submitter.certificateSha256') };
}

/** Parses a GetAnchor answer, checking it is the window asked for. */
export function parseChannelAnchor(bytes: Uint8Array, node: string, window: number): ChannelAnchor {
  const what = `GetAnchor(${node}, ${window})`;
  const o = obj(parseJson(bytes, what), what, 'the record');
  if (o.window !== window) throw malformedAnswer(what, `window is ${String(o.window)}`);
  if (o.node !== node) throw malformedAnswer(what, `node is ${JSON.stringify(o.node)}`);
  if (!Array.isArray(o.checkpoints) || o.checkpoints.length === 0) throw malformedAnswer(what, 'checkpoints is not a non-empty array');
  return {
    window,
    node,
    root: hex32(o.root, what, 'root'),
    checkpoints: o.checkpoints.map((c, i) => parseCheckpoint(c, what, `checkpoints[${i}]`)),
    txId: str(o.txId, what, 'txId'),
    submitter: parseSubmitter(o.submitter, what),
  };
}

/** Parses one ListAnchors page. */
function parseAnchorPage(bytes: Uint8Array, what: string, log: string): { anchors: ChannelLogAnchor[]; nextWindow: number | null } {
  const o = obj(parseJson(bytes, what), what, 'the page');
  if (!Array.isArray(o.anchors)) throw malformedAnswer(what, 'anchors is not an array');
  const anchors = o.anchors.map((a, i): ChannelLogAnchor => {
    const e = obj(a, what, `anchors[${i}]`);
    const checkpoint = parseCheckpoint(e.checkpoint, what, `anchors[${i}].checkpoint`);
    if (checkpoint.log !== log) throw malformedAnswer(what, `anchors[${i}] is for log ${JSON.stringify(checkpoint.log)}`);
    return { window: uint(e.window, what, `anchors[${i}].window`), root: hex32(e.root, what, `anchors[${i}].root`), txId: str(e.txId, what, `anchors[${i}].txId`), checkpoint };
  });
  const nextWindow = o.nextWindow === null ? null : uint(o.nextWindow, what, 'nextWindow');
  return { anchors, nextWindow };
}

/** Widest window range the chaincode answers in one ListAnchors call (its MAX_LIST_SPAN). */
const LIST_SPAN = 10_000;

export class FabricConnection {
  readonly settings: Readonly<FabricSettings>;
  readonly #client: grpc.Client;
  readonly #gateway: Gateway;
  readonly #contract: Contract;
  readonly #identity: Uint8Array;

  private constructor(settings: Readonly<FabricSettings>, client: grpc.Client, gateway: Gateway, identity: Uint8Array) {
    this.settings = settings;
    this.#client = client;
    this.#gateway = gateway;
    this.#contract = gateway.getNetwork(settings.channel).getContract(settings.chaincode, settings.contract);
    this.#identity = identity;
  }

  /**
   * Reads the identity and the TLS CA, checks the key belongs to the
   * certificate, and opens the gRPC channel (connecting lazily: a peer that
   * is down now is not an error until the first call).
   * @throws CairnError INVALID_ARGUMENT naming the setting whose file is missing or wrong
   */
  static async open(settings: Readonly<FabricSettings>, options: FabricConnectOptions = {}): Promise<FabricConnection> {
    const [tlsCaPem, certPem, keyPem] = await Promise.all([
      readSetting(settings.tlsCaFile, 'fabric.tls_ca_file'),
      readSetting(settings.certFile, 'fabric.cert_file'),
      readSetting(settings.keyFile, 'fabric.key_file'),
    ]);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch (cause) {
      throw new CairnError('INVALID_ARGUMENT', `setting fabric.cert_file: ${settings.certFile} is not an X.509 certificate (PEM)`, { field: 'fabric.cert_file', cause });
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPem);
    } catch (cause) {
      throw new CairnError('INVALID_ARGUMENT', `setting fabric.key_file: ${settings.keyFile} is not a private key (PEM)`, { field: 'fabric.key_file', cause });
    }
    if (!cert.checkPrivateKey(key)) {
      throw new CairnError('INVALID_ARGUMENT', `setting fabric.key_file: ${settings.keyFile} is not the key of the certificate in fabric.cert_file`, { field: 'fabric.key_file' });
    }
    let signer;
    try {
      signer = signers.newPrivateKeySigner(key);
    } catch (cause) {
      throw new CairnError('INVALID_ARGUMENT', `setting fabric.key_file: ${(cause as Error).message}`, { field: 'fabric.key_file', cause });
    }
    try {
      // Parsed to name the setting if it is not PEM; the whole file (it may hold several CAs) is what is trusted.
      new X509Certificate(tlsCaPem);
    } catch (cause) {
      throw new CairnError('INVALID_ARGUMENT', `setting fabric.tls_ca_file: ${settings.tlsCaFile} is not an X.509 certificate (PEM)`, { field: 'fabric.tls_ca_file', cause });
    }
    const backoff = options.reconnectBackoffMs ?? { initial: 250, max: 5000 };
    const client = new grpc.Client(settings.endpoint, grpc.credentials.createSsl(Buffer.from(tlsCaPem)), {
      // Verify the peer's certificate for its host name, not the address dialled.
      ...(settings.tlsServerName ? { 'grpc.ssl_target_name_override': settings.tlsServerName } : {}),
      'grpc.initial_reconnect_backoff_ms': backoff.initial,
      'grpc.max_reconnect_backoff_ms': backoff.max,
    });
    const callOptions = (ms: number) => (): grpc.CallOptions => ({ deadline: Date.now() + ms });
    const gateway = connect({
      client,
      identity: { mspId: settings.mspId, credentials: Buffer.from(certPem) },
      signer,
      hash: hash.sha256,
      evaluateOptions: callOptions(settings.timeoutMs),
      endorseOptions: callOptions(settings.timeoutMs),
      submitOptions: callOptions(settings.timeoutMs),
      commitStatusOptions: callOptions(settings.commitTimeoutMs),
    });
    const identity = new msp.SerializedIdentity();
    identity.setMspid(settings.mspId);
    identity.setIdBytes(Buffer.from(certPem));
    return new FabricConnection(settings, client, gateway, identity.serializeBinary());
  }

  /** `host:port channel/chaincode` for messages. */
  get describe(): string {
    return `Fabric channel ${this.settings.channel} (chaincode ${this.settings.chaincode} via ${this.settings.endpoint})`;
  }

  get contract(): Contract {
    return this.#contract;
  }

  /**
   * The anchor of `node`'s `window`, or undefined when the chaincode has none
   * (ANCHOR_NOT_FOUND).
   * @throws GatewayError from fabric-gateway for any other failure
   * @throws CairnError CORRUPTION for an answer that does not parse
   */
  async getAnchor(node: string, window: number): Promise<ChannelAnchor | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#contract.evaluateTransaction('GetAnchor', node, String(window));
    } catch (err) {
      if (chaincodeErrorCode(err) === 'ANCHOR_NOT_FOUND') return undefined;
      throw err;
    }
    return parseChannelAnchor(bytes, node, window);
  }

  /**
   * Every anchored checkpoint of `node`'s `log` on the channel, in window
   * order: the log's head says how far to look, then ListAnchors pages
   * through at most 10,000 windows per call.
   */
  async listLogAnchors(node: string, log: string): Promise<ChannelLogAnchor[]> {
    const headWhat = `GetLogHead(${node}, ${log})`;
    const head = parseJson(await this.#contract.evaluateTransaction('GetLogHead', node, log), headWhat);
    if (head === null) return [];
    const last = uint(obj(head, headWhat, 'the head').window, headWhat, 'window');
    const out: ChannelLogAnchor[] = [];
    let from = 0;
    while (from <= last) {
      const to = Math.min(last, from + LIST_SPAN - 1);
      const what = `ListAnchors(${node}, ${log}, ${from}, ${to})`;
      const page = parseAnchorPage(await this.#contract.evaluateTransaction('ListAnchors', node, log, String(from), String(to)), what, log);
      for (const a of page.anchors) {
        if (a.window < from || a.window > to || (out.length > 0 && a.window <= out.at(-1)!.window)) throw malformedAnswer(what, `window ${a.window} is out of range or order`);
        out.push(a);
      }
      if (page.nextWindow !== null) {
        if (page.nextWindow <= from) throw malformedAnswer(what, 'nextWindow does not advance');
        from = page.nextWindow;
      } else {
        from = to + 1;
      }
    }
    return out;
  }

  /**
   * The commit status of any transaction on the channel (its block number
   * and validation code), asked with a commit status request built for its
   * ID and signed by this identity: how a window found on the channel after
   * an unknown outcome gets its block.
   */
  async commitStatus(txId: string): Promise<Status> {
    const request = new gatewayProtos.CommitStatusRequest();
    request.setTransactionId(txId);
    request.setChannelId(this.settings.channel);
    request.setIdentity(this.#identity);
    const signed = new gatewayProtos.SignedCommitStatusRequest();
    signed.setRequest(request.serializeBinary());
    return this.#gateway.newCommit(signed.serializeBinary()).getStatus();
  }

  close(): void {
    this.#gateway.close();
    this.#client.close();
  }
}
