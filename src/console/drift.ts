/**
 * Drift episodes from a sync target's entries (docs/sync.md): a drift entry
 * opens an episode for its object key; `drift.resolved` or `sync.applied`
 * closes it (the entry's `resolves` names the seq it closes, else the key's
 * open episode). What is still open is the drift now.
 */
import { readSyncEntry, type SyncRecord } from '../sync/sync-entry.js';
import type { EntryBody } from '../core/entry.js';

export interface Episode {
  target: string;
  key: string;
  status: string;
  openedSeq: number;
  opened: string;
  closedSeq?: number;
  closed?: string;
}

/** Episodes, oldest first, from decoded bodies in seq order. */
export function driftEpisodes(bodies: readonly EntryBody[]): Episode[] {
  const out: Episode[] = [];
  const open = new Map<string, Episode>();
  for (const body of bodies) {
    const r: SyncRecord | undefined = readSyncEntry(body);
    if (!r || r.payload.key === null) continue;
    const id = `${r.target}\u0000${r.payload.key}`;
    if (r.action.startsWith('drift.') && r.action !== 'drift.resolved') {
      const current = open.get(id);
      // The same drift seen again (a new commit, a changed patch) continues the episode.
      if (current) {
        current.status = r.payload.status;
        continue;
      }
      const ep: Episode = { target: r.target, key: r.payload.key, status: r.payload.status, openedSeq: r.seq, opened: r.time };
      open.set(id, ep);
      out.push(ep);
    } else if (r.action === 'drift.resolved' || r.action === 'sync.applied') {
      const ep = open.get(id);
      if (!ep) continue;
      ep.closedSeq = r.seq;
      ep.closed = r.time;
      open.delete(id);
    }
  }
  return out;
}

export function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const hrs = Math.round(m / 60);
  return hrs < 48 ? `${hrs} h` : `${Math.round(hrs / 24)} d`;
}
