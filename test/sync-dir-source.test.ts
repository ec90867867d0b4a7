/**
 * The dir live source: lists a directory of YAML, follows edits with events,
 * keeps the last good objects of a file broken mid-edit, and applies one
 * object per file atomically.
 */
import t from 'tap';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DirSource, canonicalPath } from '../src/sync/dir-source.js';
import type { LiveEvent } from '../src/sync/live-source.js';
import { tempDir } from './helpers/node.js';
import { configMap, until } from './sync-helpers.js';

async function fixture(): Promise<{ dir: string; src: DirSource; close(): Promise<void> }> {
  const d = await tempDir('cairn-sync-dir-');
  const src = new DirSource({ dir: d.path, debounceMs: 5, rescanMs: 200 });
  return { dir: d.path, src, close: async () => (await src.close(), await d.remove()) };
}

t.test('list reads every manifest below the directory, hidden files skipped', async (t) => {
  const f = await fixture();
  t.teardown(f.close);
  await mkdir(join(f.dir, 'nested'));
  await writeFile(join(f.dir, 'a.yaml'), configMap('a', { x: '1' }) + '---\n' + configMap('b', { x: '2' }, { namespace: 'other' }));
  await writeFile(join(f.dir, 'nested', 'c.json'), JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'c' } }));
  await writeFile(join(f.dir, '.hidden.yaml'), configMap('hidden', {}));
  await writeFile(join(f.dir, 'notes.txt'), 'kind: nope');
  const snap = await f.src.list();
  t.same([...snap.objects.keys()].sort(), ['default/ConfigMap/a', 'default/ConfigMap/c', 'other/ConfigMap/b']);
  t.match(snap.version, /^[0-9a-f]{32}$/);
  t.equal((await f.src.list()).version, snap.version, 'the version is stable while nothing changes');
});

t.test('a live state that cannot be read fails the listing (not guessed at)', async (t) => {
  const f = await fixture();
  t.teardown(f.close);
  await writeFile(join(f.dir, 'bad.yaml'), 'kind: ConfigMap\nmetadata: {name: [x\n');
  await t.rejects(f.src.list(), { code: 'UNAVAILABLE', message: /bad\.yaml document 1/ });
  await writeFile(join(f.dir, 'bad.yaml'), configMap('x', {}));
  await writeFile(join(f.dir, 'dup.yaml'), configMap('x', {}));
  await t.rejects(f.src.list(), { code: 'UNAVAILABLE', message: /already defined/ });
});

t.test('watch: edits, additions and deletions become events; a broken edit deletes nothing', async (t) => {
  const f = await fixture();
  t.teardown(f.close);
  await writeFile(join(f.dir, 'a.yaml'), configMap('a', { x: '1' }));
  const snap = await f.src.list();
  const events: LiveEvent[] = [];
  const ac = new AbortController();
  const errors: string[] = [];
  const src = new DirSource({ dir: f.dir, debounceMs: 5, rescanMs: 200, onError: (m) => errors.push(m) });
  await src.list();
  const watching = src.watch(snap.version, (e) => events.push(e), ac.signal);
  t.teardown(() => ac.abort());
  await writeFile(join(f.dir, 'a.yaml'), configMap('a', { x: '2' }));
  await until(() => events.some((e) => e.type === 'upsert' && e.key === 'default/ConfigMap/a'), 5000, 'upsert');
  await writeFile(join(f.dir, 'b.yaml'), configMap('b', {}));
  await until(() => events.some((e) => e.type === 'upsert' && e.key === 'default/ConfigMap/b'), 5000, 'add');
  await writeFile(join(f.dir, 'a.yaml'), 'kind: ConfigMap\nmetadata: {name: [half-written\n');
  await until(() => errors.length > 0, 5000, 'error report');
  t.notOk(events.some((e) => e.type === 'delete'), 'a broken file deletes nothing');
  await rm(join(f.dir, 'b.yaml'));
  await until(() => events.some((e) => e.type === 'delete' && e.key === 'default/ConfigMap/b'), 5000, 'delete');
  t.notOk(events.some((e) => e.type === 'delete' && e.key === 'default/ConfigMap/a'));
  const upsert = events.find((e) => e.type === 'upsert')!;
  t.type(upsert.receivedAt, 'bigint');
  ac.abort();
  await watching;
  await src.close();
});

t.test('watch from an unknown version starts with a resync', async (t) => {
  const f = await fixture();
  t.teardown(f.close);
  await writeFile(join(f.dir, 'a.yaml'), configMap('a', {}));
  const events: LiveEvent[] = [];
  const ac = new AbortController();
  const watching = f.src.watch('stale', (e) => events.push(e), ac.signal);
  await until(() => events.length > 0, 5000, 'resync');
  t.equal(events[0]!.type, 'resync');
  t.same([...(events[0] as { objects: Map<string, unknown> }).objects.keys()], ['default/ConfigMap/a']);
  ac.abort();
  await watching;
});

t.test('apply: one file per object, atomically; shared files are split; null deletes', async (t) => {
  const f = await fixture();
  t.teardown(f.close);
  await writeFile(join(f.dir, 'shared.yaml'), configMap('a', { x: '1' }) + '---\n' + configMap('b', { x: '1' }));
  await writeFile(join(f.dir, 'own.yaml'), configMap('c', { x: '1' }));
  await f.src.apply('default/ConfigMap/c', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { x: 'yes' } });
  t.match(await readFile(join(f.dir, 'own.yaml'), 'utf8'), /x: "yes"/, 'a sole object is rewritten in place, "yes" quoted for YAML 1.1');
  await f.src.apply('default/ConfigMap/a', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' }, data: { x: '2' } });
  t.equal(canonicalPath('default/ConfigMap/a'), 'default/ConfigMap/a.yaml');
  t.equal(canonicalPath('/Namespace/apps'), '_cluster/Namespace/apps.yaml');
  await f.src.apply('/Namespace/apps', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
  const snap = await f.src.list();
  t.same((snap.objects.get('default/ConfigMap/a')!.data as object), { x: '2' });
  t.same((snap.objects.get('default/ConfigMap/b')!.data as object), { x: '1' }, 'the other object of the shared file stands');
  t.same((snap.objects.get('default/ConfigMap/c')!.data as object), { x: 'yes' });
  t.ok(snap.objects.has('/Namespace/apps'));
  await f.src.apply('default/ConfigMap/c', null);
  await f.src.apply('default/ConfigMap/b', null);
  const after = await f.src.list();
  t.same([...after.objects.keys()].sort(), ['/Namespace/apps', 'default/ConfigMap/a']);
  t.notOk((await readdir(f.dir)).some((n) => n.endsWith('.tmp')), 'no temporary file is left');
  await t.rejects(f.src.apply('default/ConfigMap/x', { kind: 'ConfigMap', metadata: { name: 'y' } }), { code: 'INVALID_ARGUMENT' }, 'the key must match the object');
  await t.rejects(f.src.apply('default/ConfigMap/x', { kind: 'ConfigMap', metadata: { name: '..' } }), { code: 'INVALID_ARGUMENT' }, 'no path escapes');
});
