/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, proof planning and proof
 * verification over SHA-256.
 *
 * Storage model. A log stores only complete subtree nodes, addressed as
 * (level, index): node (L, i) is MTH(D[i*2^L : (i+1)*2^L]), level 0 being the
 * leaf hashes. Such a node never changes once it exists, so it is written
 * once. Every subtree the RFC tree of size n needs that is not complete (its
 * right edge) is a range [start, end) with start a multiple of 2^k and
 * end - start < 2^k; by RFC 6962 section 2.1 (split at the largest power of
 * two smaller than the size) its hash is the right-to-left fold of the
 * binary decomposition of the range into complete nodes, largest first.
 * Proofs and roots are therefore computed from O(log n) stored nodes, never
 * from a rebuild: a {@link Plan} names the nodes and turns their hashes into
 * the result.
 *
 * Sizes and indexes are safe integers up to 2^53 - 1. JavaScript bit
 * operators truncate to 32 bits, so tree arithmetic here uses division,
 * remainder and multiplication by exact powers of two instead.
 *
 * Pure module: no Node-only imports, so it runs unchanged in a browser.
 */
import { sha256 } from '#crypto';
import { toHex, bytesEqual } from './bytes.js';
import { CairnError, VerificationError, invalidArgument, type Evidence } from './errors.js';

/** Size in bytes of every hash in the tree (SHA-256). */
export const HASH_SIZE = 32;

/**
 * Upper bound on proof length accepted by the verifiers. A tree of at most
 * 2^53 - 1 leaves has height 53, so no valid inclusion or consistency proof
 * is longer; the bound is checked before any other work so that an oversized
 * attacker-supplied proof costs nothing.
 */
export const MAX_PROOF_LENGTH = 64;

/** Largest supported tree size (and one more than the largest leaf index). */
export const MAX_TREE_SIZE = Number.MAX_SAFE_INTEGER;

/** POW2[k] = 2^k exactly, for k in 0..64 (doubles represent these exactly). */
const POW2: readonly number[] = Array.from({ length: 65 }, (_, k) => 2 ** k);
const TWO_32 = 2 ** 32;

/** Domain separation prefixes of RFC 6962 section 2.1 (RFC 9162 section 2.1.1). */
const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

// nodeHash is on the append hot path. sha256 is synchronous and copies its
// input, so one shared 65-byte buffer avoids an allocation per call.
const nodeScratch = new Uint8Array(1 + 2 * HASH_SIZE);
nodeScratch[0] = NODE_PREFIX;

/**
 * Leaf hash of RFC 6962 section 2.1: SHA-256(0x00 || data).
 *
 * @param data - the leaf input; any length.
 * @returns a fresh 32-byte hash.
 * @throws {CairnError} INVALID_ARGUMENT if `data` is not a Uint8Array.
 */
export function leafHash(data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw invalidArgument('data', 'must be a Uint8Array');
  const buf = new Uint8Array(1 + data.length);
  buf[0] = LEAF_PREFIX;
  buf.set(data, 1);
  return sha256(buf);
}

/**
 * Interior node hash of RFC 6962 section 2.1: SHA-256(0x01 || left || right).
 *
 * @param left - hash of the left subtree, 32 bytes.
 * @param right - hash of the right subtree, 32 bytes.
 * @returns a fresh 32-byte hash.
 * @throws {CairnError} INVALID_ARGUMENT if either input is not exactly 32 bytes.
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (!isHash(left)) throw invalidArgument('left', `must be a ${HASH_SIZE}-byte hash`);
  if (!isHash(right)) throw invalidArgument('right', `must be a ${HASH_SIZE}-byte hash`);
  return hashChildren(left, right);
}

/** nodeHash without argument checks, for callers that already validated. */
function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return sha256(nodeScratch);
}

/**
 * Root of the empty tree, MTH({}) = SHA-256() (RFC 6962 section 2.1).
 * Shared instance: callers must not mutate it.
 */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/**
 * MTH(D[n]) of RFC 6962 section 2.1 from the leaf hashes, computed level by
 * level: adjacent pairs are combined and an odd last node is carried up
 * unchanged, which is the same tree as splitting at the largest power of two
 * smaller than n. Linear time and memory: for reference and small trees; the
 * ledger uses {@link rootPlan} or {@link CompactRange.root}.
 *
 * @param leaves - leaf hashes (already {@link leafHash}ed), 32 bytes each.
 * @returns the tree head hash; {@link EMPTY_ROOT} for no leaves.
 * @throws {CairnError} INVALID_ARGUMENT if an element is not a 32-byte hash.
 */
