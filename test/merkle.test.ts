/**
 * RFC 6962 / RFC 9162 Merkle trees, read like the spec.
 *
 * Known answers come from transparency-dev/merkle (the successor of the
 * certificate-transparency-go `merkle` package), copied byte for byte:
 *  - testonly/constants.go: the 8 leaf inputs, NodeHashes (every complete
 *    node), RootHashes for sizes 0..8 and CompactTrees (the right edge).
 *  - testonly/reference_test.go (TestRefInclusionProof, TestRefConsistencyProof)
 *    and proof/verify_test.go (inclusionProofs, consistencyProofs): proofs.
 *    verify_test.go numbers leaves from 1; the indexes below are 0-based.
 *  - proof/proof_test.go (TestInclusion, TestConsistency): which node ids a
 *    proof reads, for a tree stored as complete nodes.
 *  - proof/verify_test.go corruptInclusionProof / corruptConsistencyProof and
 *    TestVerifyConsistency: the probes a verifier must reject.
 *
 * Everything else is checked against a reference written straight from the
 * recursive definitions of RFC 6962 section 2.1 (MTH, PATH, PROOF/SUBPROOF).
 */
import t from 'tap';
import fc from 'fast-check';
import { fromHex, toHex, utf8 } from '../src/core/bytes.js';
import { CairnError, VerificationError } from '../src/core/errors.js';
import {
  CompactRange,
  EMPTY_ROOT,
  HASH_SIZE,
  MAX_PROOF_LENGTH,
  consistencyProofPlan,
  inclusionProofPlan,
  leafHash,
  nodeHash,
  rootFromInclusionProof,
  rootFromLeafHashes,
  rootPlan,
  verifyConsistency,
  verifyInclusion,
  type NodeId,
  type Plan,
} from '../src/core/merkle.js';

// ---- transparency-dev/merkle testonly/constants.go -------------------------
const LEAF_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];

/** NodeHashes()[level][index]: every complete node of the 8-leaf tree. */
const NODE_HASHES: string[][] = [
  [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
    '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
  ],
  [
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  ],
  [
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  ],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
];

/** RootHashes(): MTH of the first `size` leaf inputs, size 0..8. */
const ROOT_HASHES = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** CompactTrees(): the right edge of each size, as [level, index] into NODE_HASHES. */
const COMPACT_TREES: [number, number][][] = [
  [],
  [[0, 0]],
  [[1, 0]],
  [[1, 0], [0, 2]],
  [[2, 0]],
  [[2, 0], [0, 4]],
  [[2, 0], [1, 2]],
  [[2, 0], [1, 2], [0, 6]],
  [[3, 0]],
];

