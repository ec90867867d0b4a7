/**
 * The offline bundle: a log exported as JSON Lines, verifiable with no
 * server. Line 1 is the header; then one line per entry in seq order.
 *
 *   {"format":"cairn-bundle/v1","log":L,"size":N,"checkpoint":NOTE,"publicKey":PEM}
 *   {"seq":0,"body":B64,"signature":B64,"hash":HEX}
 *
 * The header's public key is informational: a verifier uses its own pinned
 * key. Every line is attacker-controlled and parsed strictly.
 *
 * Pure module: no Node-only imports.
 */
import { fromBase64, fromHex, toBase64, toHex } from './bytes.js';
import { VerificationError } from './errors.js';
import { LOG_NAME_RE, type SignedEntry } from './entry.js';

export const BUNDLE_FORMAT = 'cairn-bundle/v1';
/** Longest line accepted: a 16 MiB body in base64 plus framing. */
export const MAX_BUNDLE_LINE = 24 * 1024 * 1024;

export interface BundleHeader {
  format: typeof BUNDLE_FORMAT;
  log: string;
  size: number;
  checkpoint: string;
  publicKey: string;
  /** Extra sections later formats may add (anchor proofs). */
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
  return o as BundleHeader;
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
