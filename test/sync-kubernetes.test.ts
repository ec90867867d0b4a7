/**
 * The Kubernetes live source, driven by the real `@kubernetes/client-node`
 * against a fake API server that speaks the list/watch protocol: paged lists,
 * watches resumed from the last resourceVersion (bookmarks included), 410
 * Gone as an HTTP status and as an ERROR event answered by a relist and a
 * `resync`, a silent watch reopened by the watchdog, 500s retried, and
 * server-side apply requests of the right shape.
 */
import t, { type Test } from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer, type FakeResource, type KubeObj } from './kube/fake-apiserver.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKubernetesSource, DEFAULT_RESOURCES, type KubernetesSourceOptions } from '../src/sync/kubernetes-source.js';
import { createLiveSource, validateSyncTargetConfig } from '../src/sync/run-target.js';
import { parseTargetSpec } from '../src/sync/target-spec.js';
import { tempDir } from './helpers/node.js';
import type { LiveSource } from '../src/sync/live-source.js';
import { CairnError } from '../src/core/errors.js';
import { followSource, summarizeEvents } from './sync-helpers.js';

const CONFIGMAPS: FakeResource = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const DEPLOYMENTS: FakeResource = { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true };
const CLUSTERROLES: FakeResource = { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', kind: 'ClusterRole', namespaced: false };
const TOKEN = 'test-token-123';

const cm = (name: string, data: Record<string, string>, namespace = 'default'): KubeObj => ({ metadata: { name, namespace }, data });

/** Points the default kubeconfig at `file` for this test (KUBECONFIG), restored at teardown. */
function useKubeconfig(t: Test, file: string): void {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = file;
  t.teardown(() => {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  });
}

async function setup(t: Test, extra: Partial<KubernetesSourceOptions> = {}): Promise<{ server: FakeApiServer; src: LiveSource }> {
  const server = await FakeApiServer.start([CONFIGMAPS, DEPLOYMENTS, CLUSTERROLES], { token: TOKEN });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig());
  const src = createKubernetesSource({ kubeConfig, resources: [CONFIGMAPS, DEPLOYMENTS, CLUSTERROLES], backoffInitialMs: 20, backoffMaxMs: 200, ...extra });
  t.teardown(async () => {
    await src.close();
    await server.close();
  });
  return { server, src };
}



