/**
 * Federation against a dishonest or misconfigured peer, with in-process
 * nodes: a peer whose key does not follow from the pinned one, or that
 * signs under another name, is refused with an error that says so; an
 * origin that shows another history (a fork, a rollback) is caught, the
 * mirror stops for good and keeps both signed notes across restarts.
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir } from './helpers/node.js';
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