// ---- testonly/reference_test.go and proof/verify_test.go --------------------
const INCLUSION_VECTORS: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  { index: 0, size: 2, proof: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7'] },
  { index: 1, size: 2, proof: ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d'] },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

const CONSISTENCY_VECTORS: { size1: number; size2: number; proof: string[] }[] = [
  { size1: 1, size2: 1, proof: [] },
  {
    size1: 1,
    size2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

// ---- proof/proof_test.go: node ids read by a proof ---------------------------
type Id = [level: number, index: number];
const INCLUSION_NODE_VECTORS: { size: number; index: number; ids: Id[] }[] = [
  { size: 1, index: 0, ids: [] },
  { size: 2, index: 0, ids: [[0, 1]] },
  { size: 2, index: 1, ids: [[0, 0]] },
  { size: 3, index: 1, ids: [[0, 0], [0, 2]] },
  { size: 7, index: 0, ids: [[0, 1], [1, 1], [0, 6], [1, 2]] },
  { size: 7, index: 1, ids: [[0, 0], [1, 1], [0, 6], [1, 2]] },
  { size: 7, index: 2, ids: [[0, 3], [1, 0], [0, 6], [1, 2]] },
  { size: 7, index: 3, ids: [[0, 2], [1, 0], [0, 6], [1, 2]] },
  { size: 7, index: 4, ids: [[0, 5], [0, 6], [2, 0]] },
  { size: 7, index: 5, ids: [[0, 4], [0, 6], [2, 0]] },
  { size: 7, index: 6, ids: [[1, 2], [2, 0]] },
  { size: 4, index: 2, ids: [[0, 3], [1, 0]] },
  { size: 5, index: 3, ids: [[0, 2], [1, 0], [0, 4]] },
  { size: 6, index: 3, ids: [[0, 2], [1, 0], [1, 2]] },
  { size: 6, index: 4, ids: [[0, 5], [2, 0]] },
  { size: 15, index: 10, ids: [[0, 11], [1, 4], [0, 14], [1, 6], [3, 0]] },
  { size: 31, index: 24, ids: [[0, 25], [1, 13], [0, 30], [1, 14], [3, 2], [4, 0]] },
  { size: 95, index: 81, ids: [[0, 80], [1, 41], [2, 21], [0, 94], [1, 46], [2, 22], [4, 4], [6, 0]] },
];
const CONSISTENCY_NODE_VECTORS: { size1: number; size2: number; ids: Id[] }[] = [
  { size1: 1, size2: 2, ids: [[0, 1]] },
  { size1: 1, size2: 4, ids: [[0, 1], [1, 1]] },
  { size1: 1, size2: 6, ids: [[0, 1], [1, 1], [1, 2]] },
  { size1: 2, size2: 3, ids: [[0, 2]] },
  { size1: 2, size2: 8, ids: [[1, 1], [2, 1]] },
  { size1: 3, size2: 7, ids: [[0, 2], [0, 3], [1, 0], [0, 6], [1, 2]] },
  { size1: 4, size2: 7, ids: [[0, 6], [1, 2]] },
  { size1: 5, size2: 7, ids: [[0, 4], [0, 5], [0, 6], [2, 0]] },
  { size1: 6, size2: 7, ids: [[1, 2], [0, 6], [2, 0]] },
  { size1: 7, size2: 8, ids: [[0, 6], [0, 7], [1, 2], [2, 0]] },
  { size1: 1, size2: 1, ids: [] },
  { size1: 2, size2: 2, ids: [] },
  { size1: 3, size2: 3, ids: [] },
  { size1: 4, size2: 4, ids: [] },
  { size1: 5, size2: 5, ids: [] },
  { size1: 7, size2: 7, ids: [] },
  { size1: 8, size2: 8, ids: [] },
  { size1: 2, size2: 4, ids: [[1, 1]] },
  { size1: 3, size2: 5, ids: [[0, 2], [0, 3], [1, 0], [0, 4]] },
  { size1: 3, size2: 6, ids: [[0, 2], [0, 3], [1, 0], [1, 2]] },
  { size1: 4, size2: 6, ids: [[1, 2]] },
  { size1: 1, size2: 7, ids: [[0, 1], [1, 1], [0, 6], [1, 2]] },
  { size1: 10, size2: 15, ids: [[1, 4], [1, 5], [0, 14], [1, 6], [3, 0]] },
  { size1: 24, size2: 31, ids: [[3, 2], [0, 30], [1, 14], [2, 6], [4, 0]] },
  { size1: 81, size2: 95, ids: [[0, 80], [0, 81], [1, 41], [2, 21], [0, 94], [1, 46], [2, 22], [4, 4], [6, 0]] },
];

// ---- helpers -----------------------------------------------------------------
const h = (hex: string): Uint8Array => fromHex(hex);
const hexes = (hs: readonly Uint8Array[]): string[] => hs.map(toHex);
const key = (id: NodeId): string => `${id.level}/${id.index}`;
const sortedIds = (ids: readonly (NodeId | Id)[]): string[] =>
  ids.map((id) => (Array.isArray(id) ? `${id[0]}/${id[1]}` : key(id))).sort();

/** A stand-in for LevelDB: every node CompactRange.append reported, each written once. */
class NodeStore {
  readonly nodes = new Map<string, Uint8Array>();
  put(written: { id: NodeId; hash: Uint8Array }[]): void {
    for (const { id, hash } of written) {
      if (this.nodes.has(key(id))) throw new Error(`node ${key(id)} written twice`);
      this.nodes.set(key(id), hash);
    }
  }
  run<T>(plan: Plan<T>): T {
    return plan.finish(
      plan.nodes.map((id) => {
        const hash = this.nodes.get(key(id));
        if (hash === undefined) throw new Error(`plan reads node ${key(id)}, which is not stored (not complete)`);
        return hash;
      }),
    );
  }
}

/** The code a call fails with, or 'OK'. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    if (e instanceof VerificationError || e instanceof CairnError) return e.code;
    throw e;
  }
}

/** Largest power of two strictly smaller than n (n >= 2): the split of RFC 6962 section 2.1. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * RFC 6962 section 2.1, transcribed: MTH, PATH and PROOF/SUBPROOF over a
 * function giving MTH of any range (memoised over real leaves, or closed
 * form for a tree whose leaves are all equal).
 */
class Reference {
  constructor(readonly mth: (lo: number, hi: number) => Uint8Array) {}

  /** PATH(m, D[lo:hi]), with whether each element is a right sibling. */
  path(m: number, lo: number, hi: number): { hash: Uint8Array; right: boolean }[] {
    const n = hi - lo;
    if (n === 1) return [];
    const k = split(n);
    if (m < k) return [...this.path(m, lo, lo + k), { hash: this.mth(lo + k, hi), right: true }];
    return [...this.path(m - k, lo + k, hi), { hash: this.mth(lo, lo + k), right: false }];
  }

  /** SUBPROOF(m, D[lo:hi], b). */
  subproof(m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
    const n = hi - lo;
    if (m === n) return b ? [] : [this.mth(lo, hi)];
    const k = split(n);
    if (m <= k) return [...this.subproof(m, lo, lo + k, b), this.mth(lo + k, hi)];
    return [...this.subproof(m - k, lo + k, hi, false), this.mth(lo, lo + k)];
  }

  inclusion(index: number, size: number): Uint8Array[] {
    return this.path(index, 0, size).map((p) => p.hash);
  }

  consistency(size1: number, size2: number): Uint8Array[] {
    return this.subproof(size1, 0, size2, true);
  }
}

function memoisedReference(leaves: readonly Uint8Array[]): Reference {
  const memo = new Map<number, Uint8Array>();
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leaves[lo]!;
    const k = lo * 100_000 + hi;
    let r = memo.get(k);
    if (r === undefined) {
      const s = split(hi - lo);
      r = nodeHash(mth(lo, lo + s), mth(lo + s, hi));
      memo.set(k, r);
    }
    return r;
  };
  return new Reference(mth);
}

/** Distinct leaves: the 8 RFC vectors' leaf inputs, then "leaf 8", "leaf 9", ... */
function testLeaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(i < LEAF_INPUTS.length ? h(LEAF_INPUTS[i]!) : utf8(`leaf ${i}`)));
}

function flipped(proof: readonly Uint8Array[], element: number, byte: number, mask = 0x01): Uint8Array[] {
  const out = proof.slice();
  const copy = Uint8Array.from(out[element]!);
  copy[byte]! ^= mask;
  out[element] = copy;
  return out;
}

function ceilLog2(n: number): number {
  let l = 0;
  while (2 ** l < n) l++;
  return l;
}

/** Plans read O(log n) nodes; this is the bound asserted everywhere. */
const nodeBound = (n: number): number => 2 * ceilLog2(n) + 2;

/** Runs a fast-check property as one tap assertion, keeping the counterexample. */
function property(t: { pass(msg: string): unknown; fail(msg: string): unknown }, name: string, prop: fc.IProperty<any>, numRuns: number): void {
  try {
    fc.assert(prop, { numRuns });
    t.pass(name);
  } catch (e) {
    t.fail(`${name}: ${(e as Error).message}`);
  }
}

// A 300-leaf log built by appending, with its store, its roots and a reference.
const N = 300;
const LEAVES = testLeaves(N);
const REF = memoisedReference(LEAVES);
const STORE = new NodeStore();
const ROOTS: Uint8Array[] = [EMPTY_ROOT];
/** STORED_AT[n]: how many nodes were stored once the tree had n leaves. */
const STORED_AT: number[] = [0];
{
  const range = CompactRange.empty();
  for (const leaf of LEAVES) {
    STORE.put(range.append(leaf));
    ROOTS.push(range.root());
    STORED_AT.push(STORE.nodes.size);
  }
}

// ---- RFC 6962 section 2.1: hashes and roots ------------------------------------

t.test('RFC 6962 section 2.1: leaf, node and empty hashes (testonly/constants.go)', async (t) => {
  t.equal(toHex(EMPTY_ROOT), ROOT_HASHES[0], 'MTH({}) = SHA-256 of the empty string');
  t.equal(HASH_SIZE, 32);
  LEAF_INPUTS.forEach((input, i) => {
    t.equal(toHex(leafHash(h(input))), NODE_HASHES[0]![i], `leaf hash ${i} = SHA-256(0x00 || d[${i}])`);
  });
  for (let level = 1; level < NODE_HASHES.length; level++) {
    NODE_HASHES[level]!.forEach((want, i) => {
      const l = h(NODE_HASHES[level - 1]![2 * i]!);
      const r = h(NODE_HASHES[level - 1]![2 * i + 1]!);
      t.equal(toHex(nodeHash(l, r)), want, `node (${level}, ${i}) = SHA-256(0x01 || left || right)`);
    });
  }
});

t.test('MTH for sizes 0..8 (testonly/constants.go RootHashes)', async (t) => {
  const leaves = LEAF_INPUTS.map((d) => leafHash(h(d)));
  const store = new NodeStore();
  const range = CompactRange.empty();
  for (let size = 0; size <= 8; size++) {
    if (size > 0) store.put(range.append(leaves[size - 1]!));
    const want = ROOT_HASHES[size];
    t.equal(toHex(rootFromLeafHashes(leaves.slice(0, size))), want, `rootFromLeafHashes, size ${size}`);
    t.equal(toHex(store.run(rootPlan(size))), want, `rootPlan over stored nodes, size ${size}`);
    t.equal(toHex(range.root()), want, `CompactRange.root, size ${size}`);
  }
});

t.test('appending stores each complete node once, when it completes (testonly/constants.go NodeHashes)', async (t) => {
  const range = CompactRange.empty();
  const written: string[] = [];
  LEAF_INPUTS.forEach((d, i) => {
    const out = range.append(leafHash(h(d)));
    t.same(out[0]!.id, { level: 0, index: i }, `append ${i} reports its leaf first`);
    for (const { id, hash } of out) {
      t.equal(toHex(hash), NODE_HASHES[id.level]![id.index], `node (${id.level}, ${id.index})`);
      written.push(key(id));
    }
  });
  const all = NODE_HASHES.flatMap((row, level) => row.map((_, index) => `${level}/${index}`));
  t.same(written.slice().sort(), all.sort(), 'the 15 complete nodes of 8 leaves, each exactly once');
});

t.test('the right edge of each size (testonly/constants.go CompactTrees)', async (t) => {
  for (let size = 0; size <= 8; size++) {
    const want = COMPACT_TREES[size]!;
    const ids = CompactRange.nodesFor(size);
    t.same(ids.map((id) => [id.level, id.index]), want, `nodesFor(${size}), largest first`);
    const range = CompactRange.fromNodes(size, want.map(([l, i]) => h(NODE_HASHES[l]![i]!)));
    t.equal(range.size, size);
    t.equal(toHex(range.root()), ROOT_HASHES[size], `fromNodes(${size}).root() = MTH`);
    t.same(hexes(range.hashes()), want.map(([l, i]) => NODE_HASHES[l]![i]), `hashes() round-trips for size ${size}`);
  }
});

// ---- Known-answer proofs -----------------------------------------------------

t.test('inclusion proofs PATH(m, D[n]) (reference_test.go, verify_test.go)', async (t) => {
  for (const { index, size, proof } of INCLUSION_VECTORS) {
    const got = STORE.run(inclusionProofPlan(index, size));
    t.same(hexes(got), proof, `PATH(${index}, D[${size}]) from stored nodes`);
    t.equal(toHex(rootFromInclusionProof(LEAVES[index]!, index, size, proof.map(h))), ROOT_HASHES[size], `root from PATH(${index}, D[${size}])`);
    t.doesNotThrow(() => verifyInclusion(LEAVES[index]!, index, size, proof.map(h), h(ROOT_HASHES[size]!)));
  }
});

t.test('consistency proofs PROOF(m, D[n]) (reference_test.go, verify_test.go)', async (t) => {
  for (const { size1, size2, proof } of CONSISTENCY_VECTORS) {
    const got = STORE.run(consistencyProofPlan(size1, size2));
    t.same(hexes(got), proof, `PROOF(${size1}, D[${size2}]) from stored nodes`);
    t.doesNotThrow(() => verifyConsistency(size1, size2, proof.map(h), h(ROOT_HASHES[size1]!), h(ROOT_HASHES[size2]!)));
  }
});

t.test('plans read the node ids transparency-dev/merkle reads (proof/proof_test.go)', async (t) => {
  for (const { size, index, ids } of INCLUSION_NODE_VECTORS) {
    t.same(sortedIds(inclusionProofPlan(index, size).nodes), sortedIds(ids), `inclusion ${index} in ${size}`);
  }
  for (const { size1, size2, ids } of CONSISTENCY_NODE_VECTORS) {
    t.same(sortedIds(consistencyProofPlan(size1, size2).nodes), sortedIds(ids), `consistency ${size1} -> ${size2}`);
  }
});

t.test('an incomplete subtree is its complete nodes, largest first, hashed right to left', async (t) => {
  // [4, 7) of the 7-leaf tree = l = HASH(i, j) with i = (1, 2), j = (0, 6).
  const plan = inclusionProofPlan(0, 7);
  t.same(plan.nodes.map(key), ['0/1', '1/1', '1/2', '0/6']);
  const i = h(NODE_HASHES[1]![2]!);
  const j = h(NODE_HASHES[0]![6]!);
  const proof = STORE.run(plan);
  t.equal(toHex(proof[2]!), toHex(nodeHash(i, j)));
  t.same(rootPlan(7).nodes.map(key), ['2/0', '1/2', '0/6']);
});

// ---- Known-answer rejections (verify_test.go) --------------------------------

const SOME_HASH = h('abacaba000000000000000000000000000000000000000000060061e00123456');

t.test('inclusion: the corruptions of verify_test.go corruptInclusionProof are rejected', async (t) => {
  for (const v of INCLUSION_VECTORS) {
    if (v.proof.length === 0) continue;
    const { index, size } = v;
    const proof = v.proof.map(h);
    const root = h(ROOT_HASHES[size]!);
    const leaf = LEAVES[index]!;
    const probes: [string, Uint8Array, number, number, Uint8Array[], Uint8Array][] = [
      ['index - 1', leaf, index - 1, size, proof, root],
      ['index + 1', leaf, index + 1, size, proof, root],
      ['index ^ 2', leaf, index ^ 2, size, proof, root],
      ['size * 2', leaf, index, size * 2, proof, root],
      ['size / 2', leaf, index, Math.floor(size / 2), proof, root],
      ['wrong leaf', SOME_HASH, index, size, proof, root],
      ['empty-tree root', leaf, index, size, proof, EMPTY_ROOT],
      ['random root', leaf, index, size, proof, SOME_HASH],
      ['trailing garbage', leaf, index, size, [...proof, new Uint8Array(0)], root],
      ['trailing root', leaf, index, size, [...proof, root], root],
      ['preceding garbage', leaf, index, size, [new Uint8Array(0), ...proof], root],
      ['preceding root', leaf, index, size, [root, ...proof], root],
      ['removed component', leaf, index, size, proof.slice(0, -1), root],
      ...proof.map((_, i): [string, Uint8Array, number, number, Uint8Array[], Uint8Array] => [
        `proof[${i}] bit 3 flipped`, leaf, index, size, flipped(proof, i, 0, 8), root,
      ]),
    ];
    if (proof.length > 1) {
      probes.push(['inserted component', leaf, index, size, [proof[0]!, SOME_HASH, ...proof.slice(1)], root]);
    }
    for (const [desc, l, i, n, p, r] of probes) {
      // An index outside the tree is the caller's mistake; everything else is a bad proof.
      const want = i < 0 || i >= n ? 'INVALID_ARGUMENT' : 'INCLUSION_PROOF_INVALID';
      t.equal(outcome(() => verifyInclusion(l, i, n, p, r)), want, `${index}/${size} ${desc}`);
    }
  }
});

t.test('consistency: the corruptions of verify_test.go corruptConsistencyProof are rejected', async (t) => {
  for (const v of CONSISTENCY_VECTORS) {
    if (v.proof.length === 0) continue;
    const { size1, size2 } = v;
    const proof = v.proof.map(h);
    const root1 = h(ROOT_HASHES[size1]!);
    const root2 = h(ROOT_HASHES[size2]!);
    const probes: [string, number, number, Uint8Array[], Uint8Array, Uint8Array][] = [
      ['size1 - 1', size1 - 1, size2, proof, root1, root2],
      ['size1 + 1', size1 + 1, size2, proof, root1, root2],
      ['size1 ^ 2', size1 ^ 2, size2, proof, root1, root2],
      ['size2 * 2', size1, size2 * 2, proof, root1, root2],
      ['size2 / 2', size1, Math.floor(size2 / 2), proof, root1, root2],
      ['wrong root1', size1, size2, proof, SOME_HASH, root2],
      ['wrong root2', size1, size2, proof, root1, SOME_HASH],
      ['swapped roots', size1, size2, proof, root2, root1],
      ['empty proof', size1, size2, [], root1, root2],
      ['trailing garbage', size1, size2, [...proof, new Uint8Array(0)], root1, root2],
      ['trailing root1', size1, size2, [...proof, root1], root1, root2],
      ['trailing root2', size1, size2, [...proof, root2], root1, root2],
      ['preceding garbage', size1, size2, [new Uint8Array(0), ...proof], root1, root2],
      ['preceding root1', size1, size2, [root1, ...proof], root1, root2],
      ['preceding root2', size1, size2, [root2, ...proof], root1, root2],
      ['preceding proof[0]', size1, size2, [proof[0]!, ...proof], root1, root2],
      ['truncated proof', size1, size2, proof.slice(0, -1), root1, root2],
      ...proof.map((_, i): [string, number, number, Uint8Array[], Uint8Array, Uint8Array] => [
        `proof[${i}] bit 4 flipped`, size1, size2, flipped(proof, i, 0, 16), root1, root2,
      ]),
    ];
    for (const [desc, s1, s2, p, r1, r2] of probes) {
      const code = outcome(() => verifyConsistency(s1, s2, p, r1, r2));
      const want = s1 > s2 ? 'INVALID_ARGUMENT' : 'CONSISTENCY_PROOF_INVALID';
      t.equal(code, want, `${size1} -> ${size2} ${desc}`);
    }
  }
});

t.test('consistency edge cases (verify_test.go TestVerifyConsistency)', async (t) => {
  const r1 = leafHash(utf8("don't care 1"));
  const r2 = leafHash(utf8("don't care 2"));
  const E = EMPTY_ROOT;
  const cases: [number, number, Uint8Array, Uint8Array, Uint8Array[], string][] = [
    [0, 0, E, E, [], 'OK'],
    [0, 1, E, r2, [], 'OK'], // every tree extends the empty one
    [1, 1, r2, r2, [], 'OK'],
    [1, 1, r1, r2, [], 'ROOT_MISMATCH'], // one size, two roots: a fork
    [1, 1, E, r2, [], 'ROOT_MISMATCH'],
    [1, 0, r1, r2, [], 'INVALID_ARGUMENT'], // time travel to the past
    [2, 1, r1, r2, [], 'INVALID_ARGUMENT'],
    [1, 2, r1, r2, [], 'CONSISTENCY_PROOF_INVALID'], // RFC 9162 2.1.4.2 step 1: empty proof
    [0, 0, E, E, [E], 'CONSISTENCY_PROOF_INVALID'], // roots match but the proof is not empty
    [0, 1, E, E, [E], 'CONSISTENCY_PROOF_INVALID'],
    [1, 1, E, E, [E], 'CONSISTENCY_PROOF_INVALID'],
    // Stricter than Go, which ignores root1 when size1 = 0: the empty tree has exactly one root.
    [0, 0, r1, r1, [], 'ROOT_MISMATCH'],
    [0, 5, r1, r2, [], 'ROOT_MISMATCH'],
  ];
  for (const [s1, s2, a, b, proof, want] of cases) {
    t.equal(outcome(() => verifyConsistency(s1, s2, proof, a, b)), want, `${s1} -> ${s2}, ${proof.length}-element proof: ${want}`);
  }
});

t.test('a single-leaf tree: its root is its leaf hash and its proof is empty (TestVerifyInclusionSingleEntry)', async (t) => {
  const leaf = leafHash(utf8('data'));
  t.equal(outcome(() => verifyInclusion(leaf, 0, 1, [], leaf)), 'OK');
  t.equal(outcome(() => verifyInclusion(leaf, 0, 1, [], SOME_HASH)), 'INCLUSION_PROOF_INVALID');
  t.equal(outcome(() => verifyInclusion(new Uint8Array(0), 0, 1, [], leaf)), 'INVALID_ARGUMENT', 'a hash must be 32 bytes');
  t.equal(outcome(() => verifyInclusion(leaf, 0, 1, [], new Uint8Array(0))), 'INVALID_ARGUMENT');
  for (const [index, size] of [[0, 0], [1, 0], [2, 1]] as const) {
    t.equal(outcome(() => verifyInclusion(SOME_HASH, index, size, [], EMPTY_ROOT)), 'INVALID_ARGUMENT', `index ${index} is not in a tree of size ${size}`);
  }
});

// ---- Every size up to 300, from a store of complete nodes ---------------------

t.test('sizes 1..300: every root and every inclusion proof, from stored nodes only', async (t) => {
  const range = CompactRange.empty();
  for (let size = 1; size <= N; size++) {
    range.append(LEAVES[size - 1]!);
    const problems: string[] = [];
    const root = ROOTS[size]!;
    const want = toHex(rootFromLeafHashes(LEAVES.slice(0, size)));
    if (toHex(root) !== want) problems.push('CompactRange.root() != rootFromLeafHashes');
    if (toHex(range.root()) !== want) problems.push('CompactRange.root() != rootFromLeafHashes');
    if (toHex(REF.mth(0, size)) !== want) problems.push('RFC 6962 MTH != rootFromLeafHashes');
    const plan = rootPlan(size);
    if (toHex(STORE.run(plan)) !== want) problems.push('rootPlan != rootFromLeafHashes');
    if (plan.nodes.length > nodeBound(size)) problems.push(`rootPlan reads ${plan.nodes.length} nodes`);
    for (let index = 0; index < size; index++) {
      const ip = inclusionProofPlan(index, size);
      if (ip.nodes.length > nodeBound(size)) problems.push(`inclusion ${index} reads ${ip.nodes.length} nodes`);
      if (new Set(ip.nodes.map(key)).size !== ip.nodes.length) problems.push(`inclusion ${index} has duplicate nodes`);
      for (const id of ip.nodes) {
        if ((id.index + 1) * 2 ** id.level > size) problems.push(`inclusion ${index} reads incomplete node ${key(id)}`);
      }
      const proof = STORE.run(ip);
      if (hexes(proof).join() !== hexes(REF.inclusion(index, size)).join()) problems.push(`PATH(${index}) differs from RFC 6962`);
      const code = outcome(() => verifyInclusion(LEAVES[index]!, index, size, proof, root));
      if (code !== 'OK') problems.push(`PATH(${index}) rejected: ${code}`);
    }
    if (problems.length > 0 || size % 50 === 0) t.same(problems, [], `size ${size}`);
  }
});

t.test('consistency: every pair size1 <= size2 <= 130, from stored nodes only', async (t) => {
  for (let size2 = 1; size2 <= 130; size2++) {
    const problems: string[] = [];
    for (let size1 = 1; size1 <= size2; size1++) {
      const plan = consistencyProofPlan(size1, size2);
      if (plan.nodes.length > nodeBound(size2)) problems.push(`${size1}: reads ${plan.nodes.length} nodes`);
      for (const id of plan.nodes) {
        if ((id.index + 1) * 2 ** id.level > size2) problems.push(`${size1}: reads incomplete node ${key(id)}`);
      }
      const proof = STORE.run(plan);
      if (hexes(proof).join() !== hexes(REF.consistency(size1, size2)).join()) problems.push(`PROOF(${size1}) differs from RFC 6962`);
      const code = outcome(() => verifyConsistency(size1, size2, proof, ROOTS[size1]!, ROOTS[size2]!));
      if (code !== 'OK') problems.push(`PROOF(${size1}) rejected: ${code}`);
    }
    if (problems.length > 0 || size2 % 26 === 0) t.same(problems, [], `size2 ${size2}`);
  }
});

const sizePair = (max: number) =>
  fc.tuple(fc.integer({ min: 1, max }), fc.integer({ min: 1, max })).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a]));
