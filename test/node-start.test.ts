/**
 * A node that fails to start releases everything it had opened: for each
 * step where `startNode` can fail, the start rejects with that step's error,
 * the data directory opens again at once (no LevelDB lock held), its ports
 * bind again, and no handle, timer, worker or file descriptor is left
 * behind. A started node's `close` releases the same resources.
 *
 * "Left behind" is measured two ways: async_hooks sees every handle, timer
 * and worker the start created and not yet destroyed (unref'd timers too,
 * which process.getActiveResourcesInfo() does not count), and /proc/self/fd
 * shows the descriptors it opened (LevelDB's LOCK and log files are not
 * handles).
 */
import t, { type Test } from 'tap';
import type { ErrorMatch } from '@tapjs/asserts';
import { createHook } from 'node:async_hooks';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, type NodeConfig } from '../src/node/config.js';
import { startNode } from '../src/node/node.js';
import { createLogger } from '../src/node/logger.js';
import { Disposers } from '../src/node/disposers.js';
import { LedgerStore } from '../src/storage/ledger-store.js';
import { AnchorStore } from '../src/anchoring/store.js';
import { LocalAnchorBackend } from '../src/anchoring/local-backend.js';
import { tempDir } from './helpers/node.js';
import { freePort } from './helpers/ports.js';
import { makePki } from './helpers/pki.js';
import { createRepo, configMap, type TestRepo } from './sync-helpers.js';

// ---------------------------------------------------------------- what a start leaves behind

/** Resources that live until closed: servers and sockets, timers, file watchers, worker threads. */
const TRACKED = new Set(['Timeout', 'TCPSERVERWRAP', 'TCPWRAP', 'PIPEWRAP', 'PIPESERVERWRAP', 'FSEVENTWRAP', 'STATWATCHER', 'WORKER', 'UDPWRAP', 'PROCESSWRAP']);

/** Open descriptors as `fd -> device:inode` (an inode survives a rename, as LevelDB renames LOG to LOG.old), with what each names. */
function openFds(): Map<string, { file: string; target: string }> {
  const out = new Map<string, { file: string; target: string }>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const st = statSync(`/proc/self/fd/${fd}`);
      out.set(fd, { file: `${st.dev}:${st.ino}`, target: readlinkSync(`/proc/self/fd/${fd}`) });
    } catch {
      // Closed between the listing and the read (the listing's own descriptor).
    }
  }
  return out;
}

/** The test runner loads modules while an action runs: not the node's descriptors. */
function isModuleFile(target: string): boolean {
  return /\/node_modules\/|\.(m|c)?js$|\.json$/.test(target);
}

/**
 * Runs `action` and lists what it left open: tracked resources it created
 * and never released, and descriptors it opened and never closed.
 */
async function leftBehind(action: () => Promise<unknown>): Promise<string[]> {
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (TRACKED.has(type)) live.set(id, type);
    },
    destroy(id) {
      live.delete(id);
    },
  });
  const before = openFds();
  hook.enable();
  let created: number[];
  try {
    await action();
  } finally {
    created = [...live.keys()];
  }
  // A closed handle reports its destruction a moment later; a leaked one never does.
  for (let waited = 0; created.some((id) => live.has(id)) && waited < 2000; waited += 20) await sleep(20);
  hook.disable();
  const problems = created.filter((id) => live.has(id)).map((id) => `${live.get(id)} still open`);
  for (const [fd, { file, target }] of openFds()) {
    if (before.get(fd)?.file === file || isModuleFile(target)) continue;
    problems.push(`fd ${fd} still open: ${target}`);
  }
  return problems;
}

