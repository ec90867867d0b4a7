/**
 * The node's signing key: what a verifier pins, and the key links that carry
 * trust from a pinned key to the current one across rotations.
 */
import type { WirePublicKey } from '../api/proto.js';
import type { Ledger } from '../ledger/ledger.js';
import { wirePublicKey } from './wire.js';

export class KeyHandlers {
  readonly #ledger: Ledger;

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  /** Open to any authenticated caller: a public key reveals nothing about any log. */
  async getPublicKey(): Promise<WirePublicKey> {
    return wirePublicKey(this.#ledger);
  }
}
