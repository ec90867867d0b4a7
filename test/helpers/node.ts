/**
 * Test harness: real nodes on loopback with real LevelDB directories.
 * In-process nodes for API tests; child processes (bin/cairn.js serve) where
 * a test must kill -9 the node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import { loadConfig, type NodeConfig } from '../../src/node/config.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import { createLogger } from '../../src/node/logger.js';
import { LedgerClient } from '../../src/client/ledger-client.js';

/** Repository root (tests run from dist/test). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(ROOT, 'bin', 'cairn.js');

export async function tempDir(prefix = 'cairn-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface TestNode {
  node: RunningNode;
  client: LedgerClient;
  dataDir: string;
  pubkeyPath: string;
  /** Stops the node (data kept). */
  stop(): Promise<void>;
  /** Stops the node and deletes its data. */
  close(): Promise<void>;
}

export async function startTestNode(overrides: Partial<Record<string, string>> = {}, dataDir?: string): Promise<TestNode> {
  const dir = dataDir ?? (await tempDir()).path;
  const config: Readonly<NodeConfig> = await loadConfig({
    flags: { 'data-dir': dir, listen: '127.0.0.1:0', 'http-listen': '127.0.0.1:0', 'metrics-listen': '127.0.0.1:0', ...overrides },
    env: {},
  });
  const node = await startNode(config, createLogger('silent'));
  const client = new LedgerClient(node.grpcAddress);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    client.close();
    await node.close();
  };
  return {
    node,
    client,
    dataDir: dir,
    pubkeyPath: join(dir, 'signing-key.pub.pem'),
    stop,
    close: async () => {
      await stop();
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface NodeProcess {
  child: ChildProcess;
  address: string;
  /** The HTTP API's base URL (`http://127.0.0.1:port`). */
  httpAddress: string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Node's own flags for `cairn serve`, as `npm start` and the image pass them (docs/operations.md, "Starting a node"). */
export const SERVE_NODE_FLAGS = ['--max-semi-space-size=32'];

/** Starts `cairn serve` as a child process and waits for its address. */
export async function spawnNode(dataDir: string, extra: string[] = []): Promise<NodeProcess> {
  // An IPC channel: if this test process dies (a tap timeout kills it), the node sees the channel close and stops.
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, CLI, 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--metrics-listen', '', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  // The channel alone must not keep this process alive.
  child.channel?.unref();
  const { address, httpAddress } = await new Promise<{ address: string; httpAddress: string }>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => {
      // Not left running: its stderr pipe would hold the test process open until tap's timeout.
      child.kill('SIGKILL');
      reject(new Error(`node did not start: ${err}`));
    }, 20_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving gRPC on (\S+?)[,\s]/.exec(err);
      if (m) {
        clearTimeout(t);
        resolve({ address: m[1]!, httpAddress: /the HTTP API on (\S+?)[,\s]/.exec(err)?.[1] ?? '' });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`node exited with ${code}: ${err}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    address,
    httpAddress,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A child process's exit code and everything it printed. */
export function outputOf(child: ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs the CLI; resolves with exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return outputOf(spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * Appends `n` entries to `log` in concurrent groups of 1, 2, ... 7 (then
 * again from 1), so the log has checkpoints at many sizes.
 */
export async function appendInGroups(client: LedgerClient, log: string, n: number): Promise<void> {
  let done = 0;
  while (done < n) {
    const k = Math.min(n - done, 1 + (done % 7));
    await Promise.all(Array.from({ length: k }, (_, i) => client.append({ log, configId: `cfg/${done + i}`, operator: 'ci', action: 'update', payloadJson: JSON.stringify({ n: done + i }) })));
    done += k;
  }
}
