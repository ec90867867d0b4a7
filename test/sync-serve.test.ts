/**
 * Sync targets in the `serve` config run inside the node and record into its
 * own ledger; a bad target in the config refuses to start, naming the field.
 */
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir } from './helpers/node.js';
import { createRepo, configMap, until } from './sync-helpers.js';
import { loadConfig } from '../src/node/config.js';
import { decodeBody } from '../src/core/entry.js';

t.test('a dir target from the config file records drift and its resolution into the node\'s own ledger', async (t) => {
  const repo = await createRepo();
  t.teardown(repo.close);
  await repo.write('app/settings.yaml', configMap('settings', { mode: 'blue' }));
  await repo.commit('desired');
  const dir = await tempDir();
  t.teardown(dir.remove);
  const live = join(dir.path, 'live');
  await mkdir(live);
  await writeFile(join(live, 'settings.yaml'), configMap('settings', { mode: 'green' }));
  const configPath = join(dir.path, 'cairn.json');
  await writeFile(configPath, JSON.stringify({ sync_targets: [{ name: 'demo', repo: repo.path, path: 'app', target: `dir:${live}`, poll_interval_ms: 100 }] }));

  const tn = await startTestNode({ config: configPath });
  t.teardown(() => tn.close());
  const drift = await until(async () => {
    const e = await tn.client.getEntry('sync', 0).catch(() => undefined);
    return e ? decodeBody(e.body) : undefined;
  }, 20_000, 'a drift entry');
  t.equal(drift.action, 'drift.modified');
  t.equal(drift.operator, 'cairn-sync/demo');
  t.equal(drift.configId, 'default/ConfigMap/settings');

  await writeFile(join(live, 'settings.yaml'), configMap('settings', { mode: 'blue' }));
  const resolved = await until(async () => {
    const e = await tn.client.getEntry('sync', 1).catch(() => undefined);
    return e ? decodeBody(e.body) : undefined;
  }, 20_000, 'the resolution entry');
  t.equal(resolved.action, 'drift.resolved');
});

t.test('a bad sync target in the config file is refused, naming the field', async (t) => {
  const dir = await tempDir();
  t.teardown(dir.remove);
  const configPath = join(dir.path, 'cairn.json');
  await writeFile(configPath, JSON.stringify({ sync_targets: [{ name: 'Bad Name', repo: '/x', target: 'dir:/y' }] }));
  await t.rejects(loadConfig({ flags: { config: configPath } }), { code: 'INVALID_ARGUMENT', message: /sync_targets\[0\]\.name/ });
  await writeFile(configPath, JSON.stringify({ sync_targets: [{ name: 'a', repo: '/x', target: 'nope:/y' }] }));
  await t.rejects(loadConfig({ flags: { config: configPath } }), { code: 'INVALID_ARGUMENT', message: /sync_targets\[0\]\.target/ });
  await writeFile(configPath, JSON.stringify({ sync_targets: [{ name: 'a', repo: '/x', target: 'dir:/y' }, { name: 'a', repo: '/z', target: 'dir:/w' }] }));
  await t.rejects(loadConfig({ flags: { config: configPath } }), { code: 'INVALID_ARGUMENT', message: /used twice/ });
});
