/**
 * The node computes an anchor window's root and audit paths once, with
 * merkletreejs configured as RFC 6962 (anchoring/window-tree.ts). Here that
 * tree is proved to agree with the two other definitions of a window root:
 * the pure RFC 6962 code of core/merkle.ts (which verifies every path) and
 * the chaincode's own copy (chaincode/window-root.cts, which recomputes the
 * root on the peer): every root and every audit path, for every window size
 * up to 300 and for random windows of random notes.
 */
import t from 'tap';
import fc from 'fast-check';
import { verifyAnchorProof, windowLeaf, type WindowCheckpoint } from '../src/core/anchor.js';
import { inclusionProofPlan, rootFromLeafHashes } from '../src/core/merkle.js';
import { toHex } from '../src/core/bytes.js';
import { buildWindow, windowProof } from '../src/anchoring/window-tree.js';
import { isVerificationError } from '../src/core/errors.js';
import windowRootModule from '../src/chaincode/window-root.cjs';

const chaincodeRoot = windowRootModule.windowRoot;

const cps = (n: number): WindowCheckpoint[] =>
  Array.from({ length: n }, (_, i) => ({ log: `log-${String(i).padStart(4, '0')}`, size: i + 1, rootHash: '00'.repeat(32), note: `node/log-${i}\n${i + 1}\nAAAA\n\n— node sig${i}\n` }));

/** RFC 6962 section 2.1.1 PATH(index, D[n]) from core/merkle.ts alone: each node of the plan hashed from its leaves. */
function purePath(leaves: readonly Uint8Array[], index: number): string[] {
  const plan = inclusionProofPlan(index, leaves.length);
  return plan.finish(plan.nodes.map((n) => rootFromLeafHashes(leaves.slice(n.index * 2 ** n.level, (n.index + 1) * 2 ** n.level)))).map(toHex);
}

/**
 * How the window over `checkpoints` disagrees with the pure and the chaincode
 * definitions, checking the audit paths of the leaves at `indexes` (all when
 * absent): empty when they agree.
 */
function disagreements(windowNo: number, checkpoints: readonly WindowCheckpoint[], indexes?: number[]): string[] {
  const problems: string[] = [];
  const w = buildWindow(windowNo, 'node', checkpoints);
  const sorted = [...w.checkpoints].map((c) => c.log);
  if (sorted.some((log, i) => i > 0 && sorted[i - 1]! >= log)) problems.push(`window ${windowNo}: checkpoints not in log order`);
  const leaves = w.checkpoints.map((c) => windowLeaf(c.note));
  const pure = toHex(rootFromLeafHashes(leaves));
  if (w.root !== pure) problems.push(`window ${windowNo} of ${leaves.length}: root ${w.root}, RFC 6962 ${pure}`);
  const onPeer = chaincodeRoot(w.checkpoints.map((c) => c.note));
  if (onPeer !== w.root) problems.push(`window ${windowNo} of ${leaves.length}: root ${w.root}, chaincode ${onPeer}`);
  for (const i of indexes ?? leaves.map((_, i) => i)) {
    const p = windowProof(w, w.checkpoints[i]!.log)!;
    const where = `window ${windowNo} of ${leaves.length}, leaf ${i}`;
    if (p.root !== w.root || p.index !== i || p.count !== leaves.length) problems.push(`${where}: proof for root ${p.root} index ${p.index} count ${p.count}`);
    if (p.path.join() !== purePath(leaves, i).join()) problems.push(`${where}: path differs from RFC 6962`);
    try {
      verifyAnchorProof(w.checkpoints[i]!.note, p);
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
    }
  }
  return problems;
}

t.test('merkletreejs roots and paths equal RFC 6962 and the chaincode for window sizes 1..300', async (t) => {
  const problems: string[] = [];
  let paths = 0;
  for (let n = 1; n <= 300; n++) {
    const indexes = n <= 40 ? undefined : [0, n >> 1, n - 1];
    problems.push(...disagreements(n, cps(n), indexes));
    paths += indexes?.length ?? n;
  }
  t.same(problems, []);
  t.ok(paths > 1000, `${paths} paths checked`);
});

t.test('for random windows of random notes, in any order, every root and audit path agrees', async (t) => {
  const note = fc.string({ unit: 'grapheme', maxLength: 200, size: 'medium' });
  const checkpoint = fc.record({ log: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}$/), note });
  // size 'max': window sizes spread over 1..300, not only the few that fast-check draws by default.
  const window = fc.uniqueArray(checkpoint, { minLength: 1, maxLength: 300, size: 'max', selector: (c) => c.log });
  const sizes: number[] = [];
  fc.assert(
    fc.property(window, (drawn) => {
      sizes.push(drawn.length);
      const problems = disagreements(1, drawn.map((c, i) => ({ ...c, size: i + 1, rootHash: '00'.repeat(32) })));
      if (problems.length > 0) throw new Error(problems.slice(0, 5).join('\n'));
    }),
    { numRuns: 60 },
  );
  t.equal(sizes.length, 60, 'every random window was checked');
  t.ok(Math.max(...sizes) > 150, `window sizes drawn up to ${Math.max(...sizes)}`);
});

t.test('an empty window has no root to anchor', async (t) => {
  t.throws(() => buildWindow(1, 'node', []), /at least one checkpoint/);
  t.throws(() => chaincodeRoot([]), /at least one checkpoint/);
});

t.test('a checkpoint that is not in the window fails with the window named', async (t) => {
  const w = buildWindow(7, 'node', cps(9));
  const p = windowProof(w, w.checkpoints[3]!.log)!;
  try {
    verifyAnchorProof(w.checkpoints[4]!.note, p);
    t.fail('accepted a foreign checkpoint');
  } catch (e) {
    t.ok(isVerificationError(e));
    t.equal((e as { evidence: { window: number } }).evidence.window, 7);
  }
});