const leafInTree = (max: number) =>
  fc.integer({ min: 1, max }).chain((size) => fc.tuple(fc.integer({ min: 0, max: size - 1 }), fc.constant(size)));

t.test('consistency: sampled pairs up to 300', async (t) => {
  property(
    t,
    'PROOF(size1, D[size2]) from stored nodes equals RFC 6962 and verifies',
    fc.property(sizePair(N), ([size1, size2]) => {
      const proof = STORE.run(consistencyProofPlan(size1, size2));
      return (
        hexes(proof).join() === hexes(REF.consistency(size1, size2)).join() &&
        outcome(() => verifyConsistency(size1, size2, proof, ROOTS[size1]!, ROOTS[size2]!)) === 'OK'
      );
    }),
    1500,
  );
});

// ---- Proofs are attacker-controlled: every corruption is rejected --------------

t.test('inclusion: flipping any bit of any byte of any proof element is rejected', async (t) => {
  let checked = 0;
  const wrong: string[] = [];
  for (let size = 2; size <= 16; size++) {
    for (let index = 0; index < size; index++) {
      const proof = STORE.run(inclusionProofPlan(index, size));
      for (let e = 0; e < proof.length; e++) {
        for (let b = 0; b < HASH_SIZE; b++) {
          checked++;
          const code = outcome(() => verifyInclusion(LEAVES[index]!, index, size, flipped(proof, e, b), ROOTS[size]!));
          if (code !== 'INCLUSION_PROOF_INVALID') wrong.push(`${index}/${size} element ${e} byte ${b}: ${code}`);
        }
      }
    }
  }
  t.same(wrong, [], `every byte of every proof for sizes 2..16 (${checked} probes)`);
  property(
    t,
    'sampled up to size 300, any bit',
    fc.property(leafInTree(N).filter(([, s]) => s > 1), fc.nat(), fc.integer({ min: 0, max: HASH_SIZE - 1 }), fc.integer({ min: 0, max: 7 }), ([index, size], e, b, bit) => {
      const proof = STORE.run(inclusionProofPlan(index, size));
      const bad = flipped(proof, e % proof.length, b, 1 << bit);
      return outcome(() => verifyInclusion(LEAVES[index]!, index, size, bad, ROOTS[size]!)) === 'INCLUSION_PROOF_INVALID';
    }),
    2000,
  );
});

