/**
 * The root of a Cairn anchor window, recomputed by the chaincode so that a
 * recorded `root` is always the tree over the checkpoints it lists (a node
 * cannot anchor a root that proves nothing).
 *
 * Same definition as the node's (`src/core/anchor.ts`, computed by
 * `src/anchoring/window-tree.ts`), which this package cannot import: it is
 * deployed alone. RFC 6962 section 2.1 over the checkpoints' signed notes in
 * log order:
 *
 *   leaf(i) = SHA-256(0x00 || UTF-8 bytes of note i)
 *   MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),
 *               k the largest power of two smaller than n
 *
 * test/anchor-tree.test.ts proves it equal to the node's window tree and to
 * the pure RFC 6962 code for random windows.
 */
import nodeCrypto = require('node:crypto');

function sha256(...parts: Uint8Array[]): Buffer {
  const h = nodeCrypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** RFC 6962 Merkle Tree Hash over leaf hashes (at least one). */
function treeHash(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(NODE_PREFIX, treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}

/**
 * Hex root of the window whose checkpoint notes are `notes`, already in log
 * order. An empty window has no root.
 * @throws Error when `notes` is empty (the parser refuses empty windows first)
 */
function windowRoot(notes: readonly string[]): string {
  if (notes.length === 0) throw new Error('an anchor window covers at least one checkpoint');
  return treeHash(notes.map((n) => sha256(LEAF_PREFIX, Buffer.from(n, 'utf8')))).toString('hex');
}

const windowRootModule = { windowRoot };
export = windowRootModule;
