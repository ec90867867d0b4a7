/**
 * GetFederationStatus: the node's version vector, its peers and the split
 * views it caught (docs/federation.md). The vector lists only the logs the
 * caller may read (by log name, as every read), so a peer's tenant rule
 * decides what it mirrors; the peers and the caught split views are the
 * node's own facts and every authenticated caller sees them, as it sees
 * the node's public key.
 */
import type { FederationStatus } from '../core/federation.js';
import type { Access, Caller } from './access.js';
import type { Req } from './wire.js';

/** What the federation (src/federation/, wired by node.ts) tells the server. */
export interface FederationView {
  /** The status with the vector narrowed to the logs `canRead` admits. */
  status(canRead: (log: string) => boolean): Promise<FederationStatus>;
}

export class FederationHandlers {
  readonly #view: FederationView;
  readonly #access: Access;

  constructor(view: FederationView, access: Access) {
    this.#view = view;
    this.#access = access;
  }

  async getFederationStatus(_req: Req, caller: Caller): Promise<Record<string, unknown>> {
    return wireFederationStatus(await this.status(caller));
  }

  /** The status as the caller may see it (the HTTP route's answer). */
  status(caller: Caller): Promise<FederationStatus> {
    return this.#view.status((log) => this.#access.canRead(caller, log));
  }
}

/** The proto-loader shape of a FederationStatus (u64 as decimal strings). */
export function wireFederationStatus(s: FederationStatus): Record<string, unknown> {
  return {
    nodeName: s.nodeName,
    vector: s.vector.map((v) => ({ origin: v.origin, log: v.log, size: String(v.size), rootHash: v.rootHash, note: v.note, acceptedAtMs: String(v.acceptedAtMs) })),
    peers: s.peers.map((p) => ({
      name: p.name,
      endpoint: p.endpoint,
      follow: p.follow,
      witness: p.witness,
      reachable: p.reachable,
      lastError: p.lastError,
      lastContactMs: String(p.lastContactMs),
      logs: p.logs.map((l) => ({ origin: l.origin, log: l.log, peerSize: String(l.peerSize), localSize: String(l.localSize), lagEntries: String(l.lagEntries), lagSeconds: l.lagSeconds })),
      cosignaturesGiven: String(p.cosignaturesGiven),
      cosignaturesReceived: String(p.cosignaturesReceived),
    })),
    equivocations: s.equivocations.map((e) => ({ ...e, atMs: String(e.atMs) })),
  };
}
