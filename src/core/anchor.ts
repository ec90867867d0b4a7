/**
 * Anchor windows: what the node publishes to an external ledger (a Fabric
 * channel) so that not even its operator can rewrite a log unnoticed.
 *
 * A window covers the latest signed checkpoint of every log that grew since
 * the previous window. Its root is an RFC 6962 Merkle root over those
 * checkpoints, sorted by log name:
 *
 *   leaf(i) = SHA-256(0x00 || UTF-8 bytes of checkpoint note i)   (the whole signed note)
 *   root    = RFC 6962 MTH over the leaves
 *
 * The node builds windows (root and audit paths) once, in
 * anchoring/window-tree.ts; this module holds the format, the order and the
 * check. An anchor proof for one checkpoint is its audit path in the window
 * tree, checked with the same RFC 6962 code as the log tree (merkle.ts).
 *
 * Pure module: no Node-only imports.
 */
import { leafHash, verifyInclusion } from './merkle.js';
import { utf8, fromHex } from './bytes.js';
import { VerificationError } from './errors.js';

export interface WindowCheckpoint {
  log: string;
  size: number;
  /** Hex of the checkpoint's root hash. */
  rootHash: string;
  /** The signed C2SP note. */
  note: string;
}

export interface AnchorWindow {
  window: number;
  /** Hex RFC 6962 root over the checkpoints' notes. */
  root: string;
  node: string;
  checkpoints: WindowCheckpoint[];
}

/** Where a window landed on the external ledger. */
export interface AnchorReceipt {
  txId: string;
  block: number;
  /** Backend name: "fabric" or "local". */
  backend: string;
}

export interface AnchorProof {
  window: number;
  root: string;
  /** Position of the checkpoint in the window (sorted by log). */
  index: number;
  count: number;
  path: string[];
  receipt?: AnchorReceipt;
}

export function windowLeaf(note: string): Uint8Array {
  return leafHash(utf8(note));
}

/** A window's checkpoints in window order: by log, in byte order of the names (which are ASCII). */
export function sortByLog<C extends { log: string }>(checkpoints: readonly C[]): C[] {
  return [...checkpoints].sort((a, b) => (a.log < b.log ? -1 : a.log > b.log ? 1 : 0));
}

/**
 * Checks that `note` is leaf `proof.index` of the window whose root is
 * `proof.root` (the caller then compares that root with the one on the
 * external ledger).
 * @throws VerificationError INCLUSION_PROOF_INVALID naming the window
 */
export function verifyAnchorProof(note: string, proof: AnchorProof): void {
  try {
    verifyInclusion(windowLeaf(note), proof.index, proof.count, proof.path.map((h) => fromHex(h, 'path')), fromHex(proof.root, 'root'));
  } catch (cause) {
    throw new VerificationError('INCLUSION_PROOF_INVALID', `checkpoint is not in anchor window ${proof.window}`, { window: proof.window, expected: proof.root }, { cause });
  }
}

/** Reads a window's root from the external ledger, with the auditor's own access. */
export interface AnchorRootReader {
  readonly describe: string;
  root(window: number): Promise<string | undefined>;
  /**
   * Every window on the external ledger that covers `log`: when present, a
   * window the node does not list is a failure (a node cannot hide an anchor).
   */
  windowsFor?(log: string): Promise<number[]>;
  /**
   * Every checkpoint of `log` anchored on the external ledger, in window
   * order: when present, a bundle is checked against each one up to its size,
   * whether the bundle carries its proof or not (a bundle cannot hide one).
   */
  checkpointsFor?(log: string): Promise<{ window: number; root: string; checkpoint: WindowCheckpoint }[]>;
}
