/**
 * Anchoring: windows of checkpoints reach the anchor backend exactly once and
 * in order, whatever fails on the way, and `cairn verify --anchors` catches a
 * log rewritten and re-signed with the node's own key after it was anchored.
 */
import t from 'tap';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir } from './helpers/node.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { AnchorStore } from '../src/anchoring/store.js';
import { Ledger } from '../src/ledger/ledger.js';
import { SigningKey } from '../src/keys/signing-key.js';
import { AnchorPipeline } from '../src/anchoring/pipeline.js';
import { LocalAnchorBackend } from '../src/anchoring/local-backend.js';
import { AnchorSubmitError, type AnchorBackend } from '../src/anchoring/backend.js';
import { createLogger } from '../src/node/logger.js';
import type { AnchorWindow } from '../src/core/anchor.js';

const OPTS = { nodeName: 'anchor-node', maxBatch: 64, maxQueue: 1000, maxLogs: 10, limits: { maxPayloadBytes: 1024 } };
const PIPE = { intervalMs: 20, submitTimeoutMs: 2000, backoffBaseMs: 5, backoffMaxMs: 40 };

async function waitFor<T>(f: () => Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('anchors land on the local backend and cairn verify --anchors passes', async (t) => {
  const tn = await startTestNode({ 'anchor-interval-ms': '100' });
  t.teardown(() => tn.close());
  for (let i = 0; i < 20; i++) await tn.client.append({ log: i % 2 ? 'team-a' : 'team-b', configId: `c${i}`, operator: 'ci', action: 'set' });
  const anchored = await waitFor(async () => {
    const a = await tn.client.listAnchors('team-a');
    return a.some((w) => w.state === 'committed' && w.checkpoints.some((c) => c.log === 'team-a' && c.size === 10)) ? a : undefined;
  }, 'team-a anchored at size 10');
  t.ok(anchored.length >= 1);
  const proof = await tn.client.anchorProof('team-a');
  t.equal(proof.state, 'committed');
  t.equal(proof.receipt.backend, 'local');
  const r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', 'team-a', '--pubkey', tn.pubkeyPath, '--anchors']);
  t.equal(r.code, 0, r.stderr);
  t.ok(JSON.parse(r.stdout).anchorsVerified >= 1);
});

/** A backend that fails on demand, and counts what it really committed. */
class FlakyBackend implements AnchorBackend {
  readonly name = 'local' as const;
  readonly inner: LocalAnchorBackend;
  readonly committed: number[] = [];
  failures: ('unavailable' | 'timeout-after-commit' | 'mvcc')[] = [];
  constructor(inner: LocalAnchorBackend) {
    this.inner = inner;
  }
  async submit(w: AnchorWindow): Promise<{ txId: string; block: number; backend: string }> {
    const f = this.failures.shift();
    if (f === 'unavailable') throw new AnchorSubmitError('UNAVAILABLE', 'peer unavailable (injected)', { retryable: true });
    if (f === 'mvcc') throw new AnchorSubmitError('UNAVAILABLE', 'MVCC_READ_CONFLICT (injected)', { retryable: true });
    const r = await this.inner.submit(w);
    this.committed.push(w.window);
    if (f === 'timeout-after-commit') throw new AnchorSubmitError('DEADLINE_EXCEEDED', 'commit status timed out (injected)', { retryable: true, outcomeUnknown: true });
    return r;
  }
  get(window: number): ReturnType<LocalAnchorBackend['get']> {
    return this.inner.get(window);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

t.test('every window is anchored exactly once, in order, through outages, MVCC conflicts, unknown outcomes and a restart', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const key = SigningKey.generate();
  const store = await LedgerStore.open(join(dir.path, 'ledger'));
  const ledger = new Ledger(store, key, OPTS);
  const backend = new FlakyBackend(await LocalAnchorBackend.open(join(dir.path, 'anchors-local')));
  let anchors = await AnchorStore.open(join(dir.path, 'anchors'));
  const log = createLogger('silent');
  let pipe = new AnchorPipeline(ledger, anchors, backend, log, PIPE);

  const rounds: number[] = [];
  for (let round = 0; round < 6; round++) {
    await ledger.append({ log: `log-${round % 3}`, configId: `r${round}`, operator: 'o', action: 'x' });
    backend.failures = [['unavailable', 'mvcc'], ['timeout-after-commit'], ['unavailable', 'timeout-after-commit'], [], ['mvcc', 'mvcc', 'mvcc'], []][round] as FlakyBackend['failures'];
    const w = await pipe.runOnce();
    rounds.push(w!.window.window);
    t.equal(w!.state, 'committed', `window ${w!.window.window} committed`);
  }

  // A restart between storing a window and submitting it: the window is stored, the node dies.
  await ledger.append({ log: 'log-0', configId: 'before-crash', operator: 'o', action: 'x' });
  const pendingOnly = new AnchorPipeline(ledger, anchors, { ...backend, name: 'local', submit: () => new Promise(() => undefined), get: async () => undefined, close: async () => undefined } as AnchorBackend, log, PIPE);
  void pendingOnly.runOnce();
  await waitFor(async () => ((await anchors.pending()).length === 1 ? true : undefined), 'a pending window');
  await pendingOnly.close();
  await anchors.close();
  anchors = await AnchorStore.open(join(dir.path, 'anchors'));
  pipe = new AnchorPipeline(ledger, anchors, backend, log, PIPE);
  const resumed = await pipe.runOnce();
  t.equal(resumed, undefined, 'nothing new to build after resuming');
  t.same(await anchors.pending(), [], 'the pending window was submitted after the restart');
  rounds.push(7);

  t.same(backend.committed, [1, 2, 3, 4, 5, 6, 7], 'each window reached the backend exactly once, in order');
  t.same(rounds, [1, 2, 3, 4, 5, 6, 7]);
  for (let w = 1; w <= 7; w++) t.equal((await anchors.get(w))!.state, 'committed');
  await pipe.close();
  await ledger.close();
  await anchors.close();
  await backend.close();
  await store.close();
});

t.test('a log rewritten and re-signed with the node\'s own key after anchoring is caught, naming the window and the seqs', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const honest = join(dir.path, 'honest');
  let tn = await startTestNode({ 'anchor-interval-ms': '100' }, honest);
  for (let i = 0; i < 10; i++) await tn.client.append({ log: 'prod', configId: `c${i}`, operator: 'alice', action: 'set' });
  await waitFor(async () => ((await tn.client.listAnchors('prod')).some((a) => a.state === 'committed' && a.checkpoints[0]!.size === 10) ? true : undefined), 'window with size 10');
  // The first window that anchored this log is where the forgery must first show.
  const first = (await tn.client.listAnchors('prod')).find((a) => a.state === 'committed')!;
  const firstSize = first.checkpoints[0]!.size;
  await tn.stop();

  // The operator keeps the key and the anchors, and writes a different history.
  const forged = join(dir.path, 'forged');
  await cp(join(honest, 'signing-key.pem'), join(forged, 'signing-key.pem'), { recursive: true });
  await cp(join(honest, 'signing-key.pub.pem'), join(forged, 'signing-key.pub.pem'));
  await cp(join(honest, 'anchors'), join(forged, 'anchors'), { recursive: true });
  await cp(join(honest, 'anchors-local'), join(forged, 'anchors-local'), { recursive: true });
  // Same key, so the same default node name and origins: the forgery is signed exactly like the original.
  tn = await startTestNode({ 'anchor-interval-ms': '60000' }, forged);
  t.teardown(() => tn.stop());
  for (let i = 0; i < 12; i++) await tn.client.append({ log: 'prod', configId: `c${i}`, operator: i === 3 ? 'mallory' : 'alice', action: 'set' });

  const plain = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', 'prod', '--pubkey', join(honest, 'signing-key.pub.pem')]);
  t.equal(plain.code, 0, 'without anchors the forged log verifies: same key, consistent history');
  const r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', 'prod', '--pubkey', join(honest, 'signing-key.pub.pem'), '--anchors']);
  t.equal(r.code, 1, 'with anchors the rewrite is found');
  t.match(r.stderr, new RegExp(`entries 0\\.\\.${firstSize - 1} no longer hash to the root anchored in window ${first.window}`));
  t.match(r.stderr, /ROOT_MISMATCH/);
});
