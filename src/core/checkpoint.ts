/**
 * C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint): the
 * note text of a signed tree head, carried in a C2SP signed note (./note.ts).
 *
 *     <origin>\n
 *     <tree size, decimal>\n
 *     <root hash, base64>\n
 *     [<extension line>\n ...]
 *
 * Checkpoints come from logs and mirrors we verify, so parsing is strict and
 * bounded: one accepted spelling per checkpoint (no leading zeros, canonical
 * base64), sizes limited to what a JS number holds exactly, and the text is
 * interpreted only after its signature verified ({@link verifyCheckpoint}).
 *
 * Pure module: no Node-only imports.
 */
import { fromBase64, toBase64, utf8 } from './bytes.js';
import { invalidArgument, VerificationError } from './errors.js';
import { MAX_NOTE_BYTES, openNote, signNote, type NoteSigner, type NoteVerifier } from './note.js';

/** Root hash length: SHA-256, as in RFC 6962 Merkle trees. */
export const ROOT_HASH_BYTES = 32;

/** A checkpoint: what a log commits to at one tree size. */
export interface Checkpoint {
  /** Unique identifier of the log identity (tlog-checkpoint "Note text" 1). Non-empty. */
  origin: string;
  /** Number of leaves; a safe integer (at most 2^53 - 1). */
  size: number;
  /** RFC 6962 Merkle tree root at `size`; exactly 32 bytes. */
  rootHash: Uint8Array;
  /** Opaque extension lines, each non-empty, without their "\n". */
  extensions: string[];
}

// Control characters other than "\n" (signed-note "Format") and lone
// surrogates (no UTF-8 encoding). Both regexes work on UTF-16 code units.
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// tlog-checkpoint "Note text" 2: "ASCII decimal ... with no leading zeroes
// (unless the tree is empty, in which case the tree size is `0`)". No sign,
// no exponent, no whitespace.
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function malformed(problem: string, evidence: Record<string, unknown> = {}): VerificationError {
  return new VerificationError('CHECKPOINT_MALFORMED', `malformed checkpoint: ${problem}`, evidence);
}

/** Problem with one line's content, or undefined. Lines never contain "\n" here. */
function lineProblem(line: string): string | undefined {
  if (line.length === 0) return 'is empty';
  if (line.includes('\n')) return 'contains a newline';
  if (CONTROL.test(line)) return 'contains a control character';
  if (LONE_SURROGATE.test(line)) return 'contains a lone surrogate (not valid UTF-8)';
  return undefined;
}

/**
 * Formats a checkpoint as note text (the body to sign). Validates as strictly
 * as {@link parseCheckpoint} parses, so every output parses back to an equal
 * checkpoint.
 *
 * @throws {CairnError} INVALID_ARGUMENT if the origin or an extension line is
 *   empty or contains "\n", a control character or a lone surrogate; if the
 *   size is not a non-negative safe integer; if the root hash is not 32 bytes;
 *   or if the text would exceed the note size limit.
 */
export function formatCheckpoint(cp: Checkpoint): string {
  const op = lineProblem(cp.origin);
  if (op !== undefined) throw invalidArgument('checkpoint.origin', op);
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) {
    throw invalidArgument('checkpoint.size', 'must be a non-negative safe integer');
  }
  if (!(cp.rootHash instanceof Uint8Array) || cp.rootHash.length !== ROOT_HASH_BYTES) {
    throw invalidArgument('checkpoint.rootHash', `must be ${ROOT_HASH_BYTES} bytes`);
  }
  if (!Array.isArray(cp.extensions)) throw invalidArgument('checkpoint.extensions', 'not an array');
  cp.extensions.forEach((e, i) => {
    // tlog-checkpoint "Note text" 4: "Extension lines, if any, MUST be non-empty."
    const ep = typeof e === 'string' ? lineProblem(e) : 'is not a string';
    if (ep !== undefined) throw invalidArgument(`checkpoint.extensions[${i}]`, ep);
  });
  const text = [cp.origin, String(cp.size), toBase64(cp.rootHash), ...cp.extensions].join('\n') + '\n';
  if (utf8(text).length > MAX_NOTE_BYTES) throw invalidArgument('checkpoint', 'too large for a note');
  return text;
}

