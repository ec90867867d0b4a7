/**
 * What must hold after a chaos scenario, checked against the ledger (the
 * witness) and the load's own account of what it did to live state (the
 * ground truth). Every check adds a sentence to a list of violations; a
 * scenario passes when the list is empty.
 *
 * Drifts (docs/sync.md, "The engine"):
 * - each drift the load made is recorded at most once while it persists,
 *   and exactly once unless it was made and undone while faults ran (the
 *   load holds each drift until it is recorded, or for at most a bound, so a
 *   drift made and undone while the engine could not see it may
 *   legitimately never be seen; those are counted, not excused silently);
 * - each recorded drift that the load undid is resolved exactly once, by a
 *   `drift.resolved` naming its entry, recorded after the load undid it;
 *   one still there at the end is still open;
 * - no entry names a drift the load never made: in particular a list cut
 *   half-way must never read as `REMOVED_FROM_CLUSTER`.
 * Anchors (docs/anchoring.md): each window is on the channel exactly once,
 * windows 1..n in order, the node's receipt is the channel's transaction,
 * nothing is left pending, and the last windows cover every log's size.
 */
import { decodeBody } from '../../src/core/entry.js';
import type { DriftStatus } from '../../src/sync/diff.js';
import { readSyncEntry, type SyncRecord } from '../../src/sync/sync-entry.js';
import type { LedgerClient } from '../../src/client/ledger-client.js';

/** One drift the load made: from the write that made it to the write that undid it. */
export interface Episode {
  id: number;
  key: string;
  status: DriftStatus;
  /** For MODIFIED: the value written, found in the entry's patch. */
  marker?: string;
  /** Wall clock (ms) before the write that made the drift started. */
  createdAt: number;
  /** Before the write that undid it started, and once it returned. */
  undoStartedAt?: number;
  undoneAt?: number;
}

/** Entries can be stamped up to this much before our clock read (two clocks of one machine, ms rounding). */
const CLOCK_SLACK_MS = 5;

/** Follows a log over gRPC (through node restarts), keeping every sync record of one target. */
export class LedgerFollower {
  readonly records: SyncRecord[] = [];
  readonly #client: LedgerClient;
  readonly #log: string;
  readonly #target: string;
  #next = 0;
  #stopped = false;
  #loop: Promise<void> | undefined;
  /** Per key: the seq of the open drift and its status, or undefined. */
  readonly open = new Map<string, { seq: number; status: string }>();
  /** Seqs of drift entries that were resolved. */
  readonly resolved = new Set<number>();

  constructor(client: LedgerClient, log: string, target: string) {
    this.#client = client;
    this.#log = log;
    this.#target = target;
  }

  start(intervalMs = 100): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.poll().catch(() => undefined);
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  #polling: Promise<void> = Promise.resolve();

  /** Reads every entry recorded since the last poll (polls run one at a time). */
  poll(): Promise<void> {
    const p = this.#polling.then(() => this.#read());
    this.#polling = p.catch(() => undefined);
    return p;
  }

