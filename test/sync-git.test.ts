/**
 * Desired state from real git repositories in temp dirs: the commit is the
 * clock, branches and subpaths select, deletions and renames are seen,
 * malformed YAML and duplicates are errors naming file and document, and
 * nothing from configuration can become a git option.
 */
import t from 'tap';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GitDesired, validateBranch, validateSubpath, redactUrl } from '../src/sync/git-desired.js';
import { formatManifestError } from '../src/sync/manifests.js';
import { tempDir } from './helpers/node.js';
import { configMap, createRepo } from './sync-helpers.js';

const repo = await createRepo();
t.teardown(() => repo.close());
const cache = await tempDir('cairn-sync-cache-');
t.teardown(() => cache.remove());

await repo.write('apps/web.yaml', configMap('web', { color: 'blue' }) + '---\n' + configMap('web-extra', { a: '1' }, { namespace: 'other' }));
await repo.write('apps/ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n');
await repo.write('apps/README.md', '# not a manifest\n');
await repo.write('elsewhere/db.yaml', configMap('db', { size: 'large' }));
const c1 = await repo.commit('first');

const desired = (branch = 'main', path = 'apps') => new GitDesired({ repo: repo.path, branch, path, defaultNamespace: 'default', cacheDir: cache.path });

t.test('the objects under the path at the branch head, keyed namespace/kind/name', async (t) => {
  const g = desired();
  t.equal(await g.head(), c1);
  const s = await g.read(c1);
  t.same([...s.objects.keys()].sort(), ['/Namespace/apps', 'default/ConfigMap/web', 'other/ConfigMap/web-extra']);
  t.same(s.errors, []);
  t.same(s.origins.get('other/ConfigMap/web-extra'), { file: 'apps/web.yaml', document: 2 });
  const root = await desired('main', '').read(c1);
  t.ok(root.objects.has('default/ConfigMap/db'), 'the root path reads everything');
});

t.test('the commit is the clock: an old commit still reads its own state', async (t) => {
  await repo.write('apps/web.yaml', configMap('web', { color: 'green' }));
  const c2 = await repo.commit('green, and web-extra deleted');
  const g = desired();
  t.equal(await g.head(), c2);
  const now = await g.read(c2);
  t.same(now.objects.get('default/ConfigMap/web')!.data, { color: 'green' });
  t.notOk(now.objects.has('other/ConfigMap/web-extra'), 'a deleted document is gone');
  const then = await g.read(c1);
  t.same(then.objects.get('default/ConfigMap/web')!.data, { color: 'blue' });
});

t.test('deleted files and renames', async (t) => {
  const g = desired();
  const before = await g.read(await g.head());
  await repo.move('apps/web.yaml', 'apps/renamed/web.yml');
  await repo.remove('apps/ns.yaml');
  const c = await repo.commit('rename and delete');
  const after = await g.read(c);
  t.same([...after.objects.keys()].sort(), ['default/ConfigMap/web']);
  t.same(after.origins.get('default/ConfigMap/web'), { file: 'apps/renamed/web.yml', document: 1 });
  t.same(after.objects.get('default/ConfigMap/web'), before.objects.get('default/ConfigMap/web'), 'a rename changes no object');
});

t.test('unchanged files are not parsed again (same objects across commits)', async (t) => {
  const g = desired();
  const a = await g.read(await g.head());
  await repo.write('apps/more.yaml', configMap('more', { x: '1' }));
  const b = await g.read(await repo.commit('more'));
  t.equal(b.objects.get('default/ConfigMap/web'), a.objects.get('default/ConfigMap/web'), 'the same parsed object');
  t.ok(b.objects.has('default/ConfigMap/more'));
});

t.test('branches are read independently', async (t) => {
  await repo.git('checkout', '--quiet', '-b', 'feature/x');
  await repo.write('apps/feature.yaml', configMap('feature', { on: 'yes' }));
  const cf = await repo.commit('feature');
  await repo.git('checkout', '--quiet', 'main');
  const main = desired();
  const feature = desired('feature/x');
  t.equal(await feature.head(), cf);
  t.not(await main.head(), cf);
  t.ok((await feature.read(cf)).objects.has('default/ConfigMap/feature'));
  t.notOk((await main.read(await main.head())).objects.has('default/ConfigMap/feature'));
  await t.rejects(desired('no-such-branch').head(), { code: 'NOT_FOUND' });
});