t.test('consistency: flipping any bit of any byte of any proof element is rejected', async (t) => {
  let checked = 0;
  const wrong: string[] = [];
  for (let size2 = 2; size2 <= 16; size2++) {
    for (let size1 = 1; size1 < size2; size1++) {
      const proof = STORE.run(consistencyProofPlan(size1, size2));
      for (let e = 0; e < proof.length; e++) {
        for (let b = 0; b < HASH_SIZE; b++) {
          checked++;
          const code = outcome(() => verifyConsistency(size1, size2, flipped(proof, e, b), ROOTS[size1]!, ROOTS[size2]!));
          if (code !== 'CONSISTENCY_PROOF_INVALID') wrong.push(`${size1} -> ${size2} element ${e} byte ${b}: ${code}`);
        }
      }
    }
  }
  t.same(wrong, [], `every byte of every proof for sizes up to 16 (${checked} probes)`);
  property(
    t,
    'sampled up to size 300, any bit',
    fc.property(sizePair(N).filter(([a, b]) => a < b), fc.nat(), fc.integer({ min: 0, max: HASH_SIZE - 1 }), fc.integer({ min: 0, max: 7 }), ([size1, size2], e, b, bit) => {
      const proof = STORE.run(consistencyProofPlan(size1, size2));
      const bad = flipped(proof, e % proof.length, b, 1 << bit);
      return outcome(() => verifyConsistency(size1, size2, bad, ROOTS[size1]!, ROOTS[size2]!)) === 'CONSISTENCY_PROOF_INVALID';
    }),
    2000,
  );
});

