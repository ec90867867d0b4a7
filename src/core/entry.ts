/**
 * The entry format: what is signed, hashed and chained for each record.
 *
 *   body        = RFC 8785 (JCS) canonical JSON of {@link EntryBody}
 *   contentHash = SHA-256(body)
 *   signature   = ECDSA P-256 / SHA-256 over body, DER, low-S
 *   entryHash   = SHA-256(prevHash || contentHash || signature)   (seq 0: prevHash = 32 zero bytes)
 *   Merkle leaf = SHA-256(0x00 || entryHash)                     (RFC 6962 section 2.1)
 *
 * The body carries the previous entry's hash, so the chain is inside what is
 * signed; the entry hash covers the signature, so a re-signed entry changes
 * every later hash and the Merkle root. docs/format.md is the normative text.
 *
 * Pure module: no Node-only imports.
 */
import { canonicalize } from 'json-canonicalize';
import { sha256, verifyP256 } from '#crypto';
import { bytesEqual, concatBytes, fromUtf8, toHex, utf8 } from './bytes.js';
import { invalidArgument, VerificationError } from './errors.js';
import { isLowS } from './ecdsa-der.js';

/**
 * Version 2 added `identity`, the caller as the server authenticated it. A
 * verifier still accepts version 1 bodies (written before authentication
 * existed), which have every other key and no `identity`.
 */
export const ENTRY_FORMAT_VERSION = 2;
export const ZERO_HASH = new Uint8Array(32);

/** Log names: a log per tenant or pipeline. Lowercase so names compare literally. */
export const LOG_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface EntryBody {
  v: number;
  log: string;
  seq: number;
  /** RFC 3339 UTC with milliseconds, assigned by the server. */
  time: string;
  configId: string;
  /** Who the client says did it: its own claim, kept as sent. */
  operator: string;
  /**
   * Who the server authenticated: `cert-subject:<subject>`, `cert-san:<type>:<value>`,
   * `token:<name>` or `node:<name>` for entries the node writes itself; empty
   * when the node runs without authentication. Written by the server, never by the client.
   */
  identity: string;
  action: string;
  source: string;
  commit: string;
  /** Any JSON value; null when the record has none. */
  payload: unknown;
  requestId: string;
  /** Hex of the previous entry's hash (64 zeros for seq 0). */
  prevHash: string;
}

const BODY_KEYS_V1 = ['action', 'commit', 'configId', 'log', 'operator', 'payload', 'prevHash', 'requestId', 'seq', 'source', 'time', 'v'];
const BODY_KEYS_V2 = ['action', 'commit', 'configId', 'identity', 'log', 'operator', 'payload', 'prevHash', 'requestId', 'seq', 'source', 'time', 'v'];

/** A stored or transmitted entry: the signed bytes plus what is derived from them. */
export interface SignedEntry {
  log: string;
  seq: number;
  body: Uint8Array;
  signature: Uint8Array;
  hash: Uint8Array;
}

export function encodeBody(body: EntryBody): Uint8Array {
  return utf8(canonicalize(body));
}

export function entryHash(prevHash: Uint8Array, body: Uint8Array, signature: Uint8Array): Uint8Array {
  return sha256(concatBytes(prevHash, sha256(body), signature));
}

export function validateLogName(name: unknown, field = 'log'): string {
  if (typeof name !== 'string' || name.length === 0) throw invalidArgument(field, 'is required');
  if (!LOG_NAME_RE.test(name)) throw invalidArgument(field, 'must match [a-z0-9][a-z0-9._-]{0,62}');
  return name;
}

/**
 * Decodes a body and checks it is exactly the canonical encoding of a
 * well-formed {@link EntryBody}. The bytes are attacker-controlled: a body
 * that is valid JSON but not canonical would let two byte strings carry one
 * meaning, so it is rejected.
 * @throws VerificationError ENTRY_MALFORMED or ENTRY_BODY_MISMATCH
 */
export function decodeBody(bytes: Uint8Array, where: { log?: string; seq?: number } = {}): EntryBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(bytes, 'body'));
  } catch (cause) {
    throw new VerificationError('ENTRY_MALFORMED', `entry ${where.seq ?? '?'}: body is not UTF-8 JSON`, { ...where }, { cause });
  }
  const problem = bodyShapeProblem(parsed);
  if (problem) throw new VerificationError('ENTRY_MALFORMED', `entry ${where.seq ?? '?'}: ${problem}`, { ...where });
  const body = parsed as EntryBody;
  let canonical: Uint8Array;
  try {
    canonical = encodeBody(body);
  } catch (cause) {
    throw new VerificationError('ENTRY_MALFORMED', `entry ${where.seq ?? '?'}: body cannot be canonicalized`, { ...where }, { cause });
  }
  if (!bytesEqual(canonical, bytes)) {
    throw new VerificationError('ENTRY_MALFORMED', `entry ${where.seq ?? '?'}: body is not in RFC 8785 canonical form`, { ...where });
  }
  // Version 1 had no identity: read it as empty, so callers see one shape.
  if (body.v === 1) body.identity = '';
  return body;
}