t.test('malformed YAML and duplicate keys are errors naming file and document', async (t) => {
  await repo.git('checkout', '--quiet', '-b', 'broken');
  await repo.write('apps/bad.yaml', configMap('fine', { a: '1' }) + '---\nkind: ConfigMap\nmetadata: {name: [oops\n');
  await repo.write('apps/dup.yaml', configMap('web', { color: 'red' }));
  const c = await repo.commit('broken');
  await repo.git('checkout', '--quiet', 'main');
  const s = await desired('broken').read(c);
  t.same(s.errors.map((e) => [e.code, e.file, e.document]), [
    ['YAML_INVALID', 'apps/bad.yaml', 2],
    ['DUPLICATE_KEY', 'apps/renamed/web.yml', 1],
  ]);
  t.match(formatManifestError(s.errors[1]!), 'default/ConfigMap/web is already defined in apps/dup.yaml document 1');
  t.ok(s.objects.has('default/ConfigMap/fine'), 'the good document of a broken file is still read');
});

t.test('symlinks and large files are not read as manifests', async (t) => {
  await repo.git('checkout', '--quiet', '-b', 'odd');
  await symlink('/etc/passwd', join(repo.path, 'apps/link.yaml'));
  await repo.write('apps/big.yaml', configMap('big', { blob: 'x'.repeat(2000) }));
  const c = await repo.commit('odd');
  await repo.git('checkout', '--quiet', 'main');
  const s = await new GitDesired({ repo: repo.path, branch: 'odd', path: 'apps', defaultNamespace: 'default', maxFileBytes: 1000 }).read(c);
  t.same(s.errors.map((e) => [e.code, e.file]), [['FILE_TOO_LARGE', 'apps/big.yaml']]);
  t.notOk([...s.origins.values()].some((o) => o.file === 'apps/link.yaml'));
  const capped = await new GitDesired({ repo: repo.path, branch: 'odd', path: 'apps', defaultNamespace: 'default', maxTotalBytes: 1500 }).read(c);
  t.same(capped.errors.map((e) => [e.code, e.file]), [['FILE_TOO_LARGE', 'apps']], 'past the total bound nothing is read');
  t.equal(capped.objects.size, 0);
});

t.test('a repository URL is fetched into the cache and followed', async (t) => {
  const url = `file://${repo.path}`;
  const g = new GitDesired({ repo: url, branch: 'main', path: 'apps', defaultNamespace: 'default', cacheDir: cache.path });
  const head = await g.head();
  t.equal(head, await repo.git('rev-parse', 'main'));
  t.ok((await g.read(head)).objects.has('default/ConfigMap/web'));
  await repo.write('apps/late.yaml', configMap('late', { a: '1' }));
  const next = await repo.commit('late');
  t.equal(await g.head(), next, 'the next head() fetches');
  t.ok((await g.read(next)).objects.has('default/ConfigMap/late'));
  t.match(g.describe, /^git:file:\/\//);
  t.equal(redactUrl('https://user:token@example.com/r.git'), 'https://***@example.com/r.git');
});

t.test('nothing from configuration becomes a git option or escapes the repository', async (t) => {
  for (const b of ['-x', '--upload-pack=touch /tmp/pwned', 'a..b', 'HEAD', '@', 'a b', 'x.lock', '.hidden', 'a//b', 'a@{1}', 'a~1', 'a^', 'refs:x', '']) {
    t.throws(() => validateBranch(b), { code: 'INVALID_ARGUMENT' }, `branch ${JSON.stringify(b)}`);
  }
  t.equal(validateBranch('release/1.2'), 'release/1.2');
  t.throws(() => validateSubpath('../x'), { code: 'INVALID_ARGUMENT' });
  t.throws(() => validateSubpath('/etc'), { code: 'INVALID_ARGUMENT' });
  t.equal(validateSubpath('./apps//prod/'), 'apps/prod');
  t.throws(() => new GitDesired({ repo: '--upload-pack=x', branch: 'main', defaultNamespace: 'd' }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => new GitDesired({ repo: 'ext::sh -c touch% /tmp/pwned', branch: 'main', defaultNamespace: 'd' }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(desired().read('HEAD'), { code: 'INVALID_ARGUMENT' }, 'commits are full hex ids');
  // A pathspec-magic path is a literal path here, matching nothing; a path the commit lacks is an error, not an empty state.
  const magic = new GitDesired({ repo: repo.path, branch: 'main', path: ':(glob)**', defaultNamespace: 'd' });
  const m = await magic.read(await magic.head());
  t.same([...m.objects.keys()], []);
  t.same(m.errors.map((e) => [e.code, e.file]), [['PATH_NOT_FOUND', ':(glob)**']]);
  magic.close();
});

t.test('git failures are UNAVAILABLE (retried by the engine)', async (t) => {
  const g = new GitDesired({ repo: join(repo.path, 'nope'), branch: 'main', defaultNamespace: 'd' });
  await t.rejects(g.head(), { code: 'UNAVAILABLE' });
  const r = new GitDesired({ repo: 'file:///nonexistent/repo.git', branch: 'main', defaultNamespace: 'd', cacheDir: cache.path });
  await t.rejects(r.head(), { code: 'UNAVAILABLE' });
});
