/**
 * LevelDB key layout. One database per node; every key starts with a one-byte
 * table tag and the log name, so a log's rows are contiguous and range scans
 * never cross logs. Log names cannot contain 0x00 (see LOG_NAME_RE), which
 * makes the separator unambiguous. Integers are big-endian so byte order is
 * numeric order.
 *
 *   'H' log                       -> head: size u64 | last entry hash | last time
 *   'E' log 0x00 seq:u64          -> entry record (see records.ts)
 *   'N' log 0x00 level:u8 idx:u64 -> complete Merkle subtree hash (32 bytes)
 *   'C' log 0x00 size:u64         -> signed checkpoint note (UTF-8)
 *   'R' log 0x00 requestId        -> seq u64 (idempotency index)
 *   'M' name                      -> node metadata (e.g. 'key-chain': JSON list of key links)
 *
 * Mirrors of other nodes' logs (src/federation/) live in tables of their
 * own, lower-case tags, so no scan of the node's own logs meets them. Their
 * name is `origin 0x00 log` (neither an origin nor a log name holds 0x00):
 *
 *   'h' origin 0x00 log                       -> mirror head (records.ts)
 *   'e' origin 0x00 log 0x00 seq:u64          -> entry record, as 'E'
 *   'n' origin 0x00 log 0x00 level:u8 idx:u64 -> Merkle subtree hash, as 'N'
 *   'c' origin 0x00 log 0x00 size:u64         -> accepted signed checkpoint note
 *   'x' origin 0x00 log                       -> conflict evidence (JSON), once the mirror stopped
 */
import { utf8 } from '../core/bytes.js';

export const TAG = { head: 0x48, entry: 0x45, node: 0x4e, checkpoint: 0x43, request: 0x52, meta: 0x4d } as const;
export const MIRROR_TAG = { head: 0x68, entry: 0x65, node: 0x6e, checkpoint: 0x63, conflict: 0x78 } as const;

/** The name a mirrored log's rows are keyed by. */
export function mirrorName(origin: string, log: string): string {
  return `${origin}\u0000${log}`;
}

/** The origin and log of a mirror key's name (the inverse of mirrorName). */
export function splitMirrorName(name: string): { origin: string; log: string } {
  const i = name.indexOf('\u0000');
  return { origin: name.slice(0, i), log: name.slice(i + 1) };
}

export function writeU64(out: Uint8Array, off: number, v: number): void {
  const hi = Math.floor(v / 0x100000000);
  const lo = v >>> 0;
  out[off] = hi >>> 24;
  out[off + 1] = (hi >>> 16) & 255;
  out[off + 2] = (hi >>> 8) & 255;
  out[off + 3] = hi & 255;
  out[off + 4] = lo >>> 24;
  out[off + 5] = (lo >>> 16) & 255;
  out[off + 6] = (lo >>> 8) & 255;
  out[off + 7] = lo & 255;
}

export function readU64(b: Uint8Array, off: number): number {
  const hi = ((b[off]! << 24) >>> 0) + (b[off + 1]! << 16) + (b[off + 2]! << 8) + b[off + 3]!;
  const lo = ((b[off + 4]! << 24) >>> 0) + (b[off + 5]! << 16) + (b[off + 6]! << 8) + b[off + 7]!;
  return hi * 0x100000000 + lo;
}

function prefixed(tag: number, log: string, extra: number, sep = true): { key: Uint8Array; off: number } {
  const name = utf8(log);
  const key = new Uint8Array(1 + name.length + (sep ? 1 : 0) + extra);
  key[0] = tag;
  key.set(name, 1);
  return { key, off: 1 + name.length + (sep ? 1 : 0) };
}

export function headKey(log: string, tag: number = TAG.head): Uint8Array {
  return prefixed(tag, log, 0, false).key;
}

export function entryKey(log: string, seq: number, tag: number = TAG.entry): Uint8Array {
  const { key, off } = prefixed(tag, log, 8);
  writeU64(key, off, seq);
  return key;
}

export function nodeKey(log: string, level: number, index: number, tag: number = TAG.node): Uint8Array {
  const { key, off } = prefixed(tag, log, 9);
  key[off] = level;
  writeU64(key, off + 1, index);
  return key;
}

export function checkpointKey(log: string, size: number, tag: number = TAG.checkpoint): Uint8Array {
  const { key, off } = prefixed(tag, log, 8);
  writeU64(key, off, size);
  return key;
}

export function requestKey(log: string, requestId: string): Uint8Array {
  const id = utf8(requestId);
  const { key, off } = prefixed(TAG.request, log, id.length);
  key.set(id, off);
  return key;
}

/** [gte, lt) bounds of one table of one log. */
export function tableRange(tag: number, log: string): { gte: Uint8Array; lt: Uint8Array } {
  const { key } = prefixed(tag, log, 0);
  const lt = key.slice();
  lt[lt.length - 1] = 0x01;
  return { gte: key, lt };
}

/** A node-wide metadata row (not per log). */
export function metaKey(name: string): Uint8Array {
  return prefixed(TAG.meta, name, 0, false).key;
}
