/**
 * C2SP signed notes (https://c2sp.org/signed-note, "Format" and "Signatures"
 * sections; Go reference: golang.org/x/mod/sumdb/note).
 *
 * A signed note is a UTF-8 text ending in "\n", a blank line, then one or more
 * signature lines `— <key name> <base64(uint32be key ID || signature)>\n`.
 *
 * Everything parsed here is attacker-controlled (notes arrive from logs,
 * witnesses and mirrors we do not trust until a signature verifies), so the
 * parser is strict and bounded: it checks the whole input before looking at any
 * part of it, caps size and signature count before doing work proportional to
 * them, accepts exactly one spelling of every note (canonical base64, no BOM
 * stripping), and never interprets the text: callers get the text only from
 * {@link openNote}, after a trusted key's signature verified.
 *
 * Pure module: no Node-only imports. `#crypto` resolves to node:crypto under
 * Node and to @noble in browsers.
 */
import { sha256, verifyP256 } from '#crypto';
import { concatBytes, fromBase64, toBase64, utf8 } from './bytes.js';
import { invalidArgument, VerificationError } from './errors.js';

/**
 * Largest note accepted, in UTF-8 bytes (text, blank line and signatures).
 * signed-note "Format" asks verifiers to bound the number of signatures "or,
 * equivalently, the overall size of a note"; we bound both. 1 MiB leaves room
 * for 100 post-quantum signatures (~5 kB each) around any realistic checkpoint.
 */
export const MAX_NOTE_BYTES = 1 << 20;

/**
 * Most signature lines accepted in one note. signed-note "Format": verifiers
 * "MUST accept at least up to 16 signatures"; 100 matches Go's sumdb/note.
 * Counted before any base64 decoding or verification, and counting every line
 * (duplicates included), so an attacker cannot make us decode or verify more.
 */
export const MAX_NOTE_SIGNATURES = 100;

/** Signature type byte for Ed25519 (signed-note "Signature types": 0x01). */
export const SIG_TYPE_ED25519 = 0x01;
/** Signature type byte for ECDSA as in transparency-dev/witness (signed-note "Signature types": 0x02). */
export const SIG_TYPE_ECDSA = 0x02;

/** One signature line of a note, decoded. */
export interface NoteSignature {
  /** Key name: non-empty, no Unicode spaces, no '+'. */
  name: string;
  /** uint32 key ID, the first four signature bytes read big-endian. */
  keyId: number;
  /** The signature proper (after the 4-byte key ID); at least one byte. */
  signature: Uint8Array;
}

/** A parsed note. `text` is UNVERIFIED unless it came from {@link openNote}. */
export interface Note {
  /** The note text, including its final "\n" but not the separating blank line. */
  text: string;
  signatures: NoteSignature[];
}

/** A trusted key: verifies signatures from the (name, keyId) it names. */
export interface NoteVerifier {
  name: string;
  keyId: number;
  /** Returns whether `signature` is valid over `message` (the note text's UTF-8 bytes). Must not throw for bad signatures. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A signing key. `sign` receives the UTF-8 bytes of the note text. */
export interface NoteSigner {
  name: string;
  keyId: number;
  sign(message: Uint8Array): Uint8Array;
}

/** Result of {@link openNote}: the now-trusted text and who vouched for it. */
export interface OpenedNote {
  /** The verified note text (ends in "\n"). */
  text: string;
  /** Names of the known keys whose signatures verified, deduplicated, in note order. */
  verifiedBy: string[];
  /** The (name, keyId) pairs whose signatures verified, deduplicated, in note order. */
  verifiedKeys: Array<{ name: string; keyId: number }>;
}

const EM_DASH_SPACE = '\u2014 ';
const NOTE_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// signed-note "Format": key names MUST NOT contain "any Unicode spaces". The
// Unicode White_Space property is exactly what Go's unicode.IsSpace tests
// (it includes U+0085 and U+00A0; JS `\s` would miss U+0085 and add U+FEFF).
const UNICODE_SPACE = /\p{White_Space}/u;

function malformed(problem: string, evidence: Record<string, unknown> = {}): VerificationError {
  return new VerificationError('NOTE_MALFORMED', `malformed note: ${problem}`, evidence);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/**
 * One pass over a string: the first problem that makes it unfit as note
 * content, and its UTF-8 length. signed-note "Format": notes "MUST be valid
 * UTF-8 and MUST NOT contain any ASCII control characters (those below U+0020)
 * other than newline". A JS string is UTF-16, so "valid UTF-8" means it has no
 * lone surrogates (those have no UTF-8 encoding; TextEncoder would silently
 * turn them into U+FFFD, and we would then sign or verify different text).
 * Stops early once `maxBytes` is exceeded so oversized input costs O(limit).
 */
function scanText(s: string, maxBytes: number): { problem?: string; offset?: number; bytes: number } {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c < 0x20 && c !== 0x0a) return { problem: `control character U+${c.toString(16).padStart(4, '0')}`, offset: i, bytes };
      bytes += 1;
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) return { problem: 'lone surrogate (not valid UTF-8)', offset: i, bytes };
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return { problem: 'lone surrogate (not valid UTF-8)', offset: i, bytes };
    } else {
      bytes += 3;
    }
    if (bytes > maxBytes) return { problem: `longer than ${maxBytes} UTF-8 bytes`, offset: i, bytes };
  }
  return { bytes };
}

