/**
 * Encodings around ECDSA P-256: SPKI public keys, PEM armour, and signatures in
 * DER (what OpenSSL and the entry format use) and IEEE P1363 (r || s, what
 * node:crypto signs fastest). Signatures are normalised to low-S so that each
 * (message, key) has one accepted signature: OpenSSL emits high-S about half
 * the time and @noble/curves rejects high-S by default.
 *
 * Pure module: no Node-only imports.
 */
import { fromBase64, toBase64, bytesEqual } from './bytes.js';
import { invalidArgument } from './errors.js';

/** Group order n of P-256 (SEC 2, section 2.4.2). */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;

/** DER prefix of a SubjectPublicKeyInfo for id-ecPublicKey / prime256v1 with an uncompressed point. */
const SPKI_P256_PREFIX = Uint8Array.from([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
  0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);

/** Extracts the 65-byte uncompressed point from a P-256 SPKI. */
export function spkiToRawP256(spki: Uint8Array): Uint8Array {
  if (spki.length !== SPKI_P256_PREFIX.length + 65 || !bytesEqual(spki.subarray(0, SPKI_P256_PREFIX.length), SPKI_P256_PREFIX)) {
    throw invalidArgument('publicKey', 'not an uncompressed ECDSA P-256 SubjectPublicKeyInfo');
  }
  const raw = spki.subarray(SPKI_P256_PREFIX.length);
  if (raw[0] !== 0x04) throw invalidArgument('publicKey', 'P-256 point is not uncompressed');
  return raw;
}

export function rawP256ToSpki(raw: Uint8Array): Uint8Array {
  if (raw.length !== 65 || raw[0] !== 0x04) throw invalidArgument('publicKey', 'expected a 65-byte uncompressed P-256 point');
  const out = new Uint8Array(SPKI_P256_PREFIX.length + 65);
  out.set(SPKI_P256_PREFIX, 0);
  out.set(raw, SPKI_P256_PREFIX.length);
  return out;
}

/** Decodes one PEM block with the given label ("PUBLIC KEY", "PRIVATE KEY"). */
export function pemToDer(pem: string, label: string, field = 'pem'): Uint8Array {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const a = pem.indexOf(begin);
  const b = pem.indexOf(end);
  if (a < 0 || b < a) throw invalidArgument(field, `no PEM block labelled "${label}"`);
  const body = pem.slice(a + begin.length, b).replace(/[\r\n\t ]/g, '');
  return fromBase64(body, field);
}

export function derToPem(der: Uint8Array, label: string): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function bigIntTo32(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Minimal DER INTEGER content for an unsigned big-endian value. */
const N_BYTES = bigIntTo32(P256_N);
const HALF_N_BYTES = bigIntTo32(P256_HALF_N);

function derInteger(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const trimmed = v.subarray(i);
  const pad = (trimmed[0]! & 0x80) !== 0 ? 1 : 0;
  const out = new Uint8Array(2 + pad + trimmed.length);
  out[0] = 0x02;
  out[1] = pad + trimmed.length;
  out.set(trimmed, 2 + pad);
  return out;
}

/** 0 < x < n for a 32-byte big-endian x, by byte comparison (no BigInt on the verify path). */
function inRange(x: Uint8Array): boolean {
  let zero = true;
  for (let i = 0; i < 32; i++) if (x[i] !== 0) zero = false;
  if (zero) return false;
  for (let i = 0; i < 32; i++) {
    if (x[i] !== N_BYTES[i]) return x[i]! < N_BYTES[i]!;
  }
  return false;
}

/** IEEE P1363 (r || s, 64 bytes) to DER SEQUENCE { r INTEGER, s INTEGER }. */
export function p1363ToDer(sig: Uint8Array): Uint8Array {
  if (sig.length !== 64) throw invalidArgument('signature', 'P1363 signature must be 64 bytes');
  const r = derInteger(sig.subarray(0, 32));
  const s = derInteger(sig.subarray(32));
  const out = new Uint8Array(2 + r.length + s.length);
  out[0] = 0x30;
  out[1] = r.length + s.length;
  out.set(r, 2);
  out.set(s, 2 + r.length);
  return out;
}

/**
 * Strict DER to P1363: exactly one SEQUENCE of two minimal positive INTEGERs
 * below n, nothing trailing. Signature bytes are attacker-controlled, and a
 * lax parser would let one signature have many encodings.
 */
export function derToP1363(der: Uint8Array): Uint8Array {
  const fail = (why: string): never => {
    throw invalidArgument('signature', `malformed DER ECDSA signature: ${why}`);
  };
  if (der.length < 8 || der.length > 72) fail('bad length');
  if (der[0] !== 0x30 || der[1] !== der.length - 2) fail('bad SEQUENCE header');
  const out = new Uint8Array(64);
  let off = 2;
  for (let k = 0; k < 2; k++) {
    if (der[off] !== 0x02) fail('expected INTEGER');
    const len = der[off + 1]!;
    if (len === 0 || len > 33 || off + 2 + len > der.length) fail('bad INTEGER length');
    const v = der.subarray(off + 2, off + 2 + len);
    if (v[0]! & 0x80) fail('negative INTEGER');
    if (len > 1 && v[0] === 0 && !(v[1]! & 0x80)) fail('non-minimal INTEGER');
    const value = len === 33 ? v.subarray(1) : v;
    if (value.length > 32) fail('INTEGER too large');
    const padded = out.subarray(32 * k, 32 * k + 32);
    padded.set(value, 32 - value.length);
    if (!inRange(padded)) fail('INTEGER out of range');
    off += 2 + len;
  }
  if (off !== der.length) fail('trailing bytes');
  return out;
}

/** s <= n/2 for a 32-byte big-endian s. Byte comparison: on the sign and verify hot paths, and 3x cheaper than BigInt. */
function atMostHalfN(s: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) {
    if (s[i] !== HALF_N_BYTES[i]) return s[i]! < HALF_N_BYTES[i]!;
  }
  return true;
}

/** Replaces s by n - s when s > n/2 (P1363 form; a copy when it changes). */
export function normalizeLowS(p1363: Uint8Array): Uint8Array {
  const s = p1363.subarray(32);
  if (atMostHalfN(s)) return p1363;
  const out = new Uint8Array(64);
  out.set(p1363.subarray(0, 32), 0);
  // n - s, big-endian, with borrow; s < n, so no borrow is left at the top.
  let borrow = 0;
  for (let i = 31; i >= 0; i--) {
    const d = N_BYTES[i]! - s[i]! - borrow;
    borrow = d < 0 ? 1 : 0;
    out[32 + i] = d & 0xff;
  }
  return out;
}


/** True when the DER signature's s is at most n/2. Throws on malformed DER. */
export function isLowS(der: Uint8Array): boolean {
  return atMostHalfN(derToP1363(der).subarray(32));
}
