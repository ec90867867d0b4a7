/**
 * Small helpers for benchmarks: timing, percentiles, the machine record and
 * a plain-text table. Benchmarks compare alternatives as ratios inside one
 * run because a machine's speed varies between runs (docs/benchmarks.md).
 */
import { cpus, totalmem, platform, release } from 'node:os';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** The commit being measured (`git rev-parse --short HEAD`), marked when the work tree has changes. */
export function commitId(cwd: string): string {
  const git = (args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const head = git(['rev-parse', '--short', 'HEAD']);
    return git(['status', '--porcelain', '--untracked-files=no']) === '' ? head : `${head} with uncommitted changes`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export interface Machine {
  commit: string;
  date: string;
  cpu: string;
  memory: string;
  os: string;
  node: string;
  openssl: string;
}

/** What the figures were measured on; `cwd` is the checkout whose commit is named. */
export function machine(cwd = process.cwd()): Machine {
  const c = cpus();
  return {
    commit: commitId(cwd),
    date: new Date().toISOString(),
    cpu: `${c.length} x ${c[0]?.model ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${platform()} ${release()}`,
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
  };
}

/**
 * CPU seconds a process has used so far, all its threads (utime + stime from
 * /proc, in Linux's fixed 100 ticks per second); NaN where there is no /proc.
 */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised name start at field 3 (state); utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds this process has used so far, all its threads. */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export function table(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]): string => '| ' + r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join(' | ') + ' |';
  return [`\n### ${title}`, line(header), '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...cells.slice(1).map(line)].join('\n');
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** Runs fn repeatedly for about `ms` and returns operations per second (median of 5 slices). */
export function opsPerSec(fn: () => void, ms = 1000): number {
  const slices: number[] = [];
  for (let s = 0; s < 5; s++) {
    const end = performance.now() + ms / 5;
    let n = 0;
    const start = performance.now();
    while (performance.now() < end) {
      fn();
      n++;
    }
    slices.push(n / ((performance.now() - start) / 1000));
  }
  slices.sort((a, b) => a - b);
  return slices[2]!;
}

export const BENCH_BEGIN = '<!-- bench:begin -->';
export const BENCH_END = '<!-- bench:end -->';

/**
 * Puts `section` between the bench markers of the Markdown file at `path`
 * (the rest of the file is kept); a missing file, or one without markers, is
 * written as just the markers and the section.
 */
export function writeBenchSection(path: string, section: string): void {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const b = old.indexOf(BENCH_BEGIN);
  const e = old.indexOf(BENCH_END);
  const body = `${BENCH_BEGIN}\n${section.trim()}\n${BENCH_END}`;
  writeFileSync(path, b >= 0 && e > b ? old.slice(0, b) + body + old.slice(e + BENCH_END.length) : `${body}\n`);
}
