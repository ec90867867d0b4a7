/**
 * The offline bundle: a log exported as JSON Lines, verifiable with no
 * server. Line 1 is the header; then one line per entry in seq order.
 *
 *   {"format":"cairn-bundle/v1","log":L,"size":N,"checkpoint":NOTE,"publicKey":PEM,"anchors":[ANCHOR...]}
 *   {"seq":0,"body":B64,"signature":B64,"hash":HEX}
 *
 * `anchors` (optional: absent means none, as in bundles written before it
 * existed) holds one anchor proof per anchor window that covered the log at
 * a size up to N, in window order:
 *
 *   {"window":W,"root":HEX,"index":I,"count":C,"path":[HEX...],"checkpoint":NOTE,"txId":T,"block":B,"backend":"fabric"}
 *
 * `checkpoint` is the anchored signed checkpoint of the log, leaf `index` of
 * the window's RFC 6962 tree of `count` leaves (core/anchor.ts); `path` is its
 * audit path to `root`, the value recorded on the external ledger in
 * transaction `txId` of block `block`.
 *
 * `cosignatures` (optional) holds witness cosignature lines on `checkpoint`
 * (core/cosignature.ts), checked when the verifier pins witness keys.
 *
 * `keyChain` (optional: absent means the node never rotated its key, as in
 * bundles written before rotation existed) is the node's chain of key links
 * (core/key-chain.ts) at export time, each link signed by the key before it.
 *
 * The header's public key is informational: a verifier uses its own pinned
 * key and follows `keyChain` from it. Every line is attacker-controlled and
 * parsed strictly.
 *
 * Pure module: no Node-only imports.
 */
import { fromBase64, fromHex, toBase64, toHex } from './bytes.js';
import { VerificationError } from './errors.js';
import { LOG_NAME_RE, type SignedEntry } from './entry.js';
import { parseKeyLinks, type KeyLinkJson } from './key-chain.js';
import { MAX_COSIGNATURES } from './cosignature.js';

export const BUNDLE_FORMAT = 'cairn-bundle/v1';
/** Longest line accepted: a 16 MiB body in base64 plus framing. */
export const MAX_BUNDLE_LINE = 24 * 1024 * 1024;

/** Most anchor proofs one bundle header may carry. */
export const MAX_BUNDLE_ANCHORS = 100_000;
/** Longest audit path in a window tree (2^64 leaves would need 64). */
const MAX_ANCHOR_PATH = 64;
/** Longest anchored checkpoint note, in characters (the chaincode keeps at most 16 KiB). */
const MAX_ANCHOR_NOTE = 16 * 1024;

/** One anchor proof of the bundle's log (see the module comment). */
export interface BundleAnchor {
  window: number;
  root: string;
  index: number;
  count: number;
  path: string[];
  /** The anchored signed checkpoint note of the bundle's log. */
  checkpoint: string;
  txId: string;
  block: number;
  backend: string;
}

export interface BundleHeader {
  format: typeof BUNDLE_FORMAT;
  log: string;
  size: number;
  checkpoint: string;
  publicKey: string;
  /** Anchor proofs, in window order; absent in bundles without anchors. */
  anchors?: BundleAnchor[];
  /** The node's key links, first rotation first; absent when it never rotated. */
  keyChain?: KeyLinkJson[];
  /** Witness cosignature lines on `checkpoint` (docs/format.md section 9); absent when it had none. */
  cosignatures?: string[];
  /** Extra sections later formats may add. */
  [key: string]: unknown;
}

export function formatBundleHeader(h: BundleHeader): string {
  return JSON.stringify(h);
}

export function formatBundleEntry(e: SignedEntry): string {
  return JSON.stringify({ seq: e.seq, body: toBase64(e.body), signature: toBase64(e.signature), hash: toHex(e.hash) });
}

function malformed(line: number, why: string): VerificationError {
  return new VerificationError('BUNDLE_MALFORMED', `bundle line ${line}: ${why}`, { line });
}

