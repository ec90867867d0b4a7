/**
 * Test harness: a real single-member etcd (Debian's `etcd` binary, installed
 * by scripts/test-deps.sh) on free loopback ports with a temporary data
 * directory. It is stopped by PID, never by name, and can be killed -9 and
 * restarted on the same ports and data directory to test reconnection.
 * With `tls`, clients must connect over https and present a certificate the
 * given CA issued (`--client-cert-auth`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

export interface TestEtcd {
  /** `http://127.0.0.1:<port>` (`https://` with TLS): the client URL. */
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


/** etcd's /health, over https with a client certificate when `tls` is given. */
async function health(endpoint: string, tls: EtcdTls | undefined): Promise<boolean> {
  if (!tls) {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${endpoint}/health`, { ca: readFileSync(tls.ca), cert: readFileSync(tls.client.cert), key: readFileSync(tls.client.key), timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && (JSON.parse(body) as { health?: string }).health === 'true'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitHealthy(endpoint: string, tls: EtcdTls | undefined, child: ChildProcess, log: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    try {
      if (await health(endpoint, tls)) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`etcd did not become healthy within ${timeoutMs} ms: ${log()}`);
}

/** PEM files: the CA (of the server certificate and of the client certificates etcd accepts), the server's certificate and key, and a client pair for the health check. */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
  client: { cert: string; key: string };
}

export async function startEtcd(opts: { tls?: EtcdTls } = {}): Promise<TestEtcd> {
  // tmpfs when there is one: etcd fsyncs every commit, and the data only has to
  // outlive the process (kill -9), not the machine.
  const dataDir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'cairn-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const tlsFlags = opts.tls ? ['--cert-file', opts.tls.cert, '--key-file', opts.tls.key, '--client-cert-auth', '--trusted-ca-file', opts.tls.ca] : [];
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
        ...tlsFlags,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    c.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    child = c;
    await waitHealthy(endpoint, opts.tls, c, () => stderr);
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
