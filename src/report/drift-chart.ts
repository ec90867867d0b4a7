/**
 * The drift timeline of a report as inline SVG: one lane per target and
 * object, a bar from when each drift opened to when it was resolved (open
 * drifts run to the end of the period, hatched). Static markup, no script,
 * fixed coordinates rounded to 0.1 px, so the same episodes give the same bytes.
 *
 * Pure module: no Node-only imports.
 */
import type { DriftEpisode } from './summarize.js';
import { cut, esc, formatDuration } from './format.js';

/** Lanes drawn; further objects are named in a note under the chart (the episode table lists them all). */
export const MAX_LANES = 30;

const WIDTH = 960;
const LABEL_W = 280;
const RIGHT_PAD = 16;
const LANE_H = 20;
const TOP = 34;
const AXIS_H = 30;

export const STATUS_COLORS: Readonly<Record<string, string>> = {
  ADDED_IN_CLUSTER: '#2f6fb3',
  REMOVED_FROM_CLUSTER: '#c2571a',
  MODIFIED: '#7b4fc4',
};
const OTHER_COLOR = '#555';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Tick steps, smallest first; the first giving at most 8 ticks is used. */
const STEPS = [SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];

const r1 = (x: number): string => String(Math.round(x * 10) / 10);

function tickLabel(ms: number, step: number): string {
  const iso = new Date(ms).toISOString();
  if (step < MINUTE) return iso.slice(11, 19);
  if (step < DAY) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(0, 10);
}

function laneId(e: DriftEpisode): string {
  return `${e.target}\u0000${e.key}`;
}

/**
 * The SVG of the episodes between `startMs` and `endMs` (the period, or the
 * log's first and last entry). Episodes whose times do not parse are left
 * out of the chart (the table still lists them).
 */
export function driftChart(episodes: readonly DriftEpisode[], startMs: number, endMs: number): { svg: string; lanesOmitted: number } {
  const placed = episodes.filter((e) => Number.isFinite(Date.parse(e.openedAt)));
  const lanes: string[] = [];
  for (const e of placed) if (!lanes.includes(laneId(e))) lanes.push(laneId(e));
  const shown = lanes.slice(0, MAX_LANES);
  const span = Math.max(endMs - startMs, SECOND);
  const plotW = WIDTH - LABEL_W - RIGHT_PAD;
  const x = (ms: number): number => LABEL_W + (Math.min(Math.max(ms, startMs), startMs + span) - startMs) * (plotW / span);
  const height = TOP + shown.length * LANE_H + AXIS_H;
  const out: string[] = [];
  out.push(`<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="Drift episodes over time">`);
  out.push('<defs><pattern id="open-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="#999"/></pattern></defs>');
  // Legend.
  let lx = LABEL_W;
  for (const [status, color] of Object.entries(STATUS_COLORS)) {
    out.push(`<rect x="${lx}" y="8" width="12" height="12" fill="${color}"/><text x="${lx + 16}" y="18" class="legend">${esc(status)}</text>`);
    lx += 30 + status.length * 7.2;
  }
  out.push(`<rect x="${r1(lx)}" y="8" width="12" height="12" fill="url(#open-hatch)" stroke="#666"/><text x="${r1(lx + 16)}" y="18" class="legend">still open</text>`);
  // Grid and axis.
  const step = STEPS.find((s) => span / s <= 8) ?? 365 * DAY * Math.ceil(span / (8 * 365 * DAY));
  const axisY = TOP + shown.length * LANE_H;
  for (let t = Math.ceil(startMs / step) * step; t <= startMs + span; t += step) {
    const tx = r1(x(t));
    // A label at either edge is anchored inside the chart rather than cut.
    const anchor = x(t) > WIDTH - RIGHT_PAD - 40 ? 'end' : x(t) < LABEL_W + 40 ? 'start' : 'middle';
    out.push(`<line x1="${tx}" y1="${TOP - 4}" x2="${tx}" y2="${axisY}" class="grid"/><text x="${tx}" y="${axisY + 16}" class="tick" text-anchor="${anchor}">${esc(tickLabel(t, step))}</text>`);
  }
  out.push(`<line x1="${LABEL_W}" y1="${axisY}" x2="${WIDTH - RIGHT_PAD}" y2="${axisY}" class="axis"/>`);
  // Lanes and bars.
  shown.forEach((id, i) => {
    const y = TOP + i * LANE_H;
    const [target, key] = id.split('\u0000') as [string, string];
    if (i % 2 === 1) out.push(`<rect x="0" y="${y}" width="${WIDTH - RIGHT_PAD}" height="${LANE_H}" class="stripe"/>`);
    out.push(`<text x="${LABEL_W - 8}" y="${y + 14}" class="lane" text-anchor="end"><title>${esc(`${target}: ${key}`)}</title>${esc(cut(`${target}: ${key}`, 42))}</text>`);
  });
  for (const e of placed) {
    const lane = shown.indexOf(laneId(e));
    if (lane < 0) continue;
    const opened = Date.parse(e.openedAt);
    const closedMs = e.closedAt !== undefined ? Date.parse(e.closedAt) : Number.NaN;
    const end = Number.isFinite(closedMs) ? closedMs : startMs + span;
    const x1 = x(opened);
    const w = Math.max(x(end) - x1, 2);
    const y = TOP + lane * LANE_H + 4;
    const fill = e.closedSeq === undefined ? 'url(#open-hatch)' : STATUS_COLORS[e.status] ?? OTHER_COLOR;
    const stroke = e.closedSeq === undefined ? ` stroke="${STATUS_COLORS[e.status] ?? OTHER_COLOR}"` : '';
    const what = `${e.status}, opened at entry ${e.openedSeq} (${e.openedAt})${e.closedSeq !== undefined ? `, closed at entry ${e.closedSeq} (${e.closedAt})` : ', still open'}${e.durationMs !== undefined ? `, ${formatDuration(e.durationMs)}` : ''}`;
    out.push(`<rect x="${r1(x1)}" y="${y}" width="${r1(w)}" height="${LANE_H - 8}" fill="${fill}"${stroke}><title>${esc(what)}</title></rect>`);
  }
  out.push('</svg>');
  return { svg: out.join(''), lanesOmitted: lanes.length - shown.length };
}
