/**
 * Drift episodes for the console's timeline: the one reading of a sync
 * target's entries that audit reports use (src/report/summarize.ts: a
 * `drift.*` entry opens an episode for its object key, `drift.resolved` or
 * `sync.applied` closes it), so the console and a report never disagree on
 * when a drift opened or for how long.
 */
import type { EntryBody } from '../core/entry.js';
import { summarize, type DriftEpisode } from '../report/summarize.js';

export type Episode = DriftEpisode;

/** Episodes by opening seq, from decoded bodies in seq order. */
export function driftEpisodes(bodies: readonly EntryBody[]): Episode[] {
  return summarize(bodies, { maxRows: 0 }).drift.episodes;
}

export function durationText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const hrs = Math.round(m / 60);
  return hrs < 48 ? `${hrs} h` : `${Math.round(hrs / 24)} d`;
}