/** signed-note "Format": "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or plus (U+002B) characters." */
export function keyNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'key name is empty';
  if (name.includes('+')) return "key name contains '+'";
  if (UNICODE_SPACE.test(name)) return 'key name contains a Unicode space';
  const scan = scanText(name, MAX_NOTE_BYTES);
  if (scan.problem !== undefined) return `key name: ${scan.problem}`;
  return undefined;
}

function isUint32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** Problems with a note text we are asked to sign or format (caller misuse, not attack). */
function textProblem(text: string): string | undefined {
  if (typeof text !== 'string') return 'text is not a string';
  // signed-note "Format": "a text ending in newline (U+000A)".
  if (!text.endsWith('\n')) return 'text does not end in a newline';
  const scan = scanText(text, MAX_NOTE_BYTES);
  if (scan.problem !== undefined) return `${scan.problem} at offset ${scan.offset}`;
  return undefined;
}

function readUint32BE(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

function uint32BE(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/**
 * Strictly decodes a note received as bytes (HTTP body, file). Unlike a
 * default TextDecoder this keeps a leading U+FEFF instead of silently
 * dropping it, so two different byte strings never open as the same note; and
 * it refuses invalid UTF-8 rather than substituting U+FFFD. The size bound is
 * checked before decoding.
 *
 * @throws {VerificationError} NOTE_MALFORMED if `bytes` is longer than {@link MAX_NOTE_BYTES} or not valid UTF-8.
 */
export function noteFromBytes(bytes: Uint8Array): string {
  if (bytes.length > MAX_NOTE_BYTES) {
    throw malformed(`note is ${bytes.length} bytes, limit ${MAX_NOTE_BYTES}`, { size: bytes.length });
  }
  try {
    return NOTE_DECODER.decode(bytes);
  } catch {
    throw malformed('not valid UTF-8');
  }
}

/**
 * Parses a signed note without verifying anything. Strict and bounded, for
 * attacker-controlled input: the whole note is checked (size, UTF-8, control
 * characters) before it is split, the signature lines are counted before any
 * is decoded, and base64 must be canonical so that each note has exactly one
 * accepted spelling. The returned text is UNVERIFIED: use {@link openNote}
 * before trusting it (signed-note: "The text MUST be ignored unless the note is
 * signed by a trusted key and the signature has been verified").
 *
 * @param note - the whole signed note, as text.
 * @returns the text and every signature line, in note order (duplicates kept).
 * @throws {VerificationError} NOTE_MALFORMED naming the first problem found:
 *   over {@link MAX_NOTE_BYTES} UTF-8 bytes, a lone surrogate, a control
 *   character other than "\n", no blank line, no signature lines, more than
 *   {@link MAX_NOTE_SIGNATURES} signature lines, a line not starting with
 *   "— ", a bad key name, non-canonical base64, or a signature shorter than
 *   5 bytes (4-byte key ID and at least one signature byte).
 */
export function parseNote(note: string): Note {
  if (typeof note !== 'string') throw malformed('note is not a string');
  // Cheap bound first: a UTF-8 encoding is never shorter than the UTF-16 one.
  if (note.length > MAX_NOTE_BYTES) {
    throw malformed(`note exceeds ${MAX_NOTE_BYTES} bytes`, { size: note.length });
  }
  // signed-note "Format": valid UTF-8, no control characters but newline.
  // Checked over the whole note before splitting it, as Go's note.Open does.
  const scan = scanText(note, MAX_NOTE_BYTES);
  if (scan.problem !== undefined) throw malformed(`${scan.problem} at offset ${scan.offset}`, { offset: scan.offset });

  // signed-note "Format": "the text is separated from the signatures by the
  // last empty line in the note". The text keeps its final newline.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line separating text from signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0) throw malformed('no signature lines after the blank line');
  if (!block.endsWith('\n')) throw malformed('signature block does not end in a newline');

  // Count before decoding anything ("Verifiers SHOULD apply a maximum limit to
  // the number of signatures in a note").
  let lines = 0;
  for (let i = block.indexOf('\n'); i >= 0; i = block.indexOf('\n', i + 1)) {
    if (++lines > MAX_NOTE_SIGNATURES) {
      throw malformed(`more than ${MAX_NOTE_SIGNATURES} signature lines`, { limit: MAX_NOTE_SIGNATURES });
    }
  }

  const signatures: NoteSignature[] = [];
  let start = 0;
  for (let n = 0; n < lines; n++) {
    const end = block.indexOf('\n', start);
    const line = block.slice(start, end);
    start = end + 1;
    // signed-note "Format": "em dash (U+2014), space (U+0020), key name,
    // space, base64-encoded signature, newline". The block has no empty lines
    // (the split was at the last one), so every line must be a signature.
    if (!line.startsWith(EM_DASH_SPACE)) {
      throw malformed(`signature line ${n + 1} does not start with an em dash (U+2014) and a space`, { line: n + 1 });
    }
    const rest = line.slice(EM_DASH_SPACE.length);
    const sp = rest.indexOf(' ');
    if (sp < 0) throw malformed(`signature line ${n + 1} has no space between key name and signature`, { line: n + 1 });
    const name = rest.slice(0, sp);
    const b64 = rest.slice(sp + 1);
    const nameProblem = keyNameProblem(name);
    if (nameProblem !== undefined) throw malformed(`signature line ${n + 1}: ${nameProblem}`, { line: n + 1 });
    let raw: Uint8Array;
    try {
      // Strict (RFC 4648 section 4, padded, canonical trailing bits, no
      // whitespace): a second space or a re-spelled signature is rejected.
      raw = fromBase64(b64, 'signature');
    } catch {
      throw malformed(`signature line ${n + 1}: invalid base64`, { line: n + 1, name });
    }
    // signed-note "Format": "Signatures are the base64 encoding of 4+n bytes";
    // n = 0 is no signature at all (Go's sumdb/note also requires >= 5).
    if (raw.length < 5) {
      throw malformed(`signature line ${n + 1}: signature is ${raw.length} bytes, need a 4-byte key ID and a signature`, { line: n + 1, name });
    }
    signatures.push({ name, keyId: readUint32BE(raw), signature: raw.subarray(4) });
  }
  return { text, signatures };
}

/**
 * Serializes a note: text, blank line, one signature line per signature. The
 * output always parses back with {@link parseNote} to an equal note, because
 * the same rules are enforced here (as misuse errors) that parseNote enforces.
 *
 * @throws {CairnError} INVALID_ARGUMENT if the text does not end in "\n" or has
 *   a control character or lone surrogate, if there are no signatures or more
 *   than {@link MAX_NOTE_SIGNATURES}, if a key name or key ID is invalid, if a
 *   signature is empty, or if the result would exceed {@link MAX_NOTE_BYTES}.
 */
export function formatNote(note: Note): string {
  const tp = textProblem(note.text);
  if (tp !== undefined) throw invalidArgument('note.text', tp);
  if (!Array.isArray(note.signatures) || note.signatures.length === 0) {
    // signed-note "Format": "followed by one or more signature lines".
    throw invalidArgument('note.signatures', 'a signed note needs at least one signature');
  }
  if (note.signatures.length > MAX_NOTE_SIGNATURES) {
    throw invalidArgument('note.signatures', `more than ${MAX_NOTE_SIGNATURES} signatures`);
  }
  let out = note.text + '\n';
  note.signatures.forEach((sig, i) => {
    const np = keyNameProblem(sig.name);
    if (np !== undefined) throw invalidArgument(`note.signatures[${i}].name`, np);
    if (!isUint32(sig.keyId)) throw invalidArgument(`note.signatures[${i}].keyId`, 'not a uint32');
    if (!(sig.signature instanceof Uint8Array) || sig.signature.length === 0) {
      throw invalidArgument(`note.signatures[${i}].signature`, 'empty or not bytes');
    }
    out += `${EM_DASH_SPACE}${sig.name} ${toBase64(concatBytes(uint32BE(sig.keyId), sig.signature))}\n`;
  });
  const size = scanText(out, MAX_NOTE_BYTES);
  if (size.problem !== undefined) throw invalidArgument('note', size.problem);
  return out;
}

/**
 * Signs `text` with each signer and returns the full signed note. Each signer
 * signs the UTF-8 bytes of the text, including its final newline but not the
 * separating blank line (signed-note "Format").
 *
 * @throws {CairnError} INVALID_ARGUMENT if the text is not valid note text
 *   (see {@link formatNote}), if there are no signers or two share a
 *   (name, keyId), if a signer's name or key ID is invalid, or if a signer
 *   returns an empty signature.
 */
export function signNote(text: string, signers: NoteSigner[]): string {
  const tp = textProblem(text);
  if (tp !== undefined) throw invalidArgument('text', tp);
  if (!Array.isArray(signers) || signers.length === 0) throw invalidArgument('signers', 'at least one signer is required');
  const message = utf8(text);
  const seen = new Set<string>();
  const signatures: NoteSignature[] = signers.map((s, i) => {
    const np = keyNameProblem(s.name);
    if (np !== undefined) throw invalidArgument(`signers[${i}].name`, np);
    if (!isUint32(s.keyId)) throw invalidArgument(`signers[${i}].keyId`, 'not a uint32');
    const id = `${s.name}+${hex32(s.keyId)}`;
    if (seen.has(id)) throw invalidArgument(`signers[${i}]`, `duplicate key ${id}`);
    seen.add(id);
    const signature = s.sign(message);
    if (!(signature instanceof Uint8Array) || signature.length === 0) {
      throw invalidArgument(`signers[${i}]`, 'signer returned an empty signature');
    }
    return { name: s.name, keyId: s.keyId, signature };
  });
  return formatNote({ text, signatures });
}

/**
 * Parses a signed note and verifies it against trusted keys, following
 * signed-note "Signatures":
 *  - a signature whose (name, key ID) pair is not a known key is ignored,
 *    "even if they share a name or ID (but not both) with a known key";
 *  - every signature from a known key is verified ("verifiers MUST verify the
 *    signature"), including repeated lines from the same key (Go's sumdb/note
 *    checks only the first; we check all, so no unverified bytes from a known
 *    key ride along);
 *  - one failing known signature rejects the whole note (the spec's SHOULD,
 *    taken as MUST: a bad signature from a trusted key means tampering or a
 *    broken signer, and neither should be papered over by another key);
 *  - if no known signature verified, the note is rejected.
 * The text is returned only after all of that, so callers never see
 * unverified text from here.
 *
 * @param note - the signed note (untrusted).
 * @param verifiers - the trusted keys; (name, keyId) pairs must be distinct.
 * @throws {VerificationError} NOTE_MALFORMED (see {@link parseNote});
 *   NOTE_SIGNATURE_INVALID if a known key's signature does not verify
 *   (evidence: name, keyId); NOTE_UNSIGNED if no signature is from a known key.
 * @throws {CairnError} INVALID_ARGUMENT if a verifier has an invalid name or
 *   key ID, or two verifiers share a (name, keyId) (ambiguous trust config).
 */
export function openNote(note: string, verifiers: NoteVerifier[]): OpenedNote {
  const known = new Map<string, NoteVerifier>();
  if (!Array.isArray(verifiers)) throw invalidArgument('verifiers', 'not an array');
  verifiers.forEach((v, i) => {
    const np = keyNameProblem(v.name);
    if (np !== undefined) throw invalidArgument(`verifiers[${i}].name`, np);
    if (!isUint32(v.keyId)) throw invalidArgument(`verifiers[${i}].keyId`, 'not a uint32');
    const id = `${v.name}+${hex32(v.keyId)}`;
    // Go's VerifierList reports "ambiguous key" for this; it is a
    // configuration error, so refuse before looking at the note.
    if (known.has(id)) throw invalidArgument(`verifiers[${i}]`, `duplicate key ${id}`);
    known.set(id, v);
  });

  const parsed = parseNote(note);
  const message = utf8(parsed.text);
  const verifiedKeys: Array<{ name: string; keyId: number }> = [];
  const verifiedBy: string[] = [];
  const verifiedIds = new Set<string>();
  const unknown: string[] = [];
  // Identical lines verify identically: check each distinct one once, so
  // repeating a known signature 100 times costs one verification.
  const checkedLines = new Set<string>();
  for (const sig of parsed.signatures) {
    const id = `${sig.name}+${hex32(sig.keyId)}`;
    const v = known.get(id);
    if (v === undefined) {
      if (unknown.length < 16) unknown.push(id);
      continue;
    }
    const lineKey = `${id} ${toBase64(sig.signature)}`;
    if (checkedLines.has(lineKey)) continue;
    if (v.verify(message, sig.signature) !== true) {
      throw new VerificationError('NOTE_SIGNATURE_INVALID', `invalid signature for key ${id}`, {
        name: sig.name,
        keyId: hex32(sig.keyId),
      });
    }
    checkedLines.add(lineKey);
    if (!verifiedIds.has(id)) {
      verifiedIds.add(id);
      verifiedKeys.push({ name: sig.name, keyId: sig.keyId });
      if (!verifiedBy.includes(sig.name)) verifiedBy.push(sig.name);
    }
  }
  if (verifiedKeys.length === 0) {
    throw new VerificationError('NOTE_UNSIGNED', 'note has no signature from a known key', {
      signers: unknown,
      expected: [...known.keys()].slice(0, 16).join(','),
    });
  }
  return { text: parsed.text, verifiedBy, verifiedKeys };
}

/**
 * Key ID for an ECDSA (type 0x02) key. signed-note "Signature types", 0x02:
 * "the key ID for these signatures is the truncated SHA-256 hash of the DER
 * encoded public key in SPKI format" - unlike the generic recommendation,
 * neither the key name nor the type byte is hashed (transparency-dev/formats
 * `keyHashECDSA` is SHA-256(DER)[:4] too, e.g. Rekor's key c0d23d6a).
 *
 * @param spkiDer - DER SubjectPublicKeyInfo bytes, hashed as given (opaque).
 * @throws {CairnError} INVALID_ARGUMENT if `spkiDer` is empty or not bytes.
 */
export function ecdsaKeyId(spkiDer: Uint8Array): number {
  if (!(spkiDer instanceof Uint8Array) || spkiDer.length === 0) throw invalidArgument('spkiDer', 'empty or not bytes');
  return readUint32BE(sha256(spkiDer));
}

/**
 * Key ID for an Ed25519 (type 0x01) key. signed-note "Ed25519 signatures":
 * `SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]`.
 *
 * @throws {CairnError} INVALID_ARGUMENT if the name is not a valid key name or
 *   the public key is not 32 bytes.
 */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  const np = keyNameProblem(name);
  if (np !== undefined) throw invalidArgument('name', np);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw invalidArgument('publicKey', 'Ed25519 public key must be 32 bytes');
  }
  return readUint32BE(sha256(concatBytes(utf8(name), new Uint8Array([0x0a, SIG_TYPE_ED25519]), publicKey)));
}