export function parseBundleHeader(text: string): BundleHeader {
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    throw malformed(1, 'header is not JSON');
  }
  if (typeof h !== 'object' || h === null) throw malformed(1, 'header is not an object');
  const o = h as Record<string, unknown>;
  if (o.format !== BUNDLE_FORMAT) throw malformed(1, `format is not ${BUNDLE_FORMAT}`);
  if (typeof o.log !== 'string' || !LOG_NAME_RE.test(o.log)) throw malformed(1, 'log is not a log name');
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw malformed(1, 'size is not a non-negative integer');
  if (typeof o.checkpoint !== 'string') throw malformed(1, 'checkpoint is not a string');
  if (typeof o.publicKey !== 'string') throw malformed(1, 'publicKey is not a string');
  if (o.anchors !== undefined) o.anchors = parseBundleAnchors(o.anchors);
  // Validated here, verified (from the pinned key) by the bundle's verifier.
  if (o.keyChain !== undefined) parseKeyLinks(o.keyChain, { line: 1 });
  if (o.cosignatures !== undefined && (!Array.isArray(o.cosignatures) || o.cosignatures.length > MAX_COSIGNATURES || o.cosignatures.some((l) => typeof l !== 'string' || l.length > 1024))) {
    throw malformed(1, `cosignatures is not a list of at most ${MAX_COSIGNATURES} signature lines`);
  }
  return o as BundleHeader;
}

const HEX32 = /^[0-9a-f]{64}$/;

function anchorField(i: number, field: string, problem: string): VerificationError {
  return new VerificationError('BUNDLE_MALFORMED', `bundle line 1: anchors[${i}]${field ? `.${field}` : ''} ${problem}`, { line: 1, anchor: i });
}

// The anchors are attacker-controlled like every line: parse each field, bound every size.
function parseBundleAnchors(v: unknown): BundleAnchor[] {
  if (!Array.isArray(v)) throw malformed(1, 'anchors is not an array');
  if (v.length > MAX_BUNDLE_ANCHORS) throw malformed(1, `anchors has more than ${MAX_BUNDLE_ANCHORS} entries`);
  const out: BundleAnchor[] = [];
  v.forEach((a: unknown, i) => {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw anchorField(i, '', 'is not an object');
    const o = a as Record<string, unknown>;
    const uint = (field: string): number => {
      const n = o[field];
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw anchorField(i, field, 'is not a non-negative integer');
      return n;
    };
    const window = uint('window');
    const index = uint('index');
    const count = uint('count');
    const block = uint('block');
    if (count < 1 || index >= count) throw anchorField(i, 'index', `${index} is not below count ${count}`);
    if (typeof o.root !== 'string' || !HEX32.test(o.root)) throw anchorField(i, 'root', 'is not 64 lowercase hex digits');
    if (!Array.isArray(o.path) || o.path.length > MAX_ANCHOR_PATH) throw anchorField(i, 'path', `is not an array of at most ${MAX_ANCHOR_PATH} hashes`);
    const path = o.path.map((h: unknown, j) => {
      if (typeof h !== 'string' || !HEX32.test(h)) throw anchorField(i, `path[${j}]`, 'is not 64 lowercase hex digits');
      return h;
    });
    if (typeof o.checkpoint !== 'string' || o.checkpoint.length === 0 || o.checkpoint.length > MAX_ANCHOR_NOTE) throw anchorField(i, 'checkpoint', `is not a note of 1 to ${MAX_ANCHOR_NOTE} characters`);
    if (typeof o.txId !== 'string' || o.txId.length > 256) throw anchorField(i, 'txId', 'is not a string of at most 256 characters');
    if (typeof o.backend !== 'string' || o.backend.length > 32) throw anchorField(i, 'backend', 'is not a string of at most 32 characters');
    const prev = out.at(-1);
    if (prev !== undefined && window <= prev.window) throw anchorField(i, 'window', `${window} is not after the previous anchor's window ${prev.window}`);
    out.push({ window, root: o.root, index, count, path, checkpoint: o.checkpoint, txId: o.txId, block, backend: o.backend });
  });
  return out;
}

export function parseBundleEntry(log: string, text: string, lineNo: number): SignedEntry {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw malformed(lineNo, 'not JSON');
  }
  if (typeof v !== 'object' || v === null) throw malformed(lineNo, 'not an object');
  const o = v as Record<string, unknown>;
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 0) throw malformed(lineNo, 'seq is not a non-negative integer');
  if (typeof o.body !== 'string' || typeof o.signature !== 'string' || typeof o.hash !== 'string') throw malformed(lineNo, 'body, signature and hash must be strings');
  try {
    return { log, seq: o.seq, body: fromBase64(o.body, 'body'), signature: fromBase64(o.signature, 'signature'), hash: fromHex(o.hash, 'hash') };
  } catch (e) {
    throw malformed(lineNo, (e as Error).message);
  }
}
