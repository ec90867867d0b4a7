/**
 * Per-tenant quotas: what tenants share (logs, queued appends, open streams,
 * the append rate) is quota'd per tenant, set in the policy with node-wide
 * defaults. A tenant at a quota gets RESOURCE_EXHAUSTED naming its own quota,
 * never another tenant's count or the node's total; and one tenant at any
 * quota never blocks another's first append, read or stream.
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir } from './helpers/node.js';
import { createToken } from '../src/auth/tokens.js';
import { compilePolicy } from '../src/auth/policy.js';
import { LedgerClient } from '../src/client/ledger-client.js';

const rec = (log: string, i = 0): { log: string; configId: string; operator: string; action: string } => ({ log, configId: `c${i}`, operator: 'o', action: 'apply' });

async function status(p: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await p;
    return { code: 'OK', details: '' };
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: grpc.status[err.code] ?? String(err.code), details: err.details ?? err.message };
  }
}

t.test('quotas in the policy: a grammar whose errors name the line', async (t) => {
  const base = "tenants:\n  a: ['append:a-*']\n  b: []\n";
  const q = compilePolicy(`${base}quotas:\n  a: { logs: 5, queued_appends: 10, streams: 2, appends_per_second: 3, append_burst: 6 }\n`).quotaOf('a');
  t.same(q, { logs: 5, queuedAppends: 10, streams: 2, appendsPerSecond: 3, appendBurst: 6 }, 'every quota of a tenant');
  t.same(compilePolicy(`${base}quotas:\n  a: { logs: 5 }\n`).quotaOf('b'), {}, 'a tenant without quotas gets the node-wide defaults (none set here)');
  t.throws(() => compilePolicy(`${base}quotas:\n  c: { logs: 5 }\n`), { message: /^policy line 5: quotas: tenant "c" is not defined under tenants/ });
  t.throws(() => compilePolicy(`${base}quotas:\n  a: { log: 5 }\n`), { message: /^policy line 5: .*unknown quota "log" \(expected logs, queued_appends, streams, appends_per_second, append_burst\)/ });
  t.throws(() => compilePolicy(`${base}quotas:\n  a: { logs: -1 }\n`), { message: /^policy line 5: .*logs must be an integer/ });
  t.throws(() => compilePolicy(`${base}quotas:\n  a: { logs: '5' }\n`), { message: /^policy line 5: .*logs must be an integer/ });
  t.throws(() => compilePolicy(`${base}quotas:\n  a: [5]\n`), { message: /^policy line 5: .*must be a map/ });
});

t.test('the node-wide default log quota: one tenant cannot fill max_logs for everyone', async (t) => {
  const dir = await tempDir('cairn-quota-default-');
  t.teardown(() => dir.remove());
  const flood = createToken('flood');
  const other = createToken('other');
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  await writeFile(policyFile, "tenants:\n  flood: ['append:*']\n  other: ['append:other-*', 'read:other-*']\nidentities:\n  - { match: 'token:flood', tenant: flood }\n  - { match: 'token:other', tenant: other }\n");
  await writeFile(tokensFile, `${flood.line}\n${other.line}\n`);
  const n = await startTestNode({ 'policy-file': policyFile, 'tokens-file': tokensFile, 'max-logs': '10', 'tenant-max-logs': '4', 'anchor-backend': 'off' });
  t.teardown(() => n.close());
  const cf = new LedgerClient(n.node.grpcAddress, { token: flood.token });
  const co = new LedgerClient(n.node.grpcAddress, { token: other.token });
  t.teardown(() => {
    cf.close();
    co.close();
  });
  const made = await Promise.all(Array.from({ length: 12 }, (_, i) => status(cf.append(rec(`f-${i}`)))));
  t.equal(made.filter((s) => s.code === 'OK').length, 4, 'the flooding tenant stops at tenant_max_logs (4), not at max_logs (10)');
  const refused = made.find((s) => s.code !== 'OK');
  t.match(refused, { code: 'RESOURCE_EXHAUSTED', details: /quota of 4 logs/ }, 'naming its own quota');
  t.notMatch(refused?.details, /\b10\b|hosts/, 'not the node\'s total');
  const first = await status(co.append(rec('other-first')));
  t.equal(first.code, 'OK', `another tenant's first append to a new log succeeds (${first.details})`);
});

t.test('a tenant at any quota is refused with its own quota and does not block another tenant', async (t) => {
  const dir = await tempDir('cairn-quotas-');
  t.teardown(() => dir.remove());
  const ids = ['flood', 'streamer-1', 'streamer-2', 'rater-1', 'rater-2', 'queuer', 'other'];
  const tokens = new Map(ids.map((id) => [id, createToken(id)]));
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  await writeFile(policyFile, [
    'tenants:',
    "  flood: ['append:flood-*', 'read:flood-*']",
    "  streamer: ['append:streamer-*', 'read:streamer-*']",
    "  rater: ['append:rater-*', 'read:rater-*']",
    "  queuer: ['append:queuer-*', 'read:queuer-*']",
    "  other: ['append:other-*', 'read:other-*']",
    'quotas:',
    '  flood: { logs: 5 }',
    '  streamer: { streams: 2 }',
    '  rater: { appends_per_second: 1, append_burst: 4 }',
    '  queuer: { queued_appends: 4 }',
    'identities:',
    ...ids.map((id) => `  - { match: 'token:${id}', tenant: ${id.replace(/-\d$/, '')} }`),
    '',
  ].join('\n'));
  await writeFile(tokensFile, [...tokens.values()].map((x) => x.line).join('\n') + '\n');
  // max_logs 40: what flood may fill is its own quota, far below the node's.
  const n = await startTestNode({ 'policy-file': policyFile, 'tokens-file': tokensFile, 'max-logs': '40', 'anchor-backend': 'off' });
  t.teardown(() => n.close());
  const clients: LedgerClient[] = [];
  t.teardown(() => clients.forEach((c) => c.close()));
  const as = (id: string): LedgerClient => {
    const c = new LedgerClient(n.node.grpcAddress, { token: tokens.get(id)!.token });
    clients.push(c);
    return c;
  };
  const other = as('other');
  const otherStillServed = async (what: string, i: number): Promise<void> => {
    t.equal((await status(other.append(rec(`other-${i}`)))).code, 'OK', `${what}: another tenant's first append to a new log succeeds`);
    t.equal((await status(other.getCheckpoint(`other-${i}`))).code, 'OK', `${what}: and its read`);
    const ac = new AbortController();
    const s = (async () => {
      for await (const e of other.watch(`other-${i}`, 0, ac.signal)) return e.seq;
      return -1;
    })();
    t.equal(await s, 0, `${what}: and its stream`);
    ac.abort();
  };

  // Logs.
  const flood = as('flood');
  const created = await Promise.all(Array.from({ length: 12 }, (_, i) => status(flood.append(rec(`flood-${i}`)))));
  t.equal(created.filter((s) => s.code === 'OK').length, 5, 'flood created exactly its quota of 5 logs');
  const refusedLog = created.find((s) => s.code !== 'OK')!;
  t.equal(refusedLog.code, 'RESOURCE_EXHAUSTED');
  t.match(refusedLog.details, /quota of 5 logs/, 'the message names the tenant\'s own quota');
  t.notMatch(refusedLog.details, /40|max_logs|hosts/, 'and neither the node\'s limit nor its count of logs');
  t.equal((await status(flood.append(rec('flood-0', 1)))).code, 'OK', 'appends to its existing logs go on');
  await otherStillServed('flood at its log quota', 0);

  // Streams, across two identities of one tenant (per-identity caps alone would allow 2 each).
  const sAcs = [new AbortController(), new AbortController(), new AbortController()];
  t.teardown(() => sAcs.forEach((a) => a.abort()));
  const s1 = as('streamer-1');
  const s2 = as('streamer-2');
  await s1.append(rec('streamer-x'));
  const watch = (c: LedgerClient, ac: AbortController): Promise<unknown> => (async () => {
    for await (const _ of c.watch('streamer-x', 0, ac.signal)) void _;
  })().catch((e: unknown) => e);
  const w1 = watch(s1, sAcs[0]!);
  const w2 = watch(s2, sAcs[1]!);
  await new Promise((r) => setTimeout(r, 300));
  const third = (await watch(s2, sAcs[2]!)) as grpc.ServiceError;
  t.equal(grpc.status[third.code], 'RESOURCE_EXHAUSTED', 'a third stream of the tenant is refused');
  t.match(third.details, /tenant's quota of 2 open streams/, 'naming the tenant\'s quota');
  await otherStillServed('streamer at its stream quota', 1);
  sAcs[0]!.abort();
  sAcs[1]!.abort();
  await Promise.all([w1, w2]);

  // The append rate, across two identities of one tenant.
  const r1 = as('rater-1');
  const r2 = as('rater-2');
  const rated = await Promise.all(Array.from({ length: 10 }, (_, i) => status((i % 2 ? r1 : r2).append(rec('rater-x', i)))));
  t.equal(rated.filter((s) => s.code === 'OK').length, 4, 'the tenant\'s burst of 4, shared by its identities');
  t.match(rated.find((s) => s.code !== 'OK')!.details, /tenant's append rate quota of 1\/s .*retry in \d+ ms/, 'naming the tenant\'s quota, with a retry hint');
  await otherStillServed('rater at its rate quota', 2);

  // Queued appends: an AppendStream of 40 sent at once; at most 4 wait for the ledger at a time.
  const queuer = as('queuer');
  const stream = queuer.appendStream();
  const queued = await Promise.all(Array.from({ length: 40 }, (_, i) => status(stream.append(rec('queuer-x', i)))));
  await stream.end();
  const q = queued.filter((s) => s.code === 'RESOURCE_EXHAUSTED');
  t.ok(q.length > 0, `${q.length} of 40 refused while 4 were queued`);
  t.match(q[0]!.details, /tenant's quota of 4 queued appends/, 'naming the tenant\'s quota');
  t.equal(queued.filter((s) => s.code === 'OK').length + q.length, 40, 'nothing but OK and RESOURCE_EXHAUSTED');
  await otherStillServed('queuer at its queue quota', 3);
});
