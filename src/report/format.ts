/**
 * Text formatting for reports, the same on every machine: no locale, no
 * time zone but UTC, no clock.
 *
 * Pure module: no Node-only imports.
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or attribute value escaped for HTML (and SVG). Every value from a log is attacker-controlled. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** 1234567 as "1,234,567" (toLocaleString would depend on the machine). */
export function formatInt(n: number): string {
  const s = String(Math.trunc(Math.abs(n)));
  return (n < 0 ? '-' : '') + s.replace(/\B(?=([0-9]{3})+(?![0-9]))/g, ',');
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** A duration for people: "850 ms", "12.500 s", "4 min 07 s", "3 h 05 min", "2 d 03 h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad2(s % 60)} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${pad2(Math.floor(s / 60) % 60)} min`;
  return `${Math.floor(s / 86_400)} d ${pad2(Math.floor(s / 3600) % 24)} h`;
}

/** 64 hex digits in groups of four, as fingerprints are read aloud and compared. */
export function groupHex(hex: string): string {
  return hex.replace(/(.{4})(?=.)/g, '$1 ');
}

/** At most `max` characters, the rest replaced by an ellipsis. */
export function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
