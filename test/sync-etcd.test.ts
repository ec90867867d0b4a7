/**
 * The etcd live source against a real etcd (Debian's binary, started by the
 * test on loopback): objects keyed by their metadata, events in revision
 * order, a watch that survives kill -9 of etcd in the middle of catching up
 * with no event lost or doubled, a compacted start revision answered by a
 * relist and a `resync`, and apply writing where the object lives. End to
 * end, the sync engine with an etcd target records a drift once, records its
 * resolution, and in apply mode makes etcd converge on Git.
 */
import t from 'tap';
import { Etcd3 } from 'etcd3';
import { startEtcd, type TestEtcd } from './helpers/etcd.js';
import { createEtcdSource, type EtcdSourceOptions } from '../src/sync/etcd-source.js';
import type { KubeObject, LiveEvent, LiveSource } from '../src/sync/live-source.js';
import type { ManifestError } from '../src/sync/manifests.js';
import { CairnError } from '../src/core/errors.js';
import { decodeBody } from '../src/core/entry.js';
import { SyncEngine } from '../src/sync/engine.js';
import { createLiveSource } from '../src/sync/run-target.js';
import { parseTargetSpec } from '../src/sync/target-spec.js';
import { GitDesired } from '../src/sync/git-desired.js';
import { ledgerRecorder } from '../src/node/ledger-recorder.js';
import type { Recorder } from '../src/sync/recorder.js';
import { readSyncEntry, type SyncRecord } from '../src/sync/sync-entry.js';
import { startTestNode } from './helpers/node.js';
import { configMap, createRepo, followSource, summarizeEvents, until } from './sync-helpers.js';

let etcd: TestEtcd;
let client: Etcd3;

t.before(async () => {
  etcd = await startEtcd();
  // No per-host circuit breaker (the default opens for 5 s after three failures):
  // the kill -9 test would mostly wait for it. The source's own backoff still applies.
  const noBreaker = { execute: <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => T) => Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 0 })) };
  client = new Etcd3({ hosts: etcd.endpoint, faultHandling: { host: () => noBreaker as never } });
});
t.teardown(async () => {
  client?.close();
  await etcd?.close();
});

const cm = (name: string, data: Record<string, string>, namespace = 'default'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});

function source(prefix: string, extra: Partial<EtcdSourceOptions> = {}): LiveSource {
  return createEtcdSource({ client, prefix, backoffInitialMs: 50, backoffMaxMs: 500, ...extra });
}



async function put(key: string, value: string): Promise<bigint> {
  const res = await client.put(key).value(value).exec();
  return BigInt(res.header.revision);
}

