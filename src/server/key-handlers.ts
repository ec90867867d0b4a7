/**
 * The node's signing key: what a verifier pins, and the key links that carry
 * trust from a pinned key to the current one across rotations.
 */
import type { WirePublicKey } from '../api/proto.js';
import type { Ledger } from '../ledger/ledger.js';
import { wirePublicKey } from './wire.js';

export class KeyHandlers {
  readonly #ledger: Ledger;
  readonly #witnessSpki: Uint8Array | undefined;

  /** `witnessSpki`: the node's witness key, when it witnesses. */
  constructor(ledger: Ledger, witnessSpki?: Uint8Array) {
    this.#ledger = ledger;
    this.#witnessSpki = witnessSpki;
  }

  /** Open to any authenticated caller: a public key reveals nothing about any log. */
  async getPublicKey(): Promise<WirePublicKey> {
    return { ...wirePublicKey(this.#ledger), witnessSpki: this.#witnessSpki ?? new Uint8Array(0) };
  }
}
