/**
 * Witness cosignatures on checkpoints: C2SP tlog-cosignature's signed
 * message with an ECDSA P-256 key (https://c2sp.org/tlog-cosignature).
 *
 * tlog-cosignature/v1 defines Ed25519 (type 0x04) and ML-DSA-44 cosignatures
 * only; Cairn nodes hold ECDSA P-256 keys, so a Cairn cosignature keeps the
 * v1 signed message and the timestamped signature layout and changes the
 * algorithm, under its own signature type (docs/format.md, section 9):
 *
 *   message   = "cosignature/v1\n" || "time " || decimal(t) || "\n" || checkpoint note text
 *   signature = ECDSA-P256-SHA256(witness key, message)    DER, low-S (as entries)
 *   blob      = uint64be(t) || signature                   (tlog-cosignature timestamped_signature)
 *   key ID    = SHA-256(name || 0x0A || 0xFF || "cairn-cosignature/v1" || 0x0A || SPKI DER)[:4]
 *   line      = "— " || name || " " || base64(uint32be(key ID) || blob)
 *
 * signed-note "Signature types" reserves 0xff for types it does not assign,
 * "followed by a longer identifier that is unlikely to collide": the key ID
 * thus differs from the same key's ID as a checkpoint signer (type 0x02), so
 * a cosignature can never be taken for a log's own signature, nor the reverse.
 *
 * A v1 cosignature states that, at time t, the checkpoint is the largest
 * consistent tree head the witness has seen for that origin.
 *
 * Pure module: no Node-only imports.
 */
import { sha256, verifyP256 } from '#crypto';
import { concatBytes, toBase64, utf8 } from './bytes.js';
import { isLowS } from './ecdsa-der.js';
import { invalidArgument, VerificationError } from './errors.js';
import { keyNameProblem, parseNote, type NoteSignature } from './note.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';

/** The v1 header line (tlog-cosignature "Ed25519 signed message": domain separation). */
export const COSIGNATURE_HEADER = 'cosignature/v1';
/** The identifier after the 0xff type byte in a Cairn cosignature key ID. */
export const COSIGNATURE_TYPE = 'cairn-cosignature/v1';
/** signed-note "Signature types": 0xff, for types it has not assigned. */
export const SIG_TYPE_UNASSIGNED = 0xff;
/** Largest timestamp accepted: tlog-cosignature caps it at 2^63 - 1; a JS number holds 2^53 - 1 exactly. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;
/** Longest DER ECDSA P-256 signature. */
const MAX_DER = 72;
/** Most cosignature lines looked at: signed-note's own bound on signatures per note. */
export const MAX_COSIGNATURES = 100;

/** A pinned witness: the key name on its cosignature lines and its P-256 public key. */
export interface WitnessKey {
  name: string;
  spki: Uint8Array;
  keyId: number;
}

