/**
 * The period a report covers: `from` inclusive, `to` exclusive, so that
 * consecutive periods (a quarter, then the next) count every entry once.
 * Times are RFC 3339 (any offset, normalized to UTC) or unix seconds.
 *
 * Pure module: no Node-only imports.
 */
import { invalidArgument } from '../core/errors.js';

export interface Period {
  /** Milliseconds since the epoch, inclusive. */
  fromMs?: number;
  /** Milliseconds since the epoch, exclusive. */
  toMs?: number;
}

const RFC3339 = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$/;
const UNIX_SECONDS = /^[0-9]{1,11}(\.[0-9]{1,3})?$/;

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Milliseconds since the epoch of an RFC 3339 time or unix seconds. Every
 * field is range-checked: `Date.parse` alone accepts February 30 and rolls
 * it over into March.
 * @throws CairnError INVALID_ARGUMENT naming `field`
 */
export function parseTime(text: string, field: string): number {
  if (UNIX_SECONDS.test(text)) return Math.round(Number(text) * 1000);
  const m = RFC3339.exec(text);
  if (!m) throw invalidArgument(field, `"${text}" is neither an RFC 3339 time (2026-01-31T00:00:00Z) nor unix seconds`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) throw invalidArgument(field, `"${text}": month ${month} is not 1 to 12`);
  if (day < 1 || day > daysIn(year, month)) throw invalidArgument(field, `"${text}": day ${day} is not in ${m[1]}-${m[2]}`);
  if (hour > 23 || minute > 59 || second > 59) throw invalidArgument(field, `"${text}": time of day out of range`);
  const fraction = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const zone = m[8]!;
  let offsetMin = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) throw invalidArgument(field, `"${text}": offset ${zone} out of range`);
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, fraction) - offsetMin * 60_000;
}

/**
 * The period from the text of its two ends; either may be absent (from the
 * first entry, to the last).
 * @throws CairnError INVALID_ARGUMENT naming `from` or `to`
 */
export function parsePeriod(from: string | undefined, to: string | undefined): Period {
  const p: Period = {};
  if (from !== undefined) p.fromMs = parseTime(from, 'from');
  if (to !== undefined) p.toMs = parseTime(to, 'to');
  if (p.fromMs !== undefined && p.toMs !== undefined && p.toMs <= p.fromMs) throw invalidArgument('to', `must be after from (${isoTime(p.fromMs)})`);
  return p;
}

/** RFC 3339 UTC with milliseconds, the form entries carry. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
