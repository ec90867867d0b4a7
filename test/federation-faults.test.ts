/**
 * Federation under faults, with real node processes: a mirror killed with
 * kill -9 while it follows a busy peer resumes exactly (no entry twice, no
 * gap, the vector exact); a relay that alters one byte of a relayed entry is
 * caught by the next node, which names origin, log and seq and stores
 * nothing of that batch. Dishonest origins: federation-split.test.ts.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFederation, waitConverged, type FedNode } from './helpers/federation.js';
import { verifyLogOnline } from '../src/client/verify-log.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { MirrorStore } from '../src/storage/mirror-store.js';
import { readU64 } from '../src/storage/keys.js';
import type { LedgerClient } from '../src/client/ledger-client.js';

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
  const TOTAL = 2500;
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
