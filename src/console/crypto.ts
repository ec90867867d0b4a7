/**
 * The two P-256 primitives the console can verify with: WebCrypto
 * (`crypto.subtle.verify`, the browser's native code, asynchronous) and
 * @noble/curves (pure JavaScript, synchronous). WebCrypto is used when the
 * page has it: it is the faster (docs/design.md gives the measured figures;
 * `npm run bench -- --only console` measures both). `crypto.subtle` exists
 * only in secure contexts (https, http://127.0.0.1 or localhost, file://);
 * elsewhere the console falls back to @noble.
 */
import { verifyP256 as nobleVerifyP256 } from '#crypto';
import { derToP1363 } from '../core/ecdsa-der.js';
import { toBase64 } from '../core/bytes.js';
import type { VerifyP256Async } from '../core/async-verifier.js';

export type PrimitiveName = 'webcrypto' | 'noble';

export const nobleVerify: VerifyP256Async = async (spki, message, der) => nobleVerifyP256(spki, message, der);

/** WebCrypto's verifier, or undefined where `crypto.subtle` is missing (not a secure context). */
export function webCryptoVerify(): VerifyP256Async | undefined {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  const keys = new Map<string, Promise<CryptoKey>>();
  // The verifier passes the same key object for every entry under it: look that up first, the bytes only once per object.
  const byObject = new WeakMap<Uint8Array, Promise<CryptoKey>>();
  return async (spki, message, der) => {
    let key = byObject.get(spki);
    if (!key) {
      const id = toBase64(spki);
      key = keys.get(id) ?? subtle.importKey('spki', spki as BufferSource, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
      keys.set(id, key);
      byObject.set(spki, key);
    }
    let raw: Uint8Array;
    try {
      // WebCrypto takes IEEE P1363 r||s; the entry format signs DER (strictly parsed: attacker-controlled bytes).
      raw = derToP1363(der);
    } catch {
      return false;
    }
    try {
      return await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, await key, raw as BufferSource, message as BufferSource);
    } catch {
      return false;
    }
  };
}

/** The primitive asked for, or the fastest available ('auto'). */
export function primitive(name: PrimitiveName | 'auto'): { name: PrimitiveName; verify: VerifyP256Async } {
  const web = name === 'noble' ? undefined : webCryptoVerify();
  if (web) return { name: 'webcrypto', verify: web };
  if (name === 'webcrypto') throw new Error('WebCrypto (crypto.subtle) is not available in this page: it needs a secure context');
  return { name: 'noble', verify: nobleVerify };
}
