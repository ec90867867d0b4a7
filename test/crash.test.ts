/**
 * An acknowledged append survives kill -9 at any moment: after a restart
 * every receipt a client got is present byte for byte, the log verifies end
 * to end, and nothing half-written is visible.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnNode, tempDir, runCli } from './helpers/node.js';
import { LedgerClient, type ClientReceipt } from '../src/client/ledger-client.js';
import { bytesEqual } from '../src/core/bytes.js';
import { verifyReceipt } from '../src/core/receipt.js';
import { pemToDer } from '../src/core/ecdsa-der.js';
import { decodeBody } from '../src/core/entry.js';

const LOG = 'crash';
const CLIENTS = 16;

t.test('kill -9 under concurrent load loses no acknowledged entry', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const acked: ClientReceipt[] = [];
  let pub: Uint8Array | undefined;

  for (let round = 0; round < 3; round++) {
    const node = await spawnNode(dir.path);
    pub ??= pemToDer(await readFile(join(dir.path, 'signing-key.pub.pem'), 'utf8'), 'PUBLIC KEY');
    const client = new LedgerClient(node.address, { timeoutMs: 5000 });
    let stop = false;
    const workers = Array.from({ length: CLIENTS }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await client.append({ log: LOG, configId: `r${round}/w${w}/${i}`, operator: 'loadgen', action: 'set', requestId: `r${round}-w${w}-${i}` });
          acked.push(r);
        } catch {
          return; // the node died under us: this append was never acknowledged
        }
      }
    });
    // Kill mid-load at a different point each round: once this round has some
    // acknowledgements (however slow the machine is), after a varying extra delay.
    const target = acked.length + 60 + round * 40;
    for (let waited = 0; acked.length < target && waited < 30_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, round * 37));
    await node.kill9();
    stop = true;
    await Promise.all(workers);
    client.close();
  }
  t.ok(acked.length >= 180, `${acked.length} appends acknowledged across 3 crashes`);

  const node = await spawnNode(dir.path);
  t.teardown(() => node.stop());
  const client = new LedgerClient(node.address);
  t.teardown(() => client.close());
  let missing = 0;
  for (const r of acked) {
    const e = await client.getEntry(LOG, r.entry.seq).catch(() => undefined);
    if (!e || !bytesEqual(e.hash, r.entry.hash) || !bytesEqual(e.body, r.entry.body)) missing++;
    // The receipt itself still proves inclusion offline.
    verifyReceipt({ entry: r.entry, checkpointNote: r.checkpoint.note, inclusionProof: r.inclusionProof }, pub!);
  }
  t.equal(missing, 0, 'every acknowledged entry is present with the same bytes');
  const seqs = new Set(acked.map((r) => r.entry.seq));
  t.equal(seqs.size, acked.length, 'no seq was acknowledged twice');

  const v = await runCli(['verify', '--server', node.address, '--log', LOG, '--pubkey', join(dir.path, 'signing-key.pub.pem')]);
  t.equal(v.code, 0, `the log verifies end to end after the crashes: ${v.stderr}`);
  const size = JSON.parse(v.stdout).size as number;
  t.ok(size >= acked.length, `size ${size} >= ${acked.length} acknowledged`);

  // Appending still works on the recovered log, and retrying an acknowledged pre-crash request does not record it twice.
  const first = acked[0]!;
  const requestId = decodeBody(first.entry.body).requestId;
  const again = await client.append({ log: LOG, configId: 'x', operator: 'loadgen', action: 'set', requestId });
  t.ok(again.replayed, 'a retried pre-crash request returns the original entry');
  t.equal(again.entry.seq, first.entry.seq);
  t.ok(bytesEqual(again.entry.hash, first.entry.hash));
  const fresh = await client.append({ log: LOG, configId: 'x', operator: 'loadgen', action: 'set', requestId: 'after-recovery' });
  t.equal(fresh.entry.seq, size, 'a new append continues the recovered log');
});