t.test('inclusion: a wrong index (i-1, i+1, i^2) or size (2n, n/2) is rejected, sizes 1..128', async (t) => {
  const wrong: string[] = [];
  for (let size = 1; size <= 128; size++) {
    for (let index = 0; index < size; index++) {
      const proof = STORE.run(inclusionProofPlan(index, size));
      const probes: [number, number][] = [[index - 1, size], [index + 1, size], [index ^ 2, size], [index, 2 * size], [index, Math.floor(size / 2)]];
      for (const [i, n] of probes) {
        if (i === index && n === size) continue;
        const code = outcome(() => verifyInclusion(LEAVES[index]!, i, n, proof, ROOTS[size]!));
        const want = i < 0 || i >= n ? 'INVALID_ARGUMENT' : 'INCLUSION_PROOF_INVALID';
        if (code !== want) wrong.push(`${index}/${size} as ${i}/${n}: ${code}, want ${want}`);
      }
    }
  }
  t.same(wrong, []);
});

t.test('consistency: a wrong size1 (±1, ^2) or size2 (2n, n/2) is rejected, sizes up to 128', async (t) => {
  const wrong: string[] = [];
  for (let size2 = 2; size2 <= 128; size2++) {
    for (let size1 = 1; size1 < size2; size1++) {
      const proof = STORE.run(consistencyProofPlan(size1, size2));
      const probes: [number, number][] = [[size1 - 1, size2], [size1 + 1, size2], [size1 ^ 2, size2], [size1, 2 * size2], [size1, Math.floor(size2 / 2)]];
      for (const [a, b] of probes) {
        if (a === size1 && b === size2) continue;
        const code = outcome(() => verifyConsistency(a, b, proof, ROOTS[size1]!, ROOTS[size2]!));
        const want = a > b ? 'INVALID_ARGUMENT' : 'CONSISTENCY_PROOF_INVALID';
        if (code !== want) wrong.push(`${size1} -> ${size2} as ${a} -> ${b}: ${code}, want ${want}`);
      }
    }
  }
  t.same(wrong, []);
});

