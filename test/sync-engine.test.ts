/**
 * The sync engine against a dir target, recording into a real in-process
 * node: each drift is recorded once and its resolution once, a restart
 * neither repeats nor forgets, apply mode converges, Git failures are
 * retried with backoff and shutdown is prompt, Secret values never reach a
 * stored entry or a log line, and subscribers see every entry in order.
 */
import t, { type Test } from 'tap';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startTestNode, tempDir } from './helpers/node.js';
import { configMap, createRepo, secret, until, type TestRepo } from './sync-helpers.js';
import { decodeBody, type SignedEntry } from '../src/core/entry.js';
import { fromUtf8 } from '../src/core/bytes.js';
import { createLogger } from '../src/node/logger.js';
import { SyncEngine, type RecordedInfo, type SyncTargetOptions } from '../src/sync/engine.js';
import { GitDesired, type DesiredSource } from '../src/sync/git-desired.js';
import { DirSource } from '../src/sync/dir-source.js';
import type { LiveSource } from '../src/sync/live-source.js';
import { ledgerRecorder } from '../src/node/ledger-recorder.js';
import type { Recorder } from '../src/sync/recorder.js';
import { hmacMasker } from '../src/sync/diff.js';
import { createSyncMetrics, type SyncMetrics } from '../src/sync/metrics.js';
import { readSyncEntry, type SyncRecord } from '../src/sync/sync-entry.js';
import { subscribeSync } from '../src/sync/subscription.js';

const tn = await startTestNode();
t.teardown(() => tn.close());
const ledger = tn.node.ledger;
const recorder = ledgerRecorder(ledger);
const MASK_KEY = new Uint8Array(32).fill(42);
// The node signs on a worker thread that starts with the first append; under tap's
// hooks that start takes seconds, which is no part of what these tests time.
await ledger.append({ log: 'warm-up', configId: 'x', operator: 'test', action: 'warm-up' });

async function records(log: string): Promise<SyncRecord[]> {
  const out: SyncRecord[] = [];
  for await (const e of recorder.history(log)) {
    const r = readSyncEntry(decodeBody(e.body));
    if (r) out.push(r);
  }
  return out;
}

async function rawEntries(log: string): Promise<SignedEntry[]> {
  const out: SignedEntry[] = [];
  for await (const e of recorder.history(log)) out.push(e);
  return out;
}

interface Rig {
  repo: TestRepo;
  liveDir: string;
  log: string;
  start(opts?: Partial<SyncTargetOptions>, deps?: { recorder?: Recorder; desired?: DesiredSource; metrics?: SyncMetrics; logLines?: string[]; wrapLive?: (l: DirSource) => LiveSource }): { engine: SyncEngine; recorded: RecordedInfo[]; stop(): Promise<void> };
  writeLive(file: string, text: string): Promise<void>;
}

let rigs = 0;
async function rig(t: Test, files: Record<string, string>, live: Record<string, string>): Promise<Rig> {
  const repo = await createRepo();
  for (const [f, text] of Object.entries(files)) await repo.write(f, text);
  await repo.commit('initial');
  const liveDir = await tempDir('cairn-sync-live-');
  for (const [f, text] of Object.entries(live)) await writeFile(join(liveDir.path, f), text);
  const log = `sync-${++rigs}`;
  const running: (() => Promise<void>)[] = [];
  t.teardown(async () => {
    for (const s of running) await s();
    await repo.close();
    await liveDir.remove();
  });
  return {
    repo,
    liveDir: liveDir.path,
    log,
    writeLive: (file, text) => writeFile(join(liveDir.path, file), text),
    start(opts = {}, deps = {}) {
      const recorded: RecordedInfo[] = [];
      const live = new DirSource({ dir: liveDir.path, debounceMs: 5, rescanMs: 200 });
      const engine = new SyncEngine(
        { name: 'test', log, pollIntervalMs: 50, backoff: { baseMs: 10, maxMs: 50 }, ...opts },
        {
          desired: deps.desired ?? new GitDesired({ repo: repo.path, branch: 'main', defaultNamespace: 'default' }),
          live: deps.wrapLive ? deps.wrapLive(live) : live,
          recorder: deps.recorder ?? recorder,
          mask: hmacMasker(MASK_KEY),
          metrics: deps.metrics,
          logger: deps.logLines ? createLogger('debug', {}, (l) => deps.logLines!.push(l)) : undefined,
          onRecorded: (r) => recorded.push(r),
        },
      );
      const ac = new AbortController();
      const done = engine.run(ac.signal);
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        ac.abort();
        await done;
        await live.close();
      };
      running.push(stop);
      return { engine, recorded, stop };
    },
  };
}