function bodyShapeProblem(b: unknown): string | undefined {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return 'body is not a JSON object';
  const o = b as Record<string, unknown>;
  if (o.v !== 1 && o.v !== 2) return `unsupported format version ${String(o.v)}`;
  const expected = o.v === 1 ? BODY_KEYS_V1 : BODY_KEYS_V2;
  const keys = Object.keys(b).sort();
  if (keys.length !== expected.length || keys.some((k, i) => k !== expected[i])) return `body keys are [${keys.join(',')}]`;
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 0) return 'seq is not a non-negative integer';
  for (const k of ['log', 'time', 'configId', 'operator', 'identity', 'action', 'source', 'commit', 'requestId', 'prevHash']) {
    if (typeof o[k] !== 'string' && !(k === 'identity' && o.v === 1)) return `${k} is not a string`;
  }
  if (!/^[0-9a-f]{64}$/.test(o.prevHash as string)) return 'prevHash is not 64 lowercase hex digits';
  return undefined;
}

export interface VerifyEntryOptions {
  /**
   * Skip the signature check: the caller checks every signature itself with
   * {@link checkEntrySignature} (in parallel, on other threads). Everything
   * else is still checked here.
   */
  deferSignature?: boolean;
}

/** True when the entry's signature is a low-S ECDSA P-256 signature over its body by the key. */
export function checkEntrySignature(entry: { body: Uint8Array; signature: Uint8Array }, publicKeySpki: Uint8Array): boolean {
  let lowS = false;
  try {
    lowS = isLowS(entry.signature);
  } catch {
    return false;
  }
  return lowS && verifyP256(publicKeySpki, entry.body, entry.signature);
}

/** What a verifier knows before looking at an entry: where it must sit in the chain. */
export interface ChainPosition {
  log: string;
  seq: number;
  prevHash: Uint8Array;
}

/**
 * Checks one entry from its raw bytes against its chain position and a pinned
 * key (or a function of the decoded body choosing the key in force at that seq): canonical body, log/seq/prevHash fields, low-S signature over the body,
 * and the entry hash recomputed (never taken from the server).
 * @returns the recomputed entry hash
 * @throws VerificationError naming the seq and what differs
 */
export function verifyEntry(entry: SignedEntry, pos: ChainPosition, publicKeySpki: Uint8Array | ((body: EntryBody) => Uint8Array), options: VerifyEntryOptions = {}): { hash: Uint8Array; body: EntryBody } {
  const ev = { log: pos.log, seq: pos.seq };
  const body = decodeBody(entry.body, ev);
  if (body.log !== pos.log) throw new VerificationError('ENTRY_BODY_MISMATCH', `entry ${pos.seq}: body names log "${body.log}"`, { ...ev, expected: pos.log, actual: body.log });
  if (body.seq !== pos.seq || entry.seq !== pos.seq) {
    throw new VerificationError('ENTRY_BODY_MISMATCH', `entry ${pos.seq}: body has seq ${body.seq}`, { ...ev, expected: String(pos.seq), actual: String(body.seq) });
  }
  const prevHex = toHex(pos.prevHash);
  if (body.prevHash !== prevHex) {
    throw new VerificationError('CHAIN_BROKEN', `entry ${pos.seq}: prevHash does not match the hash of entry ${pos.seq - 1}`, { ...ev, expected: prevHex, actual: body.prevHash });
  }
  // A function picks the key in force at this seq (key rotation, core/key-chain.ts); it runs even when the signature is deferred.
  const key = typeof publicKeySpki === 'function' ? publicKeySpki(body) : publicKeySpki;
  if (!options.deferSignature && !checkEntrySignature(entry, key)) {
    throw new VerificationError('SIGNATURE_INVALID', `entry ${pos.seq}: signature does not verify under the ${typeof publicKeySpki === 'function' ? 'key in force at this seq' : 'pinned key'}`, { ...ev, actual: toHex(entry.signature) });
  }
  const hash = entryHash(pos.prevHash, entry.body, entry.signature);
  if (!bytesEqual(hash, entry.hash)) {
    throw new VerificationError('ENTRY_HASH_MISMATCH', `entry ${pos.seq}: stored hash differs from the recomputed one`, { ...ev, expected: toHex(hash), actual: toHex(entry.hash) });
  }
  return { hash, body };
}
