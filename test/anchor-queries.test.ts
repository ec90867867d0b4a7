/**
 * The anchoring read side against a real anchor store: a window by number,
 * the windows of a log in order from a window on, and a log's checkpoint in
 * the window that holds it, with a proof that verifies against the window root.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { tempDir } from './helpers/node.js';
import { AnchorStore, type StoredWindow } from '../src/anchoring/store.js';
import { StoreAnchorQueries } from '../src/anchoring/queries.js';
import { verifyAnchorProof, type WindowCheckpoint } from '../src/core/anchor.js';
import { buildWindow } from '../src/anchoring/window-tree.js';

function checkpoint(log: string, size: number): WindowCheckpoint {
  return { log, size, rootHash: `${log}-${size}`.padEnd(64, '0'), note: `node/${log}\n${size}\nroot-of-${log}-${size}\n` };
}

function stored(window: number, state: StoredWindow['state'], checkpoints: WindowCheckpoint[]): StoredWindow {
  const w: StoredWindow = { window: buildWindow(window, 'node', checkpoints), state, createdAtMs: 0, oldestCheckpointAtMs: 0 };
  if (state === 'committed') w.receipt = { txId: `tx${window}`, block: window, backend: 'local' };
  return w;
}

/** Windows 1-4: `a` grows in every window, `b` in 1 and 3, `c` only in 2; window 4 is still pending. */
async function openQueries(t: Test): Promise<StoreAnchorQueries> {
  const dir = await tempDir();
  const store = await AnchorStore.open(join(dir.path, 'anchors'));
  t.teardown(async () => {
    await store.close();
    await dir.remove();
  });
  await store.put(stored(1, 'committed', [checkpoint('b', 1), checkpoint('a', 2)]));
  await store.put(stored(2, 'committed', [checkpoint('a', 5), checkpoint('c', 1)]));
  await store.put(stored(3, 'committed', [checkpoint('a', 9), checkpoint('b', 4)]));
  await store.put(stored(4, 'pending', [checkpoint('a', 12)]));
  return new StoreAnchorQueries(store);
}

t.test('window: the stored window by number, undefined for one never built', async (t) => {
  const q = await openQueries(t);
  t.same((await q.window(2))?.window.checkpoints.map((c) => c.log), ['a', 'c']);
  t.equal(await q.window(5), undefined);
});

t.test('windowsFor: the windows covering a log from a window on, oldest first, at most limit', async (t) => {
  const q = await openQueries(t);
  const numbers = async (log: string, from: number, limit: number): Promise<number[]> => (await q.windowsFor(log, from, limit)).map((w) => w.window.window);
  t.same(await numbers('a', 0, 1000), [1, 2, 3, 4]);
  t.same(await numbers('a', 2, 2), [2, 3]);
  t.same(await numbers('b', 2, 1000), [3]);
  t.same(await numbers('d', 0, 1000), []);
});

t.test('proofFor: the window holding the checkpoint at a size, with a proof that verifies against its root', async (t) => {
  const q = await openQueries(t);
  const problems: string[] = [];
  for (const [log, size, window] of [['a', 2, 1], ['a', 5, 2], ['a', 12, 4], ['b', 4, 3], ['c', 1, 2]] as const) {
    const found = await q.proofFor(log, size);
    if (!found) {
      problems.push(`${log}@${size}: not found`);
      continue;
    }
    if (found.proof.window !== window || found.stored.window.window !== window) problems.push(`${log}@${size}: window ${found.proof.window}, expected ${window}`);
    if (found.checkpoint.log !== log || found.checkpoint.size !== size) problems.push(`${log}@${size}: got the checkpoint ${found.checkpoint.log}@${found.checkpoint.size}`);
    if (found.proof.root !== found.stored.window.root) problems.push(`${log}@${size}: proof root is not the window root`);
    try {
      verifyAnchorProof(found.checkpoint.note, found.proof);
    } catch (err) {
      problems.push(`${log}@${size}: ${(err as Error).message}`);
    }
  }
  t.same(problems, []);
});

t.test('proofFor size 0: the latest committed window covering the log, never a pending one', async (t) => {
  const q = await openQueries(t);
  const latest = await q.proofFor('a', 0);
  t.equal(latest?.stored.window.window, 3, 'window 4 is pending');
  t.equal(latest?.checkpoint.size, 9);
  t.equal(latest?.stored.receipt?.txId, 'tx3');
  t.equal((await q.proofFor('c', 0))?.stored.window.window, 2);
});

t.test('proofFor: undefined for a size no window holds, and for a log no window covers', async (t) => {
  const q = await openQueries(t);
  t.equal(await q.proofFor('a', 3), undefined);
  t.equal(await q.proofFor('b', 2), undefined, 'b at 2 is not anchored, although b is');
  t.equal(await q.proofFor('d', 0), undefined);
  t.equal(await q.proofFor('d', 1), undefined);
});

t.test('proofFor finds a log\'s checkpoint and its latest committed window past the first 1,000 windows', async (t) => {
  const dir = await tempDir();
  const store = await AnchorStore.open(join(dir.path, 'anchors'));
  t.teardown(async () => {
    await store.close();
    await dir.remove();
  });
  // `a` grows in each of 1,200 windows; the last one is still pending.
  for (let n = 1; n <= 1200; n++) await store.put(stored(n, n === 1200 ? 'pending' : 'committed', [checkpoint('a', n)]));
  const q = new StoreAnchorQueries(store);
  t.equal((await q.proofFor('a', 0))?.stored.window.window, 1199, 'size 0: the latest committed window, not one of the first 1,000');
  t.equal((await q.proofFor('a', 1150))?.stored.window.window, 1150, 'a size anchored after window 1,000');
  t.equal((await q.proofFor('a', 7))?.stored.window.window, 7);
  t.equal(await q.proofFor('a', 5000), undefined, 'a size never anchored');
});