const quiet = (ms = 400) => new Promise((r) => setTimeout(r, ms));

t.test('a drift is recorded once, and its resolution once', async (t) => {
  const r = await rig(t, { 'web.yaml': configMap('web', { color: 'blue' }) }, { 'web.yaml': configMap('web', { color: 'red' }), 'stray.yaml': configMap('stray', {}) });
  const commit = await r.repo.git('rev-parse', 'HEAD');
  const e = r.start();
  let recs = await until(async () => ((await records(r.log)).length >= 2 ? records(r.log) : undefined), 10_000, 'two drifts');
  t.same(recs.map((x) => [x.action, x.payload.key]).sort(), [
    ['drift.added_in_cluster', 'default/ConfigMap/stray'],
    ['drift.modified', 'default/ConfigMap/web'],
  ]);
  const mod = recs.find((x) => x.action === 'drift.modified')!;
  t.match(mod.payload, { target: 'test', key: 'default/ConfigMap/web', status: 'MODIFIED', commit, patch: [{ op: 'test', path: '/data/color', value: 'red' }, { op: 'replace', path: '/data/color', value: 'blue' }] });
  const body = decodeBody((await ledger.getEntry(r.log, mod.seq)).body);
  t.match(body, { configId: 'default/ConfigMap/web', operator: 'cairn-sync/test', action: 'drift.modified', commit, requestId: /^sync-[0-9a-f]{40}$/ });
  t.match(body.source, /^git:.* -> dir:/);

  // Many polls, rescans and a touch of the file later: nothing new.
  await r.writeLive('web.yaml', configMap('web', { color: 'red' }));
  await quiet();
  t.equal((await records(r.log)).length, 2, 'a persisting drift is not recorded again');

  await r.writeLive('web.yaml', configMap('web', { color: 'blue' }));
  await rm(join(r.liveDir, 'stray.yaml'));
  recs = await until(async () => ((await records(r.log)).length >= 4 ? records(r.log) : undefined), 10_000, 'two resolutions');
  const resolved = recs.slice(2);
  t.same(resolved.map((x) => x.action), ['drift.resolved', 'drift.resolved']);
  t.same(resolved.map((x) => x.payload.resolves).sort(), recs.slice(0, 2).map((x) => x.seq).sort(), 'each resolution names the drift it closes');
  await quiet();
  t.equal((await records(r.log)).length, 4, 'in sync: nothing more');
  t.same(e.engine.openDrifts().size, 0);
  t.ok(e.recorded.every((x) => x.latencyMs >= 0 && x.latencyMs < 10_000));
  t.ok(e.recorded.some((x) => x.trigger === 'live'), 'live events trigger reconciles');
});

t.test('a drift that changes is recorded again; a flapping drift each time it returns', async (t) => {
  const r = await rig(t, { 'web.yaml': configMap('web', { color: 'blue' }) }, { 'web.yaml': configMap('web', { color: 'red' }) });
  r.start();
  await until(async () => (await records(r.log)).length === 1, 10_000, 'first drift');
  await r.writeLive('web.yaml', configMap('web', { color: 'green' }));
  await until(async () => (await records(r.log)).length === 2, 10_000, 'changed drift');
  await r.writeLive('web.yaml', configMap('web', { color: 'blue' }));
  await until(async () => (await records(r.log)).length === 3, 10_000, 'resolved');
  await r.writeLive('web.yaml', configMap('web', { color: 'green' }));
  await until(async () => (await records(r.log)).length === 4, 10_000, 'the same drift again');
  const recs = await records(r.log);
  t.same(recs.map((x) => x.action), ['drift.modified', 'drift.modified', 'drift.resolved', 'drift.modified']);
  t.equal(recs[3]!.payload.patchDigest, recs[1]!.payload.patchDigest, 'the same drift as before');
  t.notOk(recs[3]!.seq === recs[1]!.seq, 'and yet recorded anew (not replayed)');
});