t.test('list reads every kind page by page, fills in apiVersion and kind, and keeps each list resourceVersion', async (t) => {
  const { server, src } = await setup(t, { pageSize: 2 });
  for (const n of ['a', 'b', 'c', 'd', 'e']) server.upsert(CONFIGMAPS, cm(n, { n }));
  server.upsert(DEPLOYMENTS, { metadata: { name: 'api', namespace: 'shop' }, spec: { replicas: 3 } });
  server.upsert(CLUSTERROLES, { metadata: { name: 'viewer' }, rules: [] });

  const snap = await src.list();
  t.same([...snap.objects.keys()].sort(), ['/ClusterRole/viewer', 'default/ConfigMap/a', 'default/ConfigMap/b', 'default/ConfigMap/c', 'default/ConfigMap/d', 'default/ConfigMap/e', 'shop/Deployment/api']);
  const api = snap.objects.get('shop/Deployment/api')!;
  t.equal(api.apiVersion, 'apps/v1', 'list items get their apiVersion');
  t.equal(api.kind, 'Deployment', 'and their kind');
  const lists = server.requests.filter((r) => r.path === '/api/v1/configmaps');
  t.equal(lists.length, 3, 'five config maps in pages of two');
  t.same(lists.map((r) => r.query.limit), ['2', '2', '2']);
  t.ok(lists[1]!.query.continue, 'later pages pass the continue token');
  t.ok(server.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`), 'every request carries the kubeconfig token');
  t.same(JSON.parse(snap.version), { '/api/v1/configmaps': '8', '/apis/apps/v1/deployments': '8', '/apis/rbac.authorization.k8s.io/v1/clusterroles': '8' });
  t.match(src.describe, /^kubernetes http:\/\/127\.0\.0\.1:\d+ \(\/api\/v1\/configmaps, /);
});

t.test('watch resumes from the list resourceVersion with bookmarks and reports each kind\'s changes in order', async (t) => {
  const { server, src } = await setup(t);
  server.upsert(CONFIGMAPS, cm('a', { v: '1' }));
  const snap = await src.list();
  const w = followSource(src, snap.version);
  t.teardown(w.stop);
  await w.until(() => server.openWatches === 3, 'three watches');
  for (const r of server.watchRequests()) {
    t.equal(r.query.resourceVersion, '2', `${r.path} starts at the list resourceVersion`);
    t.equal(r.query.allowWatchBookmarks, 'true');
  }
  server.upsert(CONFIGMAPS, cm('b', { v: '1' }));
  server.upsert(CONFIGMAPS, cm('a', { v: '2' }));
  server.upsert(CLUSTERROLES, { metadata: { name: 'viewer' }, rules: [] });
  server.remove(CONFIGMAPS, 'default', 'b');
  await w.until(() => w.events.length >= 4, 'four events');
  // One watch stream per kind: order holds within a kind, as in Kubernetes itself.
  t.same(summarizeEvents(w.events).filter((e) => e.includes('ConfigMap')), ['upsert default/ConfigMap/b {"v":"1"}', 'upsert default/ConfigMap/a {"v":"2"}', 'delete default/ConfigMap/b'], 'config map changes in order');
  t.same(summarizeEvents(w.events).filter((e) => e.includes('ClusterRole')), ['upsert /ClusterRole/viewer null'], 'the cluster role once');
});

t.test('a bookmark advances the resume point: a reopened watch asks for the bookmarked resourceVersion', async (t) => {
  const { server, src } = await setup(t);
  const snap = await src.list();
  const w = followSource(src, snap.version);
  t.teardown(w.stop);
  await w.until(() => server.openWatches === 3, 'three watches');
  const rv = server.upsert(DEPLOYMENTS, { metadata: { name: 'api', namespace: 'shop' }, spec: { replicas: 1 } });
  await w.until(() => w.events.length === 1, 'the deployment');
  server.bookmark();
  await new Promise((r) => setTimeout(r, 100));
  const before = server.watchRequests().length;
  server.closeWatches();
  await w.until(() => server.watchRequests().length >= before + 3 && server.openWatches === 3, 'reopened watches');
  const reopened = server.watchRequests().slice(before);
  const cmWatch = reopened.find((r) => r.path === '/api/v1/configmaps')!;
  t.equal(cmWatch.query.resourceVersion, rv, 'config maps resume from the bookmark, not from the list');
  t.equal(w.events.length, 1, 'a bookmark is no event; a normal close loses and repeats nothing');
});

t.test('410 Gone as an HTTP status relists and emits resync with the whole state', async (t) => {
  const { server, src } = await setup(t);
  server.upsert(CONFIGMAPS, cm('a', { v: '1' }));
  const snap = await src.list();
  const w = followSource(src, snap.version);
  t.teardown(w.stop);
  await w.until(() => server.openWatches === 3, 'three watches');
  server.goneAs = 'http';
  server.closeWatches();
  server.upsert(CONFIGMAPS, cm('b', { v: '1' }));
  server.compact(); // the watches' resume point is gone
  await w.until(() => w.events.some((e) => e.type === 'resync'), 'a resync');
  t.same(summarizeEvents(w.events), ['resync(default/ConfigMap/a,default/ConfigMap/b)'], 'the change made while compacted arrives in the resync, once');
  await w.until(() => server.openWatches === 3, 'watches again');
  server.upsert(CONFIGMAPS, cm('c', {}));
  await w.until(() => w.events.length === 2, 'a live event');
  t.same(summarizeEvents(w.events).slice(1), ['upsert default/ConfigMap/c {}'], 'then watches from the new list resourceVersion');
});

t.test('410 Gone as an ERROR event, on an open watch or on reopening, relists and emits resync', async (t) => {
  const { server, src } = await setup(t);
  server.upsert(CONFIGMAPS, cm('a', {}));
  const snap = await src.list();
  const w = followSource(src, snap.version);
  t.teardown(w.stop);
  await w.until(() => server.openWatches === 3, 'three watches');
  server.expireWatches();
  await w.until(() => w.events.length === 1, 'a resync');
  t.same(summarizeEvents(w.events), ['resync(default/ConfigMap/a)'], 'an ERROR event with code 410 on an open watch');

  await w.until(() => server.openWatches === 3, 'watches again');
  server.goneAs = 'event';
  server.closeWatches();
  server.remove(CONFIGMAPS, 'default', 'a');
  server.compact();
  await w.until(() => w.events.length === 2, 'a second resync');
  t.same(summarizeEvents(w.events)[1], 'resync()', 'an ERROR event with code 410 as the answer to the watch request');
});

t.test('a watch silent for longer than the watchdog is reopened from its resume point', async (t) => {
  const { server, src } = await setup(t, { watchdogMs: 800 });
  const snap = await src.list();
  const w = followSource(src, snap.version);
  t.teardown(w.stop);
  await w.until(() => server.openWatches === 3, 'three watches');
  const before = server.watchRequests().length;
  server.silence(true); // connections stay open and send nothing, like a dead NAT mapping
  server.upsert(CONFIGMAPS, cm('lost-in-silence', {}));
  await new Promise((r) => setTimeout(r, 100));
  server.silence(false);
  const began = Date.now();
  await w.until(() => w.events.length === 1, 'the change, after the watchdog', 5000);
  const waited = Date.now() - began;
  t.ok(waited >= 500, `the change arrived ${waited} ms later, once the watchdog reopened the watch`);
  t.same(summarizeEvents(w.events), ['upsert default/ConfigMap/lost-in-silence {}'], 'replayed from the resume point, once');
  const reopened = server.watchRequests().slice(before);
  t.ok(reopened.some((r) => r.path === '/api/v1/configmaps' && r.query.resourceVersion === JSON.parse(snap.version)['/api/v1/configmaps']), 'reopened at the last seen resourceVersion');
  t.notOk(w.events.some((e) => e.type === 'resync'), 'no relist needed');
});

t.test('500s and connection errors are retried with backoff; no relist, nothing lost', async (t) => {
  const { server, src } = await setup(t);
  const snap = await src.list();
  const w = followSource(src, snap.version);
  t.teardown(w.stop);
  await w.until(() => server.openWatches === 3, 'three watches');
  const before = server.watchRequests().length;
  server.failNext(6, { watch: true });
  server.closeWatches();
  server.upsert(CONFIGMAPS, cm('during-outage', {}));
  await w.until(() => w.events.length === 1, 'the change made during the outage');
  await w.until(() => server.openWatches === 3, 'watches again');
  t.ok(server.watchRequests().length - before >= 9, `${server.watchRequests().length - before} watch requests: six failed, then three succeeded`);
  t.same(summarizeEvents(w.events), ['upsert default/ConfigMap/during-outage {}']);

  server.failNext(1, { watch: false });
  const err = await src.list().catch((e: unknown) => e);
  t.equal((err as CairnError).code, 'UNAVAILABLE', 'list itself does not retry: a 500 is UNAVAILABLE');

  // Nothing listening at all: the watch keeps retrying until aborted.
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig().replace(server.url, 'http://127.0.0.1:9'));
  const offline = createKubernetesSource({ kubeConfig: kc, resources: [CONFIGMAPS], backoffInitialMs: 20, backoffMaxMs: 100 });
  const ac = new AbortController();
  const p = offline.watch(JSON.stringify({ '/api/v1/configmaps': '1' }), () => {}, ac.signal);
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, 400));
  t.notOk(settled, 'still retrying after connection refused');
  ac.abort(new Error('stop'));
  await t.rejects(p, { message: 'stop' }, 'rejects only when aborted');
});

t.test('configuration errors are not retried', async (t) => {
  const { server } = await setup(t);
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig().replace(TOKEN, 'wrong'));
  const unauthorized = createKubernetesSource({ kubeConfig: kc, resources: [CONFIGMAPS] });
  const err = await unauthorized.list().catch((e: unknown) => e);
  t.equal((err as CairnError).code, 'FAILED_PRECONDITION', 'a 401 fails list');

  const good = new KubeConfig();
  good.loadFromString(server.kubeconfig());
  const unknown = createKubernetesSource({ kubeConfig: good, resources: [{ group: 'example.com', version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true }] });
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  await t.rejects(unknown.watch(JSON.stringify({ '/apis/example.com/v1/widgets': '1' }), () => {}, ac.signal), { code: 'FAILED_PRECONDITION' }, 'a watch of a resource the server does not serve (404) rejects');
  await t.rejects(unknown.watch('17', () => {}, ac.signal), { code: 'INVALID_ARGUMENT' }, 'a version from another source is refused');
  t.throws(() => createKubernetesSource({ kubeConfig: good, resources: [] }), { code: 'INVALID_ARGUMENT' });
});

t.test('apply is a server-side apply PATCH; null deletes', async (t) => {
  const { server, src } = await setup(t);
  const desired = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'shop', labels: { app: 'api' } }, spec: { replicas: 2 } };
  await src.apply!('shop/Deployment/api', desired);
  const patch = server.requests.find((r) => r.method === 'PATCH')!;
  t.equal(patch.path, '/apis/apps/v1/namespaces/shop/deployments/api');
  t.same(patch.query, { fieldManager: 'cairn', force: 'true' }, 'field manager cairn, forced');
  t.equal(patch.headers['content-type'], 'application/apply-patch+yaml');
  t.equal(patch.headers.authorization, `Bearer ${TOKEN}`);
  t.same(JSON.parse(patch.body), desired, 'the body is the whole desired object');
  t.same(server.get(DEPLOYMENTS, 'shop', 'api')?.spec, { replicas: 2 }, 'the server applied it');

  await src.apply!('/ClusterRole/viewer', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'viewer' }, rules: [] });
  t.ok(server.requests.some((r) => r.method === 'PATCH' && r.path === '/apis/rbac.authorization.k8s.io/v1/clusterroles/viewer'), 'cluster-scoped objects have no namespace in the path');

  await src.apply!('shop/Deployment/api', null);
  t.ok(server.requests.some((r) => r.method === 'DELETE' && r.path === '/apis/apps/v1/namespaces/shop/deployments/api'));
  t.equal(server.get(DEPLOYMENTS, 'shop', 'api'), undefined);
  await src.apply!('shop/Deployment/api', null);
  t.pass('deleting what is already gone is fine');

  await t.rejects(src.apply!('shop/Secret/x', { kind: 'Secret', metadata: { name: 'x', namespace: 'shop' } }), { code: 'INVALID_ARGUMENT' }, 'a kind that is not configured');
  await t.rejects(src.apply!('shop/Deployment/api', { ...desired, metadata: { name: 'other', namespace: 'shop' } }), { code: 'INVALID_ARGUMENT' }, 'an object whose metadata names another key');
});

t.test('a kubernetes:CONTEXT target spec reads the default kubeconfig and follows the default kinds', async (t) => {
  const server = await FakeApiServer.start([...DEFAULT_RESOURCES]);
  t.teardown(() => server.close());
  const dir = await tempDir();
  t.teardown(dir.remove);
  const config = JSON.parse(server.kubeconfig()) as { contexts: { name: string }[]; 'current-context': string };
  config.contexts.push({ ...config.contexts[0]!, name: 'fake-too' });
  config['current-context'] = 'elsewhere';
  const file = join(dir.path, 'kubeconfig');
  await writeFile(file, JSON.stringify(config));
  useKubeconfig(t, file);

  server.upsert(DEFAULT_RESOURCES[2]!, { metadata: { name: 'api', namespace: 'shop' }, spec: { replicas: 1 } });
  const src = await createLiveSource(parseTargetSpec('kubernetes:fake-too'));
  t.teardown(() => src.close());
  t.same([...(await src.list()).objects.keys()], ['shop/Deployment/api']);
  t.equal(new Set(server.requests.map((r) => r.path)).size, DEFAULT_RESOURCES.length, 'one list per default kind');
  await t.rejects(createLiveSource(parseTargetSpec('kubernetes:missing')), { code: 'INVALID_ARGUMENT' }, 'an unknown context is refused');
});

t.test('kube_resources: a target follows the kinds it names, in the namespace it names', async (t) => {
  const server = await FakeApiServer.start([CONFIGMAPS, DEPLOYMENTS, CLUSTERROLES]);
  t.teardown(() => server.close());
  const dir = await tempDir();
  t.teardown(dir.remove);
  const file = join(dir.path, 'kubeconfig');
  await writeFile(file, server.kubeconfig());
  useKubeconfig(t, file);
  server.upsert(DEPLOYMENTS, { metadata: { name: 'api', namespace: 'shop' }, spec: { replicas: 1 } });
  server.upsert(DEPLOYMENTS, { metadata: { name: 'other', namespace: 'elsewhere' }, spec: { replicas: 1 } });
  server.upsert(CLUSTERROLES, { metadata: { name: 'viewer' }, rules: [] });
  server.upsert(CONFIGMAPS, cm('not-followed', { a: '1' }));

  const cfg = validateSyncTargetConfig({
    name: 'k',
    repo: '/nowhere',
    target: 'kubernetes',
    kube_resources: ['apps/v1/deployments/Deployment@shop', { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', kind: 'ClusterRole' }],
  });
  t.same(cfg.kubeResources, [
    { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true, namespace: 'shop' },
    { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', kind: 'ClusterRole', namespaced: false },
  ], 'ClusterRole is cluster-scoped by the same rule as the manifests');
  const src = await createLiveSource(parseTargetSpec(cfg.target), { kubeResources: cfg.kubeResources });
  t.teardown(() => src.close());
  t.same([...(await src.list()).objects.keys()].sort(), ['/ClusterRole/viewer', 'shop/Deployment/api']);
  t.same(
    [...new Set(server.requests.map((r) => r.path))].sort(),
    ['/apis/apps/v1/namespaces/shop/deployments', '/apis/rbac.authorization.k8s.io/v1/clusterroles'],
    'one list per configured collection, nothing else',
  );
});

t.test('kube_resources: every mistake is refused before connecting, naming the setting', async (t) => {
  const base = { name: 'k', repo: '/nowhere', target: 'kubernetes' };
  const refused = (kube_resources: unknown, field: RegExp, extra: Record<string, unknown> = {}): void => {
    t.throws(() => validateSyncTargetConfig({ ...base, ...extra, kube_resources }), { code: 'INVALID_ARGUMENT', message: field }, JSON.stringify(kube_resources));
  };
  refused(['v1/configmaps/ConfigMap'], /^sync_target\.kube_resources: is only for kubernetes targets/, { target: 'dir:/tmp' });
  refused('apps/v1/deployments/Deployment', /^sync_target\.kube_resources: must be a list/);
  refused([], /^sync_target\.kube_resources: at least one/);
  refused(['deployments'], /^sync_target\.kube_resources\[0\]: "deployments" is not \[GROUP\/\]VERSION\/PLURAL\/Kind/);
  refused(['v1/configmaps/ConfigMap', 'a/b/c/d/e'], /^sync_target\.kube_resources\[1\]: /);
  refused(['Apps/v1/deployments/Deployment'], /^sync_target\.kube_resources\[0\]\.group/);
  refused(['v1/Deployments/Deployment'], /^sync_target\.kube_resources\[0\]\.plural/);
  refused(['v1/configmaps/config-map'], /^sync_target\.kube_resources\[0\]\.kind/);
  refused(['rbac.authorization.k8s.io/v1/clusterroles/ClusterRole@shop'], /^sync_target\.kube_resources\[0\]\.namespace: only for namespaced kinds/);
  refused(['example.com/v1/widgets/Widget@ns'], /^sync_target\.kube_resources\[0\]\.namespace: only for namespaced kinds/, { cluster_scoped_kinds: ['Widget'] });
  refused(['v1/configmaps/ConfigMap', { version: 'v1', plural: 'configmaps', kind: 'ConfigMap' }], /^sync_target\.kube_resources\[1\]\.plural: v1\/configmaps is listed twice/);
  refused([{ version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaces: ['a'] }], /^sync_target\.kube_resources\[0\]\.namespaces: unknown setting/);
  refused([{ version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: 'yes' }], /^sync_target\.kube_resources\[0\]\.namespaced: must be true or false/);
  refused([42], /^sync_target\.kube_resources\[0\]: must be/);
  t.same(
    validateSyncTargetConfig({ ...base, kube_resources: ['v1/configmaps/ConfigMap@team-a', 'v1/configmaps/ConfigMap@team-b'] }).kubeResources?.map((r) => r.namespace),
    ['team-a', 'team-b'],
    'one kind in two namespaces is two collections',
  );
});