/**
 * A verifier for ECDSA (type 0x02) note signatures as transparency-dev/witness
 * makes them: curve P-256 (signed-note: "SHOULD be NIST P-256"; we support
 * only P-256), ASN.1 DER signature over SHA-256 of the note text, key ID from
 * {@link ecdsaKeyId}. High-S signatures are accepted, because Go's
 * ecdsa.SignASN1 and OpenSSL do not normalize S; ECDSA signatures are
 * therefore malleable, and a note's signature bytes must not be used as an
 * identifier (the text is what is authenticated).
 *
 * The key is parsed once here, so a bad key fails now rather than during
 * verification.
 *
 * @param name - the key name expected on signature lines.
 * @param spkiDer - DER SubjectPublicKeyInfo of a P-256 public key (copied).
 * @throws {CairnError} INVALID_ARGUMENT if the name is invalid or `spkiDer` is
 *   not a P-256 SubjectPublicKeyInfo.
 */
export function ecdsaNoteVerifier(name: string, spkiDer: Uint8Array): NoteVerifier {
  const np = keyNameProblem(name);
  if (np !== undefined) throw invalidArgument('name', np);
  if (!(spkiDer instanceof Uint8Array) || spkiDer.length === 0) throw invalidArgument('spkiDer', 'empty or not bytes');
  const key = spkiDer.slice();
  try {
    // Probe: both implementations parse (and cache) the key before looking at
    // the signature, and throw for anything that is not a P-256 SPKI.
    verifyP256(key, new Uint8Array(0), new Uint8Array(0));
  } catch (cause) {
    throw invalidArgument('spkiDer', `not a P-256 SubjectPublicKeyInfo (${cause instanceof Error ? cause.message : String(cause)})`);
  }
  return {
    name,
    keyId: ecdsaKeyId(key),
    verify(message: Uint8Array, signature: Uint8Array): boolean {
      return verifyP256(key, message, signature);
    },
  };
}