t.test('a new commit that matches live resolves the drift, naming the new commit', async (t) => {
  const r = await rig(t, { 'web.yaml': configMap('web', { color: 'blue' }) }, { 'web.yaml': configMap('web', { color: 'red' }) });
  r.start();
  await until(async () => (await records(r.log)).length === 1, 10_000, 'drift');
  await r.repo.write('web.yaml', configMap('web', { color: 'red' }));
  const fix = await r.repo.commit('match the cluster');
  const recs = await until(async () => ((await records(r.log)).length === 2 ? records(r.log) : undefined), 10_000, 'resolution');
  t.match(recs[1], { action: 'drift.resolved', commit: fix, payload: { status: 'RESOLVED', patch: [] } });
  t.ok(recs[1]!.payload.commit === fix);
});

t.test('a restart rebuilds the memory from the ledger: no repeats, no forgotten resolutions', async (t) => {
  const r = await rig(t, { 'a.yaml': configMap('a', { v: '1' }), 'b.yaml': configMap('b', { v: '1' }) }, { 'a.yaml': configMap('a', { v: '2' }), 'b.yaml': configMap('b', { v: '2' }) });
  const first = r.start();
  await until(async () => (await records(r.log)).length === 2, 10_000, 'two drifts');
  await first.stop();
  // While stopped, b is fixed by hand.
  await r.writeLive('b.yaml', configMap('b', { v: '1' }));
  const second = r.start();
  const recs = await until(async () => ((await records(r.log)).length === 3 ? records(r.log) : undefined), 10_000, 'resolution of b');
  t.match(recs[2], { action: 'drift.resolved', payload: { key: 'default/ConfigMap/b' } });
  await quiet();
  t.equal((await records(r.log)).length, 3, 'the open drift of a is not recorded again');
  t.same([...second.engine.openDrifts().keys()], ['default/ConfigMap/a']);
});

t.test('a retried append after a crash is replayed, not recorded twice', async (t) => {
  const r = await rig(t, { 'a.yaml': configMap('a', { v: '1' }) }, { 'a.yaml': configMap('a', { v: '2' }) });
  const first = r.start();
  await until(async () => (await records(r.log)).length === 1, 10_000, 'drift');
  await first.stop();
  // A recorder whose history is lost (as if the crash came between append and memory): the engine appends again.
  const amnesiac: Recorder = { ...recorder, describe: 'amnesiac', history: async function* () {} };
  const second = r.start({}, { recorder: amnesiac });
  await until(() => second.recorded.length === 1, 10_000, 'the retried append');
  t.equal(second.recorded[0]!.replayed, true, 'the node returned the original entry');
  t.equal((await records(r.log)).length, 1);
});

t.test('a desired state with errors is recorded once per commit and compared not at all', async (t) => {
  const r = await rig(t, { 'good.yaml': configMap('good', { v: '1' }) }, { 'good.yaml': configMap('good', { v: '1' }), 'other.yaml': configMap('other', {}) });
  // The broken file defines `other`: while it does not parse, `other` must not count as live only.
  await r.repo.write('bad.yaml', configMap('other', {}).replace('name: other', 'name: [other'));
  const broken = await r.repo.commit('broken');
  r.start();
  const recs = await until(async () => ((await records(r.log)).length >= 1 ? records(r.log) : undefined), 10_000, 'error entry');
  t.match(recs[0], { action: 'sync.error', commit: broken, payload: { key: null, status: 'ERROR', file: 'bad.yaml', document: 1, error: /^bad\.yaml document 1: / } });
  t.equal(decodeBody((await ledger.getEntry(r.log, 0)).body).configId, 'file:bad.yaml');
  await quiet();
  t.equal((await records(r.log)).length, 1, 'once per commit, and no drift while the state is broken');
  await r.repo.remove('bad.yaml');
  const fixed = await r.repo.commit('fixed');
  const after = await until(async () => ((await records(r.log)).length >= 2 ? records(r.log) : undefined), 10_000, 'compared again');
  t.match(after[1], { action: 'drift.added_in_cluster', commit: fixed, payload: { key: 'default/ConfigMap/other' } }, 'compared again from the first good commit');
});