t.test('the proof does not bind the tree size; the signed checkpoint binding root and size does', async (t) => {
  // RFC 9162 section 2.1.3.2 only replays a path: PATH(0, D[3]) = [b, c]
  // hashes exactly like PATH(0, D[4]) = [b, HASH(c, d)], so the same proof
  // and root pass for size 4. Callers must take size and root from one
  // verified checkpoint (or tree head), never size from the proof bundle.
  const proof = STORE.run(inclusionProofPlan(0, 3));
  t.equal(outcome(() => verifyInclusion(LEAVES[0]!, 0, 4, proof, ROOTS[3]!)), 'OK');
  // Whenever the path shape (which side each sibling is on) differs, the size is caught.
  const wrong: string[] = [];
  for (let size = 1; size <= 64; size++) {
    for (let index = 0; index < size; index++) {
      const proof = STORE.run(inclusionProofPlan(index, size));
      const shape = REF.path(index, 0, size).map((p) => p.right).join();
      for (const other of [size - 1, size + 1]) {
        if (other <= index) continue;
        const same = REF.path(index, 0, other).map((p) => p.right).join() === shape;
        const code = outcome(() => verifyInclusion(LEAVES[index]!, index, other, proof, ROOTS[size]!));
        if (code !== (same ? 'OK' : 'INCLUSION_PROOF_INVALID')) wrong.push(`${index}/${size} as size ${other}: ${code}`);
      }
    }
  }
  t.same(wrong, [], 'accepted exactly when the path shapes agree');
});

t.test('proof shape is checked before hashing: truncated, extended, oversized, malformed', async (t) => {
  // proof_test.go: PATH(81, D[95]) reads 8 nodes, 3 of them folded into one: 6 hashes.
  const index = 81;
  const size = 95;
  const proof = STORE.run(inclusionProofPlan(index, size));
  t.equal(proof.length, 6);
  const leaf = LEAVES[index]!;
  const root = ROOTS[size]!;
  const cases: [string, unknown, RegExp][] = [
    ['truncated', proof.slice(0, -1), /proof has 5 elements, expected 6/],
    ['extended', [...proof, proof[0]], /proof has 7 elements, expected 6/],
    ['empty', [], /proof has 0 elements, expected 6/],
    ['65 elements', Array.from({ length: MAX_PROOF_LENGTH + 1 }, () => SOME_HASH), /more than the bound of 64/],
    ['a 31-byte element', [...proof.slice(0, 5), proof[5]!.subarray(0, 31)], /proof element 5 is not a 32-byte hash \(31 bytes\)/],
    ['a 33-byte element', [new Uint8Array(33), ...proof.slice(1)], /proof element 0 is not a 32-byte hash \(33 bytes\)/],
    ['a string element', ['00'.repeat(32), ...proof.slice(1)], /proof element 0 is not a 32-byte hash \(not a Uint8Array\)/],
    ['not an array', 'proof', /not an array/],
  ];
  for (const [desc, bad, message] of cases) {
    t.throws(() => verifyInclusion(leaf, index, size, bad as Uint8Array[], root), { name: 'VerificationError', code: 'INCLUSION_PROOF_INVALID', message }, `inclusion: ${desc}`);
    t.throws(() => rootFromInclusionProof(leaf, index, size, bad as Uint8Array[]), { code: 'INCLUSION_PROOF_INVALID', message }, `rootFromInclusionProof: ${desc}`);
  }
  // proof_test.go: PROOF(81, D[95]) reads 9 nodes, 3 of them folded into one: 7 hashes.
  const cproof = STORE.run(consistencyProofPlan(81, 95));
  t.equal(cproof.length, 7);
  const ccases: [string, unknown, RegExp][] = [
    ['truncated', cproof.slice(0, -1), /proof has 6 elements, expected 7/],
    ['extended', [...cproof, cproof[0]], /proof has 8 elements, expected 7/],
    ['65 elements', Array.from({ length: 65 }, () => SOME_HASH), /more than the bound of 64/],
    ['a 31-byte element', [cproof[0]!.subarray(1), ...cproof.slice(1)], /proof element 0 is not a 32-byte hash/],
    ['not an array', null, /not an array/],
  ];
  for (const [desc, bad, message] of ccases) {
    t.throws(() => verifyConsistency(81, 95, bad as Uint8Array[], ROOTS[81]!, ROOTS[95]!), { name: 'VerificationError', code: 'CONSISTENCY_PROOF_INVALID', message }, `consistency: ${desc}`);
  }
});

