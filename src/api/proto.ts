/**
 * Loads `proto/cairn/ledger/v1/ledger.proto` at run time (proto-loader): one
 * definition for the server, the client and reflection, and no generated code
 * to drift from the .proto. uint64 fields arrive as decimal strings so that a
 * value above 2^53 is rejected by name instead of silently rounded.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import { invalidArgument } from '../core/errors.js';
import { keyLinkToJson, parseKeyLink, type KeyLink } from '../core/key-chain.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/api -> repository root. */
export const PROTO_ROOT = join(here, '..', '..', '..', 'proto');
export const LEDGER_PROTO = 'cairn/ledger/v1/ledger.proto';
export const LEDGER_SERVICE = 'cairn.ledger.v1.Ledger';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

let cached: protoLoader.PackageDefinition | undefined;

export function ledgerPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync(LEDGER_PROTO, LOADER_OPTIONS);
  return cached;
}

export function ledgerServiceDefinition(): grpc.ServiceDefinition {
  return ledgerPackageDefinition()[LEDGER_SERVICE] as grpc.ServiceDefinition;
}

export function ledgerClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(ledgerServiceDefinition(), 'Ledger');
}

/** Parses a uint64 field (decimal string from proto-loader) into a safe integer. */
export function u64(field: string, v: unknown): number {
  if (v === undefined || v === null || v === '') return 0;
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^[0-9]{1,20}$/.test(s)) throw invalidArgument(field, 'is not an unsigned integer');
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw invalidArgument(field, `${s} is above 2^53-1`);
  return n;
}

// Wire shapes (proto-loader objects, camelCase).
export interface WireEntry {
  log: string;
  seq: string;
  body: Uint8Array;
  signature: Uint8Array;
  hash: Uint8Array;
  /** Watch only: the latest checkpoint, on the last entry of a group (absent or null elsewhere). */
  checkpoint?: WireCheckpoint | null;
}
export interface WireCheckpoint {
  log: string;
  size: string;
  rootHash: Uint8Array;
  note: string;
  /** Witness cosignature lines on `note` (absent on the wire means none). */
  cosignatures?: string[];
}
export interface WireReceipt {
  entry: WireEntry;
  checkpoint: WireCheckpoint;
  inclusionProof: Uint8Array[];
  replayed: boolean;
}
export interface WireInclusionProof {
  log: string;
  seq: string;
  size: string;
  hashes: Uint8Array[];
  checkpoint: WireCheckpoint;
}
export interface WireConsistencyProof {
  log: string;
  fromSize: string;
  toSize: string;
  hashes: Uint8Array[];
  checkpoint: WireCheckpoint;
}
export interface WirePublicKey {
  algorithm: string;
  spkiDer: Uint8Array;
  pem: string;
  keyId: string;
  nodeName: string;
  keyChain: WireKeyLink[];
  /** The node's witness key (empty: it does not witness). */
  witnessSpki?: Uint8Array;
}
export interface WireKeyLink {
  prevSpki: Uint8Array;
  nextSpki: Uint8Array;
  nodeName: string;
  time: string;
  signature: Uint8Array;
}

export function wireKeyLink(l: KeyLink): WireKeyLink {
  return { prevSpki: l.statement.prev, nextSpki: l.statement.next, nodeName: l.statement.node, time: l.statement.time, signature: l.signature };
}

/**
 * A key link from the wire, parsed as strictly as one from a log entry
 * (attacker-controlled: it is verified from the pinned key by the caller).
 * @throws VerificationError KEY_LINK_MALFORMED
 */
export function fromWireKeyLink(w: WireKeyLink): KeyLink {
  const b = (x: unknown): Uint8Array => (x instanceof Uint8Array ? x : new Uint8Array(0));
  return parseKeyLink(keyLinkToJson({ statement: { prev: b(w.prevSpki), next: b(w.nextSpki), node: String(w.nodeName), time: String(w.time) }, signature: b(w.signature) }));
}