t.test('apply mode makes live match Git and records sync.applied with the patch', async (t) => {
  const r = await rig(
    t,
    { 'web.yaml': configMap('web', { color: 'blue' }), 'new.yaml': configMap('new', { n: '1' }) },
    { 'web.yaml': configMap('web', { color: 'red' }), 'stray.yaml': configMap('stray', {}) },
  );
  const e = r.start({ apply: true });
  const recs = await until(async () => ((await records(r.log)).length >= 3 ? records(r.log) : undefined), 10_000, 'three applies');
  t.same(recs.map((x) => [x.action, x.payload.key, x.payload.status]).sort(), [
    ['sync.applied', 'default/ConfigMap/new', 'REMOVED_FROM_CLUSTER'],
    ['sync.applied', 'default/ConfigMap/stray', 'ADDED_IN_CLUSTER'],
    ['sync.applied', 'default/ConfigMap/web', 'MODIFIED'],
  ]);
  t.match(recs.find((x) => x.payload.key === 'default/ConfigMap/web')!.payload.patch, [{ op: 'test', value: 'red' }, { op: 'replace', value: 'blue' }]);
  const live = await new DirSource({ dir: r.liveDir }).list();
  t.same([...live.objects.keys()].sort(), ['default/ConfigMap/new', 'default/ConfigMap/web'], 'pruned and created');
  t.same(live.objects.get('default/ConfigMap/web')!.data, { color: 'blue' });
  await quiet();
  t.equal((await records(r.log)).length, 3, 'converged: nothing more is recorded');
  // A hand edit is reverted and recorded again.
  await r.writeLive('web.yaml', configMap('web', { color: 'pink' }));
  await until(async () => (await records(r.log)).length === 4, 10_000, 'the edit reverted');
  await until(async () => (await readFile(join(r.liveDir, 'web.yaml'), 'utf8')).includes('blue'), 10_000, 'live blue again');
  t.equal(e.engine.openDrifts().size, 0);
  t.notOk((await readdir(r.liveDir)).some((n) => n.endsWith('.tmp')));
});

t.test('a failing apply records the drift and the error once each', async (t) => {
  const r = await rig(t, { 'web.yaml': configMap('web', { color: 'blue' }) }, { 'web.yaml': configMap('web', { color: 'red' }) });
  let attempts = 0;
  const readOnly = (l: DirSource): LiveSource => ({
    kind: 'dir',
    describe: l.describe,
    list: (s) => l.list(s),
    watch: (f, on, s) => l.watch(f, on, s),
    apply: async () => {
      attempts++;
      throw new Error('EROFS: read-only file system');
    },
    close: () => l.close(),
  });
  r.start({ apply: true }, { wrapLive: readOnly });
  const recs = await until(async () => ((await records(r.log)).length >= 2 ? records(r.log) : undefined), 10_000, 'drift and error');
  t.same(recs.map((x) => x.action), ['drift.modified', 'sync.error']);
  t.match(recs[1]!.payload, { key: 'default/ConfigMap/web', status: 'ERROR', error: /EROFS/ });
  await r.writeLive('web.yaml', configMap('web', { color: 'red' }));
  await quiet();
  t.equal((await records(r.log)).length, 2, 'retried, but recorded once');
  t.ok(attempts >= 2, 'the apply is retried on the next reconcile');
});

t.test('a failed append is retried with backoff and recorded once', async (t) => {
  const r = await rig(t, { 'web.yaml': configMap('web', { color: 'blue' }) }, { 'web.yaml': configMap('web', { color: 'red' }) });
  let fails = 2;
  const flaky: Recorder = {
    ...recorder,
    append: async (input) => {
      // The first two appends land but their replies are lost, as when the connection drops.
      const receipt = await recorder.append(input);
      if (fails-- > 0) throw Object.assign(new Error('connection reset'), { code: 14 });
      return receipt;
    },
  };
  const e = r.start({}, { recorder: flaky });
  await until(() => e.recorded.length === 1, 10_000, 'the append that got its reply');
  t.equal(e.recorded[0]!.replayed, true, 'the retry found the entry by its requestId');
  t.equal((await records(r.log)).length, 1, 'one entry');
});