/**
 * Parses checkpoint note text. Strict, for attacker-controlled input (call it
 * on text returned by `openNote`, or use {@link verifyCheckpoint}): the text
 * must be at least three lines, each ending in "\n" (tlog-checkpoint "Note
 * text": "a sequence of at least three non-empty lines, separated by
 * newlines"; the note text ends in a newline per signed-note "Format").
 *
 * @throws {VerificationError} CHECKPOINT_MALFORMED naming the first problem:
 *   too large, no final newline, fewer than three lines, an empty line, a
 *   control character or lone surrogate, a size that is not canonical decimal
 *   or exceeds 2^53 - 1, or a root hash that is not canonical base64 of
 *   exactly 32 bytes.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string') throw malformed('text is not a string');
  // Cheap DoS bound before splitting (UTF-16 length never exceeds UTF-8 length).
  if (text.length > MAX_NOTE_BYTES) throw malformed('text is too large', { size: text.length });
  if (!text.endsWith('\n')) throw malformed('text does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed(`expected at least 3 lines (origin, size, root hash), got ${lines.length}`);
  for (let i = 0; i < lines.length; i++) {
    const p = lineProblem(lines[i]!);
    // "Extension lines, if any, MUST be non-empty"; origin "MUST be non-empty".
    if (p !== undefined) throw malformed(`line ${i + 1} ${p}`, { line: i + 1 });
  }
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];

  // tlog-checkpoint "Note text" 2. Checked as text first so that "007",
  // "+7", "7e0" or " 7" never reach Number(); then compared exactly (BigInt)
  // against 2^53 - 1 so no size is silently rounded.
  if (!DECIMAL.test(sizeText)) {
    throw malformed('tree size is not a decimal number without leading zeros', { actual: sizeText.slice(0, 32) });
  }
  if (sizeText.length > 16 || BigInt(sizeText) > MAX_SAFE) {
    throw malformed('tree size exceeds 2^53 - 1', { actual: sizeText.slice(0, 32) });
  }
  const size = Number(sizeText);

  // tlog-checkpoint "Note text" 3: base64 of the RFC 6962 root. Strict
  // base64, so there is one spelling of each root.
  let rootHash: Uint8Array;
  try {
    if (rootText.length !== 44) throw new Error('length');
    rootHash = fromBase64(rootText, 'rootHash');
  } catch {
    throw malformed(`root hash is not canonical base64 of ${ROOT_HASH_BYTES} bytes`, { actual: rootText.slice(0, 64) });
  }
  if (rootHash.length !== ROOT_HASH_BYTES) {
    throw malformed(`root hash is ${rootHash.length} bytes, expected ${ROOT_HASH_BYTES} bytes`);
  }
  return { origin, size, rootHash, extensions };
}

/**
 * Formats and signs a checkpoint; returns the full signed note.
 *
 * @throws {CairnError} INVALID_ARGUMENT as {@link formatCheckpoint} and
 *   `signNote` do (bad checkpoint fields, bad signer name or key ID).
 */
export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(cp), [signer]);
}

/**
 * Opens a signed checkpoint: verifies the note signature with `verifier`
 * (signatures from other keys, such as witness cosignatures, are ignored, as
 * tlog-checkpoint "Signatures" requires), then parses the text, then checks
 * the origin. The order matters: the text is not interpreted until a trusted
 * signature covers it (signed-note: "The text MUST be ignored unless the note
 * is signed by a trusted key").
 *
 * The origin is always checked. Without `expectedOrigin` it must equal the
 * verifier's key name (tlog-checkpoint "Signatures": "The log's key name in
 * its signature line SHOULD match the origin line"): one key may sign for
 * several logs, and a checkpoint from the wrong log must not be accepted just
 * because the caller forgot to say which log it wanted. Logs whose origin
 * differs from the key name (e.g. Rekor: origin "Rekor", key
 * "rekor.sigstore.dev") need an explicit `expectedOrigin`.
 *
 * @param signedNote - the signed checkpoint note (untrusted).
 * @param verifier - the log's key.
 * @param expectedOrigin - the log's origin line; defaults to `verifier.name`.
 * @throws {VerificationError} NOTE_MALFORMED, NOTE_SIGNATURE_INVALID or
 *   NOTE_UNSIGNED from `openNote`; CHECKPOINT_MALFORMED from
 *   {@link parseCheckpoint}; CHECKPOINT_ORIGIN_MISMATCH if the origin is not
 *   the expected one (evidence: expected, actual).
 * @throws {CairnError} INVALID_ARGUMENT if the verifier is invalid.
 */
export function verifyCheckpoint(signedNote: string, verifier: NoteVerifier, expectedOrigin?: string): Checkpoint {
  const { text } = openNote(signedNote, [verifier]);
  const cp = parseCheckpoint(text);
  const expected = expectedOrigin ?? verifier.name;
  if (cp.origin !== expected) {
    throw new VerificationError('CHECKPOINT_ORIGIN_MISMATCH', `checkpoint origin is not ${JSON.stringify(expected)}`, {
      expected,
      actual: cp.origin.slice(0, 256),
      size: cp.size,
    });
  }
  return cp;
}
