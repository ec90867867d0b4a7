/**
 * Runs one chaos scenario and checks the invariants after it:
 *
 * 1. the target starts with live equal to Git; a first drift is made and
 *    undone to see the engine working (warm-up);
 * 2. the fault window: faults injected while the load makes and undoes
 *    drifts; the engine process's memory is sampled throughout;
 * 3. the faults end; one more drift is made at once, and the time until the
 *    ledger's open drifts equal live state again (and, for fabric, every
 *    window is anchored) is the time back to steady state;
 * 4. every drift still open is undone and its resolution awaited;
 * 5. the ledger is read and checked (./invariants.ts), with the retries
 *    the faults caused (metrics) and the memory bound (growth of the
 *    engine process's resident set from the warm-up on).
 */
import { checkDrifts, LedgerFollower, openDriftMismatch } from './invariants.js';
import { DriftLoad } from './load.js';
import type { Scenario } from './scenario.js';
import { LOG, openTarget, TARGET } from './targets.js';

export interface ScenarioResult {
  scenario: string;
  target: string;
  /** Fault kinds of the scenario, as written. */
  faults: string;
  injected: number;
  drifts: number;
  entries: number;
  /** Drifts made and undone inside the fault window that the engine never saw (allowed, counted). */
  unseen: number;
  violations: string[];
  /** From the end of the fault window; undefined when the bound passed first. */
  steadyMs: number | undefined;
  retries: number;
  /** Growth of the engine process's resident set from the warm-up to its highest sample. */
  rssGrowthMb: number;
}

const MANAGED = 24;

async function waitUntil(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

export async function runScenario(s: Scenario, log: (line: string) => void = () => undefined): Promise<ScenarioResult> {
  const h = await openTarget(s, MANAGED);
  const violations: string[] = [];
  let maxRss = 0;
  let baseRss = 0;
  const follower = new LedgerFollower(h.client, LOG, TARGET);
  const load = new DriftLoad(h.writer, follower, { managed: MANAGED, intervalMs: s.load.intervalMs, maxOpen: s.load.maxOpen, holdMs: [200, 1200], recordWaitMs: 10_000 });
  const sampler = setInterval(() => {
    void h.rssBytes().then((b) => (maxRss = Math.max(maxRss, b)));
  }, 250);
  try {
    follower.start(100);
    // 1. Warm-up: one drift recorded and resolved before any fault.
    const warm = await load.drift('MODIFIED');
    if (!(await waitUntil(() => follower.open.has(warm.key), 30_000))) throw new Error(`${s.name}: the engine did not record a first drift within 30 s`);
    await load.undo(warm.key);
    if (!(await waitUntil(() => !follower.open.has(warm.key), 30_000))) throw new Error(`${s.name}: the engine did not resolve a first drift within 30 s`);
    const retriesBefore = await h.retriesSeen();
    baseRss = await h.rssBytes();
    maxRss = baseRss;

    // 2. The fault window, with load.
    log(`${s.name}: faults for ${s.durationMs} ms`);
    const faultStart = Date.now();
    h.startFaults();
    load.start();
    await new Promise((r) => setTimeout(r, s.durationMs));
    await load.stop();
    await h.endFaults();
    const faultEnd = Date.now();

    // 3. Back to steady state: a drift made now is recorded and the ledger agrees with live.
    const probe = await load.drift('MODIFIED');
    let lastMismatch: string[] = [];
    const steady = await waitUntil(async () => {
      await follower.poll().catch(() => undefined);
      lastMismatch = [...openDriftMismatch(follower, load.truth()), ...(await h.notSteady().catch((e: unknown) => [String(e)]))];
      return lastMismatch.length === 0;
    }, s.steadyWithinMs);
    const steadyMs = steady ? Date.now() - faultEnd : undefined;
    if (!steady) violations.push(`not back to steady state ${s.steadyWithinMs} ms after the faults ended: ${lastMismatch.slice(0, 5).join('; ')}`);
    log(`${s.name}: steady after ${steadyMs ?? '-'} ms (probe ${probe.key})`);

    // 4. Undo what is open; every resolution must arrive.
    await load.undoAll();
    const settled = await waitUntil(async () => {
      await follower.poll().catch(() => undefined);
      lastMismatch = [...openDriftMismatch(follower, load.truth()), ...(await h.notSteady().catch((e: unknown) => [String(e)]))];
      return lastMismatch.length === 0;
    }, s.steadyWithinMs);
    if (!settled) violations.push(`drifts undone after the faults were not all resolved within ${s.steadyWithinMs} ms: ${lastMismatch.slice(0, 5).join('; ')}`);

    // 5. The invariants.
    await follower.stop();
    await follower.poll();
    const drifts = checkDrifts(follower.records, load.episodes, { start: faultStart, end: faultEnd });
    violations.push(...drifts.violations, ...(await h.violations()));
    const retries = (await h.retriesSeen()) - retriesBefore;
    const injected = h.injected();
    const onlyLatency = s.faults.every((f) => f.fault === 'latency');
    if (injected === 0) violations.push('no fault was injected');
    else if (!onlyLatency && retries <= 0) violations.push(`${injected} faults injected, but no retry is visible (metrics: cairn_sync_reconcile_errors_total, cairn_sync_watch_restarts_total, cairn_anchor_windows_total{result="failed_attempt"}; client mode: its warnings)`);
    maxRss = Math.max(maxRss, await h.rssBytes());
    const growth = Math.max(0, maxRss - baseRss);
    if (growth > s.memoryMb * 1024 * 1024) violations.push(`resident set grew by ${(growth / 1048576).toFixed(0)} MiB (to ${(maxRss / 1048576).toFixed(0)} MiB), above the bound of ${s.memoryMb} MiB`);
    return {
      scenario: s.name,
      target: s.target,
      faults: [...new Set(s.faults.map((f) => f.fault + (f.status ? ` ${f.status}` : '') + (f.on ? ` (${f.on})` : '') + (f.method ? ` ${f.method}` : '')))].join(', '),
      injected,
      drifts: load.episodes.length,
      entries: follower.records.length,
      unseen: drifts.unseen,
      violations,
      steadyMs,
      retries,
      rssGrowthMb: Math.round(Math.max(0, maxRss - baseRss) / 1048576),
    };
  } finally {
    clearInterval(sampler);
    await load.stop();
    await follower.stop();
    await h.close();
  }
}

/** The results as a Markdown table. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const rows = [
    '| scenario | target | faults | faults injected | drifts created | entries recorded | unseen in fault | invariant violations | back to steady state (ms) | retries seen | RSS growth (MiB) |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) rows.push(`| ${r.scenario} | ${r.target} | ${r.faults} | ${r.injected} | ${r.drifts} | ${r.entries} | ${r.unseen} | ${r.violations.length} | ${r.steadyMs ?? 'not reached'} | ${r.retries} | ${r.rssGrowthMb} |`);
  return rows.join('\n');
}
