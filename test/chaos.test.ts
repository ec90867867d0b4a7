/**
 * The chaos suite's parts, and a short subset of it (`npm run chaos` runs
 * every scenario of test/chaos/scenarios/): scenarios are read strictly;
 * the HTTP proxy injects what a scenario says, where it says; the sources
 * count the retries they handle themselves; and under watch streams cut
 * mid-event, 410 Gone on watches and on continue tokens, resets, and the
 * ledger node killed -9 under `cairn sync`, every drift is recorded once and
 * resolved once, none is invented, and the engine is back in steady state
 * within its bound.
 */
import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { ROOT } from './helpers/node.js';
import { FakeApiServer, type FakeResource } from './kube/fake-apiserver.js';
import { HttpFaultProxy } from './chaos/http-fault-proxy.js';
import { parseScenario, validateScenario } from './chaos/scenario.js';
import { runScenario } from './chaos/runner.js';
import { createKubernetesSource } from '../src/sync/kubernetes-source.js';
import { until } from './sync-helpers.js';

const CONFIGMAPS: FakeResource = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

t.test('every scenario of the suite parses', async (t) => {
  const dir = join(ROOT, 'test', 'chaos', 'scenarios');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
  const names = new Set<string>();
  const targets = new Set<string>();
  for (const f of files) {
    const s = parseScenario(await readFile(join(dir, f), 'utf8'), f);
    t.equal(`${s.name}.yaml`, f, `${f}: named after its file`);
    names.add(s.name);
    targets.add(s.target);
  }
  t.same([...targets].sort(), ['etcd', 'fabric', 'kube', 'node'], 'every target is attacked');
  t.equal(names.size, files.length);
});

