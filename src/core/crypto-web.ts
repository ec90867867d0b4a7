/**
 * Portable implementation of the core's primitives on @noble (browsers, Deno,
 * anything without node:crypto). Same API as `crypto-node.ts`.
 */
import { p256 } from '@noble/curves/nist.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { spkiToRawP256 } from './ecdsa-der.js';

export const implementation = '@noble';

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** ECDSA P-256/SHA-256 over `message` with a DER signature. Returns false for any bad signature; high-S accepted (callers enforce low-S). */
export function verifyP256(spkiDer: Uint8Array, message: Uint8Array, derSignature: Uint8Array): boolean {
  const publicKey = spkiToRawP256(spkiDer);
  try {
    // noble v2 throws (not false) on DER it cannot parse; lowS:false because
    // callers enforce low-S themselves and OpenSSL-made signatures may be high-S.
    return p256.verify(derSignature, message, publicKey, { format: 'der', lowS: false, prehash: true });
  } catch {
    return false;
  }
}