export function rootFromLeafHashes(leaves: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(leaves)) throw invalidArgument('leaves', 'must be an array');
  if (leaves.length === 0) return EMPTY_ROOT;
  const level: Uint8Array[] = new Array<Uint8Array>(leaves.length);
  for (let i = 0; i < leaves.length; i++) {
    const h = leaves[i];
    if (!isHash(h)) throw invalidArgument(`leaves[${i}]`, `must be a ${HASH_SIZE}-byte hash`);
    level[i] = h;
  }
  let n = level.length;
  while (n > 1) {
    let w = 0;
    for (let r = 0; r + 1 < n; r += 2) level[w++] = hashChildren(level[r]!, level[r + 1]!);
    if (n % 2 === 1) level[w++] = level[n - 1]!;
    n = w;
  }
  return level[0]!;
}

/** A complete stored subtree: the hash of leaves [index*2^level, (index+1)*2^level). */
export interface NodeId {
  level: number;
  index: number;
}

/**
 * Which complete stored nodes a computation needs, and how to turn them into
 * the result. `nodes` has no duplicates; `finish(hashes)` takes hashes[i] =
 * hash of nodes[i].
 */
export interface Plan<T> {
  /** Complete nodes to read from storage, each once. */
  nodes: NodeId[];
  /**
   * Turns the stored hashes into the result.
   * @param hashes - hashes[i] is the stored hash of nodes[i].
   * @throws {CairnError} INVALID_ARGUMENT if `hashes` has the wrong length or
   *   an element that is not 32 bytes.
   */
  finish(hashes: readonly Uint8Array[]): T;
}

/**
 * Plan for MTH(D[size]) (RFC 6962 section 2.1): the binary decomposition of
 * [0, size) into complete nodes, folded right to left. At most
 * ceil(log2(size)) + 1 nodes.
 *
 * @param size - tree size, a safe integer >= 0.
 * @returns a plan whose `finish` yields the root; {@link EMPTY_ROOT} for size 0.
 * @throws {CairnError} INVALID_ARGUMENT if `size` is not a non-negative safe
 *   integer; `finish` throws INVALID_ARGUMENT if given the wrong number of
 *   hashes or a hash that is not 32 bytes.
 */
export function rootPlan(size: number): Plan<Uint8Array> {
  checkSize('size', size);
  const b = new PlanBuilder();
  if (size > 0) b.addRange(0, size);
  return {
    nodes: b.nodes,
    finish(hashes) {
      if (size === 0) {
        b.check(hashes);
        return EMPTY_ROOT;
      }
      return b.fold(hashes)[0]!;
    },
  };
}

/**
 * Plan for the inclusion proof PATH(index, D[size]) of RFC 6962 section 2.1.1
 * (RFC 9162 section 2.1.3.1), ordered leaf-adjacent first, as the verifier
 * of RFC 9162 section 2.1.3.2 consumes it.
 *
 * @param index - leaf index, a safe integer with 0 <= index < size.
 * @param size - tree size, a safe integer >= 1.
 * @returns a plan whose `finish` yields the proof (one 32-byte hash per level
 *   that has a sibling).
 * @throws {CairnError} INVALID_ARGUMENT if `index` or `size` is not a
 *   non-negative safe integer or `index >= size`; `finish` throws
 *   INVALID_ARGUMENT if given the wrong number of hashes or a hash that is
 *   not 32 bytes.
 */
export function inclusionProofPlan(index: number, size: number): Plan<Uint8Array[]> {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) throw invalidArgument('index', `leaf index ${index} is not below tree size ${size}`);
  const b = new PlanBuilder();
  addPath(b, 0, index, size);
  return { nodes: b.nodes, finish: (hashes) => b.fold(hashes) };
}