t.test('a scenario is read strictly: each mistake is refused naming its field', async (t) => {
  const base = { name: 'x', target: 'kube', duration_ms: 1000, faults: [{ fault: 'reset' }] };
  const refused = (raw: unknown, field: string, message: RegExp): void => {
    t.throws(() => validateScenario(raw, 's'), { code: 'INVALID_ARGUMENT', field, message }, `${field}: ${JSON.stringify(raw)}`);
  };
  refused({ ...base, fualts: [] }, 's.fualts', /unknown setting/);
  refused({ ...base, faults: [{ fault: 'reset', rtae: 0.5 }] }, 's.faults[0].rtae', /unknown setting/);
  refused({ ...base, faults: [{ fault: 'reset', retry_after: 1 }] }, 's.faults[0].retry_after', /unknown setting/);
  refused({ ...base, load: { interval: 5 } }, 's.load.interval', /unknown setting/);
  refused({ ...base, target: 'zookeeper' }, 's.target', /must be one of kube, etcd, fabric, node/);
  refused({ ...base, faults: [{ fault: 'kill', every_ms: 1000 }] }, 's.faults[0].fault', /kill is not a fault of target kube/);
  refused({ ...base, faults: [{ fault: 'status' }] }, 's.faults[0].status', /is required/);
  refused({ ...base, faults: [{ fault: 'status', status: 200 }] }, 's.faults[0].status', /from 400 to 599/);
  refused({ ...base, faults: [{ fault: 'gone' }] }, 's.faults[0].on', /continue .* or watch/);
  refused({ ...base, faults: [{ fault: 'latency' }] }, 's.faults[0].min_ms', /is required/);
  refused({ ...base, faults: [{ fault: 'latency', min_ms: 50, max_ms: 10 }] }, 's.faults[0].max_ms', /from 50 to/);
  refused({ ...base, faults: [{ fault: 'reset', rate: 0 }] }, 's.faults[0].rate', /\(0, 1\]/);
  refused({ ...base, faults: [{ fault: 'reset', start_ms: 500, duration_ms: 600 }] }, 's.faults[0].duration_ms', /from 1 to 500/);
  refused({ ...base, faults: [{ fault: 'reset', path: 'api/v1' }] }, 's.faults[0].path', /starting with \//);
  refused({ ...base, target: 'fabric', faults: [{ fault: 'unavailable', method: 'Ping' }] }, 's.faults[0].method', /Endorse/);
  refused({ ...base, faults: [] }, 's.faults', /non-empty list/);
  t.throws(() => parseScenario('name: x\nname: y\n', 'dup.yaml'), { field: 'dup.yaml', message: /not YAML/ }, 'a key given twice');
  t.match(validateScenario(base), { steadyWithinMs: 30_000, memoryMb: 128, load: { intervalMs: 150, maxOpen: 6 }, faults: [{ fault: 'reset', rate: 1, startMs: 0, durationMs: 1000 }] }, 'defaults');
});

/** One request through the proxy: status, headers and body. */
function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

t.test('the HTTP proxy injects what the scenario says, where it says, and passes the rest through', async (t) => {
  const server = await FakeApiServer.start([CONFIGMAPS]);
  const proxy = await HttpFaultProxy.start(server.url);
  t.teardown(async () => {
    await proxy.close();
    await server.close();
  });
  for (let i = 0; i < 5; i++) server.upsert(CONFIGMAPS, { metadata: { name: `c${i}`, namespace: 'default' }, data: {} });
  const s = parseScenario(`
name: p
target: kube
duration_ms: 60000
faults:
  - { fault: status, status: 429, retry_after: 3, path: /api/v1/namespaces/throttled }
  - { fault: gone, on: continue, path: /api/v1/configmaps }
`);
  proxy.arm(s.faults);
  const throttled = await get(`${proxy.url}/api/v1/namespaces/throttled/configmaps`);
  t.equal(throttled.status, 429);
  t.equal(throttled.headers['retry-after'], '3', 'with Retry-After');
  t.match(JSON.parse(throttled.body), { kind: 'Status', code: 429, reason: 'TooManyRequests' });
  const first = await get(`${proxy.url}/api/v1/configmaps?limit=2`);
  t.equal(first.status, 200, 'the first page of a list has no continue token: passed through');
  const token = (JSON.parse(first.body) as { metadata: { continue: string } }).metadata.continue;
  const next = await get(`${proxy.url}/api/v1/configmaps?limit=2&continue=${token}`);
  t.equal(next.status, 410, 'a page with a continue token: 410');
  t.match(JSON.parse(next.body), { code: 410, reason: 'Expired' });
  proxy.disarm();
  t.equal((await get(`${proxy.url}/api/v1/configmaps?limit=2&continue=${token}`)).status, 200, 'disarmed: passed through');
  t.same(Object.fromEntries(proxy.injected), { status: 1, gone: 1 });
});

t.test('a watch cut in the middle of an event is resumed from the last whole event; the source counts the restart', async (t) => {
  const server = await FakeApiServer.start([CONFIGMAPS]);
  const proxy = await HttpFaultProxy.start(server.url);
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig().replace(server.url, proxy.url));
  const src = createKubernetesSource({ kubeConfig: kc, resources: [CONFIGMAPS], backoffInitialMs: 20, backoffMaxMs: 100 });
  t.teardown(async () => {
    await src.close();
    await proxy.close();
    await server.close();
  });
  const snap = await src.list();
  const restarts: string[] = [];
  const events: string[] = [];
  const ac = new AbortController();
  const done = src.watch(snap.version, (e) => events.push(e.type === 'upsert' ? `${e.key} ${JSON.stringify(e.object.data)}` : e.type), ac.signal, (why) => restarts.push(why));
  done.catch(() => undefined);
  t.teardown(() => ac.abort());
  await until(() => server.openWatches === 1, 10_000, 'the watch');
  proxy.arm(parseScenario('name: c\ntarget: kube\nduration_ms: 60000\nfaults: [{ fault: cut-watch, after_events: 1 }]\n').faults);
  // A cut ends the connection dropped or, one time in two, the response ended
  // cleanly; a clean end is routine (the API server ends watches after its
  // timeout) and is not a restart. So changes go on, a batch of four at a time
  // (at most 40), until a dropped cut has made the source report a restart.
  let made = 0;
  while (made < 40 && (made === 0 || restarts.length === 0)) {
    for (let i = 0; i < 4; i++, made++) server.upsert(CONFIGMAPS, { metadata: { name: 'a', namespace: 'default' }, data: { v: String(made) } });
    await until(() => events.length >= made, 15_000, `the changes up to ${made}, through cut watches (${events.join('; ')})`);
    // The cut watch's restart is reported when it reopens, which may come after the last event arrived.
    await new Promise((r) => setTimeout(r, 150));
  }
  proxy.disarm();
  t.ok((proxy.injected.get('cut-watch') ?? 0) >= 1, 'watches were cut');
  t.same(events, Array.from({ length: made }, (_, i) => `default/ConfigMap/a {"v":"${i}"}`), 'each change once, in order: half an event is never taken for one, and none is lost');
  t.ok(restarts.length >= 1, `the source reported its own restarts (${restarts.join(', ')}): they reach cairn_sync_watch_restarts_total`);
});

t.test('chaos subset: every drift recorded once and resolved once, none invented, steady state within the bound', async (t) => {
  const scenarios = [
    `name: subset-kube
target: kube
duration_ms: 5000
steady_within_ms: 20000
faults:
  - { fault: cut-watch, after_events: 1, rate: 0.5 }
  - { fault: gone, on: watch, rate: 0.2 }
  - { fault: gone, on: continue, rate: 0.3 }
  - { fault: status, status: 503, retry_after: 1, rate: 0.2 }
  - { fault: reset, rate: 0.1 }
`,
    `name: subset-node-kill
target: node
duration_ms: 4000
steady_within_ms: 20000
memory_mb: 64
faults:
  - { fault: kill, every_ms: 1500, down_ms: 300, duration_ms: 2500 }
`,
  ];
  for (const text of scenarios) {
    const s = parseScenario(text);
    const r = await runScenario(s);
    t.same(r.violations, [], `${s.name}: no invariant violated (${r.injected} faults, ${r.drifts} drifts, ${r.entries} entries, ${r.unseen} unseen, steady after ${r.steadyMs} ms)`);
    t.ok(r.injected > 0 && r.drifts > 0 && r.entries > 0, `${s.name}: faults were injected while drifts were recorded`);
  }
});
