/**
 * Federation test harness: node processes that follow each other, each
 * link through a TCP proxy that delays every chunk by a random 50-200 ms
 * (in order, as a slow network does), and waits for convergence.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnNode, tempDir, type NodeProcess } from './node.js';
import { freePort } from './ports.js';
import { LedgerClient } from '../../src/client/ledger-client.js';
import type { FederationStatus } from '../../src/core/federation.js';
import { SigningKey, writeKeyFiles } from '../../src/keys/signing-key.js';
import { toHex } from '../../src/core/bytes.js';

export interface DelayProxy {
  /** host:port to connect to. */
  address: string;
  close(): Promise<void>;
}

/**
 * A TCP proxy to `target` that holds each chunk, in each direction, for a
 * random delay in [minMs, maxMs] and keeps the order of the stream.
 */
export async function delayProxy(target: string, minMs = 50, maxMs = 200, avoid: ReadonlySet<number> = new Set()): Promise<DelayProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  // One queue and one timer per direction: chunks leave in the order they came, each no earlier than its own delay.
  const relay = (from: Socket, to: Socket): void => {
    const queue: { at: number; chunk: Buffer | null }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = (): void => {
      timer = undefined;
      while (queue.length > 0 && queue[0]!.at <= Date.now()) {
        const { chunk } = queue.shift()!;
        if (to.destroyed) continue;
        if (chunk === null) to.end();
        else to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(drain, Math.max(1, queue[0]!.at - Date.now()));
    };
    const push = (chunk: Buffer | null): void => {
      const last = queue.at(-1)?.at ?? 0;
      queue.push({ at: Math.max(last, Date.now() + minMs + Math.random() * (maxMs - minMs)), chunk });
      if (!timer) timer = setTimeout(drain, Math.max(1, queue[0]!.at - Date.now()));
    };
    from.on('data', (chunk: Buffer) => push(chunk));
    from.on('end', () => push(null));
    from.on('error', () => to.destroy());
    from.on('close', () => {
      if (queue.length === 0) to.destroy();
    });
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host, port });
    sockets.add(client);
    sockets.add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    relay(client, upstream);
    relay(upstream, client);
  });
  // Port 0 may hand out a port picked (free, not yet bound) for a node that has not started: try again then.
  for (;;) {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    if (!avoid.has((server.address() as { port: number }).port)) break;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const addr = server.address() as { port: number };
  return {
    address: `127.0.0.1:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface FedNode {
  name: string;
  dataDir: string;
  /** The node's own first public key (pinned by its peers). */
  pubkeyPath: string;
  /** Its witness key's public half (written when the node first starts with peers). */
  witnessKeyPath: string;
  port: number;
  proc: NodeProcess;
  client: LedgerClient;
  configPath: string;
  start(env?: NodeJS.ProcessEnv): Promise<void>;
}

export interface PeerLink {
  /** Who follows. */
  from: string;
  /** Whom. */
  to: string;
  /** Through a delay proxy (default true). */
  delayed?: boolean;
}

/** In a ring of `names`, each node asks the next `k` to witness its checkpoints. */
export function ringWitnesses(names: readonly string[], k: number): PeerLink[] {
  return names.flatMap((from, i) => Array.from({ length: k }, (_, j) => ({ from, to: names[(i + j + 1) % names.length]! })));
}

/**
 * Nodes named `names`, each with a key made up front (so every peer can pin
 * every other's), every node pinning every other origin; `links` says who
 * follows whom (others are pinned with follow: false, no endpoint).
 */
export async function startFederation(
  names: readonly string[],
  links: readonly PeerLink[],
  opts: {
    pollMs?: number;
    env?: Record<string, NodeJS.ProcessEnv>;
    delay?: [number, number];
    /** Who asks whom to witness its checkpoints (`from` is the origin), each through a delay proxy; with any, witnessing is tuned for tests. */
    witnesses?: readonly PeerLink[];
  } = {},
): Promise<{ nodes: Map<string, FedNode>; proxies: DelayProxy[]; close(): Promise<void> }> {
  const root = await tempDir('cairn-fed-');
  const nodes = new Map<string, FedNode>();
  for (const name of names) {
    const dataDir = join(root.path, name);
    const key = SigningKey.generate();
    const files = await writeKeyFiles(dataDir, key);
    let port = await freePort();
    // Each port free a moment ago, and not one already picked for another node.
    while ([...nodes.values()].some((n) => n.port === port)) port = await freePort();
    nodes.set(name, { name, dataDir, pubkeyPath: files.publicPath, witnessKeyPath: join(dataDir, 'witness-key.pub.pem'), port, configPath: join(root.path, `${name}.json`) } as FedNode);
  }
  const proxies: DelayProxy[] = [];
  const nodePorts = new Set([...nodes.values()].map((n) => n.port));
  for (const n of nodes.values()) {
    const peers: unknown[] = [];
    for (const other of nodes.values()) {
      if (other === n) continue;
      const link = links.find((l) => l.from === n.name && l.to === other.name);
      const witness = opts.witnesses?.find((l) => l.from === n.name && l.to === other.name);
      if (!link && !witness) {
        peers.push({ name: other.name, public_key_file: other.pubkeyPath, follow: false, witness: false });
        continue;
      }
      let endpoint = `127.0.0.1:${other.port}`;
      if ((link ?? witness)!.delayed !== false) {
        const p = await delayProxy(endpoint, ...(opts.delay ?? [50, 200]), nodePorts);
        proxies.push(p);
        endpoint = p.address;
      }
      peers.push({ name: other.name, endpoint, public_key_file: other.pubkeyPath, follow: link !== undefined, witness: witness !== undefined });
    }
    const witnessing = opts.witnesses?.length ? { witness_exchange_ms: 500, witness_submit_interval_ms: 200 } : {};
    await writeFile(n.configPath, JSON.stringify({ node_name: n.name, peers, federation_poll_ms: opts.pollMs ?? 300, anchor_backend: 'off', ...witnessing }));
  }
  for (const n of nodes.values()) {
    n.start = async (env?: NodeJS.ProcessEnv) => {
      const saved = { ...process.env };
      Object.assign(process.env, env ?? opts.env?.[n.name] ?? {});
      try {
        n.proc = await spawnNode(n.dataDir, ['--config', n.configPath, '--listen', `127.0.0.1:${n.port}`, '--http-listen', '']);
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
      n.client?.close();
      n.client = new LedgerClient(n.proc.address);
    };
  }
  const close = async (): Promise<void> => {
    for (const n of nodes.values()) n.client?.close();
    await Promise.all([...nodes.values()].map((n) => n.proc?.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    await root.remove();
  };
  // Two at a time: five node processes loading at once on a small, busy machine each took over 20 s to start.
  const all = [...nodes.values()];
  const started: PromiseSettledResult<void>[] = [];
  for (let i = 0; i < all.length; i += 2) started.push(...(await Promise.allSettled(all.slice(i, i + 2).map((n) => n.start()))));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await close();
    throw (failed as PromiseRejectedResult).reason;
  }
  return { nodes, proxies, close };
}

/** A vector as comparable text: `origin/log size root` lines, sorted. */
export function vectorText(s: FederationStatus): string {
  return s.vector.map((v) => `${v.origin}/${v.log} ${v.size} ${toHex(v.rootHash)}`).sort().join('\n');
}

/**
 * Polls every node's vector until all are equal and hold `expected` logs
 * (or the deadline passes); resolves with the time it took and the vectors.
 */
export async function waitConverged(clients: readonly LedgerClient[], expected: number, timeoutMs: number, pollMs = 20): Promise<{ ms: number; vectors: string[]; converged: boolean }> {
  const start = Date.now();
  let vectors: string[] = [];
  for (;;) {
    vectors = (await Promise.all(clients.map((c) => c.federationStatus()))).map(vectorText);
    const converged = vectors.every((v) => v === vectors[0]) && vectors[0]!.split('\n').filter(Boolean).length === expected;
    if (converged || Date.now() - start > timeoutMs) return { ms: Date.now() - start, vectors, converged };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