/** The node's databases that cannot be opened now (a lock still held). */
async function lockedStores(dataDir: string): Promise<string[]> {
  const problems: string[] = [];
  const stores: [string, () => Promise<{ close(): Promise<void> }>][] = [
    ['ledger store', () => LedgerStore.open(join(dataDir, 'ledger'))],
    ['anchor store', () => AnchorStore.open(join(dataDir, 'anchors'))],
    ['local anchor backend', () => LocalAnchorBackend.open(join(dataDir, 'anchors-local'))],
  ];
  for (const [name, open] of stores) {
    try {
      await (await open()).close();
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

function close(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** A listening socket on a free loopback port, standing for another process on that port. */
async function occupiedPort(t: Test): Promise<number> {
  const s = await listen(0);
  t.teardown(() => close(s));
  return (s.address() as { port: number }).port;
}

/** The ports that cannot be bound now. */
async function boundPorts(ports: number[]): Promise<string[]> {
  const problems: string[] = [];
  for (const port of ports) {
    try {
      await close(await listen(port));
    } catch (err) {
      problems.push(`port ${port}: ${(err as Error).message}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------- one failing start

interface Scene {
  dataDir: string;
  /** A path beside the data dir (keys, policies, config files), removed with it. */
  file(name: string): string;
  grpcPort: number;
  metricsPort: number;
  /** Flags of a node on this data dir that starts (free ports, local anchors). */
  flags: Record<string, string>;
}

async function scene(t: Test): Promise<Scene> {
  const root = await tempDir('cairn-node-start-');
  t.teardown(root.remove);
  const dataDir = join(root.path, 'data');
  const grpcPort = await freePort();
  const metricsPort = await freePort();
  return {
    dataDir,
    file: (name) => join(root.path, name),
    grpcPort,
    metricsPort,
    flags: { 'data-dir': dataDir, listen: `127.0.0.1:${grpcPort}`, 'http-listen': '', 'metrics-listen': `127.0.0.1:${metricsPort}`, 'anchor-interval-ms': '100' },
  };
}

/**
 * Starts a node with `config`, which must fail with `expected`; then checks
 * that nothing is left open and that the data dir and ports serve a node again.
 */
async function failsCleanly(t: Test, s: Scene, config: Readonly<NodeConfig>, expected: ErrorMatch): Promise<void> {
  const logs: string[] = [];
  const logger = createLogger('error', {}, (line) => logs.push(line));
  const problems = await leftBehind(() => t.rejects(startNode(config, logger), expected, 'the start fails with the failing step\'s error'));
  problems.push(...(await lockedStores(s.dataDir)));
  problems.push(...(await boundPorts([s.grpcPort, s.metricsPort])));
  problems.push(...logs.filter((l) => l.includes('could not release')));
  t.same(problems, [], 'nothing is left open: no handle, timer, worker, descriptor, database lock or port');
  await startsAgain(s);
}

/** A node starts at once on the data dir and ports of `s` (a start that fails rejects the test). */
async function startsAgain(s: Scene): Promise<void> {
  const again = await startNode(await loadConfig({ flags: s.flags, env: {} }), createLogger('silent'));
  await again.close();
}

/** A git repo with one manifest, and a live directory that matches it. */
async function syncFixture(t: Test, s: Scene): Promise<{ repo: TestRepo; live: string }> {
  const repo = await createRepo();
  t.teardown(repo.close);
  await repo.write('app/settings.yaml', configMap('settings', { mode: 'blue' }));
  await repo.commit('desired');
  const live = s.file('live');
  await mkdir(live, { recursive: true });
  await writeFile(join(live, 'settings.yaml'), configMap('settings', { mode: 'blue' }));
  return { repo, live };
}

/** A policy file beside the data dir: with one, the node watches it (a reload timer). */
async function policyFile(s: Scene): Promise<string> {
  const path = s.file('policy.yaml');
  await writeFile(path, "tenants:\n  a: [read:*]\nidentities:\n  - { match: 'cert-subject:CN=ci-a,O=example', tenant: a }\n");
  return path;
}

async function configFile(s: Scene, content: unknown): Promise<string> {
  const path = s.file('cairn.json');
  await writeFile(path, JSON.stringify(content));
  return path;
}

// ---------------------------------------------------------------- the tests

t.before(async () => {
  // First uses create process-wide state that lives on (libuv's inotify
  // descriptor, grpc-js and module caches): make it before measuring.
  const s = await scene(t);
  const { repo, live } = await syncFixture(t, s);
  const path = await configFile(s, { sync_targets: [{ name: 'warm', repo: repo.path, path: 'app', target: `dir:${live}`, poll_interval_ms: 50 }] });
  const node = await startNode(await loadConfig({ flags: { ...s.flags, config: path }, env: {} }), createLogger('silent'));
  await sleep(200);
  await node.close();
});

t.test('the stack of disposers', async (t) => {
  t.test('release runs every disposer, the last pushed first, even when one throws, and logs each failure naming the resource', async (t) => {
    const logs: string[] = [];
    const d = new Disposers(createLogger('error', {}, (l) => logs.push(l)));
    const ran: string[] = [];
    d.push('first', () => void ran.push('first'));
    d.push('second', () => {
      ran.push('second');
      throw new Error('second failed');
    });
    d.push('third', async () => void ran.push('third'));
    const failures = await d.release();
    t.same(ran, ['third', 'second', 'first']);
    t.same(failures.map((e) => (e as Error).message), ['second failed']);
    t.same(logs.map((l) => JSON.parse(l) as Record<string, unknown>).map((r) => [r.msg, r.resource]), [['could not release a resource', 'second']]);
    t.same(await d.release(), [], 'a second release has nothing left to run');
    t.same(ran, ['third', 'second', 'first']);
  });

  t.test('a disposer released early runs once, and the stack skips it', async (t) => {
    const d = new Disposers(createLogger('silent'));
    const ran: string[] = [];
    d.push('below', () => void ran.push('below'));
    const early = d.push('early', () => void ran.push('early'));
    d.push('above', () => void ran.push('above'));
    await early();
    await early();
    await d.release();
    t.same(ran, ['early', 'above', 'below']);
  });
});

t.test('a started node\'s close releases everything it opened', async (t) => {
  const s = await scene(t);
  const { repo, live } = await syncFixture(t, s);
  const path = await configFile(s, { sync_targets: [{ name: 'demo', repo: repo.path, path: 'app', target: `dir:${live}`, poll_interval_ms: 50 }] });
  const config = await loadConfig({ flags: { ...s.flags, config: path }, env: {} });
  const logs: string[] = [];
  const problems = await leftBehind(async () => {
    const node = await startNode(config, createLogger('error', {}, (line) => logs.push(line)));
    await node.close();
  });
  problems.push(...(await lockedStores(s.dataDir)));
  problems.push(...(await boundPorts([s.grpcPort, s.metricsPort])));
  problems.push(...logs);
  t.same(problems, [], 'no handle, timer, worker, descriptor, database lock, port or logged error is left');
});

t.test('a data dir locked by another node refuses the start with UNAVAILABLE and releases the policy and TLS watchers', async (t) => {
  const s = await scene(t);
  const pki = await makePki(s.file('pki'));
  // Signing inline: a signing worker sets up its thread's event loop after the start resolves, while the measurement runs.
  const other = await startNode(await loadConfig({ flags: { ...s.flags, listen: '127.0.0.1:0', 'http-listen': '', 'metrics-listen': '', signing: 'inline' }, env: {} }), createLogger('silent'));
  let otherStopped = false;
  t.teardown(() => (otherStopped ? undefined : other.close()));
  const config = await loadConfig({ flags: { ...s.flags, 'policy-file': await policyFile(s), 'tls-cert-file': pki.server.cert, 'tls-key-file': pki.server.key }, env: {} });
  const problems = await leftBehind(() => t.rejects(startNode(config, createLogger('silent')), { code: 'UNAVAILABLE', message: /locked/ }));
  t.same(problems, [], 'no watcher timer, handle or descriptor is left');
  await other.close();
  otherStopped = true;
  t.same([...(await lockedStores(s.dataDir)), ...(await boundPorts([s.grpcPort, s.metricsPort]))], [], 'the data dir and ports are free once the other node stops');
  await startsAgain(s);
});

t.test('an invalid signing key refuses the start with INVALID_ARGUMENT naming the file, and releases the policy watcher', async (t) => {
  const s = await scene(t);
  const keyFile = s.file('signing-key.pem');
  await writeFile(keyFile, 'not a key\n');
  await chmod(keyFile, 0o600);
  const config = await loadConfig({ flags: { ...s.flags, 'key-file': keyFile, 'policy-file': await policyFile(s) }, env: {} });
  await failsCleanly(t, s, config, { code: 'INVALID_ARGUMENT', field: keyFile, message: /not a PEM private key/ });
});

t.test('a Fabric anchor backend whose files cannot be read refuses the start with INVALID_ARGUMENT, and releases the ledger, its store, the signer, the anchor store and the policy watcher', async (t) => {
  const s = await scene(t);
  const missing = (name: string): string => s.file(`missing/${name}`);
  const config = await loadConfig({
    flags: {
      ...s.flags,
      'policy-file': await policyFile(s),
      'anchor-backend': 'fabric',
      'fabric-endpoint': '127.0.0.1:1',
      'fabric-tls-ca-file': missing('ca.pem'),
      'fabric-msp-id': 'Org1MSP',
      'fabric-cert-file': missing('cert.pem'),
      'fabric-key-file': missing('key.pem'),
      'fabric-channel': 'mychannel',
      'fabric-chaincode': 'cairn-anchor',
    },
    env: {},
  });
  await failsCleanly(t, s, config, { code: 'INVALID_ARGUMENT', message: /setting fabric\.\w+: cannot read/ });
});

t.test('a gRPC address already in use refuses the start, and releases the ledger, the anchor store and the backend', async (t) => {
  const s = await scene(t);
  const port = await occupiedPort(t);
  const config = await loadConfig({ flags: { ...s.flags, listen: `127.0.0.1:${port}` }, env: {} });
  await failsCleanly(t, s, config, { message: /No address added/ });
});

t.test('a sync target that fails to start refuses the start with INVALID_ARGUMENT, and releases the targets already running, the gRPC server, the anchoring stage and the ledger', async (t) => {
  const s = await scene(t);
  const { repo, live } = await syncFixture(t, s);
  const path = await configFile(s, {
    sync_targets: [
      { name: 'running', repo: repo.path, path: 'app', target: `dir:${live}`, poll_interval_ms: 50 },
      { name: 'broken', repo: repo.path, path: 'app', target: `dir:${join(live, 'missing')}` },
    ],
  });
  const config = await loadConfig({ flags: { ...s.flags, config: path }, env: {} });
  await failsCleanly(t, s, config, { code: 'INVALID_ARGUMENT', message: /missing is not a directory/ });
});

t.test('a metrics address already in use refuses the start with EADDRINUSE, and releases the sync targets, the gRPC server, the anchoring stage and the ledger', async (t) => {
  const s = await scene(t);
  const { repo, live } = await syncFixture(t, s);
  const path = await configFile(s, { sync_targets: [{ name: 'running', repo: repo.path, path: 'app', target: `dir:${live}`, poll_interval_ms: 50 }] });
  const port = await occupiedPort(t);
  const config = await loadConfig({ flags: { ...s.flags, config: path, 'metrics-listen': `127.0.0.1:${port}` }, env: {} });
  await failsCleanly(t, s, config, { code: 'EADDRINUSE' });
});
