/**
 * Split views: two signed checkpoints of one log that cannot both be true.
 * A log that shows one history to some and another to others (a split
 * view, or equivocation) is caught by comparing what different parties saw;
 * this module decides, from signed data only, whether two checkpoints
 * conflict, and keeps the evidence in a form anyone can check again with the
 * origin's pinned key ({@link checkSplitViewEvidence}).
 *
 * Conclusive means: from the origin's own signatures, with no trust in who
 * relayed them.
 *  - `fork`: same origin, same size, different roots.
 *  - `inconsistent`: different sizes, and a consistency proof that
 *    reproduces the larger signed root commits it to a root at the smaller
 *    size other than the smaller checkpoint's (core/merkle.ts
 *    committedRootAt). A proof that does not reproduce the larger root proves
 *    nothing and is not evidence.
 *  - `rollback`: the origin presented, as its latest, a checkpoint smaller
 *    than one a witness had already cosigned. The two notes alone cannot say
 *    which came first; the witness's cosignature on the larger one (kept in
 *    the evidence) dates it.
 *
 * Pure module: no Node-only imports.
 */
import { bytesEqual, fromHex, toHex } from './bytes.js';
import type { Checkpoint } from './checkpoint.js';
import { VerificationError } from './errors.js';
import { committedRootAt } from './merkle.js';
import { openLogCheckpointWithKeys } from './log-verifier.js';

export type SplitViewKind = 'fork' | 'inconsistent' | 'rollback';

/** One signed checkpoint as evidence: the origin's note, and a witness's cosignature line on it if one was given. */
export interface EvidenceCheckpoint {
  note: string;
  size: number;
  /** Hex root. */
  root: string;
  cosignature?: string;
}

/** What a detector found: everything needed to check it again. */
export interface SplitViewEvidence {
  kind: SplitViewKind;
  /** The checkpoints' origin line, `<node name>/<log>`. */
  origin: string;
  log: string;
  /** The smaller (for `rollback`: the cosigned, larger) checkpoint. */
  first: EvidenceCheckpoint;
  second: EvidenceCheckpoint;
  /** `inconsistent`: the consistency proof (hex) from the smaller to the larger size. */
  proof?: string[];
  /** `inconsistent`: the root at the smaller size that the larger checkpoint commits to (hex). */
  committedRoot?: string;
}

/** A checkpoint whose note the caller opened with the origin's key. */
export interface SeenCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  cosignature?: string;
}

function asEvidence(s: SeenCheckpoint): EvidenceCheckpoint {
  return { note: s.note, size: s.checkpoint.size, root: toHex(s.checkpoint.rootHash), ...(s.cosignature ? { cosignature: s.cosignature } : {}) };
}

function logOf(origin: string): string {
  return origin.slice(origin.lastIndexOf('/') + 1);
}

/**
 * Decides whether two opened checkpoints of one origin conflict.
 *
 * @param proof - for different sizes: a consistency proof from the smaller
 *   size to the larger, and, when the smaller size is a power of two (RFC
 *   9162 leaves that root out of the proof), `firstHash`: the root at the
 *   smaller size the larger tree claims (e.g. the origin's GetCheckpoint at
 *   that size, signed or not: the proof binds it to the larger signed root).
 * @returns the evidence, or undefined when they agree or nothing conclusive
 *   can be said (different sizes without a proof that reproduces the larger root)
 */
export function detectSplitView(a: SeenCheckpoint, b: SeenCheckpoint, proof?: { hashes: readonly Uint8Array[]; firstHash?: Uint8Array }): SplitViewEvidence | undefined {
  if (a.checkpoint.origin !== b.checkpoint.origin) return undefined;
  const origin = a.checkpoint.origin;
  const [small, large] = a.checkpoint.size <= b.checkpoint.size ? [a, b] : [b, a];
  if (small.checkpoint.size === large.checkpoint.size) {
    if (bytesEqual(small.checkpoint.rootHash, large.checkpoint.rootHash)) return undefined;
    return { kind: 'fork', origin, log: logOf(origin), first: asEvidence(small), second: asEvidence(large) };
  }
  if (small.checkpoint.size === 0 || proof === undefined) return undefined;
  const committed = committedRootAt(small.checkpoint.size, large.checkpoint.size, proof.hashes, large.checkpoint.rootHash, proof.firstHash ?? small.checkpoint.rootHash);
  // When the proof omits the smaller root (power of two) and none was given, it was seeded with the smaller root itself: a mismatch then only shows a bad proof.
  if (committed === undefined || bytesEqual(committed, small.checkpoint.rootHash)) return undefined;
  return {
    kind: 'inconsistent',
    origin,
    log: logOf(origin),
    first: asEvidence(small),
    second: asEvidence(large),
    proof: proof.hashes.map(toHex),
    committedRoot: toHex(committed),
  };
}

/**
 * Evidence of a rollback: `cosigned` (cosigned before, by the witness whose
 * line it carries) is larger than `presented`, which the origin then offered
 * as its latest.
 */
export function rollbackEvidence(cosigned: SeenCheckpoint, presented: SeenCheckpoint): SplitViewEvidence | undefined {
  if (cosigned.checkpoint.origin !== presented.checkpoint.origin || presented.checkpoint.size >= cosigned.checkpoint.size) return undefined;
  const origin = cosigned.checkpoint.origin;
  return { kind: 'rollback', origin, log: logOf(origin), first: asEvidence(cosigned), second: asEvidence(presented) };
}

function splitView(message: string, ev: Partial<SplitViewEvidence>): VerificationError {
  return new VerificationError('SPLIT_VIEW', `split-view evidence does not hold: ${message}`, { origin: ev.origin, kind: ev.kind });
}

/**
 * Checks evidence again from the origin's keys alone (`keys`: its chain,
 * followed from the pinned key): both notes are signed by it, have the
 * stated sizes and roots, and conflict as stated. For `rollback` only the
 * signatures and sizes can be checked here (who saw which first is the
 * witness's word, in its cosignature).
 * @throws VerificationError SPLIT_VIEW naming what does not hold, or a note/checkpoint code
 */
export function checkSplitViewEvidence(ev: SplitViewEvidence, keys: readonly Uint8Array[], nodeName?: string): void {
  const open = (e: EvidenceCheckpoint): SeenCheckpoint => {
    const { checkpoint } = openLogCheckpointWithKeys(e.note, ev.log, keys, nodeName);
    if (checkpoint.origin !== ev.origin) throw splitView(`a note's origin is ${checkpoint.origin}, not ${ev.origin}`, ev);
    if (checkpoint.size !== e.size || toHex(checkpoint.rootHash) !== e.root) throw splitView('a note does not say the size and root the evidence states', ev);
    return { note: e.note, checkpoint };
  };
  const first = open(ev.first);
  const second = open(ev.second);
  if (ev.kind === 'rollback') {
    if (second.checkpoint.size >= first.checkpoint.size) throw splitView('the presented checkpoint is not smaller than the cosigned one', ev);
    return;
  }
  const found = detectSplitView(first, second, ev.proof ? { hashes: ev.proof.map((h) => fromHex(h, 'proof')), ...(ev.committedRoot ? { firstHash: fromHex(ev.committedRoot, 'committedRoot') } : {}) } : undefined);
  if (found === undefined || found.kind !== ev.kind) throw splitView(`the two checkpoints do not show a ${ev.kind}`, ev);
}