t.test('failed checks carry evidence: index, size, expected and actual root (hex)', async (t) => {
  const proof = STORE.run(inclusionProofPlan(5, 8));
  try {
    verifyInclusion(LEAVES[5]!, 5, 8, flipped(proof, 1, 7), ROOTS[8]!);
    t.fail('accepted');
  } catch (e) {
    t.type(e, VerificationError);
    const ev = (e as VerificationError).evidence;
    t.equal(ev.index, 5);
    t.equal(ev.size, 8);
    t.equal(ev.expected, ROOT_HASHES[8]);
    t.match(ev.actual, /^[0-9a-f]{64}$/);
    t.not(ev.actual, ev.expected);
  }
  try {
    const c = STORE.run(consistencyProofPlan(6, 8));
    verifyConsistency(6, 8, c, ROOTS[6]!, SOME_HASH);
    t.fail('accepted');
  } catch (e) {
    const ev = (e as VerificationError).evidence;
    t.match(ev, { size1: 6, size2: 8, size: 8, which: 'root2', expected: toHex(SOME_HASH), actual: ROOT_HASHES[8] });
  }
});

// ---- Argument validation -------------------------------------------------------

t.test('misuse is INVALID_ARGUMENT naming the field', async (t) => {
  const badNumbers = [-1, 1.5, Number.NaN, Infinity, 2 ** 53, '3' as unknown as number];
  for (const n of badNumbers) {
    t.throws(() => rootPlan(n), { code: 'INVALID_ARGUMENT', field: 'size' }, `rootPlan(${String(n)})`);
    t.throws(() => inclusionProofPlan(n, 10), { code: 'INVALID_ARGUMENT', field: 'index' }, `inclusionProofPlan index ${String(n)}`);
    t.throws(() => inclusionProofPlan(0, n), { code: 'INVALID_ARGUMENT', field: 'size' }, `inclusionProofPlan size ${String(n)}`);
    t.throws(() => consistencyProofPlan(n, 10), { code: 'INVALID_ARGUMENT', field: 'size1' });
    t.throws(() => consistencyProofPlan(1, n), { code: 'INVALID_ARGUMENT', field: 'size2' });
    t.throws(() => CompactRange.nodesFor(n), { code: 'INVALID_ARGUMENT', field: 'size' });
    t.throws(() => verifyInclusion(SOME_HASH, n, 10, [], SOME_HASH), { code: 'INVALID_ARGUMENT', field: 'index' });
    t.throws(() => verifyConsistency(1, n, [], SOME_HASH, SOME_HASH), { code: 'INVALID_ARGUMENT', field: 'size2' });
  }
  t.throws(() => inclusionProofPlan(5, 5), { code: 'INVALID_ARGUMENT', field: 'index', message: /leaf index 5 is not below tree size 5/ });
  t.throws(() => inclusionProofPlan(0, 0), { code: 'INVALID_ARGUMENT', field: 'index' });
  t.throws(() => rootFromInclusionProof(SOME_HASH, 3, 3, []), { code: 'INVALID_ARGUMENT', field: 'index' });
  t.throws(() => consistencyProofPlan(0, 5), { code: 'INVALID_ARGUMENT', field: 'size1' });
  t.throws(() => consistencyProofPlan(6, 5), { code: 'INVALID_ARGUMENT', field: 'size1', message: /exceeds/ });
  t.throws(() => verifyConsistency(1, 2, [SOME_HASH], SOME_HASH, new Uint8Array(31)), { code: 'INVALID_ARGUMENT', field: 'root2' });
  t.throws(() => nodeHash(new Uint8Array(31), SOME_HASH), { code: 'INVALID_ARGUMENT', field: 'left' });
  t.throws(() => nodeHash(SOME_HASH, new Uint8Array(33)), { code: 'INVALID_ARGUMENT', field: 'right' });
  t.throws(() => rootFromLeafHashes([SOME_HASH, new Uint8Array(1)]), { code: 'INVALID_ARGUMENT', field: 'leaves[1]' });
  t.throws(() => CompactRange.empty().append(new Uint8Array(0)), { code: 'INVALID_ARGUMENT', field: 'leafHash' });
  t.throws(() => CompactRange.fromNodes(3, [SOME_HASH]), { code: 'INVALID_ARGUMENT', field: 'hashes', message: /size 3 has 2 right-edge nodes, got 1/ });
  t.throws(() => CompactRange.fromNodes(1, [new Uint8Array(2)]), { code: 'INVALID_ARGUMENT', field: 'hashes[0]' });
  const plan = inclusionProofPlan(2, 7);
  t.throws(() => plan.finish([]), { code: 'INVALID_ARGUMENT', field: 'hashes', message: /expected 4 node hashes/ });
  t.throws(() => plan.finish([SOME_HASH, SOME_HASH, SOME_HASH, new Uint8Array(3)]), { code: 'INVALID_ARGUMENT', field: 'hashes[3]' });
  t.throws(() => rootPlan(0).finish([SOME_HASH]), { code: 'INVALID_ARGUMENT', field: 'hashes' });
  t.equal(toHex(rootPlan(0).finish([])), ROOT_HASHES[0], 'the empty tree needs no nodes');
  t.same(consistencyProofPlan(5, 5).finish([]), [], 'PROOF(m, D[m]) is empty');
});

// ---- CompactRange --------------------------------------------------------------

t.test('CompactRange: fromNodes(nodesFor(size)) round-trips and keeps appending identically', async (t) => {
  const wrong: string[] = [];
  for (let size = 0; size < N; size++) {
    const ids = CompactRange.nodesFor(size);
    const restored = CompactRange.fromNodes(size, ids.map((id) => STORE.nodes.get(key(id))!));
    if (toHex(restored.root()) !== toHex(ROOTS[size]!)) wrong.push(`size ${size}: root`);
    if (restored.size !== size) wrong.push(`size ${size}: size`);
    if (toHex(STORE.run(rootPlan(size))) !== toHex(ROOTS[size]!)) wrong.push(`size ${size}: rootPlan`);
    // The node ids are the binary decomposition of [0, size), largest first.
    let start = 0;
    for (const id of ids) {
      if (id.index * 2 ** id.level !== start) wrong.push(`size ${size}: ${key(id)} does not start at ${start}`);
      start += 2 ** id.level;
    }
    if (start !== size) wrong.push(`size ${size}: covers ${start}`);
    const appended = restored.append(LEAVES[size]!);
    for (const { id, hash } of appended) {
      if (toHex(STORE.nodes.get(key(id))!) !== toHex(hash)) wrong.push(`size ${size}: appended node ${key(id)}`);
    }
    // Exactly the nodes that became complete: the store grew by as many.
    if (appended.length !== STORED_AT[size + 1]! - STORED_AT[size]!) wrong.push(`size ${size}: ${appended.length} nodes written`);
    if (toHex(restored.root()) !== toHex(ROOTS[size + 1]!)) wrong.push(`size ${size}: root after append`);
  }
  t.same(wrong, []);
});

