/**
 * A live sync target for each kind of chaos scenario, with the faults wired
 * in between the engine and its dependency:
 *
 * - kube: the engine (in-process, recording into an in-process node) with
 *   the real `@kubernetes/client-node`, whose kubeconfig points at an
 *   {@link HttpFaultProxy} in front of the fake API server;
 * - etcd: a sync target of the node's config file (`etcd:` at a
 *   {@link TcpFaultProxy} in front of a real etcd), with the member stopped
 *   and started on its data directory for `restart`;
 * - fabric: the node with the fabric anchor backend against the Gateway test
 *   peer (faults through its hooks) and a `dir:` sync target of its config
 *   file, so every drift entry also has to be anchored;
 * - node: `cairn sync` in client mode (a child process) recording into a
 *   `cairn serve` child that is killed -9 and restarted on the same data
 *   directory and port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import { LedgerClient } from '../../src/client/ledger-client.js';
import { createLogger } from '../../src/node/logger.js';
import { ledgerRecorder } from '../../src/node/ledger-recorder.js';
import { SyncEngine } from '../../src/sync/engine.js';
import { GitDesired } from '../../src/sync/git-desired.js';
import { createKubernetesSource } from '../../src/sync/kubernetes-source.js';
import { createSyncMetrics } from '../../src/sync/metrics.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { CLI, SERVE_NODE_FLAGS, startTestNode, tempDir, type TestNode } from '../helpers/node.js';
import { FakeApiServer, type FakeResource } from '../kube/fake-apiserver.js';
import { TestPeer } from '../fabric/test-peer.js';
import { createRepo, type TestRepo } from '../sync-helpers.js';
import { HttpFaultProxy } from './http-fault-proxy.js';
import { managedManifest, type LiveWriter } from './load.js';
import { faultActive, type FaultSpec, type Scenario } from './scenario.js';
import { TcpFaultProxy } from './tcp-fault-proxy.js';
import { freePort } from '../helpers/ports.js';

export const LOG = 'chaos';
export const TARGET = 'chaos';
const CONFIGMAPS: FakeResource = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

/** A running target with its fault injection. */
export interface Harness {
  writer: LiveWriter;
  /** A client of the node the entries go to (reconnects by itself). */
  client: LedgerClient;
  /** Starts injecting the scenario's faults (the window starts now). */
  startFaults(): void;
  /** Stops injecting; resolves once every process is up again. */
  endFaults(): Promise<void>;
  /** Faults injected so far. */
  injected(): number;
  /** Prometheus text of the node's /metrics, or the engine's retries otherwise visible (client mode: its warnings). */
  retriesSeen(): Promise<number>;
  /** Resident set of the engine's process, in bytes. */
  rssBytes(): Promise<number>;
  /** Extra conditions of steady state (empty: steady). */
  notSteady(): Promise<string[]>;
  /** Extra invariants checked at the end (anchors). */
  violations(): Promise<string[]>;
  close(): Promise<void>;
}


/** Sum of every series of `name` in a Prometheus text exposition. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).some(([k, v]) => !(m[2] ?? '').includes(`${k}="${v}"`))) continue;
    sum += Number(m[3]);
  }
  return sum;
}

async function nodeMetrics(tn: TestNode): Promise<string> {
  const res = await fetch(`http://${tn.node.metricsAddress}/metrics`);
  return res.text();
}

/** Engine retries visible in a node's metrics: reconcile errors and watch restarts. */
async function syncRetries(tn: TestNode): Promise<number> {
  const text = await nodeMetrics(tn);
  return metricSum(text, 'cairn_sync_reconcile_errors_total') + metricSum(text, 'cairn_sync_watch_restarts_total');
}

async function gitWithManifests(managed: number): Promise<TestRepo> {
  const repo = await createRepo();
  for (let i = 0; i < managed; i++) await repo.write(`cm-${i}.yaml`, managedManifest(`cm-${i}`));
  await repo.commit('desired state');
  return repo;
}

/** Runs `every_ms`-spaced outages of a process (kill or restart faults) until stopped; resolves once it is up again. */
function processOutages(f: FaultSpec, down: () => Promise<void>, up: () => Promise<void>, onOutage: () => void): { stop(): Promise<void> } {
  let stopped = false;
  const started = Date.now();
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, f.everyMs!));
      if (stopped || !faultActive(f, Date.now() - started)) {
        if (Date.now() - started >= f.startMs + f.durationMs) return;
        continue;
      }
      if (Math.random() >= f.rate) continue;
      onOutage();
      await down();
      await new Promise((r) => setTimeout(r, f.downMs!));
      await up();
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const processRss = async (pid: number | undefined): Promise<number> => {
  if (pid === undefined) return 0;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : 0;
};

