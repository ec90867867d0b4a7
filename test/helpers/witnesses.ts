/**
 * Witnessing test harness: nodes planned before they start (a data
 * directory with its signing key, and a port), because peers name each
 * other's endpoints and pinned keys in their config files.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnNode, type NodeProcess } from './node.js';
import { freePort } from './ports.js';
import { SigningKey, writeKeyFiles } from '../../src/keys/signing-key.js';

export interface Planned {
  name: string;
  dir: string;
  port: number;
  key: SigningKey;
  pub: string;
}

/** A data directory with its signing key, and a port, before the node starts (peers must know both). */
export async function plan(name: string, root: string, key = SigningKey.generate(), dirName = name): Promise<Planned> {
  const dir = join(root, dirName);
  await writeKeyFiles(dir, key);
  return { name, dir, port: await freePort(), key, pub: join(dir, 'signing-key.pub.pem') };
}

export interface PeerSpec {
  of: Planned;
  witness?: boolean;
  /** Another endpoint than the planned node's (a split view: the same origin served from elsewhere). */
  port?: number;
}

/** Starts a node with a config file naming its peers. */
export async function start(p: Planned, peers: PeerSpec[], extra: Record<string, unknown> = {}): Promise<NodeProcess> {
  const config = join(p.dir, 'config.json');
  await writeFile(config, JSON.stringify({
    node_name: p.name,
    anchor_backend: 'off',
    witness_exchange_ms: 300,
    witness_submit_interval_ms: 200,
    peers: peers.map((s) => ({ name: s.of.name, endpoint: `127.0.0.1:${s.port ?? s.of.port}`, public_key_file: s.of.pub, follow: false, witness: s.witness ?? false })),
    ...extra,
  }));
  return spawnNode(p.dir, ['--config', config, '--listen', `127.0.0.1:${p.port}`]);
}

export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