  async #read(): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 5000);
    try {
      for await (const e of this.#client.listEntries(this.#log, this.#next, 0, ac.signal)) {
        const body = decodeBody(e.body);
        this.#next = body.seq + 1;
        const rec = readSyncEntry(body);
        if (!rec || rec.target !== this.#target) continue;
        this.records.push(rec);
        const key = rec.payload.key;
        if (key === null) continue;
        if (rec.action === 'drift.resolved') {
          const o = this.open.get(key);
          if (o) this.resolved.add(o.seq);
          this.open.delete(key);
        } else if (rec.action.startsWith('drift.')) this.open.set(key, { seq: rec.seq, status: rec.payload.status });
      }
    } catch (e) {
      // A log that does not exist yet has nothing to read.
      if ((e as { code?: number }).code !== 5) throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface DriftCheck {
  violations: string[];
  /** Drifts never recorded whose life overlapped the fault window (allowed, counted). */
  unseen: number;
}

/**
 * Matches the ledger's records of one target with the load's episodes, key
 * by key in order, and says what does not fit.
 */
export function checkDrifts(records: readonly SyncRecord[], episodes: readonly Episode[], fault: { start: number; end: number }): DriftCheck {
  const violations: string[] = [];
  const seqs = new Set<number>();
  for (const r of records) {
    if (seqs.has(r.seq)) violations.push(`seq ${r.seq} read twice`);
    seqs.add(r.seq);
  }
  const byKey = new Map<string, SyncRecord[]>();
  for (const r of [...records].sort((a, b) => a.seq - b.seq)) {
    if (r.action === 'sync.applied' || r.action === 'sync.error') {
      violations.push(`seq ${r.seq}: ${r.action} in report-only mode (${r.payload.key ?? r.payload.error})`);
      continue;
    }
    const key = r.payload.key;
    if (key === null) {
      violations.push(`seq ${r.seq}: ${r.action} without a key`);
      continue;
    }
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
  }
  const episodesByKey = new Map<string, Episode[]>();
  for (const e of [...episodes].sort((a, b) => a.id - b.id)) episodesByKey.set(e.key, [...(episodesByKey.get(e.key) ?? []), e]);

  const matched = new Map<number, { drift: SyncRecord; resolution?: SyncRecord }>();
  for (const [key, recs] of byKey) {
    const eps = episodesByKey.get(key) ?? [];
    let next = 0;
    let open: { rec: SyncRecord; ep: Episode } | undefined;
    for (const r of recs) {
      const at = Date.parse(r.time);
      if (r.action === 'drift.resolved') {
        if (!open) {
          violations.push(`seq ${r.seq}: ${key} resolved, but no drift of it was open`);
          continue;
        }
        if (r.payload.resolves !== open.rec.seq) violations.push(`seq ${r.seq}: ${key} resolution names seq ${r.payload.resolves}, the open drift is seq ${open.rec.seq}`);
        if (open.ep.undoStartedAt === undefined) violations.push(`seq ${r.seq}: ${key} resolved while drift #${open.ep.id} (seq ${open.rec.seq}) was still there`);
        else if (at + CLOCK_SLACK_MS < open.ep.undoStartedAt) violations.push(`seq ${r.seq}: ${key} resolved at ${r.time}, before drift #${open.ep.id} was undone (${new Date(open.ep.undoStartedAt).toISOString()})`);
        matched.get(open.ep.id)!.resolution = r;
        open = undefined;
        continue;
      }
      if (open) {
        const same = open.rec.payload.status === r.payload.status && open.rec.payload.patchDigest === r.payload.patchDigest;
        violations.push(same ? `seq ${r.seq}: ${key} ${r.payload.status} recorded twice (first seq ${open.rec.seq})` : `seq ${r.seq}: ${key} ${r.payload.status} recorded while drift seq ${open.rec.seq} was never resolved`);
      }
      const patch = JSON.stringify(r.payload.patch);
      const found = eps.findIndex((e, i) => i >= next && e.status === r.payload.status && (e.marker === undefined || patch.includes(JSON.stringify(e.marker))) && e.createdAt <= at + CLOCK_SLACK_MS);
      if (found < 0) {
        violations.push(`seq ${r.seq}: ${key} ${r.payload.status} at ${r.time} matches no drift the load made (invented)`);
        open = undefined;
        continue;
      }
      next = found + 1;
      open = { rec: r, ep: eps[found]! };
      matched.set(eps[found]!.id, { drift: r });
    }
  }

  let unseen = 0;
  for (const e of episodes) {
    const m = matched.get(e.id);
    const what = `drift #${e.id} (${e.status} ${e.key}${e.marker ? ` = ${e.marker}` : ''})`;
    if (!m) {
      if (e.undoneAt === undefined) violations.push(`${what} is still there but was never recorded`);
      else if (e.undoneAt >= fault.start && e.createdAt <= fault.end) unseen++;
      else violations.push(`${what} lived ${new Date(e.createdAt).toISOString()}..${new Date(e.undoneAt).toISOString()}, clear of the fault window, and was never recorded`);
      continue;
    }
    if (e.undoneAt === undefined && m.resolution) violations.push(`${what} is still there but was resolved (seq ${m.resolution.seq})`);
    if (e.undoneAt !== undefined && !m.resolution) violations.push(`${what} was undone but its resolution was never recorded (drift seq ${m.drift.seq})`);
  }
  return { violations, unseen };
}

/** Keys whose open drift in the ledger differs from the load's (empty: the engine has caught up). */
export function openDriftMismatch(follower: LedgerFollower, truth: ReadonlyMap<string, DriftStatus>): string[] {
  const out: string[] = [];
  for (const [key, status] of truth) {
    const o = follower.open.get(key);
    if (o?.status !== status) out.push(`${key}: ${status} in live, ${o ? o.status : 'none'} in the ledger`);
  }
  for (const [key, o] of follower.open) if (!truth.has(key)) out.push(`${key}: none in live, ${o.status} in the ledger`);
  return out;
}
