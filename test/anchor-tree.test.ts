/**
 * The anchor window tree built with merkletreejs hashes exactly as RFC 6962:
 * for every window size up to 300, its root equals the pure implementation's
 * and every path it produces verifies with the pure RFC 9162 verifier.
 */
import t from 'tap';
import { buildWindow, verifyAnchorProof, type WindowCheckpoint } from '../src/core/anchor.js';
import { windowProof, windowRoot } from '../src/anchoring/window-tree.js';
import { isVerificationError } from '../src/core/errors.js';

const cps = (n: number): WindowCheckpoint[] =>
  Array.from({ length: n }, (_, i) => ({ log: `log-${String(i).padStart(4, '0')}`, size: i + 1, rootHash: '00'.repeat(32), note: `node/log-${i}\n${i + 1}\nAAAA\n\n— node sig${i}\n` }));

t.test('merkletreejs roots and paths equal RFC 6962 for window sizes 1..300', async (t) => {
  let paths = 0;
  for (let n = 1; n <= 300; n++) {
    const w = buildWindow(n, 'node', cps(n));
    if (windowRoot(w) !== w.root) t.fail(`root differs at size ${n}`);
    const logs = n <= 40 ? w.checkpoints.map((c) => c.log) : [w.checkpoints[0]!.log, w.checkpoints[n >> 1]!.log, w.checkpoints[n - 1]!.log];
    for (const log of logs) {
      const p = windowProof(w, log)!;
      t.equal(p.root, w.root);
      verifyAnchorProof(w.checkpoints[p.index]!.note, p);
      paths++;
    }
  }
  t.ok(paths > 1000, `${paths} paths verified`);
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
