/**
 * Federation under faults, with real node processes: a mirror killed with
 * kill -9 while it follows a busy peer resumes exactly (no entry twice, no
 * gap, the vector exact); a relay that alters one byte of a relayed entry is
 * caught by the next node, which names origin, log and seq and stores
 * nothing of that batch; a peer whose key does not follow from the pinned
 * one is refused with an error that says so.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFederation, waitConverged, type FedNode } from './helpers/federation.js';
import { startTestNode, tempDir } from './helpers/node.js';
import { verifyLogOnline } from '../src/client/verify-log.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { MirrorStore } from '../src/storage/mirror-store.js';
import { readU64 } from '../src/storage/keys.js';
import { SigningKey, writeKeyFiles } from '../src/keys/signing-key.js';
import type { LedgerClient } from '../src/client/ledger-client.js';
import { freePort } from './helpers/ports.js';

async function mirroredSize(c: LedgerClient, origin: string, log: string): Promise<number> {
  return c
    .withOrigin(origin)
    .getCheckpoint(log)
    .then((cp) => cp.size, () => 0);
}

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function pinned(n: FedNode): Promise<Uint8Array> {
  return pemToDer(await readFile(n.pubkeyPath, 'utf8'), 'PUBLIC KEY');
}

t.test('a mirror killed with kill -9 while following a busy peer resumes exactly: no entry twice, no gap, the vector exact', async (t) => {
  const fed = await startFederation(['a', 'b'], [{ from: 'a', to: 'b', delayed: false }], { pollMs: 100 });
  t.teardown(fed.close);
  const a = fed.nodes.get('a')!;
  const b = fed.nodes.get('b')!;
  const TOTAL = 4000;
  // b busy: one AppendStream keeping 64 appends in flight.
  const busy = (async () => {
    const s = b.client.appendStream();
    const inflight = new Set<Promise<unknown>>();
    for (let i = 0; i < TOTAL; i++) {
      const p = s.append({ log: 'busy', configId: `cfg/${i}`, operator: 'ci', action: 'update', payloadJson: JSON.stringify({ i }) }).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= 64) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    await s.end();
  })();
  await until('a to mirror part of b/busy', async () => (await mirroredSize(a.client, 'b', 'busy')) > 300, 60_000);
  await a.proc.kill9();
  t.comment(`killed a while b had appended part of ${TOTAL}`);
  await a.start();
  await busy;
  const r = await waitConverged([a.client, b.client], 1, 60_000);
  t.ok(r.converged, `a converged with b after the restart (${r.ms} ms after b's last append)`);
  t.match(r.vectors[0], `b/busy ${TOTAL} `, 'the vector is exact');
  const res = await verifyLogOnline(a.client.withOrigin('b'), 'busy', { publicKeySpki: await pinned(b), signatureThreads: 0, progress: false });
  t.equal(res.entriesVerified, TOTAL, 'a\'s copy verifies with b\'s key: every seq once, in order, chained');

  // The rows themselves: exactly one entry row per seq 0..TOTAL-1, and the head at TOTAL with b's checkpoint.
  await a.proc.stop();
  const store = await LedgerStore.open(join(a.dataDir, 'ledger'));
  try {
    const seqs: number[] = [];
    for await (const k of store.rawDb.keys(MirrorStore.entryRange('b', 'busy'))) seqs.push(readU64(k, k.length - 8));
    t.equal(seqs.length, TOTAL, 'one row per entry');
    t.ok(seqs.every((s, i) => s === i), 'seqs 0..n-1, no gap');
    const head = await store.mirrors.getHead('b', 'busy');
    t.equal(head?.size, TOTAL);
    t.equal(head?.checkpoint.size, TOTAL, 'the accepted checkpoint is b\'s last');
  } finally {
    await store.close();
  }
});

t.test('a relay that alters one byte of a relayed entry is caught by the next node, which names origin, log and seq and stores nothing of that batch', async (t) => {
  // a follows b, b follows c; b serves c's entry 5 with one byte changed (test-only hook).
  const fed = await startFederation(['a', 'b', 'c'], [{ from: 'a', to: 'b', delayed: false }, { from: 'b', to: 'c', delayed: false }], {
    pollMs: 100,
    env: { b: { CAIRN_TEST_HOOKS: '1', CAIRN_TEST_TAMPER_RELAY: JSON.stringify({ origin: 'c', log: 't', seq: 5 }) } },
  });
  t.teardown(fed.close);
  const [a, b, c] = ['a', 'b', 'c'].map((n) => fed.nodes.get(n)!) as [FedNode, FedNode, FedNode];
  let stderr = '';
  a.proc.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 20; i++) await c.client.append({ log: 't', configId: `cfg/${i}`, operator: 'ci', action: 'update' });
  await b.client.append({ log: 'own', configId: 'x', operator: 'ci', action: 'update' });
  await until('b to mirror all of c/t', async () => (await mirroredSize(b.client, 'c', 't')) === 20, 30_000);
  await until('a to refuse the tampered batch', async () => /refused a batch that does not verify/.test(stderr), 30_000);
  const line = stderr.split('\n').find((l) => l.includes('refused a batch that does not verify'))!;
  const logged = JSON.parse(line) as Record<string, unknown>;
  t.match(logged, { level: 'error', peer: 'b', origin: 'c', log: 't', seq: 5 }, 'the log line names the peer, origin, log and seq');
  t.match(logged.reason, /entry 5/, 'and says which entry failed');
  t.ok((await mirroredSize(a.client, 'c', 't')) <= 5, 'nothing from entry 5 on is stored or served');
  await until('a to mirror b\'s own log all the same', async () => (await mirroredSize(a.client, 'b', 'own')) === 1, 30_000);
  const st = await a.client.federationStatus();
  t.notOk(st.vector.some((v) => v.origin === 'c' && v.log === 't' && v.size > 5), 'the vector does not claim it');
});

t.test('a peer whose key does not follow from the pinned key is refused, and its status says why', async (t) => {
  const b = await startTestNode({ 'node-name': 'b', 'anchor-backend': 'off' });
  t.teardown(b.close);
  await b.client.append({ log: 'x', configId: 'c', operator: 'o', action: 'update' });
  const dir = await tempDir();
  t.teardown(dir.remove);
  const impostor = await writeKeyFiles(join(dir.path, 'other'), SigningKey.generate());
  const config = join(dir.path, 'a.json');
  await writeFile(config, JSON.stringify({ peers: [{ name: 'b', endpoint: b.node.grpcAddress, public_key_file: impostor.publicPath, witness: false }], federation_poll_ms: 100 }));
  const a = await startTestNode({ 'node-name': 'a', config, 'anchor-backend': 'off' });
  t.teardown(a.close);
  await until('a to try b', async () => (await a.client.federationStatus()).peers[0]!.lastError !== '', 20_000);
  const peer = (await a.client.federationStatus()).peers[0]!;
  t.equal(peer.reachable, false);
  t.match(peer.lastError, /peer b: its key chain does not lead to the key it signs with; refused/);
  t.equal(await mirroredSize(a.client, 'b', 'x'), 0, 'nothing of b mirrored');
  // A peer that signs under another name than the one configured is refused too.
  const named = join(dir.path, 'a2.json');
  await writeFile(named, JSON.stringify({ peers: [{ name: 'bee', endpoint: b.node.grpcAddress, public_key_file: b.pubkeyPath, witness: false }], federation_poll_ms: 100 }));
  const a2 = await startTestNode({ 'node-name': 'a2', config: named, 'anchor-backend': 'off' });
  t.teardown(a2.close);
  await until('a2 to try b', async () => (await a2.client.federationStatus()).peers[0]!.lastError !== '', 20_000);
  t.match((await a2.client.federationStatus()).peers[0]!.lastError, /peer bee at .* signs its checkpoints as "b"; a peer's name must be its node_name/);
});

t.test('an origin that shows another history (same key and name, another data directory) is caught: fork, then rollback; the mirror stops, keeps both signed notes, and says so', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const key = await writeKeyFiles(join(dir.path, 'bkey'), SigningKey.generate());
  const port = await freePort();
  const origin = (n: number, at = port) => startTestNode({ 'node-name': 'b', 'key-file': key.privatePath, listen: `127.0.0.1:${at}`, 'anchor-backend': 'off' }, join(dir.path, `b${n}`));
  let b = await origin(1);
  const config = join(dir.path, 'a.json');
  await writeFile(config, JSON.stringify({ peers: [{ name: 'b', endpoint: `127.0.0.1:${port}`, public_key_file: key.publicPath, witness: false }], federation_poll_ms: 100 }));
  const a = await startTestNode({ 'node-name': 'a', config, 'anchor-backend': 'off' }, join(dir.path, 'a'));
  t.teardown(a.close);
  const fill = async (log: string, n: number, tag: string): Promise<void> => {
    for (let i = 0; i < n; i++) await b.client.append({ log, configId: `cfg/${i}`, operator: tag, action: 'update' });
  };
  await fill('x', 5, 'first');
  await fill('y', 5, 'first');
  await until('a to mirror b/x and b/y', async () => (await mirroredSize(a.client, 'b', 'x')) === 5 && (await mirroredSize(a.client, 'b', 'y')) === 5, 20_000);
  const before = await a.client.withOrigin('b').getCheckpoint('x');
  await b.stop();
  // The same key and name, another history (written out of a's sight, then served where b was): x again at size 5 with other entries, y at 3.
  b = await origin(2, await freePort());
  await fill('x', 5, 'second');
  await fill('y', 3, 'second');
  await b.stop();
  b = await origin(2);
  t.teardown(b.close);
  await until('a to catch both', async () => (await a.client.federationStatus()).equivocations.length === 2, 20_000);
  const st = await a.client.federationStatus();
  const x = st.equivocations.find((e) => e.log === 'x')!;
  const y = st.equivocations.find((e) => e.log === 'y')!;
  t.match(x, { origin: 'b', log: 'x', kind: 'fork', peer: 'b', reason: /two signed roots at size 5/ });
  t.equal(x.acceptedNote, before.note, 'the accepted signed note is kept');
  t.equal(x.conflictingNote, (await b.client.getCheckpoint('x')).note, 'and the one that contradicts it');
  t.match(y, { kind: 'rollback', reason: /3 entries, fewer than the 5 accepted/ });
  t.equal(await a.node.metrics.registry.getSingleMetric('cairn_federation_equivocations_total')!.get().then((m) => m.values.reduce((s, v) => s + v.value, 0)), 2, 'counted in the metrics');
  // Stopped for good: more entries at the origin are not mirrored, and the copy keeps what it accepted.
  await fill('x', 3, 'second');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(await mirroredSize(a.client, 'b', 'x'), 5, 'the mirror stopped at what it accepted');
  // The evidence survives a restart.
  const dataDir = a.dataDir;
  await a.stop();
  const again = await startTestNode({ 'node-name': 'a', config, 'anchor-backend': 'off' }, dataDir);
  t.teardown(again.close);
  t.equal((await again.client.federationStatus()).equivocations.length, 2, 'both kept across a restart');
});
