/**
 * What nodes of a federation tell each other and their operators
 * (GetFederationStatus, docs/federation.md): the version vector, each peer
 * as a node sees it, and the split views it caught. Plain values, shared by
 * the node that builds them, the server that sends them and the client that
 * reads them.
 *
 * Pure module: no Node-only imports.
 */

/** One (origin, log) a node holds: the checkpoint it accepted. */
export interface VectorEntry {
  origin: string;
  log: string;
  size: number;
  rootHash: Uint8Array;
  /** The origin's signed checkpoint (C2SP tlog-checkpoint) at `size`. */
  note: string;
  /** When this node accepted it (ms since the epoch; 0 for its own logs). */
  acceptedAtMs: number;
}

/** One log a peer holds, beside what this node holds of it. */
export interface PeerLogStatus {
  origin: string;
  log: string;
  peerSize: number;
  localSize: number;
  lagEntries: number;
  /** How long this node has been behind the peer's size (0 when it is not). */
  lagSeconds: number;
}

export interface PeerStatus {
  name: string;
  endpoint: string;
  follow: boolean;
  witness: boolean;
  reachable: boolean;
  /** The last failure talking to the peer ('' when the last contact succeeded). */
  lastError: string;
  lastContactMs: number;
  logs: PeerLogStatus[];
  /** Checkpoints of this peer this node cosigned (filled by witnessing). */
  cosignaturesGiven: number;
  /** Checkpoints of this node the peer cosigned (filled by witnessing). */
  cosignaturesReceived: number;
}

export type EquivocationKind = 'fork' | 'rollback' | 'inconsistent';

/**
 * Two signed checkpoints of one origin and log that cannot both be true:
 * the one accepted before and the one that contradicts it.
 */
export interface Equivocation {
  origin: string;
  log: string;
  /** fork: same size, other root; rollback: a smaller tree; inconsistent: a failed consistency proof or a tree its own entries do not rebuild. */
  kind: EquivocationKind;
  reason: string;
  acceptedNote: string;
  conflictingNote: string;
  /** The peer that sent the conflicting checkpoint. */
  peer: string;
  atMs: number;
}

export interface FederationStatus {
  nodeName: string;
  vector: VectorEntry[];
  peers: PeerStatus[];
  equivocations: Equivocation[];
}

/** The vector's key for an (origin, log). */
export function vectorKey(origin: string, log: string): string {
  return `${origin}/${log}`;
}
