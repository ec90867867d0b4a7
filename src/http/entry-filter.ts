/**
 * Server-side filters of the entry list (`GET /v1/logs/{log}/entries` with
 * `config_id`, `operator`, `identity`, `action`, `commit`, `since`, `until`),
 * and the pages that scan for them in either order. A filtered page scans at
 * most MAX_SCAN entries, so one request costs the same however rare the
 * matches: it may hold fewer than `limit` entries, even none, with a `next`
 * to continue from.
 */
import { invalidArgument } from '../core/errors.js';
import { entryJson } from '../core/receipt-json.js';
import type { SignedEntry } from '../core/entry.js';
import type { Req } from '../server/wire.js';

/** Entries one filtered page reads at most. */
export const MAX_SCAN = 10_000;
/** Longest filter value accepted. */
const MAX_FILTER = 512;

export interface EntryFilter {
  configId?: string;
  operator?: string;
  identity?: string;
  action?: string;
  /** A prefix of the commit (an abbreviated hash matches). */
  commit?: string;
  /** RFC 3339 instants, as the entries' `time` (UTC, milliseconds): since <= time < until. */
  since?: string;
  until?: string;
}

export const FILTER_PARAMS = ['config_id', 'operator', 'identity', 'action', 'commit', 'since', 'until'] as const;

/** An RFC 3339 instant in the entries' own form (`2026-01-02T03:04:05.678Z`), so that times compare as strings. */
function instant(field: string, v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v)) throw invalidArgument(field, 'must be an RFC 3339 time (2026-01-02T03:04:05Z) or a date (2026-01-02)');
  const [y, m, d] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
  // Date.parse rolls 2026-02-30 over to March 2: check the calendar date itself.
  if (new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10) !== v.slice(0, 10)) throw invalidArgument(field, 'is not a valid date');
  const t = Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(t)) throw invalidArgument(field, 'is not a valid time');
  return new Date(t).toISOString();
}

/** The filter the query asks for; undefined when it asks for none. */
export function entryFilterOf(q: Req): EntryFilter | undefined {
  const f: EntryFilter = {};
  for (const name of FILTER_PARAMS) {
    const key = name === 'config_id' ? 'configId' : name;
    const v = q[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_FILTER) throw invalidArgument(name, `must be 1 to ${MAX_FILTER} characters`);
    f[key as keyof EntryFilter] = name === 'since' || name === 'until' ? instant(name, v) : v;
  }
  if (f.since !== undefined && f.until !== undefined && f.until <= f.since) throw invalidArgument('until', 'must be after since');
  return Object.keys(f).length > 0 ? f : undefined;
}

/**
 * Whether an entry passes. An entry whose body does not decode passes every
 * filter: a damaged record is never hidden from an auditor by a filter.
 */
export function matchesFilter(e: SignedEntry, f: EntryFilter): boolean {
  let b: Record<string, unknown>;
  try {
    b = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(e.body)) as Record<string, unknown>;
    if (typeof b !== 'object' || b === null) return true;
  } catch {
    return true;
  }
  const s = (k: string): string => (typeof b[k] === 'string' ? (b[k] as string) : '');
  if (f.configId !== undefined && s('configId') !== f.configId) return false;
  if (f.operator !== undefined && s('operator') !== f.operator) return false;
  if (f.identity !== undefined && s('identity') !== f.identity) return false;
  if (f.action !== undefined && s('action') !== f.action) return false;
  if (f.commit !== undefined && !s('commit').startsWith(f.commit)) return false;
  if (f.since !== undefined && s('time') < f.since) return false;
  if (f.until !== undefined && s('time') >= f.until) return false;
  return true;
}

/** Reads the entries [start, end) of the log (in order, in chunks). */
export type ReadRange = (start: number, end: number) => AsyncGenerator<SignedEntry[]>;

export interface EntryPage {
  entries: unknown[];
  /** asc: the `start` of the next page; desc: its `end`; null: no more. */
  next: number | null;
}

/** Oldest first from `start` to `end`: up to `limit` matches, scanning at most MAX_SCAN entries when filtered. */
export async function ascendingPage(read: ReadRange, start: number, end: number, limit: number, filter: EntryFilter | undefined): Promise<EntryPage> {
  const out: SignedEntry[] = [];
  const budget = filter ? MAX_SCAN : limit + 1;
  let scanned = 0;
  let resume: number | null = null;
  // Leaving the loop closes the reader.
  outer: for await (const chunk of read(start, Math.min(end, start + budget))) {
    for (const e of chunk) {
      scanned++;
      if (out.length === limit) {
        resume = e.seq;
        break outer;
      }
      if (!filter || matchesFilter(e, filter)) out.push(e);
    }
  }
  if (resume === null && start + scanned < end && scanned === budget) resume = start + scanned;
  return { entries: out.map(entryJson), next: resume };
}

/**
 * Newest first, from `end` down to `start`: read backwards in blocks, so
 * the first page of a log of any size costs one block (no scan from seq 0).
 */
export async function descendingPage(read: ReadRange, start: number, end: number, limit: number, filter: EntryFilter | undefined): Promise<EntryPage> {
  const out: SignedEntry[] = [];
  const block = filter ? 1000 : limit;
  let cur = end;
  let scanned = 0;
  while (cur > start && out.length < limit && (!filter || scanned < MAX_SCAN)) {
    const from = Math.max(start, cur - block);
    const got: SignedEntry[] = [];
    for await (const chunk of read(from, cur)) got.push(...chunk);
    for (let i = got.length - 1; i >= 0 && out.length < limit; i--) {
      const e = got[i]!;
      scanned++;
      cur = e.seq;
      if (!filter || matchesFilter(e, filter)) out.push(e);
    }
    if (got.length === 0) break;
  }
  return { entries: out.map(entryJson), next: cur > start ? cur : null };
}