// ------------------------------------------------------------------ kube

async function kubeTarget(s: Scenario, managed: number): Promise<Harness> {
  const repo = await gitWithManifests(managed);
  const server = await FakeApiServer.start([CONFIGMAPS]);
  // Watches end every 0.5-1 s, as the API server's do after their timeout (30-60 min): faults on new requests then reach an idle client.
  const proxy = await HttpFaultProxy.start(server.url, { watchTimeoutMs: 1000 });
  const writer: LiveWriter = {
    put: async (name, v) => void server.upsert(CONFIGMAPS, { metadata: { name, namespace: 'default' }, data: { v } }),
    delete: async (name) => void server.remove(CONFIGMAPS, 'default', name),
  };
  await seed(writer, managed);
  const tn = await startTestNode();
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig().replace(server.url, proxy.url));
  const logger = createLogger('silent');
  // Watchdog and request timeout well inside the scenario's bound (defaults: 5 min and 60 s), so a
  // connection held open without data is given up within it.
  const live = createKubernetesSource({ kubeConfig: kc, resources: [CONFIGMAPS], watchdogMs: 3000, requestTimeoutMs: 5000, backoffInitialMs: 100, backoffMaxMs: 2000, pageSize: 4, logger });
  const desired = new GitDesired({ repo: repo.path, branch: 'main', defaultNamespace: 'default' });
  const engine = new SyncEngine(
    { name: TARGET, log: LOG, pollIntervalMs: 2000, backoff: { baseMs: 100, maxMs: 2000 } },
    { desired, live, recorder: ledgerRecorder(tn.node.ledger), metrics: createSyncMetrics(tn.node.metrics.registry), logger },
  );
  const ac = new AbortController();
  const running = engine.run(ac.signal);
  return {
    writer,
    client: tn.client,
    startFaults: () => proxy.arm(s.faults),
    endFaults: async () => proxy.disarm(),
    injected: () => proxy.total,
    retriesSeen: () => syncRetries(tn),
    rssBytes: async () => process.memoryUsage().rss,
    notSteady: async () => [],
    violations: async () => [],
    close: async () => {
      ac.abort();
      await running;
      desired.close();
      await live.close();
      await proxy.close();
      await server.close();
      await tn.close();
      await repo.close();
    },
  };
}

// ------------------------------------------------------------------ etcd

