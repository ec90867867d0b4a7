/**
 * The figures of an audit report, computed in one pass over a log's decoded
 * entries in seq order: totals, tallies by operator, identity, config id and
 * action, the changes in the period, and the drift episodes of sync targets.
 *
 * Memory: the totals and tallies are running sums (one row per distinct
 * name); the change table holds the period's entries up to `maxRows`, each
 * with its payload cut to `payloadChars`; drift episodes are kept only when
 * they overlap the period. The result depends only on the entries and the
 * options: no clock, no locale.
 *
 * Drift episodes follow the sync engine's own reading of its log
 * (src/sync/engine.ts, rebuilding its drift memory): for one target and
 * object key, a `drift.*` entry opens an episode (later `drift.*` entries
 * while it is open update it), and `drift.resolved` or `sync.applied` closes
 * it. A `sync.applied` with no episode open is a drift fixed as it was
 * detected: an episode of duration zero.
 *
 * Pure module: no Node-only imports.
 */
import type { EntryBody } from '../core/entry.js';
import { readSyncRecord, type SyncStatus } from '../core/sync-record.js';
import { isoTime, type Period } from './period.js';

export interface SummarizeOptions {
  period?: Period;
  /** Most rows in the change table; the totals still count every entry. Default: no limit. */
  maxRows?: number;
  /** Payload JSON longer than this is cut (the entry's seq leads to the whole). Default 240. */
  payloadChars?: number;
}

/** One name (an operator, identity, config id or action) and its entries in the period. */
export interface Tally {
  name: string;
  count: number;
  firstSeq: number;
  lastSeq: number;
  firstTime: string;
  lastTime: string;
}

/** One row of the change table. */
export interface ReportChange {
  seq: number;
  time: string;
  action: string;
  configId: string;
  operator: string;
  identity: string;
  commit: string;
  source: string;
  /** The payload as JSON, cut to `payloadChars` (then ending in …); empty when null. */
  payload: string;
  /** Length of the whole payload JSON, in characters. */
  payloadLength: number;
  /** True when `payload` was cut. */
  payloadCut: boolean;
}

export interface DriftEpisode {
  target: string;
  /** The object key, `namespace/kind/name`. */
  key: string;
  /** The drift's status when it opened (ADDED_IN_CLUSTER, REMOVED_FROM_CLUSTER, MODIFIED). */
  status: SyncStatus;
  openedSeq: number;
  openedAt: string;
  /** drift.* entries recorded while it was open, the opening one included. */
  updates: number;
  closedSeq?: number;
  closedAt?: string;
  closedBy?: 'drift.resolved' | 'sync.applied';
  /** Closed: from opening to closing. Open: from opening to the end of the period. Undefined when a time does not parse. */
  durationMs?: number;
}

export interface ReportSummary {
  /** The period as asked, RFC 3339 UTC; absent ends are open. */
  period: { from?: string; to?: string };
  /** Entries read (the whole log, up to the verified checkpoint). */
  logEntries: number;
  firstTime?: string;
  lastTime?: string;
  /** Entries in the period, before it and after it. */
  inPeriod: number;
  before: number;
  after: number;
  byOperator: Tally[];
  byIdentity: Tally[];
  byConfigId: Tally[];
  byAction: Tally[];
  /** The period's entries in seq order, at most `maxRows`. */
  changes: ReportChange[];
  /** Entries in the period left out of `changes` by `maxRows`. */
  changesOmitted: number;
  drift: {
    /** Episodes overlapping the period, by opening seq. */
    episodes: DriftEpisode[];
    /** Of those, still open at the end of the log. */
    open: number;
    /** The instant open episodes are measured to: the period's end, or the last entry's time. */
    measuredTo?: string;
  };
}

const DEFAULT_PAYLOAD_CHARS = 240;

interface MutableTally {
  count: number;
  firstSeq: number;
  lastSeq: number;
  firstTime: string;
  lastTime: string;
}

function tallyOf(map: Map<string, MutableTally>, name: string, body: EntryBody): void {
  const t = map.get(name);
  if (t) {
    t.count++;
    t.lastSeq = body.seq;
    t.lastTime = body.time;
  } else {
    map.set(name, { count: 1, firstSeq: body.seq, lastSeq: body.seq, firstTime: body.time, lastTime: body.time });
  }
}