/** A decoded cosignature (not yet verified). */
export interface Cosignature {
  name: string;
  keyId: number;
  /** POSIX seconds when the witness signed. */
  timestamp: number;
  /** DER ECDSA P-256 signature over {@link cosignedMessage}. */
  signature: Uint8Array;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function invalid(message: string, evidence: Record<string, unknown> = {}): VerificationError {
  return new VerificationError('COSIGNATURE_INVALID', message, evidence);
}

/**
 * The key ID of a witness key (see the module comment).
 * @throws {CairnError} INVALID_ARGUMENT for a bad key name or empty key
 */
export function cosignatureKeyId(name: string, spki: Uint8Array): number {
  const np = keyNameProblem(name);
  if (np !== undefined) throw invalidArgument('name', np);
  if (!(spki instanceof Uint8Array) || spki.length === 0) throw invalidArgument('spki', 'empty or not bytes');
  const h = sha256(concatBytes(utf8(name), new Uint8Array([0x0a, SIG_TYPE_UNASSIGNED]), utf8(COSIGNATURE_TYPE), new Uint8Array([0x0a]), spki));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

/**
 * A pinned witness key. The key is probed once, so a bad key fails here.
 * @throws {CairnError} INVALID_ARGUMENT for a bad name or a key that is not P-256
 */
export function witnessKey(name: string, spki: Uint8Array): WitnessKey {
  const keyId = cosignatureKeyId(name, spki);
  try {
    verifyP256(spki, new Uint8Array(0), new Uint8Array(0));
  } catch (cause) {
    throw invalidArgument('spki', `not a P-256 SubjectPublicKeyInfo (${cause instanceof Error ? cause.message : String(cause)})`);
  }
  return { name, spki: spki.slice(), keyId };
}

function checkTimestamp(t: number): void {
  if (!Number.isSafeInteger(t) || t < 0 || t > MAX_TIMESTAMP) throw invalidArgument('timestamp', 'must be a non-negative safe integer (POSIX seconds)');
}

/**
 * The signed message: the header line, the time line, then the checkpoint's
 * note text with its final newline and without any signature line.
 * @throws {CairnError} INVALID_ARGUMENT for a bad timestamp or a text without a final newline
 */
export function cosignedMessage(checkpointText: string, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  if (typeof checkpointText !== 'string' || !checkpointText.endsWith('\n')) throw invalidArgument('checkpointText', 'must be note text ending in a newline');
  return utf8(`${COSIGNATURE_HEADER}\ntime ${timestamp}\n${checkpointText}`);
}

function uint64be(t: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(t));
  return b;
}

/**
 * Cosigns a checkpoint's note text. `sign` must return a DER, low-S ECDSA
 * P-256 / SHA-256 signature by the key `key` names; it is checked before the
 * line is returned, so a wrong signer fails here.
 * @returns the signature line, without its final newline: `— <name> <base64>`
 */
export function cosignLine(checkpointText: string, timestamp: number, key: WitnessKey, sign: (message: Uint8Array) => Uint8Array): string {
  const message = cosignedMessage(checkpointText, timestamp);
  const signature = sign(message);
  if (!isLowS(signature) || !verifyP256(key.spki, message, signature)) throw invalidArgument('sign', 'did not return a low-S DER signature by the witness key');
  const kid = new Uint8Array(4);
  new DataView(kid.buffer).setUint32(0, key.keyId);
  return `\u2014 ${key.name} ${toBase64(concatBytes(kid, uint64be(timestamp), signature))}`;
}

/**
 * Decodes the signature of one note signature line as a Cairn cosignature:
 * 8-byte timestamp, then a DER signature of at most 72 bytes.
 * @throws VerificationError COSIGNATURE_INVALID
 */
export function decodeCosignature(sig: NoteSignature): Cosignature {
  const b = sig.signature;
  if (b.length < 8 + 8 || b.length > 8 + MAX_DER) throw invalid(`cosignature by ${sig.name}+${hex32(sig.keyId)} is ${b.length} bytes, not a timestamp and a DER signature`, { name: sig.name });
  const t = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  if (t > BigInt(MAX_TIMESTAMP)) throw invalid(`cosignature by ${sig.name} has timestamp ${t}, beyond 2^53 - 1`, { name: sig.name });
  return { name: sig.name, keyId: sig.keyId, timestamp: Number(t), signature: b.slice(8) };
}

/**
 * Parses cosignature lines (as a witness returns them, with or without their
 * final newline) into note signatures, strictly: each must be a signed-note
 * signature line.
 * @throws VerificationError COSIGNATURE_INVALID naming the line
 */
export function parseCosignatureLines(lines: readonly string[]): NoteSignature[] {
  if (!Array.isArray(lines) || lines.length > MAX_COSIGNATURES) throw invalid(`expected at most ${MAX_COSIGNATURES} cosignature lines`);
  return lines.map((line, i) => {
    if (typeof line !== 'string') throw invalid(`cosignature line ${i + 1} is not a string`, { line: i + 1 });
    const l = line.endsWith('\n') ? line.slice(0, -1) : line;
    if (l.includes('\n')) throw invalid(`cosignature line ${i + 1} spans several lines`, { line: i + 1 });
    try {
      // A one-line note around it: the same strict parser as every note signature.
      return parseNote(`x\n\n${l}\n`).signatures[0]!;
    } catch (err) {
      throw invalid(`cosignature line ${i + 1} is not a note signature line: ${(err as Error).message}`, { line: i + 1 });
    }
  });
}

/**
 * Verifies one decoded cosignature of `checkpointText` under `key`.
 * @throws VerificationError COSIGNATURE_INVALID when the name or key ID is
 *   not the key's, the signature is high-S, or it does not verify
 */
export function verifyCosignature(checkpointText: string, sig: NoteSignature, key: WitnessKey): Cosignature {
  if (sig.name !== key.name || sig.keyId !== key.keyId) throw invalid(`cosignature ${sig.name}+${hex32(sig.keyId)} is not by witness ${key.name}+${hex32(key.keyId)}`, { name: sig.name });
  const c = decodeCosignature(sig);
  let ok = false;
  try {
    ok = isLowS(c.signature) && verifyP256(key.spki, cosignedMessage(checkpointText, c.timestamp), c.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw invalid(`cosignature by witness ${key.name} (${hex32(key.keyId)}) does not verify over the checkpoint`, { name: key.name, keyId: hex32(key.keyId) });
  return c;
}

/** The checkpoint note with cosignature lines added to its signature block (a C2SP cosigned checkpoint). */
export function cosignedNote(note: string, lines: readonly string[]): string {
  return note + lines.map((l) => (l.endsWith('\n') ? l : `${l}\n`)).join('');
}

export interface QuorumOptions {
  /** Seconds since the epoch; cosignatures dated more than `maxFutureSeconds` after it are refused. Absent: not checked. */
  now?: number;
  /** Default 300: clocks of witnesses and verifiers may differ by minutes. */
  maxFutureSeconds?: number;
}

/**
 * A witness key a verifier pinned. Without `name`, the key name is taken
 * from the cosignature line: the key ID commits to it, so a line counts for
 * this key only if its name and this key reproduce its key ID, and its
 * signature verifies under this key.
 */
export interface PinnedWitness {
  spki: Uint8Array;
  name?: string;
  /** How errors name this key (e.g. its file); default: its name or key hash. */
  label?: string;
}

export interface QuorumResult {
  checkpoint: Checkpoint;
  /** The pinned witnesses whose cosignature verified, with its time. */
  witnesses: Array<{ name: string; keyId: string; timestamp: number }>;
}

function toHexShort(b: Uint8Array): string {
  return Array.from(sha256(b).subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Demands `min` valid cosignatures from distinct pinned witness keys on a
 * checkpoint note (whose own signature the caller checks with the log's
 * key). Cosignatures come from the note's own signature lines and from
 * `extraLines`. Lines from keys not pinned are ignored (tlog-witness: "The
 * client MUST ignore any cosignatures from unknown keys"). A line from a
 * pinned key that does not verify is not counted either, and is named if the
 * quorum fails: cosignatures travel through mirrors and relays that cannot
 * all check them, and one bad line must not veto the valid ones.
 *
 * @throws VerificationError COSIGNATURE_INVALID for a line that does not
 *   parse, or one from a pinned key dated too far in the future;
 *   WITNESS_QUORUM when fewer than `min` pinned keys cosigned validly,
 *   naming those that did not (and why, for a bad signature)
 * @throws {CairnError} INVALID_ARGUMENT for a bad `min` or the same key pinned twice
 */
export function verifyWitnessQuorum(note: string, extraLines: readonly string[], witnesses: readonly PinnedWitness[], min: number, opts: QuorumOptions = {}): QuorumResult {
  if (!Number.isSafeInteger(min) || min < 0) throw invalidArgument('min', 'must be a non-negative integer');
  if (min > witnesses.length) throw invalidArgument('min', `${min} cosignatures asked of ${witnesses.length} pinned witness key(s)`);
  const pinned = new Map<string, PinnedWitness>();
  for (const w of witnesses) {
    const id = Array.from(w.spki).join(',');
    if (pinned.has(id)) throw invalidArgument('witnesses', `witness key ${w.label ?? w.name ?? toHexShort(w.spki)} is pinned twice`);
    pinned.set(id, w);
  }
  const parsed = parseNote(note);
  const checkpoint = parseCheckpoint(parsed.text);
  const lines = [...parsed.signatures, ...parseCosignatureLines(extraLines)];
  const good = new Map<string, { name: string; keyId: string; timestamp: number }>();
  const bad = new Set<string>();
  const maxFuture = opts.maxFutureSeconds ?? 300;
  for (const sig of lines) {
    for (const [id, w] of pinned) {
      if (w.name !== undefined && w.name !== sig.name) continue;
      let keyId: number;
      try {
        keyId = cosignatureKeyId(sig.name, w.spki);
      } catch {
        continue;
      }
      if (keyId !== sig.keyId) continue;
      let c: Cosignature;
      try {
        c = verifyCosignature(parsed.text, sig, { name: sig.name, spki: w.spki, keyId });
      } catch {
        bad.add(id);
        continue;
      }
      if (opts.now !== undefined && c.timestamp > opts.now + maxFuture) {
        throw invalid(`cosignature by witness ${sig.name} is dated ${c.timestamp}, ${c.timestamp - opts.now} s in the future`, { name: sig.name, timestamp: c.timestamp });
      }
      if (!good.has(id)) good.set(id, { name: sig.name, keyId: hex32(keyId), timestamp: c.timestamp });
    }
  }
  if (good.size < min) {
    const missing = [...pinned.entries()].filter(([id]) => !good.has(id)).map(([id, w]) => `${w.label ?? w.name ?? `key ${toHexShort(w.spki)}`}${bad.has(id) ? ' (its cosignature does not verify)' : ''}`);
    throw new VerificationError(
      'WITNESS_QUORUM',
      `checkpoint of ${checkpoint.origin} at size ${checkpoint.size} has ${good.size} valid cosignature(s) from the pinned witness keys, ${min} required; none from ${missing.join(', ')}`,
      { origin: checkpoint.origin, size: checkpoint.size, expected: String(min), actual: String(good.size), missing },
    );
  }
  return { checkpoint, witnesses: [...good.values()] };
}

/** Decodes base64 cosignature bytes from a stored line (for tools that print them). */
export function cosignatureFromLine(line: string): Cosignature {
  const [sig] = parseCosignatureLines([line]);
  return decodeCosignature(sig!);
}

