/**
 * The checks a whole-log verification makes around the entries themselves:
 * which key must have signed a checkpoint at a size, where the key chain must
 * end, and whether the log still hashes to every anchored root. One place for
 * `cairn verify` (src/client/verify-log.ts) and the browser console
 * (core/bundle-verifier.ts), so both give the same result for the same data.
 *
 * Pure module: no Node-only imports.
 */
import { bytesEqual, toHex } from './bytes.js';
import { VerificationError } from './errors.js';
import { ecdsaKeyId } from './note.js';
import { openLogCheckpointWithKeys, type LogVerifier } from './log-verifier.js';
import { verifyAnchorProof } from './anchor.js';
import type { BundleAnchor } from './bundle.js';

/** An anchored checkpoint of the log, opened with the pinned key's chain. */
export interface AnchoredCheckpoint {
  window: number;
  size: number;
  root: Uint8Array;
  /** The key that signed the anchored checkpoint: must be the key in force at its size. */
  key: Uint8Array;
}

export function hexKeyId(spki: Uint8Array): string {
  return ecdsaKeyId(spki).toString(16).padStart(8, '0');
}

/** A checkpoint's signer must be the key the entries put in force at its size. */
export function checkSignerAt(log: string, verifier: LogVerifier, size: number, signer: Uint8Array, what: string): void {
  const expected = verifier.keyAt(size);
  if (expected && !bytesEqual(expected, signer)) {
    throw new VerificationError('KEY_CHAIN_BROKEN', `${what} at size ${size} is signed by key ${hexKeyId(signer)}, but the log's entries put key ${hexKeyId(expected)} in force at that size`, {
      log,
      size,
      expected: hexKeyId(expected),
      actual: hexKeyId(signer),
    });
  }
}

/** After the last entry, the key in force must be the chain's last: a log cannot stay behind its node's rotation. */
export function checkFinalKey(log: string, verifier: LogVerifier, keys: readonly Uint8Array[]): void {
  const last = keys[keys.length - 1]!;
  if (!bytesEqual(verifier.currentKey, last)) {
    throw new VerificationError('KEY_CHAIN_BROKEN', `log ${log} ends under key ${hexKeyId(verifier.currentKey)} but the node's key chain leads to ${hexKeyId(last)}: a rotation entry is missing`, {
      log,
      size: verifier.size,
      expected: hexKeyId(last),
      actual: hexKeyId(verifier.currentKey),
    });
  }
}

/** Every anchored size must still hash to its anchored root; a difference is a rewrite of [previous anchored size, size). */
export function compareWithAnchors(log: string, verifier: LogVerifier, anchored: readonly AnchoredCheckpoint[], size: number): void {
  let prev = 0;
  for (const a of anchored) {
    if (a.size > size) {
      throw new VerificationError('ROLLBACK', `log ${log} has ${size} entries but anchor window ${a.window} anchored ${a.size}`, { log, window: a.window, expected: `>= ${a.size}`, actual: String(size) });
    }
    checkSignerAt(log, verifier, a.size, a.key, `the checkpoint anchored in window ${a.window}`);
    const rebuilt = verifier.rootAt(a.size)!;
    if (!bytesEqual(rebuilt, a.root)) {
      throw new VerificationError('ROOT_MISMATCH', `log ${log} was rewritten after anchoring: entries ${prev}..${a.size - 1} no longer hash to the root anchored in window ${a.window}`, {
        log,
        window: a.window,
        seqFrom: prev,
        seqTo: a.size - 1,
        expected: toHex(a.root),
        actual: toHex(rebuilt),
      });
    }
    prev = a.size;
  }
}

/**
 * A bundle's anchor proofs, offline: each anchored checkpoint is signed by a
 * key of the chain and sits in its window's tree under the stated root.
 * (Whether that root is the one on the external ledger needs the ledger:
 * `cairn verify --bundle --anchors`.)
 */
export function openBundleAnchor(log: string, a: BundleAnchor, keys: readonly Uint8Array[], nodeName?: string): AnchoredCheckpoint {
  const { checkpoint: cp, key } = openLogCheckpointWithKeys(a.checkpoint, log, keys, nodeName);
  verifyAnchorProof(a.checkpoint, a);
  return { window: a.window, size: cp.size, root: cp.rootHash, key };
}
