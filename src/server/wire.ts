/**
 * Conversions between cairn.ledger.v1 messages, as @grpc/proto-loader decodes
 * them (u64 as strings, absent fields as defaults), and domain values.
 * Request fields are attacker-controlled: read them defensively.
 */
import { wireKeyLink, type WireCheckpoint, type WireConsistencyProof, type WireEntry, type WireInclusionProof, type WirePublicKey, type WireReceipt } from '../api/proto.js';
import { CairnError } from '../core/errors.js';
import { validateLogName, type SignedEntry } from '../core/entry.js';
import type { AppendInput } from '../core/append-request.js';
import type { WindowCheckpoint } from '../core/anchor.js';
import type { Ledger, Proof, Receipt, SignedCheckpoint } from '../ledger/ledger.js';
import type { StoredWindow } from '../anchoring/store.js';
import type { CheckpointAnchor } from '../anchoring/queries.js';
import { toServiceError } from './status.js';

/** A decoded request message. */
export type Req = Record<string, unknown>;

function str(req: Req, key: string): string {
  const v = req[key];
  return typeof v === 'string' ? v : '';
}

/** The request's `log` field, validated as a log name. */
export function requestLog(req: Req): string {
  return validateLogName(req.log, 'log');
}

export function appendInput(req: Req): AppendInput {
  return {
    log: str(req, 'log'),
    configId: str(req, 'configId'),
    operator: str(req, 'operator'),
    action: str(req, 'action'),
    source: str(req, 'source'),
    commit: str(req, 'commit'),
    payloadJson: str(req, 'payloadJson'),
    requestId: str(req, 'requestId'),
  };
}

export function wireEntry(e: SignedEntry): WireEntry {
  return { log: e.log, seq: String(e.seq), body: e.body, signature: e.signature, hash: e.hash };
}

/** One entry of a Watch reply, the last of each group with the log's latest checkpoint (ledger.proto, Entry.checkpoint). */
export interface WatchItem {
  entry: SignedEntry;
  checkpoint?: SignedCheckpoint;
}

/**
 * Encodes Watch replies once per entry object, not once per watcher: the
 * watchers of a log at its tip share the objects of each new group
 * (Ledger.follow), so N followers cost one protobuf encoding per entry and
 * share the bytes. Keyed weakly: an entry no watcher holds is forgotten.
 */
export function watchEncoder(serialize: (w: WireEntry) => Buffer): (item: WatchItem) => Buffer {
  const cache = new WeakMap<SignedEntry, { note: string; bytes: Buffer }>();
  return (item) => {
    const note = item.checkpoint?.note ?? '';
    const hit = cache.get(item.entry);
    if (hit && hit.note === note) return hit.bytes;
    const bytes = serialize(item.checkpoint ? { ...wireEntry(item.entry), checkpoint: wireCheckpoint(item.checkpoint) } : wireEntry(item.entry));
    cache.set(item.entry, { note, bytes });
    return bytes;
  };
}

export function wireCheckpoint(c: SignedCheckpoint): WireCheckpoint {
  return { log: c.log, size: String(c.size), rootHash: c.rootHash, note: c.note };
}

export function wireReceipt(r: Receipt): WireReceipt {
  return { entry: wireEntry(r.entry), checkpoint: wireCheckpoint(r.checkpoint), inclusionProof: r.inclusionProof, replayed: r.replayed };
}

export function wireInclusionProof(p: Proof & { seq: number; size: number }): WireInclusionProof {
  return { log: p.log, seq: String(p.seq), size: String(p.size), hashes: p.hashes, checkpoint: wireCheckpoint(p.checkpoint) };
}

export function wireConsistencyProof(p: Proof & { from: number; to: number }): WireConsistencyProof {
  return { log: p.log, fromSize: String(p.from), toSize: String(p.to), hashes: p.hashes, checkpoint: wireCheckpoint(p.checkpoint) };
}

/** One AppendStream reply: the receipt, or the error, of the request at `index` (0-based, in request order). */
export type AppendStreamReply = { index: string; receipt: WireReceipt } | { index: string; error: Record<string, unknown> };

/** A failed append as an AppendStream reply: the same code, message, field and retry hint a unary Append's status carries. */
export function wireAppendError(index: number, err: unknown): AppendStreamReply {
  const st = toServiceError(err);
  const ce = err instanceof CairnError ? err : undefined;
  return { index: String(index), error: { code: st.code, message: st.details, field: ce?.field ?? '', retryAfterMs: String(ce?.retryAfterMs ?? 0) } };
}

export function wirePublicKey(ledger: Ledger): WirePublicKey {
  return {
    algorithm: 'ecdsa-p256-sha256',
    spkiDer: ledger.key.publicKeySpki,
    pem: ledger.key.publicKeyPem,
    keyId: ledger.key.keyIdHex,
    nodeName: ledger.options.nodeName,
    keyChain: ledger.keyChain.map(wireKeyLink),
  };
}

function wireWindowCheckpoint(c: WindowCheckpoint): Record<string, unknown> {
  return { log: c.log, size: String(c.size), rootHash: c.rootHash, note: c.note };
}

/** Where a window landed; empty until it is committed. */
function wireAnchorReceipt(w: StoredWindow): Record<string, unknown> {
  return { txId: w.receipt?.txId ?? '', block: String(w.receipt?.block ?? 0), backend: w.receipt?.backend ?? '' };
}

/**
 * An anchor window as a caller may see it: only the checkpoints of logs it may
 * read (`visible`). The window root stays: it is a hash that reveals nothing,
 * and each tenant proves its own checkpoints into it with GetAnchorProof.
 */
export function wireAnchor(w: StoredWindow, visible: (log: string) => boolean = () => true): Record<string, unknown> {
  return {
    window: String(w.window.window),
    root: w.window.root,
    node: w.window.node,
    checkpoints: w.window.checkpoints.filter((c) => visible(c.log)).map(wireWindowCheckpoint),
    state: w.state,
    ...wireAnchorReceipt(w),
    createdAtMs: String(w.createdAtMs),
    committedAtMs: String(w.committedAtMs ?? 0),
    oldestCheckpointAtMs: String(w.oldestCheckpointAtMs),
  };
}

export function wireAnchorProof(a: CheckpointAnchor): Record<string, unknown> {
  const p = a.proof;
  return {
    window: String(p.window),
    root: p.root,
    index: p.index,
    count: p.count,
    // Sibling hashes only: other tenants' checkpoints stay hidden behind them.
    path: p.path,
    checkpoint: wireWindowCheckpoint(a.checkpoint),
    ...wireAnchorReceipt(a.stored),
    state: a.stored.state,
  };
}
