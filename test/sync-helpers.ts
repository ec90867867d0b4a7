/**
 * Test helpers for the sync engine: real git repositories in temp dirs,
 * manifests as YAML text, and waiting for a condition.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './helpers/node.js';
import type { LiveEvent, LiveSource } from '../src/sync/live-source.js';

const exec = promisify(execFile);

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export interface TestRepo {
  path: string;
  git(...args: string[]): Promise<string>;
  write(file: string, text: string): Promise<void>;
  remove(file: string): Promise<void>;
  move(from: string, to: string): Promise<void>;
  /** Stages everything and commits; returns the new commit id. */
  commit(message?: string): Promise<string>;
  close(): Promise<void>;
}

export async function createRepo(branch = 'main'): Promise<TestRepo> {
  const dir = await tempDir('cairn-sync-repo-');
  const git = async (...args: string[]): Promise<string> => (await exec('git', ['-c', 'commit.gpgsign=false', ...args], { cwd: dir.path, env: GIT_ENV })).stdout.trim();
  await git('init', '--quiet', '--initial-branch', branch);
  return {
    path: dir.path,
    git,
    async write(file, text) {
      await mkdir(dirname(join(dir.path, file)), { recursive: true });
      await writeFile(join(dir.path, file), text);
    },
    async remove(file) {
      await rm(join(dir.path, file));
    },
    async move(from, to) {
      await mkdir(dirname(join(dir.path, to)), { recursive: true });
      await rename(join(dir.path, from), join(dir.path, to));
    },
    async commit(message = 'change') {
      await git('add', '--all');
      await git('commit', '--quiet', '--allow-empty', '-m', message);
      return git('rev-parse', 'HEAD');
    },
    close: () => dir.remove(),
  };
}

export function configMap(name: string, data: Record<string, string>, extra: { namespace?: string; labels?: Record<string, string> } = {}): string {
  const lines = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', `  name: ${name}`];
  if (extra.namespace) lines.push(`  namespace: ${extra.namespace}`);
  if (extra.labels) {
    lines.push('  labels:');
    for (const [k, v] of Object.entries(extra.labels)) lines.push(`    ${k}: ${JSON.stringify(v)}`);
  }
  lines.push('data:');
  for (const [k, v] of Object.entries(data)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  return lines.join('\n') + '\n';
}

export function secret(name: string, data: Record<string, string>): string {
  const lines = ['apiVersion: v1', 'kind: Secret', 'metadata:', `  name: ${name}`, 'type: Opaque', 'data:'];
  for (const [k, v] of Object.entries(data)) lines.push(`  ${k}: ${Buffer.from(v).toString('base64')}`);
  return lines.join('\n') + '\n';
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
export async function until<T>(fn: () => T | Promise<T>, ms = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One line per event, for timeout messages. */
export function summarizeEvents(events: LiveEvent[]): string[] {
  return events.map((e) => (e.type === 'resync' ? `resync(${[...e.objects.keys()].sort().join(',')})` : e.type === 'delete' ? `delete ${e.key}` : `upsert ${e.key} ${JSON.stringify(e.object.data ?? e.object.spec ?? null)}`));
}

/** Collects a live source's watch events; `until` waits for `pred` over what arrived (or anything else it checks). */
export function followSource(src: LiveSource, from: string) {
  const events: LiveEvent[] = [];
  const ac = new AbortController();
  const done = src.watch(from, (e) => events.push(e), ac.signal);
  done.catch(() => {});
  return {
    events,
    done,
    stop: async () => {
      ac.abort();
      await done.catch(() => {});
    },
    until: async (pred: (events: LiveEvent[]) => boolean, what = 'events', ms = 15_000) => {
      const deadline = Date.now() + ms;
      while (!pred(events)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(summarizeEvents(events))}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}