t.test('list reads every key under the prefix, keyed by metadata, at the header revision', async (t) => {
  await put('/list/payments.json', JSON.stringify(cm('payments', { replicas: '3' })));
  await put('/list/anything', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\ndata:\n  enabled: "yes"\n');
  await put('/list/cluster', 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: viewer}\n');
  const rev = await put('/other/ignored.json', JSON.stringify(cm('ignored', {})));

  const snap = await source('/list/').list();
  t.same([...snap.objects.keys()].sort(), ['/ClusterRole/viewer', 'default/ConfigMap/payments', 'shop/ConfigMap/web'], 'keys come from metadata, not from etcd keys; other prefixes are not read');
  t.same(snap.objects.get('shop/ConfigMap/web')?.data, { enabled: 'yes' }, 'YAML values parse like manifests');
  t.equal(snap.version, rev.toString(), 'the version is the header revision of the read');

  // The same through a target spec, as `cairn sync --target etcd:HOST:PORT/PREFIX` builds it.
  const viaSpec = await createLiveSource(parseTargetSpec(`etcd:${etcd.endpoint.replace('http://', '')}/list/`));
  t.teardown(() => viaSpec.close());
  t.equal(viaSpec.describe, `etcd prefix /list/ at ${etcd.endpoint}`);
  t.same([...(await viaSpec.list()).objects.keys()].sort(), [...snap.objects.keys()].sort());
});

t.test('a value that is not one valid object is reported with its etcd key, or fails list without onInvalid', async (t) => {
  await put('/bad/ok', JSON.stringify(cm('ok', {})));
  await put('/bad/not-yaml', 'kind: [unclosed');
  await put('/bad/no-name', '{"kind":"ConfigMap","metadata":{}}');
  await put('/bad/two', 'kind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n');
  await put('/bad/zz-duplicate', JSON.stringify(cm('ok', { again: 'true' })));

  const reported: ManifestError[] = [];
  const snap = await source('/bad/', { onInvalid: (e) => reported.push(e) }).list();
  t.same([...snap.objects.keys()], ['default/ConfigMap/ok']);
  t.same(
    reported.map((e) => [e.file, e.code]),
    [
      ['/bad/no-name', 'FIELD_INVALID'],
      ['/bad/not-yaml', 'YAML_INVALID'],
      ['/bad/two', 'NOT_AN_OBJECT'],
      ['/bad/zz-duplicate', 'DUPLICATE_KEY'],
    ],
  );
  t.match(reported[3]!.message, /held by etcd key \/bad\/ok/);

  const err = await source('/bad/').list().catch((e: unknown) => e);
  t.ok(err instanceof CairnError);
  t.equal((err as CairnError).code, 'INVALID_ARGUMENT');
  t.match((err as CairnError).message, /^etcd key \/bad\/no-name/, 'the error names the etcd key');
});

t.test('watch delivers puts, edits, renames, transactions and deletes in revision order', async (t) => {
  const src = source('/watch/', { onInvalid: () => {} });
  await put('/watch/a', JSON.stringify(cm('a', { v: '1' })));
  const snap = await src.list();
  const w = followSource(src, snap.version);
  t.teardown(w.stop);

  await put('/watch/b', JSON.stringify(cm('b', { v: '1' })));
  await put('/watch/a', JSON.stringify(cm('a', { v: '2' })));
  await put('/watch/a', JSON.stringify(cm('a-renamed', { v: '3' })));
  await client
    .if('/watch/b', 'Create', '>', 0)
    .then(client.put('/watch/c').value(JSON.stringify(cm('c', {}))), client.put('/watch/d').value(JSON.stringify(cm('d', {}))))
    .commit();
  await put('/watch/d', 'not: [valid');
  await client.delete().key('/watch/b').exec();
  await client.delete().key('/watch/never-held-an-object').exec();

  const expected = [
    'upsert default/ConfigMap/b {"v":"1"}',
    'upsert default/ConfigMap/a {"v":"2"}',
    'delete default/ConfigMap/a',
    'upsert default/ConfigMap/a-renamed {"v":"3"}',
    'upsert default/ConfigMap/c {}',
    'upsert default/ConfigMap/d {}',
    'delete default/ConfigMap/d',
    'delete default/ConfigMap/b',
  ];
  await w.until((e) => e.length >= expected.length);
  t.same(summarizeEvents(w.events), expected, 'one event per change, both events of a transaction, an invalid value removes its object');
});

t.test('etcd killed with -9 in the middle of a catch-up and restarted: no event lost or doubled', async (t) => {
  const PREFIX = '/kill/';
  const src = source(PREFIX);
  const snap = await src.list();
  const start = BigInt(snap.version);
  // A backlog the watch has to catch up on from an old revision: the case in
  // which etcd3's own resume point (header revision + 1) would skip events.
  // etcd sends a catching-up watcher at most 1,000 revisions per response,
  // so a kill on the first event lands in the middle of the catch-up.
  const BACKLOG = 1500;
  const pad = 'x'.repeat(500);
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let i = next++; i < BACKLOG; i = next++) await put(`${PREFIX}k${i % 20}`, JSON.stringify(cm(`k${i % 20}`, { seq: String(i), pad })));
    }),
  );

  let killed: Promise<void> | undefined;
  const events: LiveEvent[] = [];
  const ac = new AbortController();
  const watching = src.watch(
    snap.version,
    (e) => {
      events.push(e);
      killed ??= etcd.kill9();
    },
    ac.signal,
  );
  watching.catch(() => {});
  t.teardown(async () => {
    ac.abort();
    await watching.catch(() => {});
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (killed) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
    setTimeout(() => reject(new Error('no event arrived')), 10_000).unref();
  });
  await killed;
  t.ok(events.length < BACKLOG, `killed after ${events.length} of ${BACKLOG} backlog events`);
  await etcd.restart();

  // More changes after the restart; a put that fails while etcd recovers is retried.
  for (let i = BACKLOG; i < BACKLOG + 30; i++) {
    for (;;) {
      try {
        await put(`${PREFIX}k${i % 20}`, JSON.stringify(cm(`k${i % 20}`, { seq: String(i), pad })));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  // The authoritative history: every change under the prefix after `start`, read back from etcd.
  const history = await client.getAll().prefix(PREFIX).exec();
  const end = BigInt(history.header.revision);
  const truth: string[] = [];
  const raw = await client.watch().prefix(PREFIX).startRevision((start + 1n).toString()).create();
  await new Promise<void>((resolve) => {
    raw.on('data', (res) => {
      for (const ev of res.events) {
        const o = JSON.parse(ev.kv.value.toString()) as KubeObject;
        truth.push(`upsert default/ConfigMap/${o.metadata.name} ${JSON.stringify(o.data)}`);
        if (BigInt(ev.kv.mod_revision) >= end) resolve();
      }
    });
  });
  await raw.cancel();
  t.ok(truth.length >= BACKLOG + 30, `etcd history has ${truth.length} changes`);

  const deadline = Date.now() + 20_000;
  while (events.length < truth.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300)); // room for a doubled event to show up
  t.equal(events.length, truth.length, 'as many events as changes');
  t.same(summarizeEvents(events), truth, 'the same changes in the same order');
});