async function etcdTarget(s: Scenario, managed: number): Promise<Harness> {
  const repo = await gitWithManifests(managed);
  const etcd: TestEtcd = await startEtcd();
  const proxy = await TcpFaultProxy.start(Number(new URL(etcd.endpoint).port));
  const direct = new Etcd3({ hosts: etcd.endpoint });
  const dir = await mkdirTemp('cairn-chaos-etcd-');
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ sync_targets: [{ name: TARGET, repo: repo.path, target: `etcd:127.0.0.1:${proxy.port}/chaos/`, log: LOG, poll_interval_ms: 2000 }] }));
  const value = (name: string, v: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });
  const writer: LiveWriter = {
    put: async (name, v) => void (await direct.put(`/chaos/default/ConfigMap/${name}`).value(value(name, v)).exec()),
    delete: async (name) => void (await direct.delete().key(`/chaos/default/ConfigMap/${name}`).exec()),
  };
  await seed(writer, managed);
  const tn = await startTestNode({ config }, join(dir, 'node'));
  let outages: { stop(): Promise<void> }[] = [];
  let restarts = 0;
  return {
    writer,
    client: tn.client,
    startFaults: () => {
      proxy.arm(s.faults.filter((f) => f.fault !== 'restart'));
      outages = s.faults
        .filter((f) => f.fault === 'restart')
        // Every other restart is a kill -9: etcd must come back from its WAL either way.
        .map((f) => processOutages(f, () => (restarts % 2 === 0 ? etcd.stop() : etcd.kill9()), () => etcd.restart(), () => restarts++));
    },
    endFaults: async () => {
      proxy.disarm();
      await Promise.all(outages.map((o) => o.stop()));
      if (etcd.pid === undefined) await etcd.restart();
    },
    injected: () => proxy.total + restarts,
    retriesSeen: () => syncRetries(tn),
    rssBytes: async () => process.memoryUsage().rss,
    notSteady: async () => [],
    violations: async () => [],
    close: async () => {
      await tn.close();
      direct.close();
      await proxy.close();
      await etcd.close();
      await repo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function mkdirTemp(prefix: string): Promise<string> {
  return (await tempDir(prefix)).path;
}

/** Makes live equal Git before the engine starts. */
async function seed(writer: LiveWriter, managed: number): Promise<void> {
  for (let i = 0; i < managed; i++) await writer.put(`cm-${i}`, '0');
}

/** Live state as YAML files in a directory, each written atomically (a reader never sees half a file). */
function dirWriter(dir: string): LiveWriter {
  let n = 0;
  return {
    put: async (name, v) => {
      const tmp = join(dir, `.${name}.${++n}.tmp`);
      await writeFile(tmp, managedManifest(name).replace('v: "0"', `v: ${JSON.stringify(v)}`));
      await rename(tmp, join(dir, `${name}.yaml`));
    },
    delete: (name) => rm(join(dir, `${name}.yaml`)),
  };
}

// ------------------------------------------------------------------ fabric

async function fabricTarget(s: Scenario, managed: number): Promise<Harness> {
  const repo = await gitWithManifests(managed);
  const peer = await TestPeer.start({ batchTimeoutMs: 10 });
  const dir = await mkdirTemp('cairn-chaos-fabric-');
  const liveDir = join(dir, 'live');
  await mkdir(liveDir);
  const id = await peer.newIdentity(peer.mspId, 'chaos-node');
  const ps = peer.settings(id);
  await writeFile(join(dir, 'tls-ca.pem'), ps.tlsCaPem);
  await writeFile(join(dir, 'cert.pem'), ps.certPem);
  await writeFile(join(dir, 'key.pem'), ps.keyPem, { mode: 0o600 });
  const TIMEOUT_MS = 1000;
  const COMMIT_TIMEOUT_MS = 500;
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({
    fabric: { endpoint: ps.endpoint, tls_ca_file: join(dir, 'tls-ca.pem'), tls_server_name: ps.tlsServerName, msp_id: ps.mspId, cert_file: join(dir, 'cert.pem'), key_file: join(dir, 'key.pem'), channel: ps.channel, chaincode: ps.chaincode, contract: ps.contract, timeout_ms: TIMEOUT_MS, commit_timeout_ms: COMMIT_TIMEOUT_MS },
    sync_targets: [{ name: TARGET, repo: repo.path, target: `dir:${liveDir}`, log: LOG, poll_interval_ms: 2000 }],
  }));
  const writer = dirWriter(liveDir);
  await seed(writer, managed);
  const NODE = 'chaos-node';
  const tn = await startTestNode({ config, 'anchor-backend': 'fabric', 'anchor-interval-ms': '200', 'node-name': NODE }, join(dir, 'node'));
  let timer: NodeJS.Timeout | undefined;
  let armedAt = 0;
  const apply = (): void => {
    const elapsed = Date.now() - armedAt;
    peer.faults.clear();
    for (const f of s.faults) {
      if (!faultActive(f, elapsed)) continue;
      if (f.fault === 'unavailable') peer.faults.setFailureRate(f.method ?? 'Endorse', f.rate);
      // Past the client's deadline: DEADLINE_EXCEEDED (for Submit and CommitStatus: outcome unknown).
      else if (f.fault === 'deadline') peer.faults.setLatency(TIMEOUT_MS + 300, [f.method ?? 'Endorse'], f.rate);
      // The transaction commits, but its status does not come back in time.
      else if (f.fault === 'lost-commit-status') peer.faults.setLatency(COMMIT_TIMEOUT_MS + 700, ['CommitStatus'], f.rate);
    }
  };
  /** Windows of this node on the channel, from the AnchorRecorded events of every block. */
  const onChannel = (): { window: number; txId: string }[] => {
    const out: { window: number; txId: string }[] = [];
    for (let n = 0; n < peer.ledger.height; n++) {
      for (const ev of peer.ledger.block(n)!.events) {
        const rec = JSON.parse(Buffer.from(ev.getPayload_asU8()).toString('utf8')) as { node: string; window: number; txId: string };
        if (rec.node === NODE) out.push({ window: rec.window, txId: rec.txId });
      }
    }
    return out;
  };
  const anchorsBehind = async (): Promise<string[]> => {
    const out: string[] = [];
    const size = (await tn.client.getCheckpoint(LOG).catch(() => undefined))?.size ?? 0;
    if (size === 0) return out;
    const windows = await tn.client.listAnchors(LOG);
    const pending = windows.filter((w) => w.state !== 'committed');
    if (pending.length > 0) out.push(`anchor windows ${pending.map((w) => w.window).join(', ')} not committed`);
    const covered = Math.max(0, ...windows.filter((w) => w.state === 'committed').flatMap((w) => w.checkpoints.filter((c) => c.log === LOG).map((c) => c.size)));
    if (covered !== size) out.push(`log ${LOG} has ${size} entries, anchored up to ${covered}`);
    return out;
  };
  return {
    writer,
    client: tn.client,
    startFaults: () => {
      armedAt = Date.now();
      apply();
      timer = setInterval(apply, 100);
    },
    endFaults: async () => {
      clearInterval(timer);
      peer.faults.clear();
    },
    injected: () => peer.faults.injected,
    retriesSeen: async () => metricSum(await nodeMetrics(tn), 'cairn_anchor_windows_total', { result: 'failed_attempt' }),
    rssBytes: async () => process.memoryUsage().rss,
    notSteady: anchorsBehind,
    violations: async () => {
      const out = await anchorsBehind();
      const chan = onChannel();
      const expected = chan.map((_, i) => i + 1);
      if (JSON.stringify(chan.map((a) => a.window)) !== JSON.stringify(expected)) out.push(`windows on the channel are ${chan.map((a) => a.window).join(',')}, not 1..${chan.length} each once in order`);
      const all = new Map<number, string | undefined>();
      for (const w of await tn.client.listAnchors(LOG)) all.set(w.window, w.receipt?.txId);
      for (const [window, txId] of all) {
        const c = chan.find((a) => a.window === window);
        if (!c) out.push(`anchor window ${window} is committed on the node but not on the channel`);
        else if (c.txId !== txId) out.push(`anchor window ${window}: the node's receipt ${txId} is not the channel's transaction ${c.txId}`);
      }
      return out;
    },
    close: async () => {
      clearInterval(timer);
      await tn.close();
      await peer.close();
      await repo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ node (cairn sync in client mode)

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  stderr: () => string;
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv, ready?: RegExp): Promise<Proc> {
  const child = spawn(process.execPath, args, { env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  // If this process dies, the IPC channel closes and the child sees it; the channel alone keeps nothing alive.
  child.channel?.unref();
  let err = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc = { child, exited, stderr: () => err };
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-200_000);
  });
  if (!ready) return Promise.resolve(proc);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`did not start: ${err}`)), 30_000);
    const check = (): void => {
      if (ready.test(err)) {
        clearTimeout(t);
        child.stderr!.off('data', check);
        resolve(proc);
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited with ${code}: ${err}`));
    });
  });
}

async function nodeTarget(s: Scenario, managed: number): Promise<Harness> {
  const repo = await gitWithManifests(managed);
  const dir = await mkdirTemp('cairn-chaos-node-');
  const liveDir = join(dir, 'live');
  await mkdir(liveDir);
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const serve = (): Promise<Proc> => spawnCli([...SERVE_NODE_FLAGS, CLI, 'serve', '--data-dir', join(dir, 'node'), '--listen', address, '--metrics-listen', ''], {}, /serving gRPC on /);
  let node = await serve();
  const writer = dirWriter(liveDir);
  await seed(writer, managed);
  const sync = await spawnCli([CLI, 'sync', '--server', address, '--repo', repo.path, '--target', `dir:${liveDir}`, '--name', TARGET, '--log', LOG, '--interval', '2s', '--mask-key', join(dir, 'mask.key'), '--cache-dir', join(dir, 'cache')], { CAIRN_SERVER: '', XDG_CONFIG_HOME: join(dir, 'config') });
  const client = new LedgerClient(address);
  let outages: { stop(): Promise<void> }[] = [];
  let kills = 0;
  const kill = async (): Promise<void> => {
    node.child.kill('SIGKILL');
    await node.exited;
  };
  return {
    writer,
    client,
    startFaults: () => {
      outages = s.faults.map((f) => processOutages(f, kill, async () => void (node = await serve()), () => kills++));
    },
    endFaults: async () => {
      await Promise.all(outages.map((o) => o.stop()));
      if (node.child.exitCode !== null || node.child.signalCode !== null) node = await serve();
    },
    injected: () => kills,
    // Client mode serves no metrics: the engine's retries are its "retrying" warnings (JSON lines on stderr).
    retriesSeen: async () => sync.stderr().split('\n').filter((l) => l.includes('retrying')).length,
    rssBytes: () => processRss(sync.child.pid),
    notSteady: async () => (sync.child.exitCode !== null ? [`cairn sync exited with ${sync.child.exitCode}: ${sync.stderr().slice(-2000)}`] : []),
    violations: async () => (sync.child.exitCode !== null || sync.child.signalCode !== null ? [`cairn sync exited (${sync.child.exitCode ?? sync.child.signalCode}): ${sync.stderr().slice(-2000)}`] : []),
    close: async () => {
      sync.child.kill('SIGTERM');
      await sync.exited;
      client.close();
      node.child.kill('SIGTERM');
      await node.exited;
      await repo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function openTarget(s: Scenario, managed: number): Promise<Harness> {
  switch (s.target) {
    case 'kube':
      return kubeTarget(s, managed);
    case 'etcd':
      return etcdTarget(s, managed);
    case 'fabric':
      return fabricTarget(s, managed);
    case 'node':
      return nodeTarget(s, managed);
  }
}