/**
 * Plan for the consistency proof PROOF(size1, D[size2]) of RFC 6962 section
 * 2.1.2 (RFC 9162 section 2.1.4.1). The proof is the last (smallest) complete
 * node of the size1 tree, omitted when size1 is a power of two because it is
 * then the old root the verifier already holds, followed by that node's
 * inclusion path in the size2 tree; this is SUBPROOF(m, D[n], true) unrolled.
 *
 * @param size1 - the older tree size, a safe integer with 0 < size1 <= size2.
 * @param size2 - the newer tree size, a safe integer.
 * @returns a plan whose `finish` yields the proof; empty when size1 === size2.
 * @throws {CairnError} INVALID_ARGUMENT if a size is not a non-negative safe
 *   integer, size1 is 0 or size1 > size2; `finish` throws INVALID_ARGUMENT if
 *   given the wrong number of hashes or a hash that is not 32 bytes.
 */
export function consistencyProofPlan(size1: number, size2: number): Plan<Uint8Array[]> {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size1 === 0) throw invalidArgument('size1', 'a consistency proof needs a non-empty first tree (RFC 9162 section 2.1.4.1)');
  if (size1 > size2) throw invalidArgument('size1', `first tree size ${size1} exceeds second tree size ${size2}`);
  const b = new PlanBuilder();
  if (size1 < size2) {
    const level = trailingZeros(size1);
    const index = size1 / POW2[level]! - 1;
    if (index !== 0) b.addRange(index * POW2[level]!, size1);
    addPath(b, level, index, size2);
  }
  return { nodes: b.nodes, finish: (hashes) => b.fold(hashes) };
}

/**
 * The right edge of a tree: the complete subtrees of [0, size), largest
 * (leftmost) first, one per set bit of size. Appending needs only these, so
 * it costs O(log n) hashes worst case (amortized 2) and no storage reads.
 */
export class CompactRange {
  #size: number;
  readonly #hashes: Uint8Array[];
  #root: Uint8Array | undefined;

  private constructor(size: number, hashes: Uint8Array[]) {
    this.#size = size;
    this.#hashes = hashes;
    this.#root = undefined;
  }

  /**
   * The range of the empty tree.
   * @throws never.
   */
  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /**
   * Restores a range from stored nodes.
   *
   * @param size - tree size, a safe integer >= 0.
   * @param hashes - hashes of {@link CompactRange.nodesFor}(size), in that
   *   order (largest first); the array is copied, the hashes are not.
   * @throws {CairnError} INVALID_ARGUMENT if `size` is not a non-negative safe
   *   integer, the number of hashes differs from the number of set bits of
   *   size, or a hash is not 32 bytes.
   */
  static fromNodes(size: number, hashes: Uint8Array[]): CompactRange {
    checkSize('size', size);
    if (!Array.isArray(hashes)) throw invalidArgument('hashes', 'must be an array');
    const want = popCount(size);
    if (hashes.length !== want) {
      throw invalidArgument('hashes', `a tree of size ${size} has ${want} right-edge nodes, got ${hashes.length}`);
    }
    for (let i = 0; i < hashes.length; i++) {
      if (!isHash(hashes[i])) throw invalidArgument(`hashes[${i}]`, `must be a ${HASH_SIZE}-byte hash`);
    }
    return new CompactRange(size, hashes.slice());
  }

  /**
   * The stored nodes {@link CompactRange.fromNodes} expects: the binary
   * decomposition of [0, size), largest (leftmost) first.
   *
   * @param size - tree size, a safe integer >= 0.
   * @throws {CairnError} INVALID_ARGUMENT if `size` is not a non-negative safe integer.
   */
  static nodesFor(size: number): NodeId[] {
    checkSize('size', size);
    const out: NodeId[] = [];
    decompose(0, size, out);
    return out;
  }

  /**
   * Number of leaves.
   * @throws never.
   */
  get size(): number {
    return this.#size;
  }

  /**
   * The right-edge hashes, largest first, as {@link CompactRange.fromNodes}
   * takes them; a copy of the array.
   * @throws never.
   */
  hashes(): Uint8Array[] {
    return this.#hashes.slice();
  }

