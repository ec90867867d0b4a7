/**
 * The key of Flux's generic-hmac provider, and the check of its
 * `X-Signature: sha256=<hex>` header: HMAC-SHA256 (RFC 2104) over the exact
 * bytes of the body, compared in constant time, before anything is parsed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CairnError } from '../core/errors.js';

/** Shorter keys are refused at start: HMAC-SHA256 keys should be at least as long as its output (RFC 2104 section 3). */
export const MIN_KEY_BYTES = 32;

const SIGNATURE_RE = /^sha256=([0-9a-f]{64})$/;

export class HmacKey {
  /** A private field: util.inspect and JSON.stringify do not show it. */
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /**
   * Reads the key file: its bytes, one trailing newline dropped (the Secret's `token` as
   * written by `echo`, `kubectl create secret --from-file`, or an editor).
   * @throws CairnError INVALID_ARGUMENT naming flux_hmac_key_file
   */
  static async load(path: string): Promise<HmacKey> {
    let raw: Buffer;
    try {
      raw = await readFile(path);
    } catch (e) {
      throw new CairnError('INVALID_ARGUMENT', `setting flux_hmac_key_file: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { field: 'flux_hmac_key_file' });
    }
    const end = raw.length - (raw.at(-1) === 0x0a ? (raw.at(-2) === 0x0d ? 2 : 1) : 0);
    const key = raw.subarray(0, end);
    if (key.length < MIN_KEY_BYTES) {
      throw new CairnError('INVALID_ARGUMENT', `setting flux_hmac_key_file: ${path} holds ${key.length} bytes; the key must be at least ${MIN_KEY_BYTES}`, { field: 'flux_hmac_key_file' });
    }
    return new HmacKey(Buffer.from(key));
  }

  /**
   * @throws CairnError UNAUTHENTICATED when the header is missing, malformed or not the body's HMAC
   */
  verify(body: Uint8Array, header: string | string[] | undefined): void {
    const m = typeof header === 'string' ? SIGNATURE_RE.exec(header) : null;
    if (!m) throw new CairnError('UNAUTHENTICATED', 'X-Signature: required, sha256=<64 lowercase hex digits> (the HMAC-SHA256 of the body)');
    const expected = createHmac('sha256', this.#key).update(body).digest();
    if (!timingSafeEqual(expected, Buffer.from(m[1]!, 'hex'))) throw new CairnError('UNAUTHENTICATED', 'X-Signature: not the HMAC of this body under the node\'s Flux key');
  }
}