t.test('Git failures are retried with jittered backoff; shutdown is prompt and clean', async (t) => {
  const r = await rig(t, { 'web.yaml': configMap('web', { color: 'blue' }) }, { 'web.yaml': configMap('web', { color: 'red' }) });
  const git = new GitDesired({ repo: r.repo.path, branch: 'main', defaultNamespace: 'default' });
  let calls = 0;
  const times: number[] = [];
  const flaky: DesiredSource = {
    describe: 'flaky',
    head: async (signal) => {
      calls++;
      times.push(Date.now());
      if (calls <= 4) throw Object.assign(new Error('git fetch failed: connection refused'), { code: 'UNAVAILABLE' });
      return git.head(signal);
    },
    read: (c, s) => git.read(c, s),
  };
  const registry = new Registry();
  const metrics = createSyncMetrics(registry);
  const logLines: string[] = [];
  const e = r.start({ backoff: { baseMs: 20, maxMs: 200 } }, { desired: flaky, metrics, logLines });
  await until(async () => (await records(r.log)).length === 1, 10_000, 'the drift after the retries');
  t.ok(calls >= 5, 'head was retried until it worked');
  const m = await registry.getSingleMetricAsString('cairn_sync_reconcile_errors_total');
  t.match(m, /cairn_sync_reconcile_errors_total\{target="test",stage="git"\} 4/);
  t.ok(logLines.some((l) => /"stage":"git"/.test(l)), 'each failure is logged');
  t.match(await registry.getSingleMetricAsString('cairn_sync_latency_seconds'), /cairn_sync_latency_seconds_count\{target="test",trigger="(commit|live)"\} [1-9]/);
  t.match(await registry.getSingleMetricAsString('cairn_sync_drifts'), /cairn_sync_drifts\{target="test",status="MODIFIED"\} 1/);
  await e.stop();

  // An engine stuck in a long backoff stops at once.
  const down: DesiredSource = { describe: 'down', head: async () => Promise.reject(new Error('unreachable')), read: () => Promise.reject(new Error('unreachable')) };
  const stuck = r.start({ backoff: { baseMs: 60_000, maxMs: 60_000 } }, { desired: down });
  await quiet(150);
  const t0 = Date.now();
  await stuck.stop();
  t.ok(Date.now() - t0 < 1000, `stopped in ${Date.now() - t0} ms`);
});

t.test('Secret values never reach a stored entry or a log line', async (t) => {
  const SECRET = 'hunter2-correct-horse';
  const OLD = 'old-password-value';
  const r = await rig(
    t,
    { 's.yaml': secret('db', { password: SECRET }), 'gone.yaml': secret('gone', { token: SECRET }) },
    { 's.yaml': secret('db', { password: OLD }), 'extra.yaml': secret('extra', { key: OLD }) },
  );
  const logLines: string[] = [];
  r.start({}, { logLines });
  await until(async () => (await records(r.log)).length === 3, 10_000, 'three secret drifts');
  const needles = [SECRET, OLD, Buffer.from(SECRET).toString('base64'), Buffer.from(OLD).toString('base64')];
  const stored = (await rawEntries(r.log)).map((e) => fromUtf8(e.body)).join('\n');
  for (const n of needles) {
    t.notOk(stored.includes(n), `no ${n} in the stored entries`);
    t.notOk(logLines.join('').includes(n), `no ${n} in the logs`);
  }
  t.match(stored, /\*\*\*:[0-9a-f]{16}/, 'masks are there instead');
  // A changed secret is a new drift even though both are masked.
  await r.writeLive('s.yaml', secret('db', { password: 'yet-another' }));
  await until(async () => (await records(r.log)).length === 4, 10_000, 'the changed secret');
});

t.test('subscribers get every entry in order; a slow one blocks no append', async (t) => {
  const files: Record<string, string> = {};
  const live: Record<string, string> = {};
  for (let i = 0; i < 40; i++) {
    files[`cm${i}.yaml`] = configMap(`cm${i}`, { v: '1' });
    live[`cm${i}.yaml`] = configMap(`cm${i}`, { v: '2' });
  }
  const r = await rig(t, files, live);
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const slow: number[] = [];
  const remote: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((res) => (release = res));
  const slowDone = (async () => {
    for await (const rec of subscribeSync(ledger, r.log, { signal: ac.signal })) {
      slow.push(rec.seq);
      // Stalls on its first entry until every append is done.
      if (slow.length === 1) await gate;
      if (slow.length === 40) return;
    }
  })();
  const remoteDone = (async () => {
    for await (const rec of subscribeSync(tn.client, r.log, { signal: ac.signal, target: 'test' })) {
      remote.push(rec.seq);
      if (remote.length === 40) return;
    }
  })();
  const started = Date.now();
  r.start();
  await until(async () => (await records(r.log)).length === 40, 10_000, '40 drifts');
  t.ok(slow.length <= 1, `40 appends durable in ${Date.now() - started} ms while the slow subscriber sat on its first entry`);
  release();
  await Promise.all([slowDone, remoteDone]);
  const expected = Array.from({ length: 40 }, (_, i) => i);
  t.same(slow, expected, 'in-process: every entry, in order');
  t.same(remote, expected, 'over Watch: every entry, in order');
});