/** Most entries first; ties by name in code-unit order (never localeCompare: the order must not depend on the machine). */
function sortedTallies(map: Map<string, MutableTally>): Tally[] {
  return [...map].map(([name, t]) => ({ name, ...t })).sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function timeMs(time: string): number | undefined {
  const ms = Date.parse(time);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Summarizes entries pushed in seq order. `add` each decoded entry, then
 * `finish` once.
 */
export class ReportSummarizer {
  readonly #period: Period;
  readonly #maxRows: number;
  readonly #payloadChars: number;
  #logEntries = 0;
  #firstTime: string | undefined;
  #lastTime: string | undefined;
  #lastMs: number | undefined;
  #inPeriod = 0;
  #before = 0;
  #after = 0;
  readonly #byOperator = new Map<string, MutableTally>();
  readonly #byIdentity = new Map<string, MutableTally>();
  readonly #byConfigId = new Map<string, MutableTally>();
  readonly #byAction = new Map<string, MutableTally>();
  readonly #changes: ReportChange[] = [];
  /** Open episodes by target and key. */
  readonly #open = new Map<string, DriftEpisode>();
  readonly #closed: DriftEpisode[] = [];

  constructor(opts: SummarizeOptions = {}) {
    this.#period = opts.period ?? {};
    this.#maxRows = opts.maxRows ?? Number.POSITIVE_INFINITY;
    this.#payloadChars = opts.payloadChars ?? DEFAULT_PAYLOAD_CHARS;
  }

  add(body: EntryBody): void {
    this.#logEntries++;
    this.#firstTime ??= body.time;
    this.#lastTime = body.time;
    const ms = timeMs(body.time);
    if (ms !== undefined) this.#lastMs = ms;
    const { fromMs, toMs } = this.#period;
    // An entry whose time does not parse cannot be placed in a bounded period.
    if (fromMs !== undefined && (ms === undefined || ms < fromMs)) this.#before++;
    else if (toMs !== undefined && (ms === undefined || ms >= toMs)) this.#after++;
    else this.#count(body);
    this.#drift(body, ms);
  }

  #count(body: EntryBody): void {
    this.#inPeriod++;
    tallyOf(this.#byOperator, body.operator, body);
    tallyOf(this.#byIdentity, body.identity, body);
    tallyOf(this.#byConfigId, body.configId, body);
    tallyOf(this.#byAction, body.action, body);
    if (this.#changes.length >= this.#maxRows) return;
    const json = body.payload === null ? '' : JSON.stringify(body.payload);
    this.#changes.push({
      seq: body.seq,
      time: body.time,
      action: body.action,
      configId: body.configId,
      operator: body.operator,
      identity: body.identity,
      commit: body.commit,
      source: body.source,
      payload: json.length > this.#payloadChars ? json.slice(0, this.#payloadChars) + '…' : json,
      payloadLength: json.length,
      payloadCut: json.length > this.#payloadChars,
    });
  }

  #drift(body: EntryBody, ms: number | undefined): void {
    const rec = readSyncRecord(body);
    if (!rec || rec.payload.key === null || rec.action === 'sync.error') return;
    const id = `${rec.target}\u0000${rec.payload.key}`;
    const open = this.#open.get(id);
    if (rec.action === 'drift.resolved' || rec.action === 'sync.applied') {
      if (!open && rec.action === 'drift.resolved') return; // nothing open to close: not an episode
      const ep = open ?? { target: rec.target, key: rec.payload.key, status: rec.payload.status, openedSeq: rec.seq, openedAt: rec.time, updates: 0 };
      ep.closedSeq = rec.seq;
      ep.closedAt = rec.time;
      ep.closedBy = rec.action;
      const opened = timeMs(ep.openedAt);
      if (opened !== undefined && ms !== undefined) ep.durationMs = ms - opened;
      this.#open.delete(id);
      if (this.#overlaps(opened, ms)) this.#closed.push(ep);
      return;
    }
    if (open) open.updates++;
    else this.#open.set(id, { target: rec.target, key: rec.payload.key, status: rec.payload.status, openedSeq: rec.seq, openedAt: rec.time, updates: 1 });
  }

  /** Does [opened, closed] meet the period? An unknown time is kept (shown, not hidden). */
  #overlaps(opened: number | undefined, closed: number | undefined): boolean {
    const { fromMs, toMs } = this.#period;
    if (toMs !== undefined && opened !== undefined && opened >= toMs) return false;
    if (fromMs !== undefined && closed !== undefined && closed < fromMs) return false;
    return true;
  }

  finish(): ReportSummary {
    const { fromMs, toMs } = this.#period;
    const endMs = toMs ?? this.#lastMs;
    const open: DriftEpisode[] = [];
    for (const ep of this.#open.values()) {
      const opened = timeMs(ep.openedAt);
      if (!this.#overlaps(opened, undefined)) continue;
      open.push(opened !== undefined && endMs !== undefined ? { ...ep, durationMs: Math.max(0, endMs - opened) } : { ...ep });
    }
    const episodes = [...this.#closed, ...open].sort((a, b) => a.openedSeq - b.openedSeq);
    return {
      period: { ...(fromMs !== undefined ? { from: isoTime(fromMs) } : {}), ...(toMs !== undefined ? { to: isoTime(toMs) } : {}) },
      logEntries: this.#logEntries,
      ...(this.#firstTime !== undefined ? { firstTime: this.#firstTime } : {}),
      ...(this.#lastTime !== undefined ? { lastTime: this.#lastTime } : {}),
      inPeriod: this.#inPeriod,
      before: this.#before,
      after: this.#after,
      byOperator: sortedTallies(this.#byOperator),
      byIdentity: sortedTallies(this.#byIdentity),
      byConfigId: sortedTallies(this.#byConfigId),
      byAction: sortedTallies(this.#byAction),
      changes: this.#changes,
      changesOmitted: this.#inPeriod - this.#changes.length,
      drift: { episodes, open: open.length, ...(endMs !== undefined ? { measuredTo: isoTime(endMs) } : {}) },
    };
  }
}

/** The summary of a whole sequence of decoded entries (seq order). */
export function summarize(bodies: Iterable<EntryBody>, opts: SummarizeOptions = {}): ReportSummary {
  const s = new ReportSummarizer(opts);
  for (const b of bodies) s.add(b);
  return s.finish();
}
