/**
 * Builds anchor windows: the node's one computation of a window's root and
 * audit paths (the format is core/anchor.ts). The tree is merkletreejs's (from
 * the user's card: small trees, one per window), configured to hash exactly
 * as RFC 6962: leaves pre-hashed with 0x00, nodes SHA-256(0x01 || l || r), an
 * odd last node promoted rather than duplicated. Its agreement with the pure
 * RFC 6962 code (core/merkle.ts) and with the chaincode's own window root
 * (chaincode/window-root.cts) is proved in test/anchor-tree.test.ts, for
 * every root and audit path of random windows of up to a few hundred logs.
 *
 * merkletreejs rebuilds the whole tree on every change, which is why the log
 * tree does not use it (README); a window has one leaf per log that grew.
 */
import { createHash } from 'node:crypto';
import { MerkleTree } from 'merkletreejs';
import { sortByLog, windowLeaf, type AnchorProof, type AnchorWindow, type WindowCheckpoint } from '../core/anchor.js';
import { toHex } from '../core/bytes.js';

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const rfc6962Node = (parts: Buffer[]): Buffer => Buffer.concat([Buffer.of(0x01), ...parts]);

function windowTree(checkpoints: readonly WindowCheckpoint[]): MerkleTree {
  const leaves = checkpoints.map((c) => Buffer.from(windowLeaf(c.note)));
  return new MerkleTree(leaves, sha256, { hashLeaves: false, concatenator: rfc6962Node, duplicateOdd: false, sortPairs: false, sortLeaves: false, sort: false });
}

/**
 * Window number `window` of `node` over `checkpoints`: sorted by log, with
 * its RFC 6962 root.
 * @throws Error when `checkpoints` is empty (a window covers at least one; an empty tree has no root to anchor)
 */
export function buildWindow(window: number, node: string, checkpoints: readonly WindowCheckpoint[]): AnchorWindow {
  if (checkpoints.length === 0) throw new Error('an anchor window covers at least one checkpoint');
  const sorted = sortByLog(checkpoints);
  return { window, root: toHex(windowTree(sorted).getRoot()), node, checkpoints: sorted };
}

/** The checkpoint of `log` in the window, with its RFC 6962 audit path. */
export function windowProof(w: AnchorWindow, log: string): AnchorProof | undefined {
  const index = w.checkpoints.findIndex((c) => c.log === log);
  if (index < 0) return undefined;
  const tree = windowTree(w.checkpoints);
  const leaf = tree.getLeaves()[index]!;
  // getProof with an explicit index: without one it scans the leaves linearly.
  const path = tree.getProof(leaf, index).map((p) => toHex(p.data));
  return { window: w.window, root: toHex(tree.getRoot()), index, count: w.checkpoints.length, path };
}
