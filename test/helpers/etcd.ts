/**
 * Test harness: a real single-member etcd (Debian's `etcd` binary, installed
 * by scripts/test-deps.sh) on free loopback ports with a temporary data
 * directory. It is stopped by PID, never by name, and can be killed -9 and
 * restarted on the same ports and data directory to test reconnection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TestEtcd {
  /** `http://127.0.0.1:<port>`: the client URL. */
  readonly endpoint: string;
  readonly dataDir: string;
  /** PID of the running etcd, or undefined while it is down. */
  readonly pid: number | undefined;
  /** SIGKILL, then waits for the process to exit. */
  kill9(): Promise<void>;
  /** Starts etcd again on the same ports and data directory; waits for health. */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; waits for exit. */
  stop(): Promise<void>;
  /** Stops etcd and deletes its data directory. */
  close(): Promise<void>;
  /** The last lines etcd wrote to stderr (for failure messages). */
  logTail(): string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitHealthy(endpoint: string, child: ChildProcess, log: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (res.ok && body.health === 'true') return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`etcd did not become healthy within ${timeoutMs} ms: ${log()}`);
}

export async function startEtcd(): Promise<TestEtcd> {
  // tmpfs when there is one: etcd fsyncs every commit, and the data only has to
  // outlive the process (kill -9), not the machine.
  const dataDir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'cairn-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stderr = '';

  const launch = async (): Promise<void> => {
    const c = spawn(
      'etcd',
      [
        '--name', 'cairn-test',
        '--data-dir', dataDir,
        '--listen-client-urls', endpoint,
        '--advertise-client-urls', endpoint,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `cairn-test=${peer}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    c.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    child = c;
    await waitHealthy(endpoint, c, () => stderr);
  };

  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c) return;
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    await exited;
    child = undefined;
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    child = undefined;
  };

  await launch();
  return {
    endpoint,
    dataDir,
    get pid() {
      return child?.pid;
    },
    kill9: () => kill('SIGKILL'),
    restart: async () => {
      await stop();
      await launch();
    },
    stop,
    close: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    logTail: () => stderr,
  };
}
