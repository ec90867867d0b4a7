/**
 * The two charts, as SVG built from data (no library): a drift timeline
 * (one row per object key, a bar from when its drift opened to when it was
 * resolved, or to now) and the anchor lag of each window over time.
 */
import { svg } from './dom.js';
import { durationText, type Episode } from './drift.js';

const W = 860;
const LEFT = 230;
const RIGHT = 20;
const ROW = 22;

function timeLabel(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** A time axis with three ticks (start, middle, end, UTC): enough to read a span, never overlapping. */
function axis(y: number, t0: number, t1: number): SVGElement {
  const g = svg('g', { class: 'axis' });
  g.append(svg('line', { x1: LEFT, x2: W - RIGHT, y1: y, y2: y }));
  const sameDay = timeLabel(t0).slice(0, 10) === timeLabel(t1).slice(0, 10);
  for (let i = 0; i <= 2; i++) {
    const x = LEFT + ((W - LEFT - RIGHT) * i) / 2;
    const label = timeLabel(t0 + ((t1 - t0) * i) / 2);
    g.append(svg('line', { x1: x, x2: x, y1: y, y2: y + 4 }));
    g.append(svg('text', { x, y: y + 16, 'text-anchor': i === 0 ? 'start' : i === 2 ? 'end' : 'middle' }, sameDay && i > 0 ? label.slice(11) : label));
  }
  return g;
}

/** One row per episode of one target; open episodes run to `now` and are drawn as open. */
export function driftTimeline(episodes: readonly Episode[], now: number): SVGElement {
  const times = episodes.flatMap((e) => [Date.parse(e.openedAt), e.closedAt ? Date.parse(e.closedAt) : now]);
  const t0 = Math.min(...times);
  const t1 = Math.max(now, ...times);
  const span = Math.max(1, t1 - t0);
  const x = (t: number): number => LEFT + ((W - LEFT - RIGHT) * (t - t0)) / span;
  const keys = [...new Set(episodes.map((e) => e.key))];
  const height = keys.length * ROW + 40;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${height}`, width: W, height, class: 'chart', role: 'img', 'aria-label': 'drift timeline' });
  keys.forEach((k, i) => {
    const y = 10 + i * ROW;
    chart.append(svg('text', { x: LEFT - 8, y: y + 13, 'text-anchor': 'end', class: 'label' }, k.length > 34 ? `${k.slice(0, 33)}…` : k));
  });
  for (const e of episodes) {
    const y = 10 + keys.indexOf(e.key) * ROW;
    const a = Date.parse(e.openedAt);
    const b = e.closedAt ? Date.parse(e.closedAt) : now;
    const bar = svg('rect', { x: x(a), y: y + 3, width: Math.max(3, x(b) - x(a)), height: ROW - 8, class: e.closedAt ? 'bar resolved' : 'bar open' });
    bar.append(svg('title', {}, `${e.key}: ${e.status}, opened ${e.openedAt} (#${e.openedSeq}), ${e.closedAt ? `resolved ${e.closedAt} (#${e.closedSeq}) after ${durationText(b - a)}` : `open for ${durationText(now - a)}`}`));
    chart.append(bar);
  }
  chart.append(axis(10 + keys.length * ROW + 4, t0, t1));
  return chart;
}

export interface LagPoint {
  window: number;
  /** When the window was committed (Unix ms). */
  at: number;
  lagMs: number;
}

/** Anchor lag (commit time minus the oldest checkpoint's) per window, against commit time. */
export function lagChart(points: readonly LagPoint[]): SVGElement {
  const height = 220;
  const top = 14;
  const bottom = height - 30;
  const t0 = Math.min(...points.map((p) => p.at));
  const t1 = Math.max(t0 + 1, ...points.map((p) => p.at));
  const maxLag = Math.max(1, ...points.map((p) => p.lagMs));
  const x = (t: number): number => LEFT + ((W - LEFT - RIGHT) * (t - t0)) / (t1 - t0);
  const y = (lag: number): number => bottom - ((bottom - top) * lag) / maxLag;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${height}`, width: W, height, class: 'chart', role: 'img', 'aria-label': 'anchor lag over time' });
  chart.append(svg('text', { x: LEFT - 8, y: top + 4, 'text-anchor': 'end', class: 'label' }, `${(maxLag / 1000).toFixed(1)} s`));
  chart.append(svg('text', { x: LEFT - 8, y: bottom, 'text-anchor': 'end', class: 'label' }, '0 s'));
  chart.append(svg('line', { x1: LEFT, x2: LEFT, y1: top, y2: bottom, class: 'axis-line' }));
  chart.append(svg('polyline', { points: points.map((p) => `${x(p.at).toFixed(1)},${y(p.lagMs).toFixed(1)}`).join(' '), class: 'lag' }));
  for (const p of points) {
    const dot = svg('circle', { cx: x(p.at), cy: y(p.lagMs), r: 3.5, class: 'dot' });
    dot.append(svg('title', {}, `window ${p.window}: committed ${timeLabel(p.at)}, lag ${(p.lagMs / 1000).toFixed(2)} s`));
    chart.append(dot);
  }
  chart.append(axis(bottom + 2, t0, t1));
  return chart;
}
