/**
 * Verification of a whole log from its raw entries, trusting nothing but a
 * pinned public key. Entries are pushed in order; the verifier recomputes
 * every entry hash, checks every signature and chain link, rebuilds the
 * Merkle tree, and finally checks the rebuilt root against a checkpoint
 * signed by the pinned key. Memory is O(log n).
 *
 * Pure module: no Node-only imports (runs in a browser against an export).
 */
import { CompactRange, leafHash } from './merkle.js';
import { verifyEntry, ZERO_HASH, type SignedEntry } from './entry.js';
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
  readonly #key: Uint8Array;
  readonly #opts: LogVerifierOptions;
  #range = CompactRange.empty();
  #prevHash: Uint8Array = ZERO_HASH;
  readonly #captured = new Map<number, Uint8Array>();
  readonly #capture: Set<number>;

  constructor(log: string, publicKeySpki: Uint8Array, opts: LogVerifierOptions = {}) {
    this.log = log;
    this.#key = publicKeySpki;
    this.#opts = opts;
    this.#capture = new Set(opts.captureRootsAt ?? []);
    if (this.#capture.has(0)) this.#captured.set(0, this.#range.root());
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

  /**
   * Verifies the next entry (seq must be `size`).
   * @throws VerificationError naming the seq and what differs
   */
  push(entry: SignedEntry): void {
    const seq = this.#range.size;
    if (entry.seq !== seq) {
      throw new VerificationError('ENTRY_BODY_MISMATCH', `expected entry ${seq}, got entry ${entry.seq}`, { log: this.log, seq, expected: String(seq), actual: String(entry.seq) });
    }
    const { hash } = verifyEntry(entry, { log: this.log, seq, prevHash: this.#prevHash }, this.#key, { deferSignature: this.#opts.deferSignatures === true });
    this.#range.append(leafHash(hash));
    this.#prevHash = hash;
    if (this.#capture.has(seq + 1)) this.#captured.set(seq + 1, this.#range.root());
  }

  /**
   * Checks a signed checkpoint against the pinned key and the rebuilt tree:
   * same size, same root.
   * @throws VerificationError SIZE_MISMATCH, ROOT_MISMATCH, or a note/checkpoint code
   */
  finish(signedCheckpoint: string): Checkpoint {
    const cp = openLogCheckpoint(signedCheckpoint, this.log, this.#key, this.#opts.nodeName);
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
export function openLogCheckpoint(signedCheckpoint: string, log: string, publicKeySpki: Uint8Array, nodeName?: string): Checkpoint {
  let name = nodeName;
  if (name === undefined) {
    const keyId = ecdsaKeyId(publicKeySpki);
    const line = parseNote(signedCheckpoint).signatures.find((s) => s.keyId === keyId);
    if (!line) throw new VerificationError('NOTE_UNSIGNED', `checkpoint of ${log} carries no signature by the pinned key`, { log });
    name = line.name;
  }
  return verifyCheckpoint(signedCheckpoint, ecdsaNoteVerifier(name, publicKeySpki), `${name}/${log}`);
}
