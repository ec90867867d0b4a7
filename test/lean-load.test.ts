/**
 * The bench's lean load generator (scripts/lean-load.ts) counts only real
 * receipts: against a real node it reports appends that are in the log, and a
 * refused append makes it fail instead of counting.
 */
import t from 'tap';
import { spawnNode, tempDir } from './helpers/node.js';
import { leanAppendStream } from '../scripts/lean-load.js';
import { LedgerClient } from '../src/client/ledger-client.js';

const dir = await tempDir('cairn-lean-');
t.teardown(dir.remove);
const node = await spawnNode(dir.path);
t.teardown(() => node.stop());
const client = new LedgerClient(node.address);
t.teardown(() => client.close());

t.test('every append it counts is in the log, in order', async (t) => {
  const r = await leanAppendStream(node.address, node.child.pid, { log: 'lean', configId: 'c', operator: 'o', action: 'set', payloadJson: '{"a":1}' }, 8, 0.5);
  t.ok(r.rate > 0 && r.p50 > 0 && r.p99 >= r.p50, `rate ${r.rate.toFixed(0)}/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`);
  t.ok(Number.isFinite(r.cpuUs) && r.cpuUs > 0, 'server CPU per append read from /proc');
  // Warm-up (400 ms) and measured appends all landed; the measured ones are rate x 0.5 s.
  const size = (await client.getCheckpoint('lean')).size;
  t.ok(size >= r.rate * 0.5, `log size ${size} >= ${r.rate * 0.5} measured appends`);
});

t.test('a refused append fails the run with the node\'s error', async (t) => {
  await t.rejects(leanAppendStream(node.address, node.child.pid, { log: 'Not A Log', configId: 'c', operator: 'o', action: 'set' }, 2, 0.2), /append 0 failed: .*"field":"log"/);
});
