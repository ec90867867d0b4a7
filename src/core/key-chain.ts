/**
 * Signing-key rotation: the chain of keys a verifier follows from the one key
 * it pinned. Each rotation is a *link*, a statement naming the old and the new
 * key, signed by the OLD key:
 *
 *   statement = RFC 8785 (JCS) canonical JSON of
 *               {"next":B64(SPKI new),"node":NAME,"prev":B64(SPKI old),"time":RFC3339,"type":"cairn.key-rotation/v1"}
 *   signature = ECDSA P-256 / SHA-256 over statement, DER, low-S (as entries)
 *   link      = {"signature":B64(signature),"statement":{...the statement object...}}
 *
 * A verifier that pinned key K0 accepts K1 only through a link prev=K0,
 * next=K1 signed by K0, and so on: the chain is authenticated from the pinned
 * key alone, whoever delivers it. Links travel in log entries (action
 * {@link KEY_ROTATION_ACTION}, payload `{"links":[link...]}`), in GetPublicKey
 * and in export bundles; docs/format.md, section 8, is the normative text.
 *
 * Every link is attacker-controlled until verified: parsing is strict and
 * bounded (exact keys, canonical base64, P-256 SPKI only, bounded lengths and
 * counts) and fails with KEY_LINK_MALFORMED.
 *
 * Pure module: no Node-only imports.
 */
import { canonicalize } from 'json-canonicalize';
import { verifyP256 } from '#crypto';
import { bytesEqual, fromBase64, toBase64, toHex, utf8 } from './bytes.js';
import { spkiToRawP256, isLowS } from './ecdsa-der.js';
import { ecdsaKeyId } from './note.js';
import { VerificationError, type Evidence } from './errors.js';

/** Entry action reserved for rotation and key-history entries; clients cannot use `cairn.*` actions. */
export const KEY_ROTATION_ACTION = 'cairn.key-rotation';
/** The `type` of a link statement (versioned so a later format cannot be mistaken for this one). */
export const KEY_LINK_TYPE = 'cairn.key-rotation/v1';
/** Most links accepted in one chain: one per rotation, far above any real node's count. */
export const MAX_KEY_LINKS = 256;

// Same alphabet as a C2SP note key name (config.ts `node_name`).
const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
// RFC 3339 UTC, optional fraction, as Date.toISOString writes it (and seconds precision).
const TIME_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z$/;
/** Base64 of a 91-byte P-256 SPKI. */
const SPKI_B64_LENGTH = 124;
/** A DER ECDSA P-256 signature is at most 72 bytes: base64 at most 96 characters. */
const MAX_SIGNATURE_B64 = 96;

export interface KeyLinkStatement {
  /** DER SubjectPublicKeyInfo of the key that signs from now on. */
  next: Uint8Array;
  /** Name of the node that rotated (the key name on its checkpoints). Informational. */
  node: string;
  /** DER SubjectPublicKeyInfo of the key being retired; it signs this statement. */
  prev: Uint8Array;
  /** When the rotation was decided, RFC 3339 UTC. Informational. */
  time: string;
}

export interface KeyLink {
  statement: KeyLinkStatement;
  /** DER, low-S, by `statement.prev` over {@link encodeKeyLinkStatement}. */
  signature: Uint8Array;
}

/** The JSON form of a link, as it appears in entries, bundles and files. */
export interface KeyLinkJson {
  signature: string;
  statement: { next: string; node: string; prev: string; time: string; type: string };
}

function statementJson(s: KeyLinkStatement): KeyLinkJson['statement'] {
  return { next: toBase64(s.next), node: s.node, prev: toBase64(s.prev), time: s.time, type: KEY_LINK_TYPE };
}

/** The signed bytes of a statement: RFC 8785 canonical JSON (all values are ASCII strings). */
export function encodeKeyLinkStatement(s: KeyLinkStatement): Uint8Array {
  return utf8(canonicalize(statementJson(s)));
}

/**
 * Builds a link signed by the old key. `sign` must produce a DER, low-S
 * ECDSA P-256 / SHA-256 signature by the key whose SPKI is `statement.prev`.
 * The result is checked before it is returned, so a wrong signer fails here,
 * not in some verifier later.
 * @throws VerificationError (KEY_LINK_MALFORMED, SIGNATURE_INVALID) for a bad statement or signer
 */
export function createKeyLink(statement: KeyLinkStatement, sign: (message: Uint8Array) => Uint8Array): KeyLink {
  const link = parseKeyLink(keyLinkToJson({ statement, signature: sign(encodeKeyLinkStatement(statement)) }));
  verifyKeyLink(link, statement.prev);
  return link;
}

export function keyLinkToJson(l: KeyLink): KeyLinkJson {
  return { signature: toBase64(l.signature), statement: statementJson(l.statement) };
}

function malformed(problem: string, where: Evidence): VerificationError {
  const at = where.seq === undefined ? '' : `entry ${where.seq}: `;
  return new VerificationError('KEY_LINK_MALFORMED', `${at}key link ${problem}`, { ...where });
}

function exactKeys(o: object, keys: readonly string[]): boolean {
  const k = Object.keys(o).sort();
  return k.length === keys.length && k.every((x, i) => x === keys[i]);
}

function spkiField(v: unknown, name: string, where: Evidence): Uint8Array {
  if (typeof v !== 'string' || v.length !== SPKI_B64_LENGTH) throw malformed(`${name} is not base64 of a P-256 SubjectPublicKeyInfo`, where);
  try {
    const der = fromBase64(v, name);
    spkiToRawP256(der);
    return der;
  } catch {
    throw malformed(`${name} is not base64 of a P-256 SubjectPublicKeyInfo`, where);
  }
}

