/**
 * The sync engine's figures (issue 4), on this machine, in one run:
 *
 *   node dist/scripts/bench-sync.js [--quick]
 *
 * - commit-to-entry latency, p50/p99, 1,000 objects in Git and live (dir
 *   target, real node in-process, signing on its worker): one object changed
 *   per commit. "seen" starts when the poll sees the new head (the
 *   cairn_sync_latency_seconds metric), "committed" when `git commit`
 *   returned (adds the poll wait, interval 20 ms here).
 * - live-event-to-entry latency, p50/p99, same state: one live file edited.
 *   "event" starts at the file-system event (the metric), "written" when the
 *   write returned (adds the 10 ms debounce).
 * - full diff of 10,000 objects (1% drifting), and YAML parse of the same.
 * - the diff of 10,000 Deployments with lists matched by Kubernetes' keys
 *   against by position, same run (bench-diff.ts).
 * - memory: heapUsed growth per 10,000 parsed objects, and of an engine
 *   holding 10,000 objects in Git and live.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { machine, percentile, table } from './bench-lib.js';
import { startTestNode, tempDir } from '../test/helpers/node.js';
import { createRepo, configMap } from '../test/sync-helpers.js';
import { SyncEngine, type RecordedInfo } from '../src/sync/engine.js';
import { GitDesired } from '../src/sync/git-desired.js';
import { DirSource } from '../src/sync/dir-source.js';
import { ledgerRecorder } from '../src/node/ledger-recorder.js';
import type { Recorder } from '../src/sync/recorder.js';
import { diffStates, hmacMasker } from '../src/sync/diff.js';
import { benchDiff } from './bench-diff.js';
import { parseManifests } from '../src/sync/manifests.js';
import type { KubeObject } from '../src/sync/live-source.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const quick = process.argv.includes('--quick');
const print = (s: string): void => console.log(s);

function deployment(i: number, replicas = 2): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: app-${i}`,
    `  namespace: team-${i % 10}`,
    '  labels: {app: web, tier: backend}',
    'spec:',
    `  replicas: ${replicas}`,
    '  selector: {matchLabels: {app: web}}',
    '  template:',
    '    metadata: {labels: {app: web}}',
    '    spec:',
    '      containers:',
    `      - name: app`,
    `        image: registry.example/team/app-${i}:1.24.3`,
    '        ports: [{containerPort: 8080}]',
    '        env: [{name: LOG_LEVEL, value: info}, {name: REGION, value: eu-west-1}]',
    '        resources: {requests: {cpu: 100m, memory: 128Mi}}',
    '',
  ].join('\n');
}

function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

print('# Cairn sync benchmark');
print(table('Machine', ['what', 'value'], Object.entries(machine())));

// ------------------------------------------------------------ latency, 1,000 objects
{
  const N = 1000;
  const rounds = quick ? 20 : 60;
  const tn = await startTestNode();
  await tn.node.ledger.append({ log: 'warm-up', configId: 'x', operator: 'bench', action: 'warm-up' });
  const repo = await createRepo();
  const live = await tempDir('cairn-bench-live-');
  for (let i = 0; i < N; i++) {
    await repo.write(`apps/cm-${i}.yaml`, configMap(`cm-${i}`, { v: '0', note: 'x'.repeat(64) }));
    await writeFile(join(live.path, `cm-${i}.yaml`), configMap(`cm-${i}`, { v: '0', note: 'x'.repeat(64) }));
  }
  await repo.commit('1,000 objects');
  const recorded: RecordedInfo[] = [];
  let waiting: ((r: RecordedInfo) => void) | undefined;
  const engine = new SyncEngine(
    { name: 'bench', log: 'bench-sync', pollIntervalMs: 20 },
    {
      desired: new GitDesired({ repo: repo.path, branch: 'main', path: 'apps', defaultNamespace: 'default' }),
      live: new DirSource({ dir: live.path, debounceMs: 10, rescanMs: 60_000 }),
      recorder: ledgerRecorder(tn.node.ledger),
      mask: hmacMasker(new Uint8Array(32).fill(1)),
      onRecorded: (r) => {
        recorded.push(r);
        waiting?.(r);
      },
    },
  );
  const ac = new AbortController();
  const running = engine.run(ac.signal);
  const next = (): Promise<RecordedInfo> => new Promise((resolve) => (waiting = resolve));
  // Let the first full reconcile (in sync: nothing to record) pass.
  await new Promise((r) => setTimeout(r, 1500));

  const seen: number[] = [];
  const fromCommit: number[] = [];
  for (let k = 0; k < rounds; k++) {
    await repo.write(`apps/cm-${k}.yaml`, configMap(`cm-${k}`, { v: String(k + 1), note: 'x'.repeat(64) }));
    const got = next();
    await repo.git('add', '--all');
    await repo.git('commit', '--quiet', '-m', `change ${k}`);
    const t0 = performance.now();
    const r = await got;
    fromCommit.push(performance.now() - t0);
    seen.push(r.latencyMs);
  }
  const event: number[] = [];
  const fromWrite: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const i = N - 1 - k;
    const got = next();
    const t0 = performance.now();
    await writeFile(join(live.path, `cm-${i}.yaml`), configMap(`cm-${i}`, { v: `live-${k}`, note: 'x'.repeat(64) }));
    const r = await got;
    fromWrite.push(performance.now() - t0);
    event.push(r.latencyMs);
  }
  ac.abort();
  await running;
  await tn.close();
  await repo.close();
  await live.remove();
  for (const a of [seen, fromCommit, event, fromWrite]) a.sort((x, y) => x - y);
  print(
    table(`Sync latency to a durable ledger entry, ${N.toLocaleString('en-US')} objects in Git and live, one object changed (${rounds} rounds each; dir target; node in-process)`, ['trigger', 'measured from', 'p50 ms', 'p99 ms', 'max ms'], [
      ['Git commit', 'new head seen (metric)', percentile(seen, 50), percentile(seen, 99), seen.at(-1)!],
      ['Git commit', 'git commit returned (+ poll, 20 ms)', percentile(fromCommit, 50), percentile(fromCommit, 99), fromCommit.at(-1)!],
      ['live edit', 'file-system event (metric)', percentile(event, 50), percentile(event, 99), event.at(-1)!],
      ['live edit', 'write returned (+ debounce, 10 ms)', percentile(fromWrite, 50), percentile(fromWrite, 99), fromWrite.at(-1)!],
    ]),
  );
}

// ------------------------------------------------------------ full diff, 10,000 objects
{
  const N = 10_000;
  const files = Array.from({ length: N / 10 }, (_, f) => ({ path: `apps/f-${f}.yaml`, text: Array.from({ length: 10 }, (_, j) => deployment(f * 10 + j)).join('---\n') }));
  const liveFiles = Array.from({ length: N / 10 }, (_, f) => ({ path: `f-${f}.yaml`, text: Array.from({ length: 10 }, (_, j) => deployment(f * 10 + j, (f * 10 + j) % 100 === 0 ? 5 : 2)).join('---\n') }));
  let t0 = performance.now();
  const desiredSet = parseManifests(files, { defaultNamespace: 'default' });
  const parseMs = performance.now() - t0;
  const liveSet = parseManifests(liveFiles, { defaultNamespace: 'default' });
  const toMap = (s: typeof desiredSet): Map<string, KubeObject> => new Map([...s.objects].map(([k, o]) => [k, o.object]));
  const desired = toMap(desiredSet);
  const live = toMap(liveSet);
  // Server-side fields on every live object, as an API server would return them.
  for (const o of live.values()) {
    o.metadata.uid = 'uid';
    o.metadata.resourceVersion = '1';
    o.status = { replicas: 2, readyReplicas: 2 };
  }
  const runs: number[] = [];
  let drifts = 0;
  for (let k = 0; k < (quick ? 3 : 7); k++) {
    t0 = performance.now();
    drifts = diffStates(desired, live, { mask: hmacMasker(new Uint8Array(32)) }).length;
    runs.push(performance.now() - t0);
  }
  runs.sort((a, b) => a - b);
  print(
    table(`Full diff, ${N.toLocaleString('en-US')} Deployments in Git and live (${drifts} drifting; server fields on live; median of ${runs.length})`, ['step', 'ms'], [
      ['semantic diff + patches (diffStates)', percentile(runs, 50)],
      ['YAML 1.1 parse of the 10,000 manifests (1,000 files)', parseMs],
    ]),
  );

  print(benchDiff(quick));

  // ---------------------------------------------------------- memory per 10,000 objects
  const before = heapMiB();
  const held = parseManifests(files, { defaultNamespace: 'default' });
  const parsedMiB = heapMiB() - before;
  if (held.objects.size !== N) throw new Error('parse lost objects');

  const repo = await createRepo();
  const liveDir = await tempDir('cairn-bench-live-');
  for (const f of files) await repo.write(f.path, f.text);
  await repo.commit('10,000 objects');
  await mkdir(liveDir.path, { recursive: true });
  for (const f of files) await writeFile(join(liveDir.path, f.path.slice('apps/'.length)), f.text);
  const nullRecorder: Recorder = { describe: 'none', append: async () => ({ log: 'x', seq: 0, replayed: false }), history: async function* () {}, close: async () => {} };
  const base = heapMiB();
  const engine = new SyncEngine({ name: 'mem', log: 'mem' }, { desired: new GitDesired({ repo: repo.path, branch: 'main', path: 'apps', defaultNamespace: 'default' }), live: new DirSource({ dir: liveDir.path }), recorder: nullRecorder });
  t0 = performance.now();
  const r = await engine.runOnce();
  const onceMs = performance.now() - t0;
  const engineMiB = heapMiB() - base;
  if (r.changes.length !== 0) throw new Error('expected no drift');
  print(
    table(`Memory, ${N.toLocaleString('en-US')} objects (heapUsed growth after GC)`, ['what', 'MiB', 'bytes / object'], [
      ['parsed desired state (objects + keys)', parsedMiB, Math.round((parsedMiB * 2 ** 20) / N)],
      ['engine after a full reconcile (Git + live + caches)', engineMiB, Math.round((engineMiB * 2 ** 20) / N)],
    ]),
  );
  print(table(`First full reconcile, ${N.toLocaleString('en-US')} objects (git cat-file, parse Git and live, diff; in sync)`, ['step', 'ms'], [['runOnce', onceMs]]));
  await repo.close();
  await liveDir.remove();
  void held;
}
