/**
 * The answers of the gRPC handlers (cairn.ledger.v1 messages as
 * proto-loader shapes them: u64 as decimal strings, bytes as Uint8Array) in
 * the JSON the CLI prints: numbers for seqs and sizes (every one is at most
 * 2^53-1, see `u64`), hex for hashes, base64 for signatures and DER.
 */
import type { WireCheckpoint, WireConsistencyProof, WireEntry, WireInclusionProof, WirePublicKey, WireReceipt } from '../api/proto.js';
import { fromWireKeyLink } from '../api/proto.js';
import { toBase64, toHex } from '../core/bytes.js';
import type { SignedEntry } from '../core/entry.js';
import { keyLinkToJson, type KeyLink } from '../core/key-chain.js';
import { entryJson, receiptJson } from '../core/receipt-json.js';

type Json = Record<string, unknown>;

export function signedEntry(w: WireEntry): SignedEntry {
  return { log: w.log, seq: Number(w.seq), body: w.body, signature: w.signature, hash: w.hash };
}

export function entryFromWire(w: WireEntry): Json {
  return entryJson(signedEntry(w));
}

export function checkpointJson(c: WireCheckpoint): Json {
  return { log: c.log, size: Number(c.size), rootHash: toHex(c.rootHash), note: c.note, ...(c.cosignatures && c.cosignatures.length > 0 ? { cosignatures: c.cosignatures } : {}) };
}

export function receiptFromWire(r: WireReceipt, keyChain: readonly KeyLink[]): Json {
  return receiptJson(
    {
      entry: signedEntry(r.entry),
      checkpoint: { size: Number(r.checkpoint.size), rootHash: r.checkpoint.rootHash, note: r.checkpoint.note },
      inclusionProof: r.inclusionProof,
      replayed: r.replayed,
    },
    keyChain,
  );
}

export function inclusionProofJson(p: WireInclusionProof): Json {
  return { log: p.log, seq: Number(p.seq), size: Number(p.size), hashes: p.hashes.map(toHex), checkpoint: checkpointJson(p.checkpoint) };
}

export function consistencyProofJson(p: WireConsistencyProof): Json {
  return { log: p.log, fromSize: Number(p.fromSize), toSize: Number(p.toSize), hashes: p.hashes.map(toHex), checkpoint: checkpointJson(p.checkpoint) };
}

export function publicKeyJson(k: WirePublicKey): Json {
  return { algorithm: k.algorithm, keyId: k.keyId, nodeName: k.nodeName, pem: k.pem, spki: toBase64(k.spkiDer) };
}

/** What `cairn pubkey --chain` prints. */
export function keyChainJson(k: WirePublicKey): Json {
  return { keyId: k.keyId, nodeName: k.nodeName, keyChain: k.keyChain.map((l) => keyLinkToJson(fromWireKeyLink(l))) };
}

function anchorCheckpointJson(c: Json): Json {
  return { ...c, size: Number(c.size) };
}

/** An anchor window from `wireAnchor` (hashes are hex there already). */
export function anchorJson(a: Json): Json {
  return {
    ...a,
    window: Number(a.window),
    block: Number(a.block),
    checkpoints: (a.checkpoints as Json[]).map(anchorCheckpointJson),
    createdAtMs: Number(a.createdAtMs),
    committedAtMs: Number(a.committedAtMs),
    oldestCheckpointAtMs: Number(a.oldestCheckpointAtMs),
  };
}

export function anchorProofJson(a: Json): Json {
  return { ...a, window: Number(a.window), block: Number(a.block), checkpoint: anchorCheckpointJson(a.checkpoint as Json) };
}
