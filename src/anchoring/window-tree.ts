/**
 * The window tree with merkletreejs (from the user's card: small trees, one
 * per window), configured to hash exactly as RFC 6962: leaves pre-hashed with
 * 0x00, nodes SHA-256(0x01 || l || r), an odd last node promoted rather than
 * duplicated. Its roots and paths are checked against the pure RFC 6962 code
 * (core/merkle.ts) in tests for every size up to a few hundred.
 *
 * merkletreejs rebuilds the whole tree on every change, which is why the log
 * tree does not use it (README); a window has one leaf per log that grew.
 */
import { createHash } from 'node:crypto';
import { MerkleTree } from 'merkletreejs';
import { windowLeaf, type AnchorProof, type AnchorWindow } from '../core/anchor.js';
import { toHex } from '../core/bytes.js';

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const rfc6962Node = (parts: Buffer[]): Buffer => Buffer.concat([Buffer.of(0x01), ...parts]);

export function windowTree(w: AnchorWindow): MerkleTree {
  const leaves = w.checkpoints.map((c) => Buffer.from(windowLeaf(c.note)));
  return new MerkleTree(leaves, sha256, { hashLeaves: false, concatenator: rfc6962Node, duplicateOdd: false, sortPairs: false, sortLeaves: false, sort: false });
}

export function windowRoot(w: AnchorWindow): string {
  if (w.checkpoints.length === 0) throw new Error('an anchor window covers at least one checkpoint');
  return toHex(windowTree(w).getRoot());
}

/** The checkpoint of `log` in the window, with its RFC 6962 audit path. */
export function windowProof(w: AnchorWindow, log: string): AnchorProof | undefined {
  const index = w.checkpoints.findIndex((c) => c.log === log);
  if (index < 0) return undefined;
  const tree = windowTree(w);
  const leaf = tree.getLeaves()[index]!;
  // getProof with an explicit index: without one it scans the leaves linearly.
  const path = tree.getProof(leaf, index).map((p) => toHex(p.data));
  return { window: w.window, root: toHex(tree.getRoot()), index, count: w.checkpoints.length, path };
}
