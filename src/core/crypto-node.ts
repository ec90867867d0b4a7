/**
 * Node implementation of the core's two primitives, selected through the
 * package.json `imports` map (`#crypto`, condition `node`). node:crypto
 * verifies P-256 about 36x faster than @noble/curves (docs/design.md), and a
 * verifier has to keep up with the log. `crypto-web.ts` is the same API on @noble.
 */
import { createPublicKey, hash, verify as nodeVerify, type KeyObject } from 'node:crypto';

export const implementation = 'node:crypto';

export function sha256(data: Uint8Array): Uint8Array {
  // crypto.hash (Node >= 20.12) skips the Hash object, cheaper than createHash for the small inputs of the tree.
  return hash('sha256', data, 'buffer');
}

const keyCache = new Map<string, KeyObject>();

/** ECDSA P-256/SHA-256 over `message` with a DER signature. Returns false for any bad signature; high-S accepted (callers enforce low-S). */
export function verifyP256(spkiDer: Uint8Array, message: Uint8Array, derSignature: Uint8Array): boolean {
  const cacheKey = String.fromCharCode(...spkiDer);
  let key = keyCache.get(cacheKey);
  if (!key) {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new TypeError('public key is not an EC P-256 key');
    }
    if (keyCache.size > 64) keyCache.clear();
    keyCache.set(cacheKey, key);
  }
  try {
    return nodeVerify('sha256', message, { key, dsaEncoding: 'der' }, derSignature);
  } catch {
    return false;
  }
}
