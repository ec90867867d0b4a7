/**
 * Offline check of an append receipt: that the entry was signed by the
 * pinned key, and that it is included in a checkpoint signed by that key.
 * A CI job keeps its receipt and can prove this later with no server.
 *
 * After key rotations, pass the whole verified chain (followKeyChain from the
 * pinned key): the entry and the checkpoint may each be signed by any key of
 * it, the checkpoint's key never earlier in the chain than the entry's (a
 * checkpoint covers its entries, so it is signed at or after them). Which key
 * was in force at which seq only the whole log can tell (`cairn verify`).
 *
 * Pure module: no Node-only imports.
 */
import { decodeBody, entryHash, type SignedEntry } from './entry.js';
import { verifyInclusion, leafHash } from './merkle.js';
import { openLogCheckpointWithKeys } from './log-verifier.js';
import type { Checkpoint } from './checkpoint.js';
import { bytesEqual, fromHex, toHex } from './bytes.js';
import { VerificationError } from './errors.js';
import { verifyP256 } from '#crypto';
import { isLowS } from './ecdsa-der.js';

export interface ReceiptLike {
  entry: SignedEntry;
  checkpointNote: string;
  inclusionProof: readonly Uint8Array[];
}

/**
 * @returns the verified checkpoint the entry is included in
 * @throws VerificationError naming the failed check
 */
export function verifyReceipt(r: ReceiptLike, publicKeys: Uint8Array | readonly Uint8Array[], nodeName?: string): Checkpoint {
  const keys = publicKeys instanceof Uint8Array ? [publicKeys] : publicKeys;
  const e = r.entry;
  const ev = { log: e.log, seq: e.seq };
  const body = decodeBody(e.body, ev);
  if (body.log !== e.log || body.seq !== e.seq) {
    throw new VerificationError('ENTRY_BODY_MISMATCH', `receipt entry says ${e.log}/${e.seq} but its body says ${body.log}/${body.seq}`, ev);
  }
  let lowS = false;
  try {
    lowS = isLowS(e.signature);
  } catch {
    lowS = false;
  }
  const entryKey = lowS ? keys.findIndex((k) => verifyP256(k, e.body, e.signature)) : -1;
  if (entryKey < 0) {
    throw new VerificationError('SIGNATURE_INVALID', `entry ${e.seq}: signature does not verify under the pinned key${keys.length > 1 ? ' or a key its chain leads to' : ''}`, ev);
  }
  // The previous hash is inside the signed body, so the entry hash follows from the body alone.
  const hash = entryHash(fromHex(body.prevHash, 'prevHash'), e.body, e.signature);
  if (!bytesEqual(hash, e.hash)) {
    throw new VerificationError('ENTRY_HASH_MISMATCH', `entry ${e.seq}: hash differs from the recomputed one`, { ...ev, expected: toHex(hash), actual: toHex(e.hash) });
  }
  const { checkpoint: cp, key } = openLogCheckpointWithKeys(r.checkpointNote, e.log, keys, nodeName);
  if (keys.indexOf(key) < entryKey) {
    throw new VerificationError('KEY_CHAIN_BROKEN', `entry ${e.seq}: its checkpoint is signed by a key retired before the entry's key`, ev);
  }
  verifyInclusion(leafHash(hash), e.seq, cp.size, r.inclusionProof, cp.rootHash);
  return cp;
}
