/**
 * Whole-log verification with an asynchronous P-256 primitive, for
 * environments whose fastest verifier is asynchronous (WebCrypto's
 * `crypto.subtle.verify` in a browser). The in-order checks (canonical body,
 * chain link, entry hash, Merkle tree, key rotation) stay in LogVerifier and
 * run synchronously; only the entry signatures, which have no order
 * dependency, go to the injected primitive, many at a time. The result is
 * the one the synchronous path gives (src/client/verify-log.ts): the lowest
 * bad seq, whichever check found it.
 *
 * Pure module: no Node-only imports; the primitive is injected.
 */
import type { EntryBody, SignedEntry } from './entry.js';
import { isLowS } from './ecdsa-der.js';
import { toHex } from './bytes.js';
import { isVerificationError, VerificationError } from './errors.js';
import type { LogVerifier } from './log-verifier.js';

/** ECDSA P-256/SHA-256 over `message` with a DER signature; resolves false for any bad signature. */
export type VerifyP256Async = (spkiDer: Uint8Array, message: Uint8Array, derSignature: Uint8Array) => Promise<boolean>;

/** As checkEntrySignature (core/entry.ts): a low-S signature over the body by the key. */
export async function checkEntrySignatureAsync(entry: { body: Uint8Array; signature: Uint8Array }, publicKeySpki: Uint8Array, verify: VerifyP256Async): Promise<boolean> {
  let lowS = false;
  try {
    lowS = isLowS(entry.signature);
  } catch {
    return false;
  }
  return lowS && (await verify(publicKeySpki, entry.body, entry.signature));
}

export interface AsyncVerifyOptions {
  /** Entries whose signatures are checked together. */
  chunk?: number;
  /** Chunks in flight at most (bounds memory; keeps the primitive busy). */
  inFlight?: number;
  /** Called with the number of entries verified in order so far. */
  onProgress?: (size: number) => void;
  /** Called with each entry's decoded body once its in-order checks passed (its signature may still fail). */
  onEntry?: (body: EntryBody) => void;
}

/**
 * Pushes every entry through `verifier` (which must have been made with
 * `deferSignatures: true`) and checks each signature under the key the
 * verifier found in force at its seq.
 * @throws VerificationError for the lowest bad seq: SIGNATURE_INVALID, or the
 *   in-order check's code (an entry's signature is checked after its body and
 *   chain link, before its hash, as the synchronous path does)
 */
export async function verifyEntriesAsync(verifier: LogVerifier, entries: Iterable<SignedEntry> | AsyncIterable<SignedEntry>, verify: VerifyP256Async, opts: AsyncVerifyOptions = {}): Promise<void> {
  const chunkSize = opts.chunk ?? 256;
  const maxInFlight = opts.inFlight ?? 8;
  let firstBad: SignedEntry | undefined;
  const inFlight: Promise<void>[] = [];
  let chunk: { e: SignedEntry; key: Uint8Array }[] = [];
  const submit = async (): Promise<void> => {
    if (chunk.length === 0) return;
    const mine = chunk;
    chunk = [];
    inFlight.push(
      Promise.all(mine.map(({ e, key }) => checkEntrySignatureAsync(e, key, verify))).then((ok) => {
        const bad = ok.indexOf(false);
        if (bad >= 0 && (!firstBad || mine[bad]!.e.seq < firstBad.seq)) firstBad = mine[bad]!.e;
      }),
    );
    while (inFlight.length > maxInFlight) await inFlight.shift();
  };
  const settle = async (before: number, atBeforeToo: boolean): Promise<void> => {
    await submit();
    await Promise.all(inFlight.splice(0));
    const bad = firstBad;
    if (bad && (bad.seq < before || (atBeforeToo && bad.seq === before))) {
      throw new VerificationError('SIGNATURE_INVALID', `entry ${bad.seq}: signature does not verify under the key in force at that seq`, { log: verifier.log, seq: bad.seq, actual: toHex(bad.signature) });
    }
  };
  let pushing: SignedEntry | undefined;
  try {
    for await (const e of entries) {
      pushing = e;
      const { body } = verifier.push(e);
      opts.onEntry?.(body);
      chunk.push({ e, key: verifier.signatureKeyOf(e.seq)! });
      if (chunk.length >= chunkSize) {
        await submit();
        if (firstBad) break;
        opts.onProgress?.(verifier.size);
      }
    }
    await settle(Number.POSITIVE_INFINITY, false);
    opts.onProgress?.(verifier.size);
  } catch (err) {
    if (!isVerificationError(err) || err.code === 'SIGNATURE_INVALID') throw err;
    // An entry whose hash failed had its key determined first: its own signature is checked too.
    const failedKey = pushing && err.code === 'ENTRY_HASH_MISMATCH' ? verifier.signatureKeyOf(pushing.seq) : undefined;
    if (pushing && failedKey && chunk.at(-1)?.e !== pushing) chunk.push({ e: pushing, key: failedKey });
    await settle(typeof err.evidence.seq === 'number' ? err.evidence.seq : Number.POSITIVE_INFINITY, err.code === 'ENTRY_HASH_MISMATCH');
    throw err;
  }
}