  /**
   * Appends one leaf hash. The new leaf is node (0, size); while the node
   * just completed is a right child (its index is odd) it merges with its
   * left sibling, the last right-edge hash, into its parent.
   *
   * @param leafHash - the {@link leafHash} of the new entry, 32 bytes; kept
   *   by reference, so the caller must not mutate it afterwards.
   * @returns every node that became complete, leaf first then upward, each
   *   to be stored once under its id.
   * @throws {CairnError} INVALID_ARGUMENT if `leafHash` is not 32 bytes;
   *   FAILED_PRECONDITION if the tree already holds {@link MAX_TREE_SIZE} leaves.
   */
  append(leafHash: Uint8Array): { id: NodeId; hash: Uint8Array }[] {
    if (!isHash(leafHash)) throw invalidArgument('leafHash', `must be a ${HASH_SIZE}-byte hash`);
    if (this.#size >= MAX_TREE_SIZE) throw new CairnError('FAILED_PRECONDITION', `tree is full at ${MAX_TREE_SIZE} leaves`);
    const out: { id: NodeId; hash: Uint8Array }[] = [{ id: { level: 0, index: this.#size }, hash: leafHash }];
    let hash = leafHash;
    let index = this.#size;
    let level = 0;
    while (index % 2 === 1) {
      hash = hashChildren(this.#hashes.pop()!, hash);
      index = (index - 1) / 2;
      level++;
      out.push({ id: { level, index }, hash });
    }
    this.#hashes.push(hash);
    this.#size++;
    this.#root = undefined;
    return out;
  }

  /**
   * MTH(D[size]) (RFC 6962 section 2.1): the right-edge hashes folded right
   * to left. Cached until the next append; callers must not mutate it.
   * @throws never.
   */
  root(): Uint8Array {
    if (this.#root === undefined) {
      const hs = this.#hashes;
      if (hs.length === 0) this.#root = EMPTY_ROOT;
      else {
        let r = hs[hs.length - 1]!;
        for (let i = hs.length - 2; i >= 0; i--) r = hashChildren(hs[i]!, r);
        this.#root = r;
      }
    }
    return this.#root;
  }

  /**
   * An independent copy (appending to one does not affect the other).
   * @throws never.
   */
  clone(): CompactRange {
    const c = new CompactRange(this.#size, this.#hashes.slice());
    c.#root = this.#root;
    return c;
  }
}

/**
 * Recomputes the root from an inclusion proof with the algorithm of RFC 9162
 * section 2.1.3.2. The proof is attacker-controlled input: its shape is
 * checked (array, length bound, exact length for (index, size), 32-byte
 * elements) before any hashing.
 *
 * @param leafHash - the {@link leafHash} of the entry, 32 bytes.
 * @param index - leaf index, a safe integer with 0 <= index < size.
 * @param size - tree size, a safe integer >= 1.
 * @param proof - PATH(index, D[size]), leaf-adjacent first.
 * @returns the root the proof commits to.
 * @throws {CairnError} INVALID_ARGUMENT if `index` or `size` is not a
 *   non-negative safe integer, `index >= size`, or `leafHash` is not 32 bytes.
 * @throws {VerificationError} INCLUSION_PROOF_INVALID if the proof is not an
 *   array, is longer than {@link MAX_PROOF_LENGTH}, does not have the length
 *   RFC 9162 implies for (index, size), or has an element that is not 32 bytes.
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkSize('index', index);
  checkSize('size', size);
  if (index >= size) throw invalidArgument('index', `leaf index ${index} is not below tree size ${size}`);
  if (!isHash(leafHash)) throw invalidArgument('leafHash', `must be a ${HASH_SIZE}-byte hash`);
  checkProofShape('INCLUSION_PROOF_INVALID', proof, inclusionProofLength(index, size), { index, size });

  // RFC 9162 section 2.1.3.2, steps 2-4. fn is the position of the running
  // node within its level, sn the position of the last node of the level.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      // A node that is its level's last and a left child has no sibling:
      // RFC 6962's unbalanced tree promotes it until it is a right child.
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return r;
}

/**
 * Verifies that `leafHash` is at `index` in the tree of `size` leaves whose
 * root is `root` (RFC 9162 section 2.1.3.2).
 *
 * @param leafHash - the {@link leafHash} of the entry, 32 bytes.
 * @param index - leaf index, a safe integer with 0 <= index < size.
 * @param size - tree size, a safe integer >= 1.
 * @param proof - PATH(index, D[size]), attacker-controlled.
 * @param root - the trusted root of the tree of `size` leaves, 32 bytes.
 * @throws {CairnError} INVALID_ARGUMENT if `index` or `size` is not a
 *   non-negative safe integer, `index >= size`, or `leafHash` or `root` is
 *   not 32 bytes.
 * @throws {VerificationError} INCLUSION_PROOF_INVALID if the proof is
 *   malformed (see {@link rootFromInclusionProof}) or the root it implies is
 *   not `root`; evidence carries index, size, expected (root) and actual
 *   (computed) hex.
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  if (!isHash(root)) throw invalidArgument('root', `must be a ${HASH_SIZE}-byte hash`);
  const actual = rootFromInclusionProof(leafHash, index, size, proof);
  if (!bytesEqual(actual, root)) {
    throw new VerificationError(
      'INCLUSION_PROOF_INVALID',
      `inclusion proof for leaf ${index} does not lead to the root of tree size ${size}`,
      { index, size, expected: toHex(root), actual: toHex(actual) },
    );
  }
}

/**
 * Verifies that the tree of `size2` leaves with root `root2` extends the tree
 * of `size1` leaves with root `root1` (RFC 9162 section 2.1.4.2). Equal sizes
 * need an empty proof and equal roots. size1 = 0 is outside RFC 9162 (which
 * requires 0 < first); every tree extends the empty one, so it is accepted
 * with an empty proof provided root1 is {@link EMPTY_ROOT}.
 *
 * @param size1 - the older tree size, a safe integer <= size2.
 * @param size2 - the newer tree size, a safe integer.
 * @param proof - PROOF(size1, D[size2]), attacker-controlled: its shape is
 *   checked before any hashing.
 * @param root1 - trusted root of the older tree, 32 bytes.
 * @param root2 - trusted root of the newer tree, 32 bytes.
 * @throws {CairnError} INVALID_ARGUMENT if a size is not a non-negative safe
 *   integer, size1 > size2, or a root is not 32 bytes.
 * @throws {VerificationError} CONSISTENCY_PROOF_INVALID if the proof is not an
 *   array, is longer than {@link MAX_PROOF_LENGTH}, does not have the length
 *   RFC 9162 implies for (size1, size2), has an element that is not 32 bytes,
 *   or does not reproduce both roots (evidence: size1, size2, which root,
 *   expected and actual hex). ROOT_MISMATCH if size1 === size2 and the roots
 *   differ, or size1 === 0 and root1 is not {@link EMPTY_ROOT}; no proof is
 *   involved in those cases, the roots themselves disagree.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size1 > size2) throw invalidArgument('size1', `first tree size ${size1} exceeds second tree size ${size2}`);
  if (!isHash(root1)) throw invalidArgument('root1', `must be a ${HASH_SIZE}-byte hash`);
  if (!isHash(root2)) throw invalidArgument('root2', `must be a ${HASH_SIZE}-byte hash`);
  const base: Evidence = { size1, size2, size: size2 };
  checkProofShape('CONSISTENCY_PROOF_INVALID', proof, consistencyProofLength(size1, size2), base);

  if (size1 === 0) {
    if (!bytesEqual(root1, EMPTY_ROOT)) {
      throw new VerificationError('ROOT_MISMATCH', 'the root of an empty tree must be SHA-256 of the empty string', {
        ...base, which: 'root1', expected: toHex(EMPTY_ROOT), actual: toHex(root1),
      });
    }
    return;
  }
  if (size1 === size2) {
    if (!bytesEqual(root1, root2)) {
      throw new VerificationError('ROOT_MISMATCH', `two different roots for tree size ${size1}`, {
        ...base, which: 'root2', expected: toHex(root1), actual: toHex(root2),
      });
    }
    return;
  }

  const { fr, sr } = consistencyRoots(size1, size2, proof, root1);
  // Step 7 (sn === 0 is guaranteed by the exact length check above).
  if (!bytesEqual(fr, root1)) {
    throw new VerificationError('CONSISTENCY_PROOF_INVALID', `consistency proof does not reproduce the root of tree size ${size1}`, {
      ...base, which: 'root1', expected: toHex(root1), actual: toHex(fr),
    });
  }
  if (!bytesEqual(sr, root2)) {
    throw new VerificationError('CONSISTENCY_PROOF_INVALID', `consistency proof does not reproduce the root of tree size ${size2}`, {
      ...base, which: 'root2', expected: toHex(root2), actual: toHex(sr),
    });
  }
}

/**
 * The two roots a consistency proof reproduces (RFC 9162 section 2.1.4.2,
 * steps 2-6): `fr` at size1 and `sr` at size2. When size1 is a power of two
 * the old tree is a complete subtree of the new one and the proof omits it:
 * step 2 seeds both with `firstHash` instead. Callers have checked the sizes
 * (0 < size1 < size2) and the proof's shape.
 */
function consistencyRoots(size1: number, size2: number, proof: readonly Uint8Array[], firstHash: Uint8Array): { fr: Uint8Array; sr: Uint8Array } {
  let i = 0;
  let fr: Uint8Array;
  if (isPowerOfTwo(size1)) fr = firstHash;
  else fr = proof[i++]!;
  let sr = fr;
  // Steps 3-4: start at the node fr stands for, the last complete node of
  // the old tree, whose level is the number of trailing ones of size1 - 1.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  // Step 6: c extends both trees when it is a left sibling (LSB(fn) set) or
  // the node is its level's last; otherwise it lies beyond the old tree.
  for (; i < proof.length; i++) {
    const c = proof[i]!;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return { fr, sr };
}

/**
 * The root at `size1` that a tree of `size2` with root `root2` commits to,
 * according to a consistency proof: the proof must reproduce `root2`, and
 * then its other result is that tree's root at `size1` (attributable to
 * whoever signed `root2`). When size1 is a power of two the proof does not
 * carry that root (RFC 9162 step 2 takes it as input): `firstHash`, the
 * claimed root at size1, is then required and is what gets checked.
 *
 * This is what makes a split view conclusive with different sizes: a signed
 * root2 that commits to a root at size1 other than a signed root1.
 *
 * @returns the committed root at size1, or undefined when the proof does not
 *   reproduce root2 (a bad proof proves nothing about the log)
 * @throws {CairnError} INVALID_ARGUMENT for sizes outside 0 < size1 < size2,
 *   a root2 that is not 32 bytes, or a power-of-two size1 without firstHash
 */
export function committedRootAt(size1: number, size2: number, proof: readonly Uint8Array[], root2: Uint8Array, firstHash?: Uint8Array): Uint8Array | undefined {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size1 < 1 || size1 >= size2) throw invalidArgument('size1', `must be in [1, ${size2 - 1}]`);
  if (!isHash(root2)) throw invalidArgument('root2', `must be a ${HASH_SIZE}-byte hash`);
  if (isPowerOfTwo(size1) && !isHash(firstHash)) throw invalidArgument('firstHash', `size ${size1} is a power of two: the proof omits its root, which must be given`);
  try {
    checkProofShape('CONSISTENCY_PROOF_INVALID', proof, consistencyProofLength(size1, size2), { size1, size2 });
  } catch {
    return undefined;
  }
  const { fr, sr } = consistencyRoots(size1, size2, proof, firstHash ?? new Uint8Array(HASH_SIZE));
  return bytesEqual(sr, root2) ? fr : undefined;
}

// ---------------------------------------------------------------------------
// Internals

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

function checkSize(field: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(field, `must be a non-negative safe integer, got ${String(n)}`);
}

/** Number of bits needed to write x (0 for 0); x a non-negative safe integer. */
function bitLength(x: number): number {
  // Math.clz32 reads its argument as uint32, so split at 2^32.
  return x >= TWO_32 ? 64 - Math.clz32(Math.floor(x / TWO_32)) : 32 - Math.clz32(x);
}

function trailingZeros(x: number): number {
  let t = 0;
  while (x % 2 === 0) {
    x /= 2;
    t++;
  }
  return t;
}

function popCount(x: number): number {
  let c = 0;
  while (x > 0) {
    if (x % 2 === 1) c++;
    x = Math.floor(x / 2);
  }
  return c;
}

function isPowerOfTwo(x: number): boolean {
  return x > 0 && x === POW2[bitLength(x) - 1];
}

/**
 * Appends to `out` the binary decomposition of [start, end) into complete
 * nodes, largest first. Requires start to be a multiple of the largest power
 * of two not exceeding end - start, which holds for every range used here.
 */
function decompose(start: number, end: number, out: NodeId[]): void {
  let pos = start;
  while (pos < end) {
    const level = bitLength(end - pos) - 1;
    out.push({ level, index: pos / POW2[level]! });
    pos += POW2[level]!;
  }
}

/**
 * Adds to `b` the inclusion path of node (level, index) in the tree of
 * `size` leaves: at each level up to the root, the sibling of the node's
 * ancestor, skipped when it starts at or beyond `size` (RFC 6962 promotes
 * the node instead) and decomposed when it is cut by `size`.
 */
function addPath(b: PlanBuilder, level: number, index: number, size: number): void {
  let k = index;
  for (let l = level; POW2[l]! < size; l++) {
    const sibling = k % 2 === 0 ? k + 1 : k - 1;
    const start = sibling * POW2[l]!;
    if (start < size) b.addRange(start, Math.min(start + POW2[l]!, size));
    k = Math.floor(k / 2);
  }
}

/** The proof length RFC 9162 section 2.1.3.2 consumes for (index, size). */
function inclusionProofLength(index: number, size: number): number {
  let fn = index;
  let sn = size - 1;
  let n = 0;
  while (sn !== 0) {
    if (fn === sn) {
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
    n++;
  }
  return n;
}

/** The proof length RFC 9162 section 2.1.4.2 consumes for (size1, size2). */
function consistencyProofLength(size1: number, size2: number): number {
  if (size1 === 0 || size1 === size2) return 0;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let n = isPowerOfTwo(size1) ? 0 : 1;
  while (sn !== 0) {
    if (fn === sn) {
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
    n++;
  }
  return n;
}

/** Rejects an attacker-supplied proof whose shape cannot be right, before hashing. */
function checkProofShape(
  code: 'INCLUSION_PROOF_INVALID' | 'CONSISTENCY_PROOF_INVALID',
  proof: readonly Uint8Array[],
  expectedLength: number,
  evidence: Evidence,
): void {
  if (!Array.isArray(proof)) throw new VerificationError(code, 'proof is not an array', evidence);
  if (proof.length > MAX_PROOF_LENGTH) {
    throw new VerificationError(code, `proof has ${proof.length} elements, more than the bound of ${MAX_PROOF_LENGTH}`, {
      ...evidence, proofLength: proof.length, expectedLength,
    });
  }
  if (proof.length !== expectedLength) {
    throw new VerificationError(code, `proof has ${proof.length} elements, expected ${expectedLength}`, {
      ...evidence, proofLength: proof.length, expectedLength,
    });
  }
  for (let i = 0; i < proof.length; i++) {
    const p: unknown = proof[i];
    if (!isHash(p)) {
      const got = p instanceof Uint8Array ? `${p.length} bytes` : 'not a Uint8Array';
      throw new VerificationError(code, `proof element ${i} is not a ${HASH_SIZE}-byte hash (${got})`, { ...evidence, position: i });
    }
  }
}

/**
 * Collects the nodes of a plan, without duplicates, and the groups of nodes
 * that each make one output hash (one node, or the decomposition of an
 * incomplete subtree to fold right to left).
 */
class PlanBuilder {
  readonly nodes: NodeId[] = [];
  readonly #groups: number[][] = [];
  readonly #positions = new Map<string, number>();
  readonly #scratch: NodeId[] = [];

  addRange(start: number, end: number): void {
    const ids = this.#scratch;
    ids.length = 0;
    decompose(start, end, ids);
    const group: number[] = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i++) group[i] = this.#position(ids[i]!);
    this.#groups.push(group);
  }

  #position(id: NodeId): number {
    const key = `${id.level}/${id.index}`;
    let pos = this.#positions.get(key);
    if (pos === undefined) {
      pos = this.nodes.length;
      this.nodes.push(id);
      this.#positions.set(key, pos);
    }
    return pos;
  }

  check(hashes: readonly Uint8Array[]): void {
    if (!Array.isArray(hashes) || hashes.length !== this.nodes.length) {
      throw invalidArgument('hashes', `expected ${this.nodes.length} node hashes, one per planned node`);
    }
    for (let i = 0; i < hashes.length; i++) {
      if (!isHash(hashes[i])) {
        const id = this.nodes[i]!;
        throw invalidArgument(`hashes[${i}]`, `hash of node (${id.level}, ${id.index}) must be ${HASH_SIZE} bytes`);
      }
    }
  }

  fold(hashes: readonly Uint8Array[]): Uint8Array[] {
    this.check(hashes);
    const out: Uint8Array[] = new Array<Uint8Array>(this.#groups.length);
    for (let g = 0; g < this.#groups.length; g++) {
      const group = this.#groups[g]!;
      let h = hashes[group[group.length - 1]!]!;
      for (let i = group.length - 2; i >= 0; i--) h = hashChildren(hashes[group[i]!]!, h);
      out[g] = h;
    }
    return out;
  }
}
