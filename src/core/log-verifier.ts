/**
 * Verification of a whole log from its raw entries, trusting nothing but a
 * pinned public key. Entries are pushed in order; the verifier recomputes
 * every entry hash, checks every signature and chain link, rebuilds the
 * Merkle tree, and finally checks the rebuilt root against a checkpoint
 * signed by the key in force at its size. Memory is O(log n).
 *
 * Key rotation (docs/format.md, section 8): K(0) is the pinned key; a rotation
 * entry at seq s carries links from K(s), and K(s+1) is its last link's next
 * key; otherwise K(s+1) = K(s). Entry s is signed by K(s), except a rotation
 * entry at seq 0 (the key history of a log created after rotations), which is
 * signed by K(1). A checkpoint of size n is signed by K(n).
 *
 * Pure module: no Node-only imports (runs in a browser against an export).
 */
import { CompactRange, leafHash } from './merkle.js';
import { verifyEntry, ZERO_HASH, type EntryBody, type SignedEntry } from './entry.js';
import { followKeyChain, KEY_ROTATION_ACTION, parseRotationPayload } from './key-chain.js';
import { verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { ecdsaNoteVerifier, parseNote } from './note.js';
import { ecdsaKeyId } from './note.js';
import { bytesEqual, toHex } from './bytes.js';
import { VerificationError } from './errors.js';

export interface LogVerifierOptions {
  /**
   * Key name expected on checkpoint signatures. When absent, the name on the
   * signature line carrying the pinned key's ID is used; the origin must then
   * be `<that name>/<log>`.
   */
  nodeName?: string;
  /**
   * Sizes at which to capture the rebuilt root (for comparing with
   * remembered checkpoints: rollback and fork detection).
   */
  captureRootsAt?: readonly number[];
  /**
   * Leave signature checks to the caller (see checkEntrySignature), which
   * must check every pushed entry's signature before trusting the result.
   */
  deferSignatures?: boolean;
}

export class LogVerifier {
  readonly log: string;
  /** K(size): the key in force after the entries pushed so far. */
  #key: Uint8Array;
  readonly #opts: LogVerifierOptions;
  #range = CompactRange.empty();
  #prevHash: Uint8Array = ZERO_HASH;
  readonly #captured = new Map<number, Uint8Array>();
  readonly #capturedKeys = new Map<number, Uint8Array>();
  readonly #capture: Set<number>;
  #signatureKey: { seq: number; key: Uint8Array } | undefined;

  constructor(log: string, publicKeySpki: Uint8Array, opts: LogVerifierOptions = {}) {
    this.log = log;
    this.#key = publicKeySpki;
    this.#opts = opts;
    this.#capture = new Set(opts.captureRootsAt ?? []);
    if (this.#capture.has(0)) {
      this.#captured.set(0, this.#range.root());
      this.#capturedKeys.set(0, this.#key);
    }
  }

  get size(): number {
    return this.#range.size;
  }

  root(): Uint8Array {
    return this.#range.root();
  }

  /** Root of the rebuilt tree at a size listed in `captureRootsAt`, once reached. */
  rootAt(size: number): Uint8Array | undefined {
    return this.#captured.get(size);
  }

  /** K(size) at a size listed in `captureRootsAt`, once reached: the key a checkpoint of that size must be signed by. */
  keyAt(size: number): Uint8Array | undefined {
    return this.#capturedKeys.get(size);
  }

  /** K(size): the key in force after the entries pushed so far. */
  get currentKey(): Uint8Array {
    return this.#key;
  }

  /**
   * The key entry `seq`'s signature must verify under, once that entry's
   * key was determined (by the last `push`, even one that then failed on the
   * entry hash). For checking deferred signatures.
   */
  signatureKeyOf(seq: number): Uint8Array | undefined {
    return this.#signatureKey?.seq === seq ? this.#signatureKey.key : undefined;
  }

  /**
   * Verifies the next entry (seq must be `size`).
   * @returns its decoded body
   * @throws VerificationError naming the seq and what differs
   */
  push(entry: SignedEntry): EntryBody {
    const seq = this.#range.size;
    if (entry.seq !== seq) {
      throw new VerificationError('ENTRY_BODY_MISMATCH', `expected entry ${seq}, got entry ${entry.seq}`, { log: this.log, seq, expected: String(seq), actual: String(entry.seq) });
    }
    let next = this.#key;
    const keyFor = (body: EntryBody): Uint8Array => {
      let key = this.#key;
      if (body.action === KEY_ROTATION_ACTION) {
        const where = { log: this.log, seq };
        const links = parseRotationPayload(body.payload, where);
        // After seq 0 a rotation hands over one key at a time; only a log's first entry carries the whole history.
        if (seq > 0 && links.length !== 1) throw new VerificationError('KEY_LINK_MALFORMED', `entry ${seq}: a rotation entry after seq 0 carries ${links.length} links, not 1`, where);
        const keys = followKeyChain(this.#key, links, where);
        next = keys[keys.length - 1]!;
        if (seq === 0) key = next;
      }
      this.#signatureKey = { seq, key };
      return key;
    };
    const { hash, body } = verifyEntry(entry, { log: this.log, seq, prevHash: this.#prevHash }, keyFor, { deferSignature: this.#opts.deferSignatures === true });
    this.#range.append(leafHash(hash));
    this.#prevHash = hash;
    this.#key = next;
    if (this.#capture.has(seq + 1)) {
      this.#captured.set(seq + 1, this.#range.root());
      this.#capturedKeys.set(seq + 1, next);
    }
    return body;
  }

  /**
   * Checks a signed checkpoint against the key in force at the rebuilt size
   * (the pinned key unless rotation entries handed over) and the rebuilt
   * tree: same size, same root.
   * @throws VerificationError SIZE_MISMATCH, ROOT_MISMATCH, or a note/checkpoint code
   */
  finish(signedCheckpoint: string): Checkpoint {
    const cp = openLogCheckpoint(signedCheckpoint, this.log, this.#key, this.#opts.nodeName, 'the key in force at the verified size');
    if (cp.size !== this.size) {
      throw new VerificationError('SIZE_MISMATCH', `checkpoint covers ${cp.size} entries but ${this.size} were verified`, { log: this.log, expected: String(cp.size), actual: String(this.size) });
    }
    const root = this.root();
    if (!bytesEqual(root, cp.rootHash)) {
      throw new VerificationError('ROOT_MISMATCH', `rebuilt Merkle root differs from the signed checkpoint at size ${cp.size}`, { log: this.log, size: cp.size, expected: toHex(cp.rootHash), actual: toHex(root) });
    }
    return cp;
  }
}

/**
 * Opens a log's checkpoint with the pinned key. Origin must be
 * `<nodeName>/<log>`; without a nodeName, the name is taken from the
 * signature line that carries the pinned key's ID (a wrong name then fails
 * the origin check, and a wrong key fails the signature).
 * @throws VerificationError
 */
export function openLogCheckpoint(signedCheckpoint: string, log: string, publicKeySpki: Uint8Array, nodeName?: string, keyDescription = 'the pinned key'): Checkpoint {
  let name = nodeName;
  if (name === undefined) {
    const keyId = ecdsaKeyId(publicKeySpki);
    const line = parseNote(signedCheckpoint).signatures.find((s) => s.keyId === keyId);
    if (!line) throw new VerificationError('NOTE_UNSIGNED', `checkpoint of ${log} carries no signature by ${keyDescription} (${keyId.toString(16).padStart(8, '0')})`, { log });
    name = line.name;
  }
  return verifyCheckpoint(signedCheckpoint, ecdsaNoteVerifier(name, publicKeySpki), `${name}/${log}`);
}

/**
 * Opens a log's checkpoint with whichever key of a verified key chain signed
 * it (`keys` from followKeyChain: the pinned key first). Which key it must be
 * depends on the checkpoint's size (K(size)): callers that can tell compare
 * the returned key with it.
 * @returns the checkpoint and the key whose signature verified
 * @throws VerificationError NOTE_UNSIGNED when no key of the chain signed it; as openLogCheckpoint
 */
export function openLogCheckpointWithKeys(signedCheckpoint: string, log: string, keys: readonly Uint8Array[], nodeName?: string): { checkpoint: Checkpoint; key: Uint8Array } {
  const lines = parseNote(signedCheckpoint).signatures;
  // Latest key first: a current checkpoint is signed by the newest key.
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i]!;
    const keyId = ecdsaKeyId(key);
    if (!lines.some((l) => l.keyId === keyId && (nodeName === undefined || l.name === nodeName))) continue;
    return { checkpoint: openLogCheckpoint(signedCheckpoint, log, key, nodeName), key };
  }
  throw new VerificationError('NOTE_UNSIGNED', `checkpoint of ${log} carries no signature by the pinned key or a key its chain leads to`, { log });
}
