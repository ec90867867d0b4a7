/**
 * The node's signing key: what a verifier pins, and the key links that carry
 * trust from a pinned key to the current one across rotations.
 */
import { wireKeyLink, type WirePublicKey } from '../api/proto.js';
import type { Ledger } from '../ledger/ledger.js';
import type { MirrorLogs } from '../ledger/mirror-logs.js';
import { CairnError } from '../core/errors.js';
import { derToPem } from '../core/ecdsa-der.js';
import { ecdsaKeyId } from '../core/note.js';
import { requestOrigin } from './read-handlers.js';
import { wirePublicKey, type Req } from './wire.js';

export class KeyHandlers {
  readonly #ledger: Ledger;
  readonly #mirrors: MirrorLogs | undefined;
  readonly #witnessSpki: Uint8Array | undefined;

  /** `witnessSpki`: the node's witness key, when it witnesses (served with its own key). */
  constructor(ledger: Ledger, mirrors?: MirrorLogs, witnessSpki?: Uint8Array) {
    this.#ledger = ledger;
    this.#mirrors = mirrors;
    this.#witnessSpki = witnessSpki;
  }

  /**
   * Open to any authenticated caller: a public key reveals nothing about any
   * log. With another `origin`: that origin's key chain as this node verified
   * it from the origin's pinned key (a verifier follows it from its own pin).
   */
  async getPublicKey(req: Req = {}): Promise<WirePublicKey> {
    const origin = requestOrigin(req);
    if (origin === '' || origin === this.#ledger.options.nodeName) return { ...wirePublicKey(this.#ledger), witnessSpki: this.#witnessSpki ?? new Uint8Array(0) };
    const pinned = this.#mirrors?.originKeys.get(origin);
    if (!pinned || !this.#mirrors) throw new CairnError('NOT_FOUND', `origin ${origin} is not mirrored here`);
    const chain = this.#mirrors.originKeyChain(origin);
    const spki = chain.length > 0 ? chain[chain.length - 1]!.statement.next : pinned;
    return { algorithm: 'ecdsa-p256-sha256', spkiDer: spki, pem: derToPem(spki, 'PUBLIC KEY'), keyId: ecdsaKeyId(spki).toString(16).padStart(8, '0'), nodeName: origin, keyChain: chain.map(wireKeyLink) };
  }
}