t.test('a compacted start revision forces a relist: resync with the whole state, then live events', async (t) => {
  const PREFIX = '/compact/';
  await put(`${PREFIX}a`, JSON.stringify(cm('a', { v: '1' })));
  const src = source(PREFIX);
  const snap = await src.list();
  await put(`${PREFIX}a`, JSON.stringify(cm('a', { v: '2' })));
  const rev = await put(`${PREFIX}b`, JSON.stringify(cm('b', { v: '1' })));
  await client.kv.compact({ revision: rev.toString(), physical: true });

  const w = followSource(src, snap.version);
  t.teardown(w.stop);
  await w.until((e) => e.length >= 1, 'a resync');
  const first = w.events[0]!;
  t.equal(first.type, 'resync');
  if (first.type === 'resync') {
    t.same([...first.objects.keys()].sort(), ['default/ConfigMap/a', 'default/ConfigMap/b']);
    t.same(first.objects.get('default/ConfigMap/a')?.data, { v: '2' }, 'the resync carries the state after compaction');
  }
  await put(`${PREFIX}c`, JSON.stringify(cm('c', {})));
  await client.delete().key(`${PREFIX}a`).exec();
  await w.until((e) => e.length >= 3);
  t.same(summarizeEvents(w.events).slice(1), ['upsert default/ConfigMap/c {}', 'delete default/ConfigMap/a'], 'then watches from the relist revision + 1');
});

t.test('apply writes an existing object back to its key and a new one to <prefix><namespace>/<kind>/<name>', async (t) => {
  const PREFIX = '/apply/';
  await put(`${PREFIX}legacy-name.yaml`, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\ndata: {v: "1"}\n');
  const src = source(PREFIX, { format: 'yaml' });
  const snap = await src.list();
  t.ok(snap.objects.has('default/ConfigMap/old'));

  await src.apply!('default/ConfigMap/old', cm('old', { v: '2', flag: 'yes', octal: '0755' }));
  await src.apply!('shop/ConfigMap/new', cm('new', { v: '1' }, 'shop'));
  await src.apply!('/ClusterRole/viewer', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'viewer' } });
  t.same(Object.keys(await client.getAll().prefix(PREFIX).strings()).sort(), [`${PREFIX}/ClusterRole/viewer`, `${PREFIX}legacy-name.yaml`, `${PREFIX}shop/ConfigMap/new`]);

  const again = await src.list();
  t.same(again.objects.get('default/ConfigMap/old')?.data, { v: '2', flag: 'yes', octal: '0755' }, 'YAML written as YAML 1.1 reads back as the same strings');

  await src.apply!('default/ConfigMap/old', null);
  await src.apply!('shop/ConfigMap/new', null);
  t.same(Object.keys(await client.getAll().prefix(PREFIX).strings()), [`${PREFIX}/ClusterRole/viewer`], 'null deletes the key that held the object');
  await src.apply!('default/ConfigMap/old', null);
  t.pass('deleting what is already gone is fine');

  const err = await src.apply!('default/ConfigMap/x', cm('y', {})).catch((e: unknown) => e);
  t.equal((err as CairnError).code, 'INVALID_ARGUMENT', 'an object whose metadata names another key is refused');

  await put(`${PREFIX}default/ConfigMap/taken`, JSON.stringify(cm('squatter', {})));
  await src.list();
  await t.rejects(src.apply!('default/ConfigMap/taken', cm('taken', {})), { code: 'FAILED_PRECONDITION' }, 'the scheme key of a new object never overwrites another object');
  t.same(JSON.parse((await client.get(`${PREFIX}default/ConfigMap/taken`).string())!).metadata.name, 'squatter');
});