t.test('CompactRange: clone is independent', async (t) => {
  const a = CompactRange.empty();
  for (let i = 0; i < 5; i++) a.append(LEAVES[i]!);
  const b = a.clone();
  a.append(LEAVES[5]!);
  t.equal(b.size, 5);
  t.equal(toHex(b.root()), toHex(ROOTS[5]!));
  t.equal(toHex(a.root()), toHex(ROOTS[6]!));
  b.append(LEAVES[5]!);
  b.append(LEAVES[6]!);
  t.equal(toHex(b.root()), toHex(ROOTS[7]!));
  t.equal(a.size, 6);
});

// ---- Large trees: no 32-bit arithmetic ------------------------------------------

/**
 * A tree whose leaves all equal L: every complete node at level k has the
 * same hash U[k], so any size, however large, has a store of 54 hashes and a
 * closed-form MTH, R(n) = U[log2 n] for a power of two, else
 * HASH(U[log2 k], R(n - k)) with k the split of RFC 6962 section 2.1.
 */
const U: Uint8Array[] = [leafHash(utf8('uniform'))];
for (let k = 1; k <= 53; k++) U.push(nodeHash(U[k - 1]!, U[k - 1]!));
function uniformMth(n: number): Uint8Array {
  let level = 0;
  while (2 ** level < n) level++;
  if (2 ** level === n) return U[level]!;
  const k = 2 ** (level - 1);
  return nodeHash(U[level - 1]!, uniformMth(n - k));
}
const UNIFORM_REF = new Reference((lo, hi) => uniformMth(hi - lo));

function checkNodes(t: { same(found: unknown, wanted: unknown, msg: string): unknown }, nodes: readonly NodeId[], size: number, what: string): void {
  const problems: string[] = [];
  for (const id of nodes) {
    if (!Number.isSafeInteger(id.level) || !Number.isSafeInteger(id.index) || id.level < 0 || id.level > 53 || id.index < 0) {
      problems.push(`bad id ${key(id)}`);
    } else if ((BigInt(id.index) + 1n) * 2n ** BigInt(id.level) > BigInt(size)) {
      problems.push(`node ${key(id)} is not complete in a tree of ${size}`);
    }
  }
  if (new Set(nodes.map(key)).size !== nodes.length) problems.push('duplicate node ids');
  if (nodes.length > nodeBound(size)) problems.push(`${nodes.length} nodes > ${nodeBound(size)}`);
  t.same(problems, [], `${what}: ${nodes.length} nodes, all complete and distinct`);
}
const runUniform = <T>(plan: Plan<T>): T => plan.finish(plan.nodes.map((id) => U[id.level]!));

t.test('large trees: 2^40 + 12345 and 2^53 - 1 leaves', async (t) => {
  for (const size of [2 ** 40 + 12345, 2 ** 32 + 1, 2 ** 53 - 1, 2 ** 53 - 2]) {
    const root = uniformMth(size);
    const rp = rootPlan(size);
    checkNodes(t, rp.nodes, size, `rootPlan(${size})`);
    t.equal(toHex(runUniform(rp)), toHex(root), `rootPlan(${size}) = MTH`);

    const ids = CompactRange.nodesFor(size);
    const range = CompactRange.fromNodes(size, ids.map((id) => U[id.level]!));
    t.equal(toHex(range.root()), toHex(root), `CompactRange root at ${size}`);

    for (const index of [0, 1, 12344, 2 ** 31, 2 ** 32, 2 ** 40 - 1, 2 ** 40, size - 2, size - 1]) {
      if (index >= size) continue;
      const plan = inclusionProofPlan(index, size);
      checkNodes(t, plan.nodes, size, `inclusion ${index} in ${size}`);
      const proof = runUniform(plan);
      t.same(hexes(proof), hexes(UNIFORM_REF.inclusion(index, size)), `PATH(${index}, D[${size}]) = RFC 6962`);
      t.equal(outcome(() => verifyInclusion(U[0]!, index, size, proof, root)), 'OK', `verifies`);
    }
    for (const size1 of [1, 2, 12345, 2 ** 31 + 1, 2 ** 40, 2 ** 40 + 1, size - 1, size]) {
      if (size1 > size) continue;
      const plan = consistencyProofPlan(size1, size);
      checkNodes(t, plan.nodes, size, `consistency ${size1} -> ${size}`);
      const proof = runUniform(plan);
      t.same(hexes(proof), hexes(UNIFORM_REF.consistency(size1, size)), `PROOF(${size1}, D[${size}]) = RFC 6962`);
      t.equal(outcome(() => verifyConsistency(size1, size, proof, uniformMth(size1), root)), 'OK', 'verifies');
    }
  }

  const size = 2 ** 40 + 12345;
  const range = CompactRange.fromNodes(size, CompactRange.nodesFor(size).map((id) => U[id.level]!));
  const written = range.append(U[0]!);
  t.same(written.map((w) => key(w.id)), [`0/${size}`, `1/${(size - 1) / 2}`], 'leaf 2^40 + 12345 is a right child: it completes its parent');
  t.ok(written.every((w) => toHex(w.hash) === toHex(U[w.id.level]!)), 'with the right hashes');
  const more = range.append(U[0]!);
  t.same(more.map((w) => key(w.id)), [`0/${size + 1}`], 'leaf 2^40 + 12346 is a left child: it completes only itself');
  t.equal(toHex(range.root()), toHex(uniformMth(size + 2)));

  const full = CompactRange.fromNodes(2 ** 53 - 1, CompactRange.nodesFor(2 ** 53 - 1).map((id) => U[id.level]!));
  t.equal(CompactRange.nodesFor(2 ** 53 - 1).length, 53);
  t.throws(() => full.append(U[0]!), { code: 'FAILED_PRECONDITION' }, 'a full tree refuses to grow');
});

t.test('plans read at most 2*ceil(log2 n) + 2 nodes (sampled up to 2^53 - 1)', async (t) => {
  property(
    t,
    'inclusion and consistency plans are O(log n)',
    fc.property(
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (size, f) => {
        const other = Math.min(size - 1, Math.floor(f * size));
        const ip = inclusionProofPlan(other, size);
        const cp = consistencyProofPlan(other + 1, size);
        return ip.nodes.length <= nodeBound(size) && cp.nodes.length <= nodeBound(size) && rootPlan(size).nodes.length <= ceilLog2(size) + 1;
      },
    ),
    3000,
  );
});
