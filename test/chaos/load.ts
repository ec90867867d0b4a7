/**
 * The load of a chaos scenario: drifts made in live state and undone on a
 * schedule while faults run, with an account of each (an {@link Episode}).
 *
 * Git holds `managed` ConfigMaps `cm-0..` (`data.v: "0"`), and live starts
 * equal. A drift is one of: `cm-i` modified (`data.v` set to a marker unique
 * to the drift), `cm-i` deleted, or `extra-n` created (Git has no such
 * object). Each is held for a random time and until the ledger shows it
 * recorded (at most `recordWaitMs`), then undone; a key is not drifted again
 * until the ledger shows the resolution (at most `recordWaitMs`), so that
 * every drift can have its own entry and its own resolution.
 */
import type { DriftStatus } from '../../src/sync/diff.js';
import type { Episode, LedgerFollower } from './invariants.js';

/** Writes live state (the API server, etcd, a directory), as a controller or an operator by hand would. */
export interface LiveWriter {
  /** Creates or replaces ConfigMap `name` (namespace default) with `data.v = value`. */
  put(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
}

export const keyOf = (name: string): string => `default/ConfigMap/${name}`;

/** Git's manifest of a managed ConfigMap. */
export function managedManifest(name: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  v: "0"\n`;
}

export interface LoadOptions {
  managed: number;
  intervalMs: number;
  maxOpen: number;
  holdMs: [number, number];
  recordWaitMs: number;
  random?: () => number;
}

interface Open {
  ep: Episode;
  name: string;
  holdUntil: number;
}

export class DriftLoad {
  readonly episodes: Episode[] = [];
  readonly #writer: LiveWriter;
  readonly #follower: LedgerFollower;
  readonly #opts: Required<LoadOptions>;
  readonly #open = new Map<string, Open>();
  /** Keys undone, waiting for their resolution in the ledger: key -> undone at. */
  readonly #resolving = new Map<string, number>();
  #extra = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  /** Writes that failed and were retried (the load's own view of the outage). */
  writeRetries = 0;

  constructor(writer: LiveWriter, follower: LedgerFollower, opts: LoadOptions) {
    this.#writer = writer;
    this.#follower = follower;
    this.#opts = { random: Math.random, ...opts };
  }

  /** Drifts open now, by key: what the ledger must show once the engine has caught up. */
  truth(): Map<string, DriftStatus> {
    return new Map([...this.#open.values()].map((o) => [o.ep.key, o.ep.status]));
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        await this.step();
        await new Promise((r) => setTimeout(r, this.#opts.intervalMs));
      }
    })();
  }

  /** Stops making and undoing drifts; those open stay open. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** One round: undo what was held long enough, free keys whose resolution arrived, start a drift. */
  async step(): Promise<void> {
    const now = Date.now();
    for (const [key, o] of [...this.#open]) {
      const recorded = this.#follower.open.get(key)?.status === o.ep.status;
      if (now >= o.holdUntil && (recorded || now - o.ep.createdAt > this.#opts.recordWaitMs)) await this.undo(key);
    }
    for (const [key, at] of [...this.#resolving]) {
      if (!this.#follower.open.has(key) || Date.now() - at > this.#opts.recordWaitMs) this.#resolving.delete(key);
    }
    if (this.#open.size < this.#opts.maxOpen) await this.drift();
  }

  /** Starts one drift (of a random kind) now; returns it. */
  async drift(kind?: DriftStatus): Promise<Episode> {
    const r = this.#opts.random;
    const idle = Array.from({ length: this.#opts.managed }, (_, i) => `cm-${i}`).filter((n) => !this.#open.has(keyOf(n)) && !this.#resolving.has(keyOf(n)));
    const pick: DriftStatus = kind ?? (['MODIFIED', 'REMOVED_FROM_CLUSTER', 'ADDED_IN_CLUSTER'] as const)[Math.floor(r() * 3)]!;
    const status: DriftStatus = idle.length === 0 ? 'ADDED_IN_CLUSTER' : pick;
    const id = this.episodes.length + 1;
    const name = status === 'ADDED_IN_CLUSTER' ? `extra-${++this.#extra}` : idle[Math.floor(r() * idle.length)]!;
    const ep: Episode = { id, key: keyOf(name), status, createdAt: Date.now() };
    if (status === 'MODIFIED') ep.marker = `drift-${id}`;
    this.episodes.push(ep);
    const [lo, hi] = this.#opts.holdMs;
    this.#open.set(ep.key, { ep, name, holdUntil: ep.createdAt + lo + r() * (hi - lo) });
    if (status === 'REMOVED_FROM_CLUSTER') await this.#write(() => this.#writer.delete(name));
    else await this.#write(() => this.#writer.put(name, ep.marker ?? 'extra'));
    return ep;
  }

  /** Undoes the open drift of `key`. */
  async undo(key: string): Promise<void> {
    const o = this.#open.get(key);
    if (!o) return;
    o.ep.undoStartedAt = Date.now();
    if (o.ep.status === 'ADDED_IN_CLUSTER') await this.#write(() => this.#writer.delete(o.name));
    else await this.#write(() => this.#writer.put(o.name, '0'));
    o.ep.undoneAt = Date.now();
    this.#open.delete(key);
    this.#resolving.set(key, o.ep.undoneAt);
  }

  async undoAll(): Promise<void> {
    for (const key of [...this.#open.keys()]) await this.undo(key);
  }

  /** A write that fails (the dependency is down) is retried for up to a minute. */
  async #write(fn: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await fn();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        this.writeRetries++;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
