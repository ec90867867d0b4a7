/**
 * The JSON forms of an entry and of an append receipt, as `cairn get` and
 * `cairn record` print them and as the HTTP API answers. One definition, so
 * a receipt kept from either is one `cairn verify-receipt` reads.
 *
 * Pure module: no Node-only imports.
 */
import { decodeBody, type SignedEntry } from './entry.js';
import { fromUtf8, toBase64, toHex } from './bytes.js';
import { keyLinkToJson, type KeyLink } from './key-chain.js';

/** An entry for humans and scripts: the decoded fields plus the exact signed bytes. */
export function entryJson(e: SignedEntry): Record<string, unknown> {
  let fields: unknown;
  try {
    fields = decodeBody(e.body);
  } catch {
    fields = null;
  }
  return { log: e.log, seq: e.seq, hash: toHex(e.hash), fields, body: fromUtf8(e.body), signature: toBase64(e.signature) };
}

/** What a receipt holds: the entry, the checkpoint that covers it and the inclusion proof. */
export interface ReceiptParts {
  entry: SignedEntry;
  checkpoint: { size: number; rootHash: Uint8Array; note: string; cosignatures?: readonly string[] };
  inclusionProof: readonly Uint8Array[];
  replayed: boolean;
}

/** A receipt as `cairn verify-receipt` reads it; `keyChain`: the node's key links (left out when it never rotated). */
export function receiptJson(r: ReceiptParts, keyChain: readonly KeyLink[] = []): Record<string, unknown> {
  return {
    log: r.entry.log,
    seq: r.entry.seq,
    hash: toHex(r.entry.hash),
    replayed: r.replayed,
    entry: entryJson(r.entry),
    checkpoint: {
      size: r.checkpoint.size,
      rootHash: toHex(r.checkpoint.rootHash),
      note: r.checkpoint.note,
      // Witness cosignatures on the note (docs/format.md section 9), when it has any.
      ...(r.checkpoint.cosignatures && r.checkpoint.cosignatures.length > 0 ? { cosignatures: [...r.checkpoint.cosignatures] } : {}),
    },
    inclusionProof: r.inclusionProof.map(toHex),
    // The node's key links: verify-receipt follows them from the pinned first key (absent: never rotated).
    ...(keyChain.length > 0 ? { keyChain: keyChain.map(keyLinkToJson) } : {}),
  };
}
