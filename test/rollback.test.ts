/**
 * `cairn verify --state` remembers the last verified checkpoint and catches
 * a log that went backwards (an old backup restored) or forked (history
 * rewritten and re-signed with the node's own key).
 */
import t from 'tap';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, startTestNode, tempDir, type TestNode } from './helpers/node.js';

const LOG = 'deploys';

async function append(tn: TestNode, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) await tn.client.append({ log: LOG, configId: `svc/${tag}${i}`, operator: 'ci', action: 'deploy' });
}

t.test('rollback to an older state and a forked history are both caught', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const data = join(dir.path, 'node');
  const backup = join(dir.path, 'backup');
  const state = join(dir.path, 'state.json');
  const pub = join(dir.path, 'pub.pem');

  let tn = await startTestNode({}, data);
  await append(tn, 5, 'a');
  await tn.stop();
  await cp(data, backup, { recursive: true });
  await cp(join(data, 'signing-key.pub.pem'), pub);

  tn = await startTestNode({}, data);
  await append(tn, 5, 'b');
  let r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', pub, '--state', state]);
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).size, 10);
  await append(tn, 3, 'c');
  r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', pub, '--state', state]);
  t.equal(r.code, 0, 'an honest log that grew passes, with a consistency proof from the remembered size');
  t.equal(JSON.parse(r.stdout).previousSize, 10);
  await tn.stop();

  // The operator restores the 5-entry backup: the log went backwards.
  await rm(data, { recursive: true });
  await cp(backup, data, { recursive: true });
  tn = await startTestNode({}, data);
  r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', pub, '--state', state]);
  t.equal(r.code, 1, 'rollback is a verification failure');
  t.match(r.stderr, /ROLLBACK/);
  t.match(r.stderr, /13 to 5/);

  // ...and appends new history past the old size: signed by the same key, but a fork.
  await append(tn, 12, 'x');
  r = await runCli(['verify', '--server', tn.node.grpcAddress, '--log', LOG, '--pubkey', pub, '--state', state]);
  t.equal(r.code, 1, 'fork is a verification failure');
  t.match(r.stderr, /CONSISTENCY_PROOF_INVALID/);
  await tn.stop();
});
