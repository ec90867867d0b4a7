/**
 * ListLogs looks only at the logs the caller may read: its work does not grow
 * with other tenants' logs, so its time tells a tenant nothing about how many
 * logs others have. Asserted without timing: every storage read made while
 * serving one tenant's ListLogs is counted, and none may touch another
 * tenant's log or scan the node's whole list of logs.
 */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir } from './helpers/node.js';
import { createToken } from '../src/auth/tokens.js';
import { LedgerClient } from '../src/client/ledger-client.js';
import { LedgerStore } from '../src/storage/ledger-store.js';

const OTHER_LOGS = 200;

t.test('one tenant\'s ListLogs reads nothing of another tenant\'s logs, however many there are', async (t) => {
  const dir = await tempDir('cairn-listlogs-');
  t.teardown(() => dir.remove());
  const a = createToken('a');
  const b = createToken('b');
  const policyFile = join(dir.path, 'policy.yaml');
  const tokensFile = join(dir.path, 'tokens');
  await writeFile(policyFile, "tenants:\n  a: ['append:a-*', 'read:a-*', 'read:shared']\n  b: ['append:b-*', 'read:b-*']\nidentities:\n  - { match: 'token:a', tenant: a }\n  - { match: 'token:b', tenant: b }\n");
  await writeFile(tokensFile, `${a.line}\n${b.line}\n`);
  const dataDir = join(dir.path, 'data');
  const flags = { 'policy-file': policyFile, 'tokens-file': tokensFile, 'anchor-backend': 'off', 'max-logs': '1000' };
  let n = await startTestNode(flags, dataDir);
  let ca = new LedgerClient(n.node.grpcAddress, { token: a.token });
  const cb = new LedgerClient(n.node.grpcAddress, { token: b.token });
  for (const log of ['a-1', 'a-2', 'a-3']) await ca.append({ log, configId: 'c', operator: 'o', action: 'apply' });
  for (let i = 0; i < OTHER_LOGS; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) => cb.append({ log: `b-${i + k}`, configId: 'c', operator: 'o', action: 'apply' })));
  }
  ca.close();
  cb.close();
  // A restart: no log is open, so whatever ListLogs needs it must read from storage.
  await n.stop();
  n = await startTestNode(flags, dataDir);
  t.teardown(() => n.close());
  ca = new LedgerClient(n.node.grpcAddress, { token: a.token });
  t.teardown(() => ca.close());

  // Every LedgerStore method call during the ListLogs, with the log it names.
  const touched: string[] = [];
  const proto = LedgerStore.prototype as unknown as Record<string, unknown>;
  const originals = new Map<string, unknown>();
  for (const name of Object.getOwnPropertyNames(LedgerStore.prototype)) {
    const f = Object.getOwnPropertyDescriptor(LedgerStore.prototype, name)?.value as unknown;
    if (name === 'constructor' || typeof f !== 'function') continue;
    originals.set(name, f);
    proto[name] = function (this: unknown, ...args: unknown[]) {
      touched.push(`${name}(${typeof args[0] === 'string' ? args[0] : ''})`);
      return (f as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  let logs: string[];
  try {
    logs = (await ca.listLogs()).map((c) => c.log).sort();
  } finally {
    for (const [name, f] of originals) proto[name] = f;
  }
  t.same(logs, ['a-1', 'a-2', 'a-3'], 'the tenant\'s own logs, all of them');
  const others = touched.filter((c) => /\(b-/.test(c));
  t.same(others.slice(0, 5), [], 'no storage read names another tenant\'s log');
  t.same(touched.filter((c) => c.startsWith('listLogs(')), [], 'and the node\'s list of every log is not scanned per call');
  t.ok(touched.length <= 3 * 8, `${touched.length} storage reads for 3 logs, whatever the ${OTHER_LOGS} others`);
});
