/**
 * Binary value encodings. An entry record keeps the signed bytes exactly as
 * signed (body, signature) plus the chain hash, so reads serve them without
 * re-encoding and a verifier sees what was signed.
 *
 *   entry: 0x01 | bodyLen u32 | body | sigLen u8 | signature | hash[32]
 *   head:  0x01 | size u64 | lastHash[32] | lastTimeMs u64
 */
import { CairnError } from '../core/errors.js';
import { fromBase64, fromUtf8, toBase64, utf8 } from '../core/bytes.js';
import type { SignedEntry } from '../core/entry.js';
import { readU64, writeU64 } from './keys.js';

const VERSION = 1;

export function encodeEntryRecord(e: SignedEntry): Uint8Array {
  const out = new Uint8Array(1 + 4 + e.body.length + 1 + e.signature.length + 32);
  const dv = new DataView(out.buffer);
  out[0] = VERSION;
  dv.setUint32(1, e.body.length);
  out.set(e.body, 5);
  let off = 5 + e.body.length;
  out[off++] = e.signature.length;
  out.set(e.signature, off);
  off += e.signature.length;
  out.set(e.hash, off);
  return out;
}

/** Decodes a stored record. Corrupt framing is CORRUPTION; content checks are the verifier's job. */
export function decodeEntryRecord(log: string, seq: number, v: Uint8Array): SignedEntry {
  const bad = (why: string): never => {
    throw new CairnError('CORRUPTION', `entry ${log}/${seq}: ${why}`);
  };
  if (v.length < 1 + 4 + 1 + 32 || v[0] !== VERSION) bad('unknown record version');
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const bodyLen = dv.getUint32(1);
  if (5 + bodyLen + 1 + 32 > v.length) bad('truncated body');
  const body = v.subarray(5, 5 + bodyLen);
  const sigLen = v[5 + bodyLen]!;
  const sigOff = 6 + bodyLen;
  if (sigOff + sigLen + 32 !== v.length) bad('bad record length');
  return { log, seq, body, signature: v.subarray(sigOff, sigOff + sigLen), hash: v.subarray(sigOff + sigLen) };
}

export interface Head {
  size: number;
  lastHash: Uint8Array;
  lastTimeMs: number;
}

export function encodeHead(h: Head): Uint8Array {
  const out = new Uint8Array(1 + 8 + 32 + 8);
  out[0] = VERSION;
  writeU64(out, 1, h.size);
  out.set(h.lastHash, 9);
  writeU64(out, 41, h.lastTimeMs);
  return out;
}

export function decodeHead(log: string, v: Uint8Array): Head {
  if (v.length !== 49 || v[0] !== VERSION) throw new CairnError('CORRUPTION', `head of log ${log}: bad record`);
  return { size: readU64(v, 1), lastHash: v.slice(9, 41), lastTimeMs: readU64(v, 41) };
}

/**
 * Where a mirror of another node's log stands (src/federation/): the
 * position verified so far and the verifier's state there (to resume after
 * a restart without re-reading), and the last checkpoint accepted. Entries
 * up to `size` are verified and stored; a reader sees only those up to the
 * accepted checkpoint's size. JSON (one row per mirror, rewritten once per
 * verified batch), versioned.
 */
export interface MirrorHead {
  size: number;
  prevHash: Uint8Array;
  /** K(size), the origin's key in force (DER SPKI). */
  key: Uint8Array;
  /** Right-edge hashes of the tree of [0, size). */
  frontier: Uint8Array[];
  /** The accepted checkpoint: size, root and the origin's signed note ('' before the first). */
  checkpoint: { size: number; rootHash: Uint8Array; note: string };
  /** When the accepted checkpoint was accepted (ms since the epoch). */
  acceptedAtMs: number;
}

export function encodeMirrorHead(h: MirrorHead): Uint8Array {
  return utf8(JSON.stringify({
    v: VERSION,
    size: h.size,
    prevHash: toBase64(h.prevHash),
    key: toBase64(h.key),
    frontier: h.frontier.map(toBase64),
    checkpoint: { size: h.checkpoint.size, rootHash: toBase64(h.checkpoint.rootHash), note: h.checkpoint.note },
    acceptedAtMs: h.acceptedAtMs,
  }));
}

export function decodeMirrorHead(name: string, v: Uint8Array): MirrorHead {
  try {
    const o = JSON.parse(fromUtf8(v)) as Record<string, unknown> & { checkpoint: Record<string, unknown> };
    if (o.v !== VERSION) throw new Error('unknown version');
    return {
      size: o.size as number,
      prevHash: fromBase64(o.prevHash as string),
      key: fromBase64(o.key as string),
      frontier: (o.frontier as string[]).map((x) => fromBase64(x)),
      checkpoint: { size: o.checkpoint.size as number, rootHash: fromBase64(o.checkpoint.rootHash as string), note: o.checkpoint.note as string },
      acceptedAtMs: o.acceptedAtMs as number,
    };
  } catch (cause) {
    throw new CairnError('CORRUPTION', `mirror head of ${name.replace('\u0000', '/')}: bad record`, { cause });
  }
}