/**
 * Parses one link object (attacker-controlled). Exactly the keys above, type
 * {@link KEY_LINK_TYPE}, canonical base64, P-256 SPKIs, prev different from
 * next. Does not verify the signature (see {@link verifyKeyLink}).
 * @throws VerificationError KEY_LINK_MALFORMED naming the first problem
 */
export function parseKeyLink(v: unknown, where: Evidence = {}): KeyLink {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !exactKeys(v, ['signature', 'statement'])) {
    throw malformed('is not an object with exactly "signature" and "statement"', where);
  }
  const o = v as Record<string, unknown>;
  const st = o.statement;
  if (typeof st !== 'object' || st === null || Array.isArray(st) || !exactKeys(st, ['next', 'node', 'prev', 'time', 'type'])) {
    throw malformed('statement does not have exactly the keys next, node, prev, time, type', where);
  }
  const s = st as Record<string, unknown>;
  if (s.type !== KEY_LINK_TYPE) throw malformed(`statement type is not ${KEY_LINK_TYPE}`, where);
  if (typeof s.node !== 'string' || !NODE_NAME_RE.test(s.node)) throw malformed('node is not a node name', where);
  if (typeof s.time !== 'string' || !TIME_RE.test(s.time) || Number.isNaN(Date.parse(s.time))) throw malformed('time is not an RFC 3339 UTC time', where);
  const prev = spkiField(s.prev, 'prev', where);
  const next = spkiField(s.next, 'next', where);
  if (bytesEqual(prev, next)) throw malformed('names the same key as prev and next', where);
  if (typeof o.signature !== 'string' || o.signature.length === 0 || o.signature.length > MAX_SIGNATURE_B64) throw malformed('signature is not base64 of a DER ECDSA signature', where);
  let signature: Uint8Array;
  try {
    signature = fromBase64(o.signature, 'signature');
  } catch {
    throw malformed('signature is not canonical base64', where);
  }
  return { statement: { next, node: s.node, prev, time: s.time }, signature };
}

/**
 * Parses a rotation entry's payload: `{"links":[link, ...]}`, 1 to
 * {@link MAX_KEY_LINKS} links.
 * @throws VerificationError KEY_LINK_MALFORMED
 */
export function parseRotationPayload(payload: unknown, where: Evidence = {}): KeyLink[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || !exactKeys(payload, ['links'])) {
    throw malformed('payload is not an object with exactly "links"', where);
  }
  return parseKeyLinks((payload as { links: unknown }).links, where, 1);
}

/** Parses a list of links (a GetPublicKey chain, a bundle header's, a file's). */
export function parseKeyLinks(v: unknown, where: Evidence = {}, min = 0): KeyLink[] {
  if (!Array.isArray(v) || v.length < min || v.length > MAX_KEY_LINKS) throw malformed(`list is not an array of ${min} to ${MAX_KEY_LINKS} links`, where);
  return v.map((x) => parseKeyLink(x, where));
}

function keyIdHex(spki: Uint8Array): string {
  return ecdsaKeyId(spki).toString(16).padStart(8, '0');
}

/**
 * Checks that `link` hands over from `current` (the key a verifier trusts
 * now) and is signed by it.
 * @throws VerificationError KEY_CHAIN_BROKEN when prev is not `current`;
 *   SIGNATURE_INVALID when the signature is not a low-S signature by `current`
 */
export function verifyKeyLink(link: KeyLink, current: Uint8Array, where: Evidence = {}): void {
  const at = where.seq === undefined ? '' : `entry ${where.seq}: `;
  if (!bytesEqual(link.statement.prev, current)) {
    throw new VerificationError('KEY_CHAIN_BROKEN', `${at}key link starts at key ${keyIdHex(link.statement.prev)}, not at the key in force ${keyIdHex(current)}`, {
      ...where,
      expected: keyIdHex(current),
      actual: keyIdHex(link.statement.prev),
    });
  }
  let ok = false;
  try {
    ok = isLowS(link.signature) && verifyP256(current, encodeKeyLinkStatement(link.statement), link.signature);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new VerificationError('SIGNATURE_INVALID', `${at}key link to ${keyIdHex(link.statement.next)} is not signed by key ${keyIdHex(current)}`, { ...where, actual: toHex(link.signature) });
  }
}

/**
 * Follows `links` from the pinned key, each link signed by the key before it.
 * @returns every key of the chain in order, the pinned key first and the current key last
 * @throws VerificationError as {@link verifyKeyLink}, for the first bad link
 */
export function followKeyChain(pinned: Uint8Array, links: readonly KeyLink[], where: Evidence = {}): Uint8Array[] {
  if (links.length > MAX_KEY_LINKS) throw malformed(`chain has more than ${MAX_KEY_LINKS} links`, where);
  const keys = [pinned];
  for (const l of links) {
    verifyKeyLink(l, keys[keys.length - 1]!, where);
    // A chain that comes back to a key it already retired would let that key sign again.
    if (keys.some((k) => bytesEqual(k, l.statement.next))) {
      throw new VerificationError('KEY_CHAIN_BROKEN', `key chain returns to the retired key ${keyIdHex(l.statement.next)}`, { ...where, actual: keyIdHex(l.statement.next) });
    }
    keys.push(l.statement.next);
  }
  return keys;
}

/** Index of `key` in `keys`, or -1. */
export function keyIndex(keys: readonly Uint8Array[], key: Uint8Array): number {
  return keys.findIndex((k) => bytesEqual(k, key));
}
