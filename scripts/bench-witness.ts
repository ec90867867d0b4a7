/**
 * The `witness` section of scripts/bench.ts: an origin's append throughput
 * with 0 and with 4 witnesses, in the same run (the issue's target: less
 * than 5% apart), the origin's CPU per append, and how long after the last
 * append every witness has cosigned the last checkpoint.
 *
 * Rounds alternate (0, 4, 0, 4, ...) after a warm-up round, so that drift in
 * the machine's speed falls on both, and medians are compared; each round is a fresh origin (AppendStream, 64 in flight),
 * the witnesses are real node processes on loopback.
 */
import { performance } from 'node:perf_hooks';
import { LedgerClient } from '../src/client/ledger-client.js';
import { tempDir } from '../test/helpers/node.js';
import { plan, start, type Planned } from '../test/helpers/witnesses.js';
import { processCpuSeconds, table } from './bench-lib.js';
import type { NodeProcess } from '../test/helpers/node.js';

const PAYLOAD = JSON.stringify({ image: 'registry.example/team/app:1.24.3', replicas: 3, env: { LOG_LEVEL: 'info', REGION: 'eu-west-1' }, note: 'x'.repeat(256) });

interface Round {
  witnesses: number;
  rate: number;
  cpuUsPerAppend: number;
  /** From the end of the appends to the last checkpoint cosigned by every witness. */
  catchUpMs: number;
}

export async function witnessBench(quick: boolean): Promise<string> {
  const dir = await tempDir('cairn-bench-witness-');
  const seconds = quick ? 3 : 4;
  const rounds = quick ? 1 : 3;
  const ws = await Promise.all([1, 2, 3, 4].map((i) => plan(`w${i}.bench`, dir.path)));
  const running: NodeProcess[] = [];
  try {
    // The witnesses pin every origin this run will start (their keys are planned first); round 0 warms up and is not counted.
    const origins = await Promise.all(Array.from({ length: 1 + 2 * rounds }, (_, i) => plan(`origin${i}.bench`, dir.path)));
    for (const w of ws) running.push(await start(w, origins.map((o) => ({ of: o })), { witness_exchange_ms: 10_000 }));
    await runRound(origins[0]!, ws, 1, 64);
    const results: Round[] = [];
    for (let i = 1; i < origins.length; i++) {
      // Odd rounds: no witness; even rounds: the four.
      results.push(await runRound(origins[i]!, i % 2 === 1 ? [] : ws, seconds, 64));
    }
    const median = (k: number): number => {
      const r = results.filter((x) => x.witnesses === k).map((x) => x.rate).sort((a, b) => a - b);
      return r.length % 2 ? r[(r.length - 1) / 2]! : (r[r.length / 2 - 1]! + r[r.length / 2]!) / 2;
    };
    const rows: (string | number)[][] = results.map((r, i) => [`round ${i + 1}: ${r.witnesses} witnesses`, r.rate, r.cpuUsPerAppend, r.witnesses ? r.catchUpMs : '-']);
    const diff = (100 * (median(4) - median(0))) / median(0);
    rows.push(['median, 0 witnesses', median(0), '', '']);
    rows.push(['median, 4 witnesses', median(4), '', '']);
    return `${table(`Origin append throughput with 0 and 4 witnesses (AppendStream, 64 in flight, ${seconds} s a round, rounds alternate after one warm-up; witness_submit_interval_ms 1000)`, ['round', 'appends/s', 'origin CPU µs/append', 'last checkpoint cosigned by all 4 after (ms)'], rows)}\n\n4 witnesses vs none, medians: ${diff >= 0 ? '+' : ''}${diff.toFixed(1)}% appends/s.`;
  } finally {
    for (const n of running) await n.stop();
    await dir.remove();
  }
}

/** One round: a fresh origin (its key pinned by the witnesses) asking `witnesses` to cosign, AppendStream with `concurrency` in flight. */
async function runRound(o: Planned, witnesses: Planned[], seconds: number, concurrency: number): Promise<Round> {
  const node: NodeProcess = await start(o, witnesses.map((w) => ({ of: w, witness: true })), { witness_exchange_ms: 10_000, witness_submit_interval_ms: 1000 });
  const c = new LedgerClient(node.address);
  try {
    const input = { log: 'bench', configId: 'svc/web', operator: 'ci-bench', action: 'update', payloadJson: PAYLOAD };
    let n = 0;
    let cpu0 = 0;
    let t0 = 0;
    for (const measure of [false, true]) {
      const until = performance.now() + (measure ? seconds * 1000 : 500);
      if (measure) {
        cpu0 = processCpuSeconds(node.child.pid);
        t0 = performance.now();
      }
      const s = c.appendStream();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < until) {
            await s.append(input);
            if (measure) n++;
          }
        }),
      );
      await s.end();
    }
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = ((processCpuSeconds(node.child.pid) - cpu0) * 1e6) / n;
    let catchUpMs = 0;
    if (witnesses.length > 0) {
      const end = performance.now();
      const size = (await c.getCheckpoint('bench')).size;
      for (;;) {
        const cp = await c.getCosignedCheckpoint('bench', witnesses.length).catch(() => undefined);
        if (cp && cp.size === size) break;
        if (performance.now() - end > 30_000) throw new Error('witnesses did not catch up in 30 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      catchUpMs = performance.now() - end;
    }
    return { witnesses: witnesses.length, rate: n / elapsed, cpuUsPerAppend: cpu, catchUpMs };
  } finally {
    c.close();
    await node.stop();
  }
}