t.test('an aborted watch rejects promptly, also while etcd is unreachable', async (t) => {
  const src = source('/abort/');
  const snap = await src.list();
  const w = followSource(src, snap.version);
  await new Promise((r) => setTimeout(r, 200));
  const began = Date.now();
  await w.stop();
  t.ok(Date.now() - began < 2000, 'stopped quickly');

  const offline = createEtcdSource({ hosts: 'http://127.0.0.1:9', prefix: '/abort/', backoffInitialMs: 50 });
  t.equal(offline.describe, 'etcd prefix /abort/ at http://127.0.0.1:9');
  const ac = new AbortController();
  const p = offline.watch('1', () => {}, ac.signal);
  await new Promise((r) => setTimeout(r, 300));
  ac.abort(new Error('stop'));
  await t.rejects(p, { message: 'stop' }, 'rejects with the abort reason');
  await offline.close();
});

/** This target's sync entries in the node's ledger, in order. */
async function syncEntries(recorder: Recorder, log: string, target: string): Promise<SyncRecord[]> {
  const out: SyncRecord[] = [];
  for await (const e of recorder.history(log)) {
    const r = readSyncEntry(decodeBody(e.body));
    if (r && r.target === target) out.push(r);
  }
  return out;
}

t.test('end to end: a drift in etcd is recorded once, and its resolution is recorded', async (t) => {
  const PREFIX = '/e2e-report/';
  const tn = await startTestNode();
  t.teardown(tn.close);
  const repo = await createRepo();
  t.teardown(repo.close);
  await repo.write('app.yaml', configMap('app', { replicas: '3' }));
  await repo.write('web.yaml', configMap('web', { port: '80' }));
  const commit = await repo.commit('desired');
  await put(`${PREFIX}app`, JSON.stringify(cm('app', { replicas: '3' })));
  await put(`${PREFIX}web`, JSON.stringify(cm('web', { port: '80' })));

  const recorder = ledgerRecorder(tn.node.ledger);
  const engine = new SyncEngine(
    { name: 'etcd-report', log: 'sync', pollIntervalMs: 60_000, backoff: { baseMs: 20, maxMs: 200 } },
    { desired: new GitDesired({ repo: repo.path, branch: 'main', defaultNamespace: 'default' }), live: source(PREFIX), recorder },
  );
  const ac = new AbortController();
  const running = engine.run(ac.signal);
  t.teardown(async () => {
    ac.abort();
    await running;
  });
  await until(() => engine.commit === commit, 10_000, 'the engine to read Git');

  // Someone edits live state behind Git's back.
  await put(`${PREFIX}app`, JSON.stringify(cm('app', { replicas: '5' })));
  const drift = await until(async () => (await syncEntries(recorder, 'sync', 'etcd-report')).find((e) => e.action === 'drift.modified'), 10_000, 'the drift');
  t.equal(drift.payload.key, 'default/ConfigMap/app');
  t.match(drift.payload.patch, [{ op: 'test', path: '/data/replicas', value: '5' }, { op: 'replace', path: '/data/replicas', value: '3' }], 'the patch that would restore Git');
  t.equal(drift.commit, commit);

  // More live events that leave the drift as it is (rewrites of the same value, in
  // JSON and in YAML), then a drift of another object: events are handled in order,
  // so once that one is recorded the rewrites have been seen.
  await put(`${PREFIX}app`, JSON.stringify(cm('app', { replicas: '5' })));
  await put(`${PREFIX}app`, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {replicas: "5"}\n`);
  await put(`${PREFIX}web`, JSON.stringify(cm('web', { port: '81' })));
  await until(async () => (await syncEntries(recorder, 'sync', 'etcd-report')).length >= 2, 10_000, 'the second drift');
  let entries = await syncEntries(recorder, 'sync', 'etcd-report');
  t.same(entries.map((e) => `${e.action} ${e.payload.key}`), ['drift.modified default/ConfigMap/app', 'drift.modified default/ConfigMap/web'], 'each drift is recorded once');

  // Live is put back: the drift's end is recorded, naming the entry it closes.
  await put(`${PREFIX}app`, JSON.stringify(cm('app', { replicas: '3' })));
  await until(async () => (await syncEntries(recorder, 'sync', 'etcd-report')).some((e) => e.action === 'drift.resolved'), 10_000, 'the resolution');
  entries = await syncEntries(recorder, 'sync', 'etcd-report');
  t.same(entries.map((e) => `${e.action} ${e.payload.key}`).slice(2), ['drift.resolved default/ConfigMap/app']);
  t.equal(entries[2]!.payload.resolves, drift.seq, 'the resolution names the drift entry');
  t.same([...engine.openDrifts().keys()], ['default/ConfigMap/web'], 'the other drift stays open');
});

t.test('end to end: apply mode makes etcd converge on Git and then records nothing more', async (t) => {
  const PREFIX = '/e2e-apply/';
  const tn = await startTestNode();
  t.teardown(tn.close);
  const repo = await createRepo();
  t.teardown(repo.close);
  await repo.write('app.yaml', configMap('app', { replicas: '3' }));
  await repo.write('shop/new.yaml', configMap('new', { created: 'by-apply' }, { namespace: 'shop' }));
  const commit = await repo.commit('desired');
  await put(`${PREFIX}app.json`, JSON.stringify(cm('app', { replicas: '9' }))); // modified
  await put(`${PREFIX}stray`, JSON.stringify(cm('stray', {}))); // not in Git: pruned

  const recorder = ledgerRecorder(tn.node.ledger);
  const engine = new SyncEngine(
    { name: 'etcd-apply', log: 'sync', apply: true, pollIntervalMs: 60_000, backoff: { baseMs: 20, maxMs: 200 } },
    { desired: new GitDesired({ repo: repo.path, branch: 'main', defaultNamespace: 'default' }), live: source(PREFIX), recorder },
  );
  const ac = new AbortController();
  const running = engine.run(ac.signal);
  t.teardown(async () => {
    ac.abort();
    await running;
  });

  const converged = async (): Promise<boolean> => {
    const kv = await client.getAll().prefix(PREFIX).strings();
    return Object.keys(kv).length === 2 && JSON.parse(kv[`${PREFIX}app.json`] ?? '{}').data?.replicas === '3' && kv[`${PREFIX}shop/ConfigMap/new`] !== undefined;
  };
  await until(converged, 15_000, 'etcd to match Git');
  t.same(JSON.parse((await client.get(`${PREFIX}shop/ConfigMap/new`).string())!).data, { created: 'by-apply' }, 'a new object is written to <prefix><namespace>/<kind>/<name>');
  t.equal(await client.get(`${PREFIX}stray`).string(), null, 'an object Git does not have is deleted');

  await until(async () => (await syncEntries(recorder, 'sync', 'etcd-apply')).length >= 3, 15_000, 'three entries');
  await new Promise((r) => setTimeout(r, 500)); // the watch sees the engine's own writes: nothing left to do
  const entries = await syncEntries(recorder, 'sync', 'etcd-apply');
  t.same(entries.map((e) => `${e.action} ${e.payload.key}`).sort(), ['sync.applied default/ConfigMap/stray', 'sync.applied default/ConfigMap/app', 'sync.applied shop/ConfigMap/new'].sort(), 'one sync.applied per object, nothing after convergence');
  t.ok(entries.every((e) => e.commit === commit));
  t.equal(engine.openDrifts().size, 0);

  // A later edit behind Git's back is reverted too.
  await put(`${PREFIX}app.json`, JSON.stringify(cm('app', { replicas: '1' })));
  await until(async () => (await syncEntries(recorder, 'sync', 'etcd-apply')).length === 4 && (await converged()), 10_000, 'the edit to be reverted');
});
